"""The one error a query can raise: LogQLError, which shows where in the query it went wrong."""

from __future__ import annotations

from logging_lib.errors import PipelineError

_SHOWN = 120  # characters of the query quoted in an error


class LogQLError(PipelineError):
    """A query we cannot evaluate faithfully; the message shows where."""

    def __init__(self, message: str, query: str = "", pos: int | None = None) -> None:
        self.reason = message
        self.query = query
        self.pos = pos
        if query and pos is not None:
            pos = min(max(pos, 0), len(query))
            flat = query.replace("\n", " ")
            start = max(0, min(pos - _SHOWN // 2, len(flat) - _SHOWN))  # a window around pos, not a 50 KB echo
            shown = ("..." if start else "") + flat[start:start + _SHOWN] + ("..." if start + _SHOWN < len(flat) else "")
            caret = pos - start + (3 if start else 0)
            message = f"{message} at position {pos}:\n  {shown}\n  {' ' * caret}^"
        super().__init__(message)

