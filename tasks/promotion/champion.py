"""Whom the candidate is compared with: the registry's champion, when one vLLM can serve both.

Head to head needs a champion that is another version with the same base model (vLLM serves
one base with several adapters). Otherwise the gate falls back to the absolute thresholds,
and the reason is stated.
"""

from __future__ import annotations

from typing import Any


def head_to_head_champion(tracking_uri: str, name: str, candidate_version: str, alias: str = "champion",
                          resolver: Any = None) -> dict[str, Any]:
    """{"version", "ref", "reason"}: version/ref are None when there is nobody to compare with."""
    from tasks.registry.versions import get_alias_version

    version = get_alias_version(tracking_uri, name, alias)
    none = {"version": None, "ref": None}
    if version is None:
        return {**none, "reason": f"no {alias} yet: the absolute thresholds apply"}
    if str(version) == str(candidate_version):
        return {**none, "reason": f"version {version} already is the {alias}"}
    if resolver is None:
        from tasks.registry.versions import resolve_model as resolver
    champion = resolver(tracking_uri, f"models:/{name}/{version}")
    candidate = resolver(tracking_uri, f"models:/{name}/{candidate_version}")
    if str(champion.base_model) != str(candidate.base_model):
        return {**none, "reason": f"{alias} v{version} is built on {champion.base_model}, the candidate on "
                                  f"{candidate.base_model}: one vLLM cannot serve both, so the absolute thresholds apply"}
    return {"version": str(version), "ref": f"models:/{name}/{version}",
            "reason": f"head to head with {alias} v{version} on one vLLM"}
