"""Root of the project's one exception tree.

    PipelineError                  (logging_lib.errors) every failure we raise on purpose
    ├── LogFormatError             a log file/line that breaks its schema
    └── ... stage errors           (configs.errors: ConfigError, DataError, TrainingError,
                                    RegistryError, ServingError, BenchmarkError, RetentionError)

It lives here because logging_lib depends on nothing else of ours and everything else
depends on it; configs.errors re-exports it and adds the stage errors.
"""

from __future__ import annotations


class PipelineError(Exception):
    """A failure that names what to fix; the CLI prints it without a traceback."""


class LogFormatError(PipelineError):
    """A log line or file that is not what our schemas promise."""
