"""Typed JSON-line loggers for training, inference, system and API events.

    from logging_lib import TrainingLogger
    log = TrainingLogger("llama3_qlora", log_dir="./logs")
    log.log_step(epoch=1, step=100, loss=0.234, learning_rate=1e-4)

Importing this package configures nothing global: not structlog, not stdlib logging.
"""

from logging_lib.context import bind_context, bound_context
from logging_lib.errors import LogFormatError, PipelineError
from logging_lib.gpu_monitor import GPUMonitor
from logging_lib.loggers import APILogger, InferenceLogger, SystemLogger, TrainingLogger
from logging_lib.paths import LOG_DIR_ENV, LOG_TYPES, resolve_log_dir
from logging_lib.redaction import MASK
from logging_lib.sink import is_file_in_use

__all__ = [
    "APILogger", "GPUMonitor", "InferenceLogger", "LOG_DIR_ENV", "LOG_TYPES", "LogFormatError", "MASK",
    "PipelineError", "SystemLogger", "TrainingLogger", "bind_context", "bound_context", "is_file_in_use",
    "resolve_log_dir",
]
