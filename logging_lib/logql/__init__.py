"""LogQL over the local JSON-line logs, with the labels our Alloy config gives them in Loki.

    from logging_lib.logql import evaluate, parse
    res = evaluate('sum by (model_name) (count_over_time({job="inference"} | json '
                   '| message="inference_response" [5m]))', "logs", end_ms=now_ms)

Depends on nothing else of ours (errors derive from logging_lib.errors.PipelineError).
"""

from logging_lib.logql.engine import (DEFAULT_MAX_SERIES, LogEntry, LogResult, MetricResult, Series, evaluate,
                                      quantile)
from logging_lib.logql.parser import LogQLError, parse, parse_duration, query_info
from logging_lib.logql.source import JOBS, STREAM_LABELS

__all__ = [
    "DEFAULT_MAX_SERIES", "JOBS", "LogEntry", "LogQLError", "LogResult", "MetricResult", "STREAM_LABELS", "Series",
    "evaluate", "parse", "parse_duration", "query_info", "quantile",
]
