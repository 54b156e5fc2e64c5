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

Where: `keys.py` (key names), `patterns.py` (the shapes and pre-filters), `text.py` (the scan,
`redact_text`), `policy.py` (the per-key answer the loggers look up for every field).
"""

from logging_lib.redaction.keys import is_secret_key, key_words
from logging_lib.redaction.policy import KEY_POLICIES, key_policy, redact_key, unique_key
from logging_lib.redaction.text import MASK, redact_text

__all__ = ["KEY_POLICIES", "MASK", "is_secret_key", "key_policy", "key_words", "redact_key", "redact_text",
           "unique_key"]
