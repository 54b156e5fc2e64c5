"""Writes the Grafana dashboards in ./dashboards/ from the panel lists below.

Run after editing: python deployments/observability/grafana/generate_dashboards.py
Every LogQL expression here is evaluated by tests/integration/test_observability_configs.py
with `mlops logs query` against logs written by the typed loggers, and every field it names
must be declared in logging_lib/events.py (the schemas in logging_lib/schemas.py derive from it).
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
LOKI = {"type": "loki", "uid": "loki"}
PROM = {"type": "prometheus", "uid": "prometheus"}


def _sel(job: str, event: str, level: str = "") -> str:
    lvl = f', level=~"{level}"' if level else ""
    return f'{{job="{job}"{lvl}}} |= "{event}" | json | message="{event}"'


def ts(title: str, exprs: list[tuple[str, str]], unit: str = "short", ds: dict = LOKI) -> dict:
    return {"type": "timeseries", "title": title, "datasource": ds,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [{"refId": chr(65 + i), "datasource": ds, "expr": e, "legendFormat": legend,
                         "queryType": "range"} for i, (e, legend) in enumerate(exprs)]}


def logs(title: str, expr: str) -> dict:
    return {"type": "logs", "title": title, "datasource": LOKI,
            "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"},
            "targets": [{"refId": "A", "datasource": LOKI, "expr": expr, "queryType": "range"}]}


TRAIN_STEP = _sel("training", "training_step")
VALIDATION = _sel("training", "validation")
RESPONSE = _sel("inference", "inference_response")
BENCH = _sel("inference", "benchmark_response")
GPU = _sel("system", "gpu_metrics")
SYSTEM = _sel("system", "system_metrics")
API_RESP = _sel("api", "api_response")
API_REQ = _sel("api", "api_request")

DASHBOARDS: dict[str, tuple[str, list[dict]]] = {
    # Training lines carry the MLflow run id as `mlflow_run_id` (bound by tasks/training/mlflow_run.py):
    # "by run" panels group by it, one series per run.
    "mlops-training": ("MLOps / Training", [
        ts("Training loss by run", [(f"last_over_time({TRAIN_STEP} | unwrap loss [1m]) by (mlflow_run_id)",
                                     "{{mlflow_run_id}}")]),
        ts("Learning rate by run", [(f"last_over_time({TRAIN_STEP} | unwrap learning_rate [1m]) by (mlflow_run_id)",
                                     "{{mlflow_run_id}}")]),
        ts("Validation loss by run", [(f"last_over_time({VALIDATION} | unwrap val_loss [1h]) by (mlflow_run_id)",
                                       "{{mlflow_run_id}}")]),
        ts("Validation perplexity by run", [
            (f"last_over_time({VALIDATION} | unwrap perplexity [1h]) by (mlflow_run_id)", "{{mlflow_run_id}}")]),
        ts("Optimizer steps logged per minute by run",
           [(f"sum by (mlflow_run_id) (count_over_time({TRAIN_STEP} [1m]))", "{{mlflow_run_id}}")]),
        ts("GPU memory during training (MiB)", [
            (f"max_over_time({TRAIN_STEP} | unwrap gpu_memory_used [1m]) by (mlflow_run_id)", "used {{mlflow_run_id}}"),
            (f"max_over_time({TRAIN_STEP} | unwrap gpu_memory_total [1m]) by (mlflow_run_id)",
             "total {{mlflow_run_id}}")], unit="decmbytes"),
        ts("Epoch duration (s) by run", [(f"last_over_time({_sel('training', 'epoch_end')} | unwrap time_elapsed_s "
                                          "[1h]) by (mlflow_run_id)", "{{mlflow_run_id}}")], unit="s"),
        logs("Training steps", f'{TRAIN_STEP} | line_format "run {{{{.mlflow_run_id}}}} epoch {{{{.epoch}}}} step '
                               f'{{{{.step}}}} loss {{{{.loss}}}} lr {{{{.learning_rate}}}}"'),
    ]),
    # inference_response is the server side (the gateway): one line per request. A benchmark
    # client logs its own view as benchmark_response, so a benchmark through the gateway is
    # counted once here; its client-side numbers have their own panel.
    "mlops-inference": ("MLOps / Inference", [
        ts("Requests per second by model", [(f"sum by (model_name) (rate({RESPONSE} [1m]))", "{{model_name}}")],
           unit="reqps"),
        ts("Latency by model (ms)", [
            (f"avg_over_time({RESPONSE} | unwrap latency_ms [5m]) by (model_name)", "avg {{model_name}}"),
            (f"quantile_over_time(0.95, {RESPONSE} | unwrap latency_ms [5m]) by (model_name)", "p95 {{model_name}}"),
            (f"quantile_over_time(0.99, {RESPONSE} | unwrap latency_ms [5m]) by (model_name)", "p99 {{model_name}}")],
           unit="ms"),
        ts("Time to first token by model (ms)", [
            (f"avg_over_time({RESPONSE} | unwrap ttft_ms [5m]) by (model_name)", "avg {{model_name}}"),
            (f"quantile_over_time(0.95, {RESPONSE} | unwrap ttft_ms [5m]) by (model_name)", "p95 {{model_name}}")],
           unit="ms"),
        ts("Tokens per second by model", [
            (f"sum by (model_name) (rate({RESPONSE} | unwrap tokens_generated [1m]))", "generated/s {{model_name}}"),
            (f"avg_over_time({RESPONSE} | unwrap tokens_per_second [5m]) by (model_name)",
             "per request {{model_name}}")]),
        ts("Inference errors by model (5m)", [
            (f"sum by (model_name, error_type) (count_over_time({_sel('inference', 'inference_error', 'ERROR|CRITICAL')}"
             " [5m]))", "{{model_name}} {{error_type}}")]),
        logs("Slow requests (> 1 s)", f'{RESPONSE} | latency_ms > 1000 | line_format "{{{{.request_id}}}} '
                                      f'{{{{.model_name}}}} {{{{.latency_ms}}}} ms {{{{.tokens_generated}}}} tokens"'),
        # ttft_ms/latency_ms count from the actual send (vLLM's definition); the send lag beside
        # them is how far the client fell behind its schedule (the schedule-based latency adds it).
        ts("Benchmark client view by benchmark run (ms)", [
            (f"quantile_over_time(0.99, {BENCH} | unwrap ttft_ms [1h]) by (benchmark_run_id)",
             "p99 TTFT {{benchmark_run_id}}"),
            (f"quantile_over_time(0.99, {BENCH} | unwrap latency_ms [1h]) by (benchmark_run_id)",
             "p99 E2EL {{benchmark_run_id}}"),
            (f"quantile_over_time(0.99, {BENCH} | unwrap send_lag_ms [1h]) by (benchmark_run_id)",
             "p99 send lag {{benchmark_run_id}}")], unit="ms"),
        ts("Benchmark requests by outcome (1h)", [
            (f"sum by (benchmark_run_id, message) (count_over_time({{job=\"inference\"}} |= \"benchmark_\" | json "
             f'| message=~"benchmark_response|benchmark_error" [1h]))', "{{benchmark_run_id}} {{message}}")]),
    ]),
    "mlops-system": ("MLOps / GPU and system", [
        ts("GPU memory used (%) by GPU", [(f"max_over_time({GPU} | unwrap gpu_memory_percent [1m]) by (host, gpu_id)",
                                           "{{host}} gpu {{gpu_id}}")], unit="percent"),
        ts("GPU utilization (%) by GPU", [(f"avg_over_time({GPU} | unwrap gpu_utilization [1m]) by (host, gpu_id)",
                                           "{{host}} gpu {{gpu_id}}")], unit="percent"),
        ts("GPU temperature (°C) by GPU", [(f"max_over_time({GPU} | unwrap temperature [1m]) by (host, gpu_id)",
                                            "{{host}} gpu {{gpu_id}}")], unit="celsius"),
        ts("GPU power (W) by GPU", [(f"avg_over_time({GPU} | unwrap power_watts [1m]) by (host, gpu_id)",
                                     "{{host}} gpu {{gpu_id}}")], unit="watt"),
        ts("CPU (%)", [(f"avg_over_time({SYSTEM} | unwrap cpu_percent [1m]) by (host)", "{{host}}")], unit="percent"),
        ts("Memory", [(f"avg_over_time({SYSTEM} | unwrap memory_percent [1m]) by (host)", "{{host}} %"),
                      (f"max_over_time({SYSTEM} | unwrap memory_used_mib [1m]) by (host)", "{{host}} MiB")]),
        ts("Disk used (%)", [(f"max_over_time({SYSTEM} | unwrap disk_percent [5m]) by (host)", "{{host}}")],
           unit="percent"),
        ts("GPU unavailable warnings (5m)", [
            (f"sum by (host) (count_over_time({_sel('system', 'gpu_unavailable', 'WARNING')} [5m]))", "{{host}}")]),
    ]),
    "mlops-api": ("MLOps / API", [
        ts("Requests per second by path", [(f"sum by (method, path) (rate({API_REQ} [1m]))", "{{method}} {{path}}")],
           unit="reqps"),
        ts("Responses per second by status code", [(f"sum by (status_code) (rate({API_RESP} [1m]))",
                                                     "{{status_code}}")], unit="reqps"),
        ts("5xx share", [(f"sum(count_over_time({API_RESP} | status_code >= 500 [5m])) / "
                          f"sum(count_over_time({API_RESP} [5m]))", "5xx")], unit="percentunit"),
        ts("Duration (ms)", [
            (f"avg_over_time({API_RESP} | unwrap duration_ms [5m]) by (host)", "avg {{host}}"),
            (f"quantile_over_time(0.95, {API_RESP} | unwrap duration_ms [5m]) by (host)", "p95 {{host}}"),
            (f"quantile_over_time(0.99, {API_RESP} | unwrap duration_ms [5m]) by (host)", "p99 {{host}}")], unit="ms"),
        logs("Failed requests (4xx/5xx)", f'{API_RESP} | status_code >= 400 | line_format "{{{{.status_code}}}} '
                                          f'{{{{.request_id}}}} {{{{.duration_ms}}}} ms"'),
    ]),
    "mlops-errors": ("MLOps / Errors", [
        ts("Error lines by job (5m)", [('sum by (job) (count_over_time({service="mlops", level=~"ERROR|CRITICAL"} [5m]))',
                                        "{{job}}")]),
        ts("Errors by event and type (5m)", [
            ('sum by (job, message, error_type) (count_over_time({service="mlops", level=~"ERROR|CRITICAL"} | json '
             '| __error__="" [5m]))', "{{job}} {{message}} {{error_type}}")]),
        logs("Error lines", '{service="mlops", level=~"ERROR|CRITICAL"}'),
        logs("Out-of-memory errors", '{service="mlops", level=~"ERROR|CRITICAL"} |~ "(?i)out of memory"'),
    ]),
    "mlops-serving-metrics": ("MLOps / Serving (Prometheus: gateway and vLLM)", [
        ts("Gateway requests per second by path and status",
           [("sum by (path, status) (rate(mlops_gateway_requests_total[5m]))", "{{path}} {{status}}")], "reqps", PROM),
        ts("Gateway 5xx share", [('sum(rate(mlops_gateway_requests_total{status=~"5.."}[5m])) / '
                                  "sum(rate(mlops_gateway_requests_total[5m]))", "5xx")], "percentunit", PROM),
        ts("Gateway request duration (s)", [
            ("histogram_quantile(0.95, sum by (le, path) (rate(mlops_gateway_request_duration_seconds_bucket[5m])))",
             "p95 {{path}}"),
            ("sum by (path) (rate(mlops_gateway_request_duration_seconds_sum[5m])) / "
             "sum by (path) (rate(mlops_gateway_request_duration_seconds_count[5m]))", "avg {{path}}")], "s", PROM),
        ts("Completion duration (s), OTel GenAI", [
            ('histogram_quantile(0.95, sum by (le, gen_ai_request_model) '
             '(rate(gen_ai_server_request_duration_seconds_bucket{error_type=""}[5m])))', "p95 {{gen_ai_request_model}}"),
            ('histogram_quantile(0.5, sum by (le, gen_ai_request_model) '
             '(rate(gen_ai_server_request_duration_seconds_bucket{error_type=""}[5m])))', "p50 {{gen_ai_request_model}}"),
        ], "s", PROM),
        ts("Failed completions per second by status (499 = client gave up)", [
            ('sum by (error_type, gen_ai_operation_name) '
             '(rate(gen_ai_server_request_duration_seconds_count{error_type!=""}[5m]))',
             "{{error_type}} {{gen_ai_operation_name}}")], "reqps", PROM),
        ts("Time to first token (s)", [
            ("histogram_quantile(0.95, sum by (le, gen_ai_request_model) "
             "(rate(gen_ai_server_time_to_first_token_seconds_bucket[5m])))", "p95 {{gen_ai_request_model}}"),
            ("histogram_quantile(0.5, sum by (le, gen_ai_request_model) "
             "(rate(gen_ai_server_time_to_first_token_seconds_bucket[5m])))", "p50 {{gen_ai_request_model}}"),
        ], "s", PROM),
        ts("Time per output token (s)", [
            ("histogram_quantile(0.95, sum by (le, gen_ai_request_model) "
             "(rate(gen_ai_server_time_per_output_token_seconds_bucket[5m])))", "p95 {{gen_ai_request_model}}")],
           "s", PROM),
        ts("Tokens per second by model and type", [
            ("sum by (gen_ai_request_model, gen_ai_token_type) (rate(gen_ai_client_token_usage_sum[1m]))",
             "{{gen_ai_token_type}} {{gen_ai_request_model}}")], "short", PROM),
        ts("vLLM requests running / waiting", [
            ("sum by (model_name) (vllm:num_requests_running)", "running {{model_name}}"),
            ("sum by (model_name) (vllm:num_requests_waiting)", "waiting {{model_name}}")], "short", PROM),
        ts("vLLM KV cache usage", [("max by (model_name) (vllm:kv_cache_usage_perc)", "{{model_name}}")],
           "percentunit", PROM),
        ts("vLLM latency (s)", [
            ("histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))",
             "TTFT p95 {{model_name}}"),
            ("histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))",
             "e2e p95 {{model_name}}"),
            ("histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:inter_token_latency_seconds_bucket[5m])))",
             "inter-token p95 {{model_name}}")], "s", PROM),
        ts("vLLM tokens per second", [
            ("sum by (model_name) (rate(vllm:generation_tokens_total[1m]))", "generated {{model_name}}"),
            ("sum by (model_name) (rate(vllm:prompt_tokens_total[1m]))", "prompt {{model_name}}")], "short", PROM),
        ts("vLLM finished requests per second by reason", [
            ("sum by (model_name, finished_reason) (rate(vllm:request_success_total[5m]))",
             "{{model_name}} {{finished_reason}}")], "reqps", PROM),
    ]),
}


def build(uid: str, title: str, panels: list[dict]) -> dict:
    placed = []
    for i, p in enumerate(panels):
        width = 24 if p["type"] == "logs" else 12
        placed.append({"id": i + 1, "gridPos": {"h": 8, "w": width, "x": 0 if width == 24 else 12 * (i % 2),
                                                 "y": 8 * (i // 2)}, **p})
    return {"uid": uid, "title": title, "tags": ["mlops"], "timezone": "utc", "schemaVersion": 39, "version": 1,
            "editable": False, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": []}, "annotations": {"list": []}, "panels": placed}


def render() -> dict[str, str]:
    return {f"{uid}.json": json.dumps(build(uid, title, panels), indent=2) + "\n"
            for uid, (title, panels) in DASHBOARDS.items()}


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
