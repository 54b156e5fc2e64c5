"""The project's one exception tree (root in logging_lib.errors, which depends on nothing).

    PipelineError
    ├── LogFormatError      a log line/file breaking its schema (logging_lib)
    ├── ConfigError         a config file/field/override that is wrong; names file, field, expectation
    ├── DataError           dataset rows that do not fit the schema (with line numbers)
    ├── TrainingError       training failed (cause chained with `from`)
    ├── RegistryError       MLflow tracking / Model Registry problems
    ├── ServingError        vLLM start-up, health, adapter loading, gateway upstream
    ├── BenchmarkError      benchmark run below its success threshold, bad load shape
    ├── PromotionError      a head-to-head comparison that cannot be made (different bases, no items)
    ├── RetentionError      archive / upload / verification failures; nothing was deleted
    └── StackError          the one-machine production stack (scripts/stack.sh): a service that
                            would not start, a port taken, Postgres missing
"""

from __future__ import annotations

from logging_lib.errors import LogFormatError, PipelineError


class ConfigError(PipelineError):
    pass


class DataError(PipelineError):
    pass


class TrainingError(PipelineError):
    pass


class RegistryError(PipelineError):
    pass


class ServingError(PipelineError):
    pass


class BenchmarkError(PipelineError):
    pass


class PromotionError(PipelineError):
    pass


class RetentionError(PipelineError):
    pass


class StackError(PipelineError):
    pass


__all__ = ["BenchmarkError", "ConfigError", "DataError", "LogFormatError", "PipelineError", "PromotionError", "RegistryError",
           "RetentionError", "ServingError", "StackError", "TrainingError"]
