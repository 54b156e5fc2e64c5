"""Served quality, base vs tuned: both names answer the same held-out items with the same
greedy settings, every item's scores are kept (joined by the training side's item id), and the
summaries reach the result JSON, the task summary, the registry tags and the reports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from configs.benchmark import BenchmarkConfig
from configs.data import DataConfig
from tasks.benchmark.quality import ITEMS_FILE, evaluate_quality
from tasks.benchmark.results import HEADLINE_METRICS, read_result
from tasks.training.data import prepare_data
from tasks.training.eval_metrics import item_id, load_eval_examples
from testkit.stub_vllm import StubServer
from testkit.truth import fetch_truth

# the tuned name echoes the record it was given (right when the reference is that record); the
# base chats around it (never valid JSON), as an untuned small model does
REPLIES = {"orders-lora": "{last}", "orders-base": "Sure! Here is the order: {last}",
           "orders-v3": '{"customer": "Ana Ruiz", "item": "desk lamp", "quantity": 2}'}  # a champion that always says one order
RECORDS = [{"customer": "Ana Ruiz", "item": "desk lamp", "quantity": 2},
           {"customer": "Li Wei", "item": "usb cable", "quantity": 5},
           {"customer": "Tom Berg", "item": "chair", "quantity": 1},
           {"customer": "Eva Kos", "item": "notebook", "quantity": 12}]


def _row(record: dict, answer: dict) -> dict:
    return {"messages": [{"role": "system", "content": "Extract the order as JSON."},
                         {"role": "user", "content": json.dumps(record)},
                         {"role": "assistant", "content": json.dumps(answer)}]}


@pytest.fixture()
def eval_path(tmp_path: Path) -> Path:
    """A held-out split written by the data step from user files: the last item's reference
    differs from its prompt in one of three fields (quantity), so an echo gets it 2/3 right."""
    train, held = tmp_path / "user_train.jsonl", tmp_path / "user_eval.jsonl"
    train.write_text(json.dumps(_row({"customer": "Bo Lin", "item": "pen", "quantity": 3},
                                     {"customer": "Bo Lin", "item": "pen", "quantity": 3})) + "\n")
    answers = [*RECORDS[:3], {**RECORDS[3], "quantity": 13}]
    held.write_text("".join(json.dumps(_row(r, a)) + "\n" for r, a in zip(RECORDS, answers)))
    return prepare_data(DataConfig(name="orders", path=train, eval_path=held), tmp_path / "datasets").eval_path


@pytest.fixture()
def stub() -> Iterator[StubServer]:
    server = StubServer(model="orders-base", replies=REPLIES).start_in_thread()
    try:
        yield server
    finally:
        server.stop_thread()


def test_base_and_tuned_answer_the_same_items_and_every_item_is_kept(eval_path: Path, stub: StubServer,
                                                                     tmp_path: Path) -> None:
    items_file = tmp_path / "out" / ITEMS_FILE
    q = evaluate_quality(eval_path, stub.base_url, "orders-lora", base_model="orders-base", items_file=items_file,
                         max_tokens=200, run_id="0a1b2c3d4e5f")
    assert stub.stats.by_model == {"orders-lora": 4, "orders-base": 4}
    assert q.examples == 4 and q.base_model_id == "orders-base" and q.items_file == str(items_file)
    assert q.tuned == pytest.approx({"exact_match": 3 / 4, "json_valid": 1.0, "field_accuracy": (3 + 2 / 3) / 4})
    assert q.base == {"exact_match": 0.0, "json_valid": 0.0, "field_accuracy": 0.0}

    rows = [json.loads(line) for line in items_file.read_text().splitlines()]
    examples = load_eval_examples(eval_path)
    assert [r["item_id"] for r in rows] == [item_id(i, e.prompt_messages) for i, e in enumerate(examples)]
    assert [r["reference"] for r in rows] == [e.reference for e in examples]
    assert [json.loads(r["tuned_prediction"]) for r in rows] == RECORDS
    assert all(r["base_prediction"].startswith("Sure! Here is the order: ") for r in rows)
    assert rows[3] == {"item_id": rows[3]["item_id"], "reference": examples[3].reference,
                       "tuned_request_id": "quality-0a1b2c3d-tuned-00003",
                       "tuned_prediction": json.dumps(RECORDS[3]), "tuned_exact_match": False,
                       "tuned_json_valid": True, "tuned_field_accuracy": pytest.approx(2 / 3),
                       "base_request_id": "quality-0a1b2c3d-base-00003",
                       "base_prediction": "Sure! Here is the order: " + json.dumps(RECORDS[3]),
                       "base_exact_match": False, "base_json_valid": False, "base_field_accuracy": 0.0}
    # each answer was asked with the id its row names, of the model that side names
    seen = fetch_truth(stub.base_url)
    assert {seen[r[f"{side}_request_id"]].model for r in rows for side in ("tuned", "base")} == {
        "orders-lora", "orders-base"}
    assert all(seen[r["tuned_request_id"]].model == "orders-lora" and seen[r["base_request_id"]].model == "orders-base"
               for r in rows)
    assert len({r[f"{side}_request_id"] for r in rows for side in ("tuned", "base")}) == 8
    assert "messages" not in rows[0] and "prompt" not in rows[0]  # prompts stay in the eval file


@pytest.mark.parametrize("base_model", [None, "orders-lora"], ids=["no-base-name", "base-is-the-served-name"])
def test_without_a_separate_base_only_the_served_name_is_scored(eval_path: Path, stub: StubServer, tmp_path: Path,
                                                                base_model: str | None) -> None:
    q = evaluate_quality(eval_path, stub.base_url, "orders-lora", base_model=base_model,
                         items_file=tmp_path / ITEMS_FILE, max_tokens=200)
    assert stub.stats.by_model == {"orders-lora": 4}
    assert q.base is None and q.base_model_id is None and q.tuned["exact_match"] == 3 / 4
    rows = [json.loads(line) for line in (tmp_path / ITEMS_FILE).read_text().splitlines()]
    assert len(rows) == 4 and not any(k.startswith("base_") for r in rows for k in r)


def test_the_champion_answers_the_same_items_and_its_scores_pair_with_the_candidates(
        eval_path: Path, stub: StubServer, tmp_path: Path, log_dir: Path) -> None:
    from tasks.benchmark.tasks import benchmark_task

    cfg = BenchmarkConfig(num_prompts=2, max_tokens=200, request_rate=200, eval_path=eval_path)
    result_file = tmp_path / "h2h" / "result.json"
    summary = benchmark_task.fn(cfg, stub.base_url, "orders-lora", str(result_file), str(log_dir),
                                base_model="orders-base", champion_model="orders-v3")
    assert stub.stats.by_model["orders-v3"] == 4   # every eval item, and no load request
    assert summary["quality"] == 0.75 and summary["base_quality"] == 0.0   # the candidate's numbers, as before
    rows = [json.loads(line) for line in result_file.with_name(ITEMS_FILE).read_text().splitlines()]
    assert [r["champion_prediction"] for r in rows] == [REPLIES["orders-v3"]] * 4
    assert [r["champion_exact_match"] for r in rows] == [True, False, False, False]
    assert [r["tuned_exact_match"] for r in rows] == [True, True, True, False]
    assert rows[1]["champion_field_accuracy"] == 0.0 and rows[0]["champion_json_valid"] is True
    assert {k for k in rows[0] if k.startswith("champion_")} == {
        "champion_request_id", "champion_prediction", "champion_exact_match", "champion_json_valid",
        "champion_field_accuracy"}
    # one run id names the load's and the quality step's requests, so all of them join the gateway's logs
    run = json.loads(result_file.read_text())["benchmark_run_id"][:8]
    assert [r["champion_request_id"] for r in rows] == [f"quality-{run}-champion-{i:05d}" for i in range(4)]


def test_a_side_of_others_may_not_take_the_tuned_or_base_name(eval_path: Path, stub: StubServer) -> None:
    from configs.errors import BenchmarkError

    with pytest.raises(BenchmarkError, match=r"quality sides \['base'\] are taken"):
        evaluate_quality(eval_path, stub.base_url, "orders-lora", base_model="orders-base",
                         others={"base": "orders-v3"})


def test_text_references_have_no_json_metrics(stub_url: str, tmp_path: Path) -> None:
    """The served name of a server without replies answers "tok tok " (greedy, max_tokens 2)."""
    def loader(path: Path) -> list[dict]:
        return [{"prompt": "a", "reference": "tok tok"}, {"messages": [{"role": "user", "content": "b"}],
                                                          "completion": "other"}]

    q = evaluate_quality(tmp_path / "eval.jsonl", stub_url, "stub-model", loader=loader, max_tokens=2)
    assert q.tuned == {"exact_match": 0.5} and q.base is None and q.examples == 2 and q.items_file is None


def test_benchmark_task_carries_base_vs_tuned_to_json_summary_tags_and_report(eval_path: Path, stub: StubServer,
                                                                             tmp_path: Path, log_dir: Path) -> None:
    from configs.loader import load_config
    from tasks.benchmark.publish import report_markdown
    from tasks.benchmark.report import format_table
    from tasks.benchmark.tasks import benchmark_task
    from tasks.registry.benchmark_tags import record_benchmark
    from tasks.registry.versions import client_for
    from tests.conftest import REPO_ROOT

    cfg = BenchmarkConfig(num_prompts=4, max_tokens=200, request_rate=200, eval_path=eval_path)
    result_file = tmp_path / "bench" / "result.json"
    summary = benchmark_task.fn(cfg, stub.base_url, "orders-lora", str(result_file), str(log_dir),
                                base_model="orders-base")
    raw = json.loads(result_file.read_text())
    assert (raw["quality"], raw["base_quality"]) == (0.75, 0.0) == (summary["quality"], summary["base_quality"])
    assert raw["quality_field_accuracy"] == pytest.approx((3 + 2 / 3) / 4) and raw["base_quality_json_valid"] == 0.0
    assert raw["quality_base_model"] == "orders-base" and raw["quality_examples"] == 4
    assert raw["quality_items_file"] == str(result_file.with_name(ITEMS_FILE))
    assert len(result_file.with_name(ITEMS_FILE).read_text().splitlines()) == 4
    assert {k: summary[k] for k in HEADLINE_METRICS} == {k: raw[k] for k in HEADLINE_METRICS}

    uri = str(load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"]).mlflow.tracking_uri)
    client = client_for(uri)
    client.create_registered_model("m")
    version = client.create_model_version("m", source=str(tmp_path)).version
    record_benchmark(uri, "m", str(version), summary, None)
    tags = client.get_model_version("m", version).tags
    assert (tags["bench_quality"], tags["bench_base_quality"]) == ("0.75", "0.0")
    assert tags["bench_quality_field_accuracy"] == repr(raw["quality_field_accuracy"])

    markdown = report_markdown(read_result(result_file), None, "models:/m/1", uri)
    table = dict((m, (b, t, d)) for m, b, t, d in re.findall(r"^\| (\w+) \| (\S+) \| (\S+) \| (\S+) \|$", markdown, re.M))
    assert table["exact_match"] == ("0", "0.75", "+0.75")
    assert table["field_accuracy"] == ("0", f"{raw['quality_field_accuracy']:.4g}", f"+{raw['quality_field_accuracy']:.4g}")
    assert "`orders-base`" in markdown and ITEMS_FILE in markdown
    console = format_table(read_result(result_file))
    assert re.search(r"Quality exact match \(tuned\)\s+0\.7500", console)
    assert re.search(r"Quality exact match \(base\)\s+0\.0000", console)


def test_report_says_when_there_was_no_base(eval_path: Path, stub: StubServer, tmp_path: Path,
                                            log_dir: Path) -> None:
    from tasks.benchmark.publish import report_markdown
    from tasks.benchmark.tasks import benchmark_task

    cfg = BenchmarkConfig(num_prompts=2, max_tokens=200, request_rate=200, eval_path=eval_path)
    summary = benchmark_task.fn(cfg, stub.base_url, "orders-lora", str(tmp_path / "r.json"), str(log_dir))
    assert summary["quality"] == 0.75 and summary["base_quality"] is None
    markdown = report_markdown(read_result(tmp_path / "r.json"), None, None, "sqlite://")
    assert "| exact_match | n/a | 0.75 | n/a |" in markdown and "not served under its own name" in markdown


def test_cli_scores_the_base_named_by_base_model(eval_path: Path, stub: StubServer, tmp_path: Path,
                                                 log_dir: Path) -> None:
    from tests.conftest import run_cli

    out = tmp_path / "cli" / "result.json"
    proc = run_cli("bench", "--base-url", stub.base_url, "--model", "orders-lora", "--base-model", "orders-base",
                   "--num-prompts", "2", "--max-tokens", "200", "--eval-file", str(eval_path), "--result-file",
                   str(out), "--log-dir", str(log_dir))
    assert proc.returncode == 0, proc.stderr
    raw = json.loads(out.read_text())
    assert (raw["quality"], raw["base_quality"], raw["quality_base_model"]) == (0.75, 0.0, "orders-base")
    assert len(out.with_name(ITEMS_FILE).read_text().splitlines()) == 4
    assert re.search(r"Quality exact match \(base\)\s+0\.0000", proc.stdout)


def test_quality_answers_use_eval_max_tokens_and_the_load_max_tokens(stub: StubServer, tmp_path: Path,
                                                                     log_dir: Path) -> None:
    """A model the stub has no reply for answers "tok " once per token asked for."""
    from tasks.benchmark.tasks import benchmark_task

    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(json.dumps({"messages": [{"role": "user", "content": "q"},
                                                  {"role": "assistant", "content": "tok tok tok tok tok"}]}) + "\n")
    cfg = BenchmarkConfig(num_prompts=2, max_tokens=2, eval_max_tokens=5, request_rate=200, eval_path=eval_file)
    summary = benchmark_task.fn(cfg, stub.base_url, "plain", str(tmp_path / "r.json"), str(log_dir))
    row = json.loads((tmp_path / ITEMS_FILE).read_text())
    assert row["tuned_prediction"] == "tok " * 5 and summary["quality"] == 1.0
    assert [r.output_tokens for r in read_result(tmp_path / "r.json").requests] == [2, 2]
