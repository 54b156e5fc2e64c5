"""The generated tasks are held out for real: the eval side shares no template, no entity
value and no normalised prompt with training, on the rows `prepare_data` actually writes for
the embedded default's config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from configs.data import GeneratedDataConfig
from configs.loader import load_config
from tasks.training.data import prepare_data, prompt_key, read_jsonl
from tasks.training.eval_metrics import parse_record
from tasks.training.synthetic.extraction import ENTITY_FIELDS, KINDS, entity_values, generate_extraction

REPO = Path(__file__).resolve().parents[3]


def _template_of(text: str) -> tuple[str, int] | None:
    """(template, side) that produced this text: templates become regexes with any slot filled."""
    for kind in KINDS:
        for side, templates in enumerate(kind.templates):
            for t in templates:
                pattern = re.escape(t)
                pattern = re.sub(r"\\\{[a-z_]+\\\}", ".+?", pattern)
                if re.fullmatch(pattern, text, flags=re.DOTALL):
                    return t, side
    return None


@pytest.fixture(scope="module")
def local_split(tmp_path_factory):
    cfg = load_config(REPO / "configs" / "local.yaml", [f"paths.data_dir={tmp_path_factory.mktemp('d')}"])
    assert cfg.data.generate is not None and cfg.data.generate.task == "extraction"
    prepared = prepare_data(cfg.data, cfg.paths.datasets_dir)
    return prepared, read_jsonl(prepared.train_path)[0], read_jsonl(prepared.eval_path)[0]


def test_the_default_split_shares_no_prompt_template_or_entity(local_split):
    prepared, train, held = local_split
    assert prepared.n_train >= 300 and prepared.n_eval >= 40 and prepared.n_prompt_overlap == 0
    assert not {prompt_key(m) for m in train} & {prompt_key(m) for m in held}

    def sides(rows):
        found = [_template_of(m[1]["content"]) for m in rows]
        assert all(found), "every row comes from a known template"
        return {t for t, _ in found}, {s for _, s in found}

    train_templates, train_sides = sides(train)
    eval_templates, eval_sides = sides(held)
    assert train_sides == {0} and eval_sides == {1} and not train_templates & eval_templates

    def values(rows):
        return set().union(*(entity_values(parse_record(m[-1]["content"])) for m in rows))

    shared = values(train) & values(held)
    assert shared == set(), f"entity values in both train and eval: {sorted(shared)[:10]}"


def test_every_answer_is_a_record_of_its_kinds_schema(local_split):
    _, train, held = local_split
    schemas = {k.instruction: k.keys for k in KINDS}
    for msgs in train + held:
        assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
        instruction = msgs[0]["content"]
        record = parse_record(msgs[-1]["content"])
        assert record is not None and tuple(record) == schemas[instruction]
        # the answer's entity values are written in the prompt (extraction, not recall)
        text = msgs[1]["content"]
        for key in set(record) & (ENTITY_FIELDS - {"unit_price", "amount", "due_date"}):
            assert str(record[key]) in text


def test_kinds_are_balanced_and_the_seed_matters():
    train, held = generate_extraction(GeneratedDataConfig(task="extraction", num_examples=120, seed=1), 0.2)
    counts = {k.instruction: 0 for k in KINDS}
    for row in held:
        counts[row["messages"][0]["content"]] += 1
    assert len(held) == 24 and sorted(counts.values()) == [8, 8, 8]
    again = generate_extraction(GeneratedDataConfig(task="extraction", num_examples=120, seed=1), 0.2)
    other = generate_extraction(GeneratedDataConfig(task="extraction", num_examples=120, seed=2), 0.2)
    assert again == (train, held) and other != (train, held)


def test_an_overlapping_split_is_caught(local_split):
    """The checks above can fail: a split that leaks one training row into eval is seen."""
    _, train, held = local_split
    leaked = held + [train[0]]
    assert {prompt_key(m) for m in train} & {prompt_key(m) for m in leaked}
    assert json.loads(train[0][-1]["content"])
