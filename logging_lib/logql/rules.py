"""Loki ruler alert rules, evaluated over local logs the way the ruler evaluates them.

The ruler runs each rule's expr as an instant query every group `interval`; a series present
at every evaluation across `for` fires (before that it is pending). Here: one instant query at
`at` when `for` is 0, else a range query over [at - for, at] at the group interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from logging_lib.errors import PipelineError
from logging_lib.logql.engine import MetricResult, evaluate
from logging_lib.logql.parser import LogQLError, parse, parse_duration


@dataclass(frozen=True)
class Rule:
    name: str
    expr: str
    for_ms: int
    interval_ms: int
    group: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class AlertState:
    rule: Rule
    state: str  # firing | pending | inactive
    series: list[tuple[dict[str, str], float]]  # labels and value at `at`, of firing (or pending) series


def load_rules(path: str | Path) -> list[Rule]:
    """Parse a rules file; every problem (bad YAML, missing fields, bad LogQL) names the rule."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError(f"cannot read alert rules {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise PipelineError(f"{path}: expected a mapping with a 'groups' list (Prometheus rule format)")
    rules: list[Rule] = []
    problems: list[str] = []
    for g in doc["groups"]:
        gname = g.get("name", "?") if isinstance(g, dict) else "?"
        if not isinstance(g, dict) or not isinstance(g.get("rules"), list):
            problems.append(f"group {gname}: needs 'name' and a 'rules' list")
            continue
        try:
            interval_ms = parse_duration(str(g.get("interval", "1m")))
        except ValueError:
            problems.append(f"group {gname}: interval {g.get('interval')!r} is not a duration")
            continue
        for r in g["rules"]:
            name = r.get("alert") or r.get("record") if isinstance(r, dict) else None
            if not isinstance(r, dict) or not r.get("alert") or not isinstance(r.get("expr"), str):
                problems.append(f"group {gname}: rule {name or '?'} needs 'alert' and 'expr'")
                continue
            try:
                for_ms = parse_duration(str(r["for"])) if r.get("for") not in (None, "0", "0s", "0m") else 0
            except ValueError:
                problems.append(f"rule {name}: 'for' {r.get('for')!r} is not a duration")
                continue
            expr = r["expr"].strip()
            try:
                parse(expr)
            except LogQLError as exc:
                problems.append(f"rule {name}: {exc}")
                continue
            rules.append(Rule(str(name), expr, for_ms, interval_ms, str(gname),
                              {str(k): str(v) for k, v in (r.get("labels") or {}).items()},
                              {str(k): str(v) for k, v in (r.get("annotations") or {}).items()}))
    if problems:
        raise PipelineError(f"{path}: " + "; ".join(problems))
    return rules


def evaluate_rule(rule: Rule, log_dir: str | Path, at_ms: int, host: str | None = None) -> AlertState:
    if rule.for_ms == 0:
        res = _metric(rule, evaluate(rule.expr, log_dir, end_ms=at_ms, host=host))
        series = [(s.labels, s.points[-1][1]) for s in res.series]
        return AlertState(rule, "firing" if series else "inactive", series)
    res = _metric(rule, evaluate(rule.expr, log_dir, end_ms=at_ms, since_ms=rule.for_ms, step_ms=rule.interval_ms,
                                 host=host))
    n_points = (res.end_ms - res.start_ms) // res.step_ms + 1
    firing, pending = [], []
    for s in res.series:
        if not s.points or s.points[-1][0] != res.end_ms:
            continue  # not in the result now: inactive
        target = firing if len(s.points) == n_points else pending
        target.append((s.labels, s.points[-1][1]))
    if firing:
        return AlertState(rule, "firing", firing)
    return AlertState(rule, "pending" if pending else "inactive", pending)


def _metric(rule: Rule, res: object) -> MetricResult:
    if not isinstance(res, MetricResult):
        raise LogQLError(f"alert {rule.name}: expr is a log query; alerts need a metric query such as "
                         "count_over_time(...[5m]) > 0")
    return res


def evaluate_rules(rules: list[Rule], log_dir: str | Path, at_ms: int, host: str | None = None) -> list[AlertState]:
    return [evaluate_rule(r, log_dir, at_ms, host) for r in rules]


def render_annotation(template: str, labels: dict[str, str], value: float) -> str:
    """The small part of Prometheus' templating our annotations use: $labels.x, $value."""
    import re

    def sub(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr.startswith("$labels."):
            return labels.get(expr[8:], "")
        if expr.startswith("$value"):
            if "humanizePercentage" in expr:
                return f"{value * 100:.3g}%"
            return f"{value:.4g}"
        return m.group(0)

    return re.sub(r"\{\{(.*?)\}\}", sub, template)
