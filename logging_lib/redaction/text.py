"""The scan of free text: `redact_text` applies the patterns of patterns.py in the order the
package docstring gives, and judges tokens with no known prefix by how random they look."""

from __future__ import annotations

import math
import re
from collections import Counter

from logging_lib.redaction.keys import is_secret_key
from logging_lib.redaction.patterns import (AUTH_SCHEME, HEADER_KEYS, HEADER_VALUE, KEYWORDS, KEY_SEP, LONG_TOKEN, PEM, PROVIDER, QUERY_SECRET_KEYS, SCHEME_WORDS, SSH_PUBLIC, TOKEN_RUN, URL_AUTHORITY, VALUE, VALUE_AFTER_COLON, WEBHOOK, XML_ELEMENT)

MASK = "***masked***"


def redact_text(text: str, *, ids: bool = False) -> str:
    """Mask credential shapes inside free text; linear time in `len(text)`.

    `ids=True` for values we log as identifiers (`request_id`, `*_run_id`): random-looking ids are
    kept there, known token shapes are still masked.
    """
    lowered = text.lower()
    if not any(word in lowered for word in KEYWORDS):
        if not TOKEN_RUN.search(text):
            return text
        text = PROVIDER.sub(MASK, text)  # tokens need no keyword
        return text if ids else LONG_TOKEN.sub(_mask_if_random, text)
    if "PRIVATE KEY" in text:
        text = PEM.sub(MASK, text)
    if "://" in text:
        text = URL_AUTHORITY.sub(_mask_userinfo, text)
    if "hook" in lowered or "ifttt" in lowered:
        text = WEBHOOK.sub(r"\1" + MASK, text)
    if any(word in lowered for word in SCHEME_WORDS):
        text = AUTH_SCHEME.sub(_mask_auth_scheme, text)
    text = PROVIDER.sub(MASK, text)
    if "=" in text or ":" in text or "-" in text:
        text = _mask_pairs(text)
    if "</" in text:
        text = XML_ELEMENT.sub(_mask_xml, text)
    return text if ids else LONG_TOKEN.sub(_mask_if_random, text)


def _mask_userinfo(m: re.Match[str]) -> str:
    userinfo, at, host = m.group(2).rpartition("@")  # the last `@`: passwords may hold one
    if not at:
        return m.group(0)
    user, sep, password = userinfo.partition(":")
    if password:
        return f"{m.group(1)}{_keep_user(user)}:{MASK}@{host}"
    return f"{m.group(1)}{_keep_user(userinfo)}@{host}"


def _keep_user(user: str) -> str:
    """A user name stays (`git`, `mlflow`); a token in the user position (`ghp_...@`) does not."""
    if len(user) <= 24 and not (any(c.isdigit() for c in user) and len(user) >= 16):
        return user
    return MASK


def _mask_auth_scheme(m: re.Match[str]) -> str:
    scheme, space, credential = m.groups()
    lowered = scheme.lower()
    if _is_prose_word(credential) and (lowered != "bearer" or credential.islower()):
        return m.group(0)  # "token validation failed", "Basic Authentication required"
    if ("=" in credential.rstrip("=") or credential[0] in "/." or _IDENTIFIER.fullmatch(credential)
            or _LOGGED_ID.fullmatch(credential)):
        # "token token_count=0", "token /path", "token max_new_tokens", "token <uuid|sha256>": a name,
        # path or id we log. An `Authorization:` header is masked whole by the key rule anyway.
        return m.group(0)
    segments = _SEGMENTS.split(credential)
    if len(segments) > 1 and not any(map(_segment_is_random, segments)):
        return m.group(0)  # `meta-llama/Llama-3.2-1B-Instruct`, `v1.2.3`: names, not credentials
    if lowered not in ("bearer", "basic") and not (
            len(credential) >= 16 and any(c.isdigit() for c in credential) and any(c.isalpha() for c in credential)):
        return m.group(0)  # after the word "token" only a credential-looking string counts
    return f"{scheme}{space}{MASK}"


_IDENTIFIER = re.compile(r"[a-z]++(?:[_.][a-z0-9]++)++")
_LOGGED_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-f]{64}")


