"""Masking of secrets: by key name at any nesting depth, and by value shape anywhere in a string.

Key names (`is_secret_key`): the name is split into words on separators AND camelCase
(`apiKey`, `AWS_SECRET_ACCESS_KEY`, `x-api-key`, `clientSecret` -> words). It is secret when a
word is a credential word (`password`, `pwd`, `pass`, `token`, `secret`, `auth`, `cookie`,
`session`, `sig`, ...), ends in one (`csrftoken`, `jsessionid`), or is `key` qualified as a
credential (`api key`, `private key`, `account key`, ...). A quantity word anywhere
(`token_count`, `max_tokens`) or a word that names *about* the secret after it (`token_type`,
`private_key_id`, `secret_name`, `password_file`) keeps the value: we log those on purpose.

Free text (`redact_text`), in this order; every pattern runs in linear time on any input
(possessive or bounded quantifiers, each run entered only at its start via a look-behind;
`tests/unit/logging_lib/test_redaction_timing.py` checks the growth):
1. private-key blocks (PEM of any flavour, PGP), up to their END line or the end of the string;
2. credentials in URLs (`scheme://user:pass@`, `scheme://:token@`) and webhook URLs
   (Slack, Discord, Teams, Zapier), whose path is the secret;
3. auth schemes (`Bearer x`, `Basic x`, `Token x`);
4. provider tokens by prefix (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, Google,
   npm, PyPI, SendGrid, DigitalOcean, Shopify, Databricks, ... see `_PREFIXED`), JWTs;
5. `key=value`, `key: value`, `"key": "value"`, `'key': 'value'`, `--key value` and
   `<key>value</key>` pairs (JSON or Python reprs inside text, query strings, connection
   strings, headers, cookies, command lines) whose key is a secret name;
6. long random-looking tokens with no known prefix (mixed case and digits, high entropy),
   which leaves hex digests, UUIDs, run ids, model names and paths alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

MASK = "***masked***"

# -- key names -------------------------------------------------------------------------------
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


# -- shapes in free text -----------------------------------------------------------------------
_TOKEN_CHARS = "A-Za-z0-9_-"
_NOT_AFTER_TOKEN = rf"(?<![{_TOKEN_CHARS}])"

_PEM = re.compile(
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[^-\"]|-(?!----END))*+"  # body: each character looked at once, no backtracking
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"
)
_URL_AUTHORITY = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}+://)([^\s/?#\"'<>]{1,512}+)")
_WEBHOOK = re.compile(
    r"(?i)((?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|discord(?:app)?\.com/api/webhooks/"
    r"|\.webhook\.office\.com/webhookb2/"
    r"|outlook\.office(?:365)?\.com/webhook/"
    r"|hooks\.zapier\.com/hooks/catch/"
    r"|maker\.ifttt\.com/trigger/))"
    r"[^\s\"'<>]++"
)
_AUTH_SCHEME = re.compile(r"(?i)(?<![A-Za-z0-9_-])(bearer|basic|token|digest|apikey)(\s++)([A-Za-z0-9._~+/=-]{8,512}+)")

# Provider tokens: (prefix regex, tail class, minimum tail length). Shapes learnt from the
# published rule sets of public secret scanners; the table is ours.
_ALNUM, _B64URL, _HEX, _LHEX = "A-Za-z0-9", "A-Za-z0-9_-", "a-fA-F0-9", "a-f0-9"
_PREFIXED: tuple[tuple[str, str, int], ...] = (
    (r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])", "A-Z0-9", 16),  # AWS key ids
    (r"gh[pousr]_", _ALNUM, 30), (r"github_pat_", "A-Za-z0-9_", 40),  # GitHub
    (r"gl(?:pat|dt|rt|ptt|cbt|imt|oas|soat|ft|agent|ffct|wt)-", _B64URL, 20), (r"GR1348941", _B64URL, 20),  # GitLab
    (r"xox[abposrec]-", _B64URL, 10), (r"xoxe\.xox[bp]-", _B64URL, 10), (r"xapp-\d-", _B64URL, 10),  # Slack
    (r"(?:sk|rk)_(?:live|test|prod)_", _ALNUM, 16), (r"whsec_", _ALNUM, 24),  # Stripe
    (r"sk-ant-(?:api|admin|sid)\d\d-", _B64URL, 20),  # Anthropic
    (r"sk-(?:proj-|svcacct-|admin-|None-)?", _B64URL, 20),  # OpenAI (and look-alikes: DeepSeek, ...)
    (r"AIza", _B64URL, 30), (r"ya29\.", _B64URL, 20), (r"GOCSPX-", _B64URL, 20), (r"1//0", _B64URL, 30),  # Google
    (r"npm_", _ALNUM, 30), (r"pypi-AgE", _B64URL, 40),  # npm, PyPI
    (r"SG\.[A-Za-z0-9_-]{16,32}\.", _B64URL, 30),  # SendGrid
    (r"(?:SK|AC)[0-9a-f]{32}", _ALNUM, 0),  # Twilio api key / account sid
    (r"do[opr]_v1_", _LHEX, 40),  # DigitalOcean
    (r"shp(?:at|ca|pa|ss)_", _HEX, 24),  # Shopify
    (r"dapi", "a-h0-9", 32),  # Databricks
    (r"hf_", _ALNUM, 20), (r"api_org_", _ALNUM, 20),  # Hugging Face
    (r"key-", "a-z0-9", 32),  # Mailgun
    (r"[0-9a-f]{32}-us\d{1,2}", "", 0),  # Mailchimp
    (r"ATATT3", "A-Za-z0-9_=-", 50),  # Atlassian
    (r"NRAK-", "A-Z0-9", 20), (r"NRII-", "A-Za-z0-9_-", 20),  # New Relic
    (r"gl(?:c|sa)_", "A-Za-z0-9+/=_", 24),  # Grafana cloud / service account
    (r"hv[sb]\.", _B64URL, 24),  # Vault
    (r"pnu_", _ALNUM, 30),  # Prefect Cloud
    (r"r8_", _ALNUM, 30), (r"gsk_", _ALNUM, 40), (r"pplx-", _ALNUM, 40), (r"xai-", _ALNUM, 40),  # model APIs
    (r"lsv2_(?:pt|sk)_", "A-Za-z0-9_", 32),  # LangSmith
    (r"sntry[su]_", "A-Za-z0-9+/=_", 40),  # Sentry
    (r"dckr_pat_", _B64URL, 20), (r"sbp_", _LHEX, 40), (r"sb_secret_", _B64URL, 20),  # Docker, Supabase
    (r"LTAI", _ALNUM, 20),  # Alibaba
    (r"PMAK-", "a-f0-9-", 50),  # Postman
    (r"lin_api_", _ALNUM, 30), (r"ntn_", _ALNUM, 30), (r"secret_", _ALNUM, 40),  # Linear, Notion
    (r"AGE-SECRET-KEY-1", "A-Z0-9", 50),  # age
    (r"sq0(?:atp|csp)-", _B64URL, 20), (r"EAA[A-Za-z0-9]{4}", _ALNUM, 60),  # Square, Meta
    (r"pul-", _LHEX, 40), (r"dt0c01\.", "A-Za-z0-9.", 60), (r"[a-zA-Z0-9]{14}\.atlasv1\.", "a-zA-Z0-9_=-", 60),
    (r"HRKU-", _B64URL, 30), (r"fo1_", _B64URL, 30), (r"nfp_", _ALNUM, 30), (r"vercel_", _ALNUM, 20),
    (r"pscale_(?:tkn|pw|oauth)_", "A-Za-z0-9=._-", 32), (r"FLWSECK-", _ALNUM, 20), (r"EZAK", _ALNUM, 40),
    (r"pat[A-Za-z0-9]{14}\.", _LHEX, 60),  # Airtable
    (r"AKCp", _ALNUM, 60),  # JFrog
    (r"access_token\$production\$[0-9a-z]{16}\$", _LHEX, 32),  # Braintree
    (r"A{20}", "A-Za-z0-9%", 40),  # Twitter/X app bearer
    (r"dp\.(?:pt|st|sa|ct|scim|audit)\.", _ALNUM, 40), (r"figd_", _B64URL, 30), (r"A3-[A-Z0-9]{6}-", "A-Z0-9-", 20),
    (r"ops_eyJ", "A-Za-z0-9+/=", 100),  # 1Password service account
    (r"(?:bot)?\d{8,10}:AA", _B64URL, 30),  # Telegram bot (also inside api.telegram.org/bot<token>/)
    (r"[MN][A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.", _B64URL, 27),  # Discord bot
    (r"[A-Za-z0-9_~.]{3}\dQ~", "A-Za-z0-9_~.-", 30),  # Azure AD client secret
    (r"eyJ[A-Za-z0-9_-]{8,}+\.(?:eyJ)?[A-Za-z0-9_-]{4,}+\.", _B64URL, 0),  # JWT (signature may be empty)
    (r"eyJ", "A-Za-z0-9+/=_-", 30),  # base64 JSON blobs: docker auths, k8s secrets, Grafana keys
)
_PROVIDER = re.compile(
    _NOT_AFTER_TOKEN + "(?:" + "|".join(
        f"{prefix}[{tail}]{{{low},}}+" if tail else prefix for prefix, tail, low in _PREFIXED
    ) + ")"
)

# key <sep> value: `k=v`, `k: v`, `"k": "v"`, `'k': 'v'`, `\\"k\\": \\"v\\"` (JSON inside a JSON
# string), `--flag v`. The key is entered only at its start and is at most 128 characters.
_KEY_SEP = re.compile(
    r"(?<![A-Za-z0-9_.$-])(?P<dash>--?)?(?:\\?[\"'])?(?P<key>[A-Za-z_$][A-Za-z0-9_.$-]{0,127}+)(?:\\?[\"'])?"
    r"(?P<sep>[ \t]{0,8}+(?:=>|:=|==|[=:])[ \t]{0,8}+|(?(dash)[ \t]++|(?!)))"
)
_QUOTED = (
    r"\"(?:[^\"\\\n]|\\.)*+\"?|'(?:[^'\\\n]|\\.)*+'?"
    r"|\\\"(?:[^\\\n]|\\(?!\"))*+(?:\\\")?|\\'(?:[^\\\n]|\\(?!'))*+(?:\\')?"
    r"|\{[^}\n]*+\}?"  # ODBC: PWD={a;b}
)
_SCHEME_WORD = r"(?:(?i:bearer|basic|token|digest|negotiate|apikey|sharedaccesssignature)[ \t]++)?"
_VALUE = re.compile(rf"{_SCHEME_WORD}(?:{_QUOTED}|[^\s\"',;&<>]++)")
# After `:` a value may hold spaces (`password: correct horse`): up to the end of the clause.
_VALUE_AFTER_COLON = re.compile(rf"{_SCHEME_WORD}(?:{_QUOTED}|[^\s\"',;&<>{{}}\[\]][^\r\n\"',;&<>{{}}\[\]]*+)")
_HEADER_VALUE = re.compile(r"[^\r\n]++")  # `Cookie: a=1; b="2"`, `Digest username="u", ...`: the rest of the line
_HEADER_KEYS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
_QUERY_SECRET_KEYS = frozenset({"key", "code"})
_XML_ELEMENT = re.compile(r"<([A-Za-z_][A-Za-z0-9_.:-]{0,63}+)>([^<]++)</\1>")

# Long tokens with no known prefix; judged by `_looks_random`.
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_.%-])[A-Za-z0-9+/=_.%-]{32,}+")
_SSH_PUBLIC = ("AAAAB3NzaC1", "AAAAC3NzaC1", "AAAAE2VjZHNh")  # public keys: `ssh-rsa AAAAB3NzaC1yc2E...`

# Cheap pre-filters. Every key and scheme above contains one of these words (lower-cased), and
# every provider token or random-looking token has a run of at least 15 token characters; a
# string with neither (most of what we log: names, numbers, prose) skips every pattern.
_KEYWORDS = ("pass", "pwd", "secret", "token", "auth", "key", "cookie", "session", "sig", "cred", "jwt",
             "bearer", "basic", "digest", "private", "csrf", "xsrf", "otp", "sid", "dsn", "conn", "sas", "pat",
             "://", "webhook", "hooks.", "discord", "ifttt", "code")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_~.+/=-]{15}")
_SCHEME_WORDS = ("bearer", "basic", "token", "digest", "apikey")


def redact_text(text: str, *, ids: bool = False) -> str:
    """Mask credential shapes inside free text; linear time in `len(text)`.

    `ids=True` for values we log as identifiers (`request_id`, `*_run_id`): random-looking ids are
    kept there, known token shapes are still masked.
    """
    lowered = text.lower()
    if not any(word in lowered for word in _KEYWORDS):
        if not _TOKEN_RUN.search(text):
            return text
        text = _PROVIDER.sub(MASK, text)  # tokens need no keyword
        return text if ids else _LONG_TOKEN.sub(_mask_if_random, text)
    if "PRIVATE KEY" in text:
        text = _PEM.sub(MASK, text)
    if "://" in text:
        text = _URL_AUTHORITY.sub(_mask_userinfo, text)
    if "hook" in lowered or "ifttt" in lowered:
        text = _WEBHOOK.sub(r"\1" + MASK, text)
    if any(word in lowered for word in _SCHEME_WORDS):
        text = _AUTH_SCHEME.sub(_mask_auth_scheme, text)
    text = _PROVIDER.sub(MASK, text)
    if "=" in text or ":" in text or "-" in text:
        text = _mask_pairs(text)
    if "</" in text:
        text = _XML_ELEMENT.sub(_mask_xml, text)
    return text if ids else _LONG_TOKEN.sub(_mask_if_random, text)


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
    search, end = _KEY_SEP.search, len(text)
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
            matcher = _HEADER_VALUE if m.group("key").lower() in _HEADER_KEYS else _VALUE_AFTER_COLON
        else:
            matcher = _VALUE
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
    if before and before in "?&;" and lowered in _QUERY_SECRET_KEYS:
        return True  # `?key=...`, `&code=...`
    if before in (" ", "\t") and lowered in ("key", "keys", "token", "string"):
        words = text[max(0, start - 24):start].split()
        return bool(words) and is_secret_key(f"{words[-1]}_{key}")  # `API key: ...`, `access token: ...`
    return False


def _is_user_password_flag(m: re.Match[str], text: str) -> bool:
    """`curl -u user:pass`, `--proxy-user user:pass`."""
    if not m.group("dash") or m.group("key").lower() not in ("u", "user", "proxy-user"):
        return False
    v = _VALUE.match(text, m.end())
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
    if core.islower() or core.isupper() or core.startswith(_SSH_PUBLIC) or not _DIGIT.search(core):
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
