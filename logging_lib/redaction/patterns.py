"""The shapes a secret takes in free text: compiled patterns and the cheap pre-filters that let
most strings skip them. Every pattern runs in linear time (possessive or bounded quantifiers,
each run entered only at its start via a look-behind); `text.py` applies them in order."""

from __future__ import annotations

import re

_TOKEN_CHARS = "A-Za-z0-9_-"
_NOT_AFTER_TOKEN = rf"(?<![{_TOKEN_CHARS}])"

PEM = re.compile(
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[^-\"]|-(?!----END))*+"  # body: each character looked at once, no backtracking
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"
)
URL_AUTHORITY = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}+://)([^\s/?#\"'<>]{1,512}+)")
WEBHOOK = re.compile(
    r"(?i)((?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|discord(?:app)?\.com/api/webhooks/"
    r"|\.webhook\.office\.com/webhookb2/"
    r"|outlook\.office(?:365)?\.com/webhook/"
    r"|hooks\.zapier\.com/hooks/catch/"
    r"|maker\.ifttt\.com/trigger/))"
    r"[^\s\"'<>]++"
)
AUTH_SCHEME = re.compile(r"(?i)(?<![A-Za-z0-9_-])(bearer|basic|token|digest|apikey)(\s++)([A-Za-z0-9._~+/=-]{8,512}+)")

# Provider tokens: (prefix regex, tail class, minimum tail length). Shapes learnt from the
# published rule sets of public secret scanners; the table is ours.
_ALNUM, _B64URL, _HEX, _LHEX = "A-Za-z0-9", "A-Za-z0-9_-", "a-fA-F0-9", "a-f0-9"
PREFIXED: tuple[tuple[str, str, int], ...] = (
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
PROVIDER = re.compile(
    _NOT_AFTER_TOKEN + "(?:" + "|".join(
        f"{prefix}[{tail}]{{{low},}}+" if tail else prefix for prefix, tail, low in PREFIXED
    ) + ")"
)

# key <sep> value: `k=v`, `k: v`, `"k": "v"`, `'k': 'v'`, `\\"k\\": \\"v\\"` (JSON inside a JSON
# string), `--flag v`. The key is entered only at its start and is at most 128 characters.
KEY_SEP = re.compile(
    r"(?<![A-Za-z0-9_.$-])(?P<dash>--?)?(?:\\?[\"'])?(?P<key>[A-Za-z_$][A-Za-z0-9_.$-]{0,127}+)(?:\\?[\"'])?"
    r"(?P<sep>[ \t]{0,8}+(?:=>|:=|==|[=:])[ \t]{0,8}+|(?(dash)[ \t]++|(?!)))"
)
_QUOTED = (
    r"\"(?:[^\"\\\n]|\\.)*+\"?|'(?:[^'\\\n]|\\.)*+'?"
    r"|\\\"(?:[^\\\n]|\\(?!\"))*+(?:\\\")?|\\'(?:[^\\\n]|\\(?!'))*+(?:\\')?"
    r"|\{[^}\n]*+\}?"  # ODBC: PWD={a;b}
)
_SCHEME_WORD = r"(?:(?i:bearer|basic|token|digest|negotiate|apikey|sharedaccesssignature)[ \t]++)?"
VALUE = re.compile(rf"{_SCHEME_WORD}(?:{_QUOTED}|[^\s\"',;&<>]++)")
# After `:` a value may hold spaces (`password: correct horse`): up to the end of the clause.
VALUE_AFTER_COLON = re.compile(rf"{_SCHEME_WORD}(?:{_QUOTED}|[^\s\"',;&<>{{}}\[\]][^\r\n\"',;&<>{{}}\[\]]*+)")
HEADER_VALUE = re.compile(r"[^\r\n]++")  # `Cookie: a=1; b="2"`, `Digest username="u", ...`: the rest of the line
HEADER_KEYS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
QUERY_SECRET_KEYS = frozenset({"key", "code"})
XML_ELEMENT = re.compile(r"<([A-Za-z_][A-Za-z0-9_.:-]{0,63}+)>([^<]++)</\1>")

# Long tokens with no known prefix; judged by `_looks_random`.
LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_.%-])[A-Za-z0-9+/=_.%-]{32,}+")
SSH_PUBLIC = ("AAAAB3NzaC1", "AAAAC3NzaC1", "AAAAE2VjZHNh")  # public keys: `ssh-rsa AAAAB3NzaC1yc2E...`

# Cheap pre-filters. Every key and scheme above contains one of these words (lower-cased), and
# every provider token or random-looking token has a run of at least 15 token characters; a
# string with neither (most of what we log: names, numbers, prose) skips every pattern.
KEYWORDS = ("pass", "pwd", "secret", "token", "auth", "key", "cookie", "session", "sig", "cred", "jwt",
             "bearer", "basic", "digest", "private", "csrf", "xsrf", "otp", "sid", "dsn", "conn", "sas", "pat",
             "://", "webhook", "hooks.", "discord", "ifttt", "code")
TOKEN_RUN = re.compile(r"[A-Za-z0-9_~.+/=-]{15}")
SCHEME_WORDS = ("bearer", "basic", "token", "digest", "apikey")
