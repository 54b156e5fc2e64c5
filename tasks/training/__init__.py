"""Training stage: data -> base model -> QLoRA fine-tune + evaluation inside one MLflow run.

`recipe.py` is the fine-tune (a torchtune-style recipe class), `mlflow_run.py` the tracked run
around it, `tasks.py` the Prefect wrappers; the rest are the plain functions they use.
"""
