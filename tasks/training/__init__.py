"""Training stage: data -> base model -> QLoRA fine-tune + evaluation inside one MLflow run.

`tasks.py` holds the Prefect wrappers; the rest are plain functions and the training recipe.
"""
