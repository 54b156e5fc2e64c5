"""Which key names hold secrets: `is_secret_key` (the rules are in the package docstring)."""

from __future__ import annotations

import re
from functools import lru_cache

_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "passcode", "secret", "secrets", "token",
    "authorization", "auth", "cookie", "cookies", "credential", "credentials", "cred", "creds",
    "apikey", "apikeys", "signature", "sig", "jwt", "bearer", "session", "sessionid", "sid",
    "csrf", "xsrf", "otp", "totp", "mfa", "privatekey", "secretkey", "accesskey", "connectionstring",
    "dsn", "sas", "pat", "oauth",
})
# A word ending in one of these is secret too: `csrftoken`, `jsessionid`, `dbpassword`, `hftoken`.
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "sessionid", "sessid",
                    "credentials", "privatekey", "secretkey", "accesskey", "cookie")
# `key`/`keys` is secret only after one of these (`api key`, `x-api-key`, `AccountKey`).
_KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "priv", "p", "signing", "sign", "encryption", "enc",
    "master", "account", "client", "session", "auth", "subscription", "license", "app",
    "application", "service", "shared", "storage", "deploy", "admin", "root", "ssh", "gpg", "pgp",
    "rsa", "hmac", "jwt", "webhook", "consumer", "sas", "primary", "secondary", "decryption",
    "crypto", "write", "read", "management", "partner", "merchant", "personal", "user", "bot", "pass",
    "instrumentation", "ingestion", "publish", "server", "dev", "live", "prod", "test", "functions",
    "function", "host", "cluster", "registry", "repo", "vault",
})
# Present anywhere: the value is a quantity, not a credential (`token_count`, `max_tokens`).
_QUANTITY_WORDS = frozenset({
    "count", "counts", "num", "number", "total", "max", "min", "limit", "limits", "len", "length",
    "size", "rate", "ratio", "usage", "budget", "remaining", "per", "avg", "mean", "used",
})
# After the secret word: the value is *about* the secret (`token_type`, `secret_name`).
_ABOUT_WORDS = frozenset({
    "id", "ids", "index", "idx", "type", "types", "kind", "name", "names", "file", "files", "path",
    "paths", "dir", "env", "var", "ref", "url", "uri", "endpoint", "expiry", "expires",
    "expiration", "expired", "ttl", "at", "enabled", "set", "present", "provided", "valid",
    "source", "method", "mode", "scheme", "version", "prefix", "required", "arn", "label", "policy",
    "rotation", "rotated", "age", "hint", "format", "algorithm", "alg", "strength", "reset",
    "location", "provider", "store", "backend", "s", "ms", "error", "status",
})
_ALWAYS_SECRET_AFTER = frozenset({"session", "sessionid", "sid", "cookie", "secret"})  # `session_id` is a credential
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """`AWS_SECRET_ACCESS_KEY`, `secretAccessKey`, `x-api-key` -> lower-case words."""
    return [w.lower() for w in _CAMEL.findall(key[:256])]


@lru_cache(maxsize=8192)
def is_secret_key(key: str) -> bool:
    """True when a value stored under this name must be masked whatever it looks like."""
    words = key_words(key)
    last_secret = -1
    for i, word in enumerate(words):
        if word in _QUANTITY_WORDS:
            return False
        if _is_secret_word(word, words[i - 1] if i else ""):
            last_secret = i
    if last_secret < 0:
        # a webhook URL is itself the credential (`SLACK_WEBHOOK_URL`)
        return "webhook" in words and any(w in ("url", "uri") for w in words)
    after = words[last_secret + 1:]
    if words[last_secret] in _ALWAYS_SECRET_AFTER:
        after = [w for w in after if w not in ("id", "ids")]
    return not any(w in _ABOUT_WORDS for w in after)


# Tokenizer vocabulary, not credentials: `pad_token`, `eos_token`, `special_tokens`.
_VOCAB_TOKEN_KINDS = frozenset({"bos", "eos", "pad", "unk", "sep", "cls", "mask", "special", "start", "end", "stop",
                                "eot", "image", "audio", "video", "added", "im", "tool", "think"})


def _is_secret_word(word: str, previous: str) -> bool:
    if word in _SECRET_WORDS:
        return not (word == "token" and previous in _VOCAB_TOKEN_KINDS)
    if word in ("key", "keys"):
        return previous in _KEY_QUALIFIERS or previous.endswith("api")  # `x-rapidapi-key`
    if word in ("string", "strings", "str"):
        return previous in ("connection", "conn")
    if word.endswith(("key", "keys")) and word.rstrip("s")[:-3] in _KEY_QUALIFIERS:
        return True
    return len(word) > 5 and word.endswith(_SECRET_SUFFIXES)