def _is_prose_word(text: str) -> bool:
    return len(text) < 20 and text.isalpha() and (text.islower() or text.istitle() or text.isupper())


def _mask_pairs(text: str) -> str:
    """`key=value` pairs with a secret key; the scan never revisits a character it passed."""
    out: list[str] = []
    done = pos = 0
    search, end = KEY_SEP.search, len(text)
    while pos < end:
        m = search(text, pos)
        if m is None:
            break
        value_at = m.end()
        if not _pair_is_secret(m.group("key"), text, m.start()) and not _is_user_password_flag(m, text):
            pos = value_at  # the value may itself hold pairs: keep scanning inside it
            continue
        sep = m.group("sep")
        if ":" in sep and text[value_at:value_at + 1] not in ("\"", "'", "\\"):
            matcher = HEADER_VALUE if m.group("key").lower() in HEADER_KEYS else VALUE_AFTER_COLON
        else:
            matcher = VALUE
        v = matcher.match(text, value_at)
        value = v.group(0) if v else ""
        if not value or value.strip("\"'\\") == MASK:
            pos = value_at + len(value)
            continue
        quote = value[: 2 if value[0] == "\\" else 1] if value[0] in "\"'\\" else ""
        out.append(text[done:value_at])
        out.append(f"{quote}{MASK}{quote}")
        done = pos = value_at + len(value)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _pair_is_secret(key: str, text: str, start: int) -> bool:
    if is_secret_key(key):
        return True
    before = text[start - 1] if start else ""
    lowered = key.lower()
    if before and before in "?&;" and lowered in QUERY_SECRET_KEYS:
        return True  # `?key=...`, `&code=...`
    if before in (" ", "\t") and lowered in ("key", "keys", "token", "string"):
        words = text[max(0, start - 24):start].split()
        return bool(words) and is_secret_key(f"{words[-1]}_{key}")  # `API key: ...`, `access token: ...`
    return False


def _is_user_password_flag(m: re.Match[str], text: str) -> bool:
    """`curl -u user:pass`, `--proxy-user user:pass`."""
    if not m.group("dash") or m.group("key").lower() not in ("u", "user", "proxy-user"):
        return False
    v = VALUE.match(text, m.end())
    return v is not None and ":" in v.group(0)


def _mask_xml(m: re.Match[str]) -> str:
    return f"<{m.group(1)}>{MASK}</{m.group(1)}>" if is_secret_key(m.group(1)) else m.group(0)


def _mask_if_random(m: re.Match[str]) -> str:
    token = m.group(0)
    return MASK if _looks_random(token) else token


_SEGMENTS = re.compile(r"(?:[/._=-]|%[0-9A-Fa-f]{2})+")
_DIGIT = re.compile(r"[0-9]")


def _looks_random(token: str) -> bool:
    """Mixed case with digits, high entropy, and a segment whose case/digit flips look random.

    Hex digests and UUIDs (one case), paths and model names (`meta-llama/Llama-3.2-1B-Instruct`:
    every segment a word, a number or a short tag) are kept.
    """
    core = token.rstrip("=")
    if core.islower() or core.isupper() or core.startswith(SSH_PUBLIC) or not _DIGIT.search(core):
        return False  # hex digests, UUIDs, lower-case names: one case only
    segments = [seg for seg in _SEGMENTS.split(core) if len(seg) >= 6]  # short tags (`v1`, `135M`) say nothing
    if 2 * sum(len(seg) for seg in segments if _segment_is_random(seg)) <= sum(map(len, segments)):
        return False  # `HuggingFaceTB/SmolLM2-135M-Instruct`: one odd word among plain ones
    n = len(core)
    entropy = -sum(c / n * math.log2(c / n) for c in Counter(core).values())
    return entropy >= 4.0


def _segment_is_random(seg: str) -> bool:
    """Case and digit runs flip often in random text (`wJalrXUtnFEMI`), rarely in names (`Instruct`)."""
    if len(seg) < 10:
        return False
    flips = len(_CLASS_RUNS.findall(seg)) - 1
    return flips >= 4 and flips * 6 >= len(seg)


_CLASS_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+|[^a-zA-Z0-9]+")
