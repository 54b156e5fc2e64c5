"""The `benchmark` flow's parameters: one model, so the Prefect UI renders a typed form with
a description under every field. Unset fields fall back to the config file's `benchmark`.

The benchmark overrides are not re-typed here: each is `BenchmarkConfig`'s own field (type,
bounds, description) made optional, so config, form and `mlops bench` cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from configs.benchmark import BenchmarkConfig

# The BenchmarkConfig fields a flow run may override (the rest come from the config file only).
OVERRIDES = ("num_prompts", "request_rate", "burstiness", "max_concurrency", "max_tokens", "dataset_path",
             "goodput_ttft_ms", "goodput_tpot_ms", "goodput_e2el_ms")


def optional_override(name: str) -> tuple[Any, Any]:
    """`BenchmarkConfig.<name>` as an optional parameter: same type and bounds, None = the config's value."""
    f = BenchmarkConfig.model_fields[name]
    annotation = Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
    return annotation | None, Field(None, description=f"{f.description} None: the config file's value (the "
                                    "deployment's form starts at that value).")


class _RequestRules(BaseModel):
    """What the request checks and how it hands its overrides on; its fields are declared below."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _endpoint_needs_name(self) -> Any:
        if self.endpoint and not self.served_model_name:
            raise ValueError("served_model_name is required when endpoint is set")
        if not self.endpoint and not self.model_ref:
            raise ValueError("set model_ref (deploy from the registry) or endpoint (an already running server)")
        if self.promote and self.endpoint:
            raise ValueError("promote needs model_ref: an endpoint has no registry version to promote")
        if self.compare_with and self.endpoint:
            raise ValueError("compare_with needs model_ref: both versions are served by one vLLM we deploy")
        return self

    def benchmark_fields(self) -> dict[str, object]:
        """The BenchmarkConfig fields this request sets."""
        return {k: getattr(self, k) for k in OVERRIDES if getattr(self, k) is not None}


# Built with create_model so the form keeps this order: target first, then the overrides.
BenchmarkRequest = create_model(
    "BenchmarkRequest",
    __base__=_RequestRules,
    __module__=__name__,
    __doc__="Parameters of one `benchmark` flow run (the Prefect UI form).",
    config_path=(str, Field("configs/local.yaml", description="Pipeline config (YAML), relative to the project root "
                            "or absolute; its serving, benchmark and promotion sections are the defaults here. The "
                            "deployment's form starts at its benchmark values; after choosing another file, set a "
                            "benchmark field to None to take that file's value.")),
    overrides=(list[str], Field(default_factory=list, description="Config overrides, section.field=value "
                                "(e.g. paths.data_dir=/scratch/mlops), as `mlops train --set` takes them.")),
    model_ref=(str | None, Field("models:/smollm2-extraction-lora@candidate", description="Registry reference to deploy and "
                                 "benchmark: models:/NAME@ALIAS or models:/NAME/VERSION. Ignored when endpoint is set.")),
    endpoint=(str | None, Field(None, description="Benchmark an already running OpenAI-compatible server instead "
                                "(e.g. http://127.0.0.1:8080); nothing is deployed or stopped.")),
    served_model_name=(str | None, Field(None, description="Model name to send to the endpoint (required with "
                                         "endpoint).")),
    **{name: optional_override(name) for name in OVERRIDES},
    measure_quality=(bool, Field(True, description="Score the served model on the held-out eval prompts "
                                 "(catches a deployment that serves the wrong weights).")),
    capacity_sweep=(bool, Field(False, description="Also find the highest request rate at which the config's "
                                "`capacity` SLOs are met (e.g. capacity.slo_ttft_ms=2000 in overrides): a sweep of "
                                "open-loop runs, its table and plot in the report, the capacity recorded on the "
                                "version.")),
    promote=(bool, Field(False, description="Run the promotion gate afterwards: on pass the version becomes "
                         "`champion` (needs model_ref with a registry version).")),
    head_to_head=(bool, Field(True, description="With promote and a champion of the same base: serve both on one "
                              "vLLM, compare them on the same items and interleaved load, and decide by confidence "
                              "intervals (promotion.* margins). Off: the absolute thresholds.")),
    compare_with=(str | None, Field(None, description="Compare head to head with this registry version (e.g. "
                                    "models:/NAME@champion or models:/NAME/3) even without promote; unset: the "
                                    "champion when promote is on.")),
    run_label=(str | None, Field(None, description="Label for the result folder and artifacts.")),
)
