"""The recipe's before-training evaluation scores the base itself: the adapter is switched off,
whatever its weights, so the scores equal those of the base evaluated before LoRA is attached."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration
LOCAL = REPO_ROOT / "configs" / "tiny.yaml"


def test_before_eval_scores_the_base_with_the_adapter_switched_off(tmp_path):
    import torch

    from configs.loader import load_config
    from tasks.training.base_model import build_base_model
    from tasks.training.data import prepare_data
    from tasks.training.eval_metrics import load_eval_examples
    from tasks.training.evaluation import evaluate
    from tasks.training.model_setup import load_base_model, load_tokenizer, prepare_for_training
    from tasks.training.recipe import LoraFinetuneRecipe

    cfg = load_config(LOCAL, [f"paths.data_dir={tmp_path}", "data.generate.num_examples=40", "eval.max_examples=4"])
    data = prepare_data(cfg.data, cfg.paths.datasets_dir)
    ref = build_base_model(cfg, data)
    base = prepare_for_training(load_base_model(ref, cfg.model), cfg)
    tok = load_tokenizer(ref, cfg.model)
    expected = evaluate(base, tok, load_eval_examples(data.eval_path), cfg.eval, cfg.model.max_seq_len)

    sink: list[tuple[dict[str, float], int]] = []
    recipe = LoraFinetuneRecipe(cfg, base_ref=ref, data=data, run_dir=tmp_path / "run", training_log=None,
                                progress=None, metrics_sink=lambda m, step: sink.append((m, step)))
    recipe._setup_model()
    recipe._setup_data()
    with torch.no_grad():  # an adapter that is not a no-op: scoring with it on would differ
        for name, p in recipe.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 1.0)
    assert recipe._evaluate() != expected
    before = recipe._evaluate_before()
    assert before == expected
    assert sink == [(expected.metrics("base_"), 0)]
