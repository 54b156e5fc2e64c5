"""The `benchmark` flow's parameters: one model, so the Prefect UI renders a typed form with
a description under every field. Unset fields fall back to the config file's `benchmark`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BenchmarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    config_path: str = Field("configs/local.yaml", description="Pipeline config (YAML), relative to the project root "
                             "or absolute; its serving, benchmark and promotion sections are the defaults here.")
    overrides: list[str] = Field(default_factory=list, description="Config overrides, section.field=value "
                                 "(e.g. paths.data_dir=/scratch/mlops), as `mlops train --set` takes them.")
    model_ref: str | None = Field("models:/tiny-chat-lora@candidate", description="Registry reference to deploy and "
                                  "benchmark: models:/NAME@ALIAS or models:/NAME/VERSION. Ignored when endpoint is set.")
    endpoint: str | None = Field(None, description="Benchmark an already running OpenAI-compatible server instead "
                                 "(e.g. http://127.0.0.1:8080); nothing is deployed or stopped.")
    served_model_name: str | None = Field(None, description="Model name to send to the endpoint (required with "
                                          "endpoint).")
    num_prompts: int | None = Field(None, gt=0, description="Requests to send (default: config).")
    request_rate: float | None = Field(None, gt=0, description="Requests per second, planned open-loop; "
                                       "a very large value sends all at once (default: config).")
    burstiness: float | None = Field(None, gt=0, description="Gamma shape of arrivals: 1 = Poisson, <1 burstier.")
    max_concurrency: int | None = Field(None, gt=0, description="Most requests in flight at once.")
    max_tokens: int | None = Field(None, gt=0, description="Completion tokens per request.")
    dataset_path: str | None = Field(None, description="JSONL prompts ('prompt' or 'messages' per line); "
                                     "default: synthetic prompts.")
    measure_quality: bool = Field(True, description="Score the served model on the held-out eval prompts "
                                  "(catches a deployment that serves the wrong weights).")
    goodput_ttft_ms: float | None = Field(None, gt=0, description="SLO for goodput: TTFT at most this many ms.")
    goodput_tpot_ms: float | None = Field(None, gt=0, description="SLO for goodput: TPOT at most this many ms.")
    goodput_e2el_ms: float | None = Field(None, gt=0, description="SLO for goodput: end-to-end latency in ms.")
    promote: bool = Field(False, description="Run the promotion gate afterwards: on pass the version becomes "
                          "`champion` (needs model_ref with a registry version).")
    run_label: str | None = Field(None, description="Label for the result folder and artifacts.")

    @model_validator(mode="after")
    def _endpoint_needs_name(self) -> BenchmarkRequest:
        if self.endpoint and not self.served_model_name:
            raise ValueError("served_model_name is required when endpoint is set")
        if not self.endpoint and not self.model_ref:
            raise ValueError("set model_ref (deploy from the registry) or endpoint (an already running server)")
        if self.promote and self.endpoint:
            raise ValueError("promote needs model_ref: an endpoint has no registry version to promote")
        return self

    def benchmark_fields(self) -> dict[str, object]:
        """The BenchmarkConfig fields this request sets."""
        keys = ("num_prompts", "request_rate", "burstiness", "max_concurrency", "max_tokens", "dataset_path",
                "goodput_ttft_ms", "goodput_tpot_ms", "goodput_e2el_ms")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
