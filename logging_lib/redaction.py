"""Masking of secrets: by key at any nesting depth, and by value shape anywhere in a string.

Keys: a key whose words (split on `_`, `-`, `.`) include a secret word, or that contains a
secret compound (`api_key`, `access_key`, ...), has its whole value replaced by MASK.
Counting words rather than substrings keeps `prompt_tokens` and `max_tokens` visible while
`token`, `hf_token` and `access_token` are masked.

Values: bearer tokens, AWS access key ids, Hugging Face, OpenAI and GitHub tokens,
`key=value` pairs with a secret key, and passwords inside URLs are masked wherever they
occur in a string, exception messages included.
"""

from __future__ import annotations

import re
from functools import lru_cache

MASK = "***masked***"

_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "token", "authorization", "auth",
    "cookie", "cookies", "credential", "credentials", "apikey", "signature", "jwt", "session",
})
_SECRET_COMPOUNDS = ("api_key", "access_key", "secret_key", "private_key", "session_key", "client_secret", "set_cookie")
_WORD_SPLIT = re.compile(r"[_\-.\s]+")

_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 " + MASK),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"), MASK),
    (re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_\-]{16,}"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), MASK),
    (re.compile(r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"), MASK),
    (
        re.compile(
            r"(?i)\b([\w\-]*(?:password|passwd|secret|token|api[_\-]?key|access[_\-]?key|authorization)[\w\-]*)"
            r"(\s*[=:]\s*)(?!\*\*\*masked)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
        ),
        r"\1\2" + MASK,
    ),
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@"), r"\1" + MASK + "@"),
)
# Cheap pre-filter: skip the regexes for strings that cannot hold any of the shapes above.
_MAYBE_SECRET = re.compile(
    r"(?i)bearer|basic|token|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|hf_|sk-|gh[pousr]_|xox|password|passwd|secret|key|authorization|://"
)


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    normalized = lowered.replace("-", "_")
    if any(c in normalized for c in _SECRET_COMPOUNDS):
        return True
    return any(word in _SECRET_WORDS for word in _WORD_SPLIT.split(lowered))


def redact_text(text: str) -> str:
    """Mask credential shapes inside free text."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
