"""Is the gateway in front of this run's vLLM? Checked before any benchmark traffic goes to
`serving.gateway_url`, so a gateway that is down, refuses the key, is not our gateway at all, or
routes to another vLLM fails the run with one error that says what to fix, instead of a
benchmark made of failed requests (or one that bypasses the server-side logs)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from configs.errors import ServingError

KEY_HINT = ("set MLOPS_GATEWAY_API_KEY (or MLOPS_GATEWAY_API_KEYS, whose first key is used) in the environment of "
            "the process that runs the benchmark to one of the gateway's MLOPS_GATEWAY_API_KEYS")


def check_gateway(gateway_url: str, names: Sequence[str], *, vllm_url: str | None = None, api_key: str | None = None,
                  timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
    """Raise ServingError unless the gateway answers /health as ours, with a healthy upstream,
    and lists every one of `names` on /v1/models with `api_key`."""
    where = f"serving.gateway_url {gateway_url}"
    own = client is None
    client = client or httpx.Client(base_url=gateway_url, timeout=timeout_s, trust_env=False)
    try:
        backend = _backend_url(client, where)
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            resp = client.get("/v1/models", headers=headers)
        except httpx.HTTPError as exc:
            raise ServingError(f"the gateway at {where} did not answer GET /v1/models: {exc!r}") from exc
    finally:
        if own:
            client.close()
    if resp.status_code == 401:
        said = "refused the API key it was sent" if api_key else "needs an API key and none is set"
        raise ServingError(f"the gateway at {where} {said} (HTTP 401); {KEY_HINT}")
    if resp.status_code != 200:
        raise ServingError(f"the gateway at {where} answered GET /v1/models with HTTP {resp.status_code}: "
                           f"{resp.text[:200]}")
    listed = {str(m.get("id")) for m in _data(resp) if isinstance(m, dict)}
    missing = [n for n in names if n not in listed]
    if missing:
        ours = f" (this run's vLLM is at {vllm_url})" if vllm_url else ""
        raise ServingError(f"the gateway at {where} does not route to this run's vLLM: it forwards to {backend}, "
                           f"whose /v1/models lists {sorted(listed)}, not {missing}; start the gateway with "
                           f"--backend-url pointing at the vLLM the pipeline deploys{ours}")


def _backend_url(client: httpx.Client, where: str) -> str:
    """The gateway's upstream, from its /health; errors for no answer, not our gateway, or upstream down."""
    try:
        resp = client.get("/health")
    except httpx.HTTPError as exc:
        raise ServingError(f"no gateway answers at {where} ({exc!r}); start it (`mlops gateway`, "
                           "scripts/stack.sh up) or fix serving.gateway_url") from exc
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "backend_url" not in body:
        raise ServingError(f"the server at {where} is not the mlops gateway (GET /health: HTTP {resp.status_code}, "
                           "no backend_url); serving.gateway_url must name the gateway, not vLLM itself, or the "
                           "api and inference logs are not written")
    if resp.status_code != 200:
        raise ServingError(f"the gateway at {where} is up but its upstream {body['backend_url']} is not "
                           f"({body.get('status')}); the gateway's backend_url must be the vLLM this run deploys")
    return str(body["backend_url"])


def _data(resp: httpx.Response) -> list[object]:
    try:
        data = resp.json().get("data", [])
    except (ValueError, AttributeError):
        return []
    return data if isinstance(data, list) else []
