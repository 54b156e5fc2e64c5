"""The byte layout of a written log line: a contract between the writer and its fast readers.

Every line the typed loggers write starts with the same keys in the same order, rendered by
orjson without spaces:

    {"timestamp":"2026-11-26T08:15:22.123Z","level":"INFO","message":...

so a reader (the LogQL engine's scan) can take the timestamp and level at fixed offsets
without parsing JSON. The writer builds its events in `HEAD_KEYS` order; the reader checks
`TIMESTAMP_PREFIX`/`TIMESTAMP_END` before it trusts an offset and falls back to a JSON parse
for any line that does not match (lines written by other tools, or by an older layout).
"""

from __future__ import annotations

HEAD_KEYS = ("timestamp", "level", "message", "logger", "log_type")
"""The first keys of every event, in the order the writer puts them."""

TIMESTAMP_PREFIX = b'{"timestamp":"'
TIMESTAMP_CHARS = len("2026-11-26T08:15:22.123Z")  # ISO-8601 UTC, milliseconds, `Z`

TS_START = len(TIMESTAMP_PREFIX)  # 14
TS_END = TS_START + TIMESTAMP_CHARS  # 38: the timestamp is raw[TS_START:TS_END]
SECOND_END = TS_START + len("2026-11-26T08:15:22")  # 33: raw[TS_START:SECOND_END] is the second
MS_START = SECOND_END + 1  # 34: raw[MS_START:MS_END] is the millisecond, after the '.' at SECOND_END
MS_END = MS_START + 3  # 37
TIMESTAMP_END = b'Z"'  # raw[MS_END:TS_END + 1]

LEVEL_PREFIX = b',"level":"'  # right after the timestamp's closing quote (raw[TS_END])
LEVEL_START = TS_END + 1 + len(LEVEL_PREFIX)  # 49: the level value starts here, up to the next '"'
LEVEL_KEY_AT = slice(TS_END + 2, LEVEL_START)  # raw[40:49] == LEVEL_KEY
LEVEL_KEY = LEVEL_PREFIX[1:]  # b'"level":"'


def has_fixed_head(raw: bytes) -> bool:
    """True when `raw` starts with the writer's fixed head, so the offsets above hold."""
    return (raw.startswith(TIMESTAMP_PREFIX) and raw[SECOND_END:SECOND_END + 1] == b"."
            and raw[MS_END:TS_END + 1] == TIMESTAMP_END)
