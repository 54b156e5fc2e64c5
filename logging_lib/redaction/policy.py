"""The per-key answer the loggers look up for every field: mask the value? rename the key? an id?"""

from __future__ import annotations

from functools import lru_cache

from logging_lib.redaction.keys import is_secret_key, key_words
from logging_lib.redaction.text import redact_text


@lru_cache(maxsize=8192)
def redact_key(key: str) -> str:
    """A dict key or event name as written: masked where it carries a secret shape itself.

    Keys and event names repeat, so the answer is cached (bounded: hostile keys cannot grow it).
    """
    return redact_text(key)


# key -> (mask the value?, the key to write: None when unchanged, is the value an id?).
# A plain dict the loggers read directly (`KEY_POLICIES.get(k) or key_policy(k)`): this runs for
# every field of every event, where a function call per field is measurable.
KEY_POLICIES: dict[str, tuple[bool, str | None, bool]] = {}


def key_policy(key: str) -> tuple[bool, str | None, bool]:
    policy = KEY_POLICIES.get(key)
    if policy is None:
        if len(KEY_POLICIES) >= 8192:  # hostile or generated keys cannot grow it without bound
            KEY_POLICIES.clear()
        words = key_words(key)
        written = redact_key(key)
        policy = KEY_POLICIES[key] = (
            is_secret_key(key), None if written == key else written, bool(words) and words[-1] in ("id", "ids"))
    return policy


def unique_key(name: str, taken: dict, index: int) -> str:
    """Two masked keys in one object must not overwrite each other."""
    return name if name not in taken else f"{name}#{index}"
