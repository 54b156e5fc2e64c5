"""The LogQL parser: what it accepts, and errors that point at what it does not."""

from __future__ import annotations

import pytest

from logging_lib.logql import LogQLError, parse, parse_duration, query_info
from logging_lib.logql import ast as A

VALID = [
    '{job="inference"}',
    '{job=~"inf.*", level!="DEBUG", host!~"x|y"}',
    '{job="api"} |= "api_response" != "healthz" |~ "POST|GET" !~ `(?i)debug`',
    '{job="inference"} | json | latency_ms > 1000 and model_name="ft" or (status_code >= 500, path=~"/v1/.*")',
    '{job="training"} | json | line_format "step {{.step}} loss {{ .loss }} {{__line__}}"',
    'count_over_time({job="api"}[5m])',
    'count_over_time({job="api"} | json [5m])',
    'count_over_time(({job="api"} | json)[5m])',
    'rate({job="inference"} | json | unwrap tokens_generated [1m])',
    'quantile_over_time(0.99, {job="inference"} | json | unwrap latency_ms | __error__="" [5m]) by (model_name)',
    'sum without (filename) (rate({job="api"} [1m]))',
    'sum by (job) (count_over_time({service="mlops"} [5m])) > 0',
    'sum(rate({job="api"}[5m])) / sum(rate({job="api"}[5m])) * 100 > bool 5',
    'max by (gpu_id) (max_over_time({job="system"} | json | unwrap temperature [1m])) >= -1',
    'avg(avg_over_time({job="system"} | json | unwrap cpu_percent [1m]) by (host))',
]


@pytest.mark.parametrize("query", VALID)
def test_valid_queries_parse(query: str) -> None:
    parse(query)


def test_the_tree_has_what_the_query_says() -> None:
    expr = parse('avg_over_time({job="inference"} |= "x" | json | latency_ms > 5 | unwrap latency_ms [5m]) '
                 'by (model_name) > 1000')
    assert isinstance(expr, A.BinOp) and expr.op == ">" and expr.right == A.Scalar(1000.0)
    agg = expr.left
    assert isinstance(agg, A.RangeAgg) and agg.fn == "avg_over_time" and agg.range_ms == 300_000
    assert agg.grouping == A.Grouping(False, ("model_name",))
    kinds = [type(s).__name__ for s in agg.query.stages]
    assert kinds == ["LineFilter", "JsonStage", "LabelFilter", "Unwrap"]


@pytest.mark.parametrize("query,fragment,at", [
    ('topk(5, count_over_time({job="api"}[5m]))', "'topk' is valid LogQL but not supported", 0),
    ('{job="api"} | logfmt', "'logfmt' is valid LogQL but not supported", 14),
    ('sum(count_over_time({job="api"}[5m])) or vector(0)', "'or' is valid LogQL but not supported", 38),
    ('count_over_time({job="api"}[5m] offset 1h)', "'offset'", 32),
    ('{job="api"} | json a="b"', "json with parameters", 19),
    ('{job=~".*"}', "at least one matcher that does not match the empty string", 0),
    ('{}', "needs at least one matcher", 0),
    ('count_over_time({job="api"})', "needs a [range]", 27),
    ('avg_over_time({job="api"} | json [5m])', "needs '| unwrap", 0),
    ('count_over_time({job="api"} | json [5m]) by (path)', "takes no by/without", 0),
    ('{job="api"} | json | status_code > "500"', "compares numbers; drop the quotes", 35),
    ('{job="api"} |~ "("', "invalid regular expression", 15),
    ('{job="api} |= "x"', "unterminated string", 16),
    ('{job="api"} |= "x', "unterminated string", 15),
    ('rate({job="api"}[$__interval])', "invalid range", 16),
    ('{job="api"} | json | unwrap latency_ms', "unwrap is only valid inside a range aggregation", 21),
    ('sum({job="api"})', "aggregates a metric query, not log lines", 0),
    ('count_over_time({job="api"} [5m]) + {job="api"}', "log query", 34),
    ('{job="api"} | json | latency_ms > 5s', "durations and byte sizes are not supported", 34),
    ('{job="api"} | line_format "{{ .a | upper }}"', "line_format action", 26),
    ('', "empty query", None),
])
def test_unsupported_or_wrong_syntax_is_an_error_pointing_at_it(query: str, fragment: str, at: int | None) -> None:
    with pytest.raises(LogQLError) as err:
        parse(query)
    assert fragment in str(err.value)
    if at is not None and err.value.pos is not None:
        assert err.value.pos == at, str(err.value)
        assert str(err.value).splitlines()[-1] == "  " + " " * at + "^"


def test_durations() -> None:
    assert parse_duration("5m") == 300_000
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("250ms") == 250
    for bad in ("", "5", "m5", "5x", "0s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_query_info_lists_the_fields_and_events_a_query_reads() -> None:
    info = query_info(parse('sum by (model_name) (count_over_time({job="inference"} | json | message="inference_error" '
                            '| latency_ms > 1 | line_format "{{.request_id}}" [5m]))'))
    assert info.labels == {"job", "message", "latency_ms", "request_id", "model_name"}
    assert info.events == {"inference_error"}


DEEP = [
    "(" * 500 + "1" + ")" * 500,
    "sum(" * 500 + 'count_over_time({job="api"}[5m])' + ")" * 500,
    "1" + " ^ 2" * 500,
    "1" + " + 1" * 500,  # a flat chain nests the tree, not the parser
    '{job="api"} | json | ' + "(" * 500 + 'path="/"' + ")" * 500,
    '{job="api"} | json | ' + " and ".join(f'f{i}="x"' for i in range(500)),
]


@pytest.mark.parametrize("query", DEEP, ids=["parens", "aggregations", "power", "sum", "filter-groups", "and-chain"])
def test_absurdly_nested_queries_are_a_clear_error_not_a_recursion_error(query: str) -> None:
    with pytest.raises(LogQLError, match="nested more than 64 levels deep"):
        parse(query)


def test_nesting_within_the_limit_still_parses() -> None:
    from logging_lib.logql.parser import MAX_DEPTH

    expr = parse("sum(" * (MAX_DEPTH // 2) + 'count_over_time({job="api"}[5m])' + ")" * (MAX_DEPTH // 2))
    assert isinstance(expr, A.VectorAgg)
    assert isinstance(parse("(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)), A.Scalar)


@pytest.mark.parametrize("template", ["{{.path", "{{ .path }} and {{.status", "x {{", "{{.a}}{{"])
def test_a_line_format_template_loki_would_reject_is_rejected(template: str) -> None:
    with pytest.raises(LogQLError, match=r"unclosed action.*Loki rejects") as err:
        parse(f'{{job="api"}} | json | line_format "{template}"')
    assert err.value.pos == len('{job="api"} | json | line_format ')


@pytest.mark.parametrize("template", ["{{.path}} }} literal", "status={{ .status_code }}", "no actions at all"])
def test_valid_templates_still_parse(template: str) -> None:
    parse(f'{{job="api"}} | json | line_format "{template}"')


def test_a_long_bad_query_is_quoted_around_the_error_only() -> None:
    with pytest.raises(LogQLError) as err:
        parse('{job="api"} |= "' + "a" * 10_000 + '" | nosuch(')
    assert len(str(err.value)) < 500 and str(err.value).splitlines()[1].strip().startswith("...")
