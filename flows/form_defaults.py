"""The `benchmark/on-demand` deployment's form, prefilled with the values a run will use.

Prefect's UI shows a deployment's parameters as the Custom run form's starting values. With
none, every benchmark override showed as an `int | None` toggle at None ("Property is type
None"): nobody could see what would run. `prefect deploy` calls `form_defaults` as a build
step (deployments/prefect.yaml) and stores the config file's effective benchmark values;
`deployments/register-stack.sh` prints the same through `python -m flows.form_defaults`.
Values the form cannot hold (an infinite request rate, an unset cap) stay None, which means
"the config file's value", as their descriptions say.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

DEFAULT_CONFIG = "configs/local.yaml"


def benchmark_request_defaults(config_path: str = DEFAULT_CONFIG, overrides: list[str] | None = None,
                               site_overrides: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A whole `BenchmarkRequest` as JSON: `fields` as given, each benchmark override at the
    config's value (after `site_overrides`, then `overrides`), the rest at the request's defaults."""
    from configs.benchmark_request import OVERRIDES, BenchmarkRequest
    from tasks.pipeline.tasks import load_config_task

    cfg = load_config_task.fn(config_path, [*(site_overrides or []), *(overrides or [])])
    values = {name: getattr(cfg.benchmark, name) for name in OVERRIDES}
    prefill = {k: v for k, v in values.items() if v is not None and not (isinstance(v, float) and math.isinf(v))}
    request = BenchmarkRequest(config_path=config_path, overrides=list(overrides or []), **{**prefill, **fields})
    return request.model_dump(mode="json")


def form_defaults(config_path: str = DEFAULT_CONFIG, overrides: list[str] | None = None) -> dict[str, Any]:
    """Prefect build step: `{"request": {...}}` for `parameters: {request: "{{ form.request }}"}`."""
    return {"request": benchmark_request_defaults(config_path, overrides)}


def main(argv: list[str]) -> None:
    """`python -m flows.form_defaults CONFIG [SITE_OVERRIDE ...] [--model-ref REF]`: the
    deployment's parameters as JSON, `{"request": ..., "site_overrides": [...]}` (a stack's URLs
    stay out of the request, so a request given whole on the command line keeps them)."""
    model_ref = None
    if "--model-ref" in argv:
        i = argv.index("--model-ref")
        model_ref, argv = argv[i + 1], argv[:i] + argv[i + 2:]
    config_path, *site = argv or [DEFAULT_CONFIG]
    extra = {"model_ref": model_ref} if model_ref else {}
    print(json.dumps({"request": benchmark_request_defaults(config_path, site_overrides=site, **extra),
                      "site_overrides": site}))


if __name__ == "__main__":
    main(sys.argv[1:])
