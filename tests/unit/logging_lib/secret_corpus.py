"""A generated corpus of secret shapes and of look-alikes we log on purpose.

Shapes follow what public secret scanners document (prefixes, lengths, alphabets); every value
is generated here from a seeded RNG, so no real credential is stored and each run is the same.

`SECRETS`: (family, text, secret) - `text` is what a program might log; `secret` is the part
that must not appear in the written line.
`LOOKALIKES`: (family, text) - must be written exactly as given.
`SECRET_KEY_NAMES` / `PLAIN_KEY_NAMES`: dict keys / `key=value` names whose value is masked / kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from typing import Callable

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    """Random text that always mixes classes like a real key (so `aaaa...` never happens)."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def mixed(rng: random.Random, n: int) -> str:
    """Base62 with at least two upper, two lower and two digits."""
    while True:
        s = rand(rng, ALNUM, n)
        if sum(c.isupper() for c in s) >= 2 and sum(c.islower() for c in s) >= 2 and sum(c.isdigit() for c in s) >= 2:
            return s


def _pem(rng: random.Random, label: str) -> str:
    body = base64.b64encode(rng.randbytes(rng.randint(120, 400))).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    extra = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n" if "RSA" in label and rng.random() < 0.5 else ""
    return f"-----BEGIN {label}-----\n{extra}{lines}\n-----END {label}-----\n"


def _pem_body(pem: str) -> str:
    return pem.splitlines()[-2]  # the last body line: must not survive


def _jwt(rng: random.Random, alg: str = "HS256") -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    header = enc({"alg": alg, "typ": "JWT"})
    payload = enc({"sub": str(rng.randint(1, 10**9)), "iat": rng.randint(1_600_000_000, 1_800_000_000), "scope": "read write"})
    sig = "" if alg == "none" else base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    return f"{header}.{payload}.{sig}"


# family -> generator(rng) -> (text, secret). Several templates per family: the same secret in prose,
# in key=value form, in JSON and in URLs.
Gen = Callable[[random.Random], tuple[str, str]]


def _families() -> dict[str, list[Gen]]:
    f: dict[str, list[Gen]] = {}

    def add(family: str, *gens: Gen) -> None:
        f.setdefault(family, []).extend(gens)

    for label in ("RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
                  "PRIVATE KEY", "DSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK"):
        add("private_key_pem",
            lambda r, lb=label: (lambda p: (f"loaded key:\n{p}", _pem_body(p)))(_pem(r, lb)),
            lambda r, lb=label: (lambda p: (f"bad key {json.dumps(p)} rejected", _pem_body(p)))(_pem(r, lb)))
    add("service_account_json",
        lambda r: (lambda p, kid: (json.dumps({"type": "service_account", "project_id": "proj-1", "private_key_id": kid,
                                                "private_key": p, "client_email": "sa@proj-1.iam.gserviceaccount.com"}),
                                    _pem_body(p)))(_pem(r, "PRIVATE KEY"), rand(r, HEX, 40)),
        lambda r: (lambda p: (f"GOOGLE_CREDENTIALS='{json.dumps({'private_key': p})}'", _pem_body(p)))(_pem(r, "PRIVATE KEY")))
    add("jwt",
        lambda r: (lambda t: (f"id token {t} issued", t.split(".")[2] or t))(_jwt(r)),
        lambda r: (lambda t: (f"jwt={t}", t))(_jwt(r, "RS256")),
        lambda r: (lambda t: (f"unsigned {t}", t))(_jwt(r, "none")),
        lambda r: (lambda t: (f"Authorization: Bearer {t}", t))(_jwt(r)))
    add("aws_access_key_id",
        lambda r: (lambda k: (f"using access key {k}", k))(r.choice(["AKIA", "ASIA", "AROA"]) + rand(r, string.ascii_uppercase + "234567", 16)))
    add("aws_secret_access_key",
        lambda r: (lambda k: (f"aws_secret_access_key = {k}", k))(mixed(r, 30) + "/" + mixed(r, 9)),
        lambda r: (lambda k: (f"AWS_SECRET_ACCESS_KEY={k}", k))(mixed(r, 40)),
        lambda r: (lambda k: (f'{{"secretAccessKey": "{k}"}}', k))(mixed(r, 40)),
        lambda r: (lambda k: (f"got secret {k} from env", k))(mixed(r, 20) + "/" + mixed(r, 19)))
    add("github",
        *[lambda r, p=p: (lambda k: (f"git clone https://{k}@github.com/org/repo.git", k))(p + mixed(r, 36))
          for p in ("ghp_", "gho_", "ghs_", "ghu_", "ghr_")],
        lambda r: (lambda k: (f"token {k}", k))("github_pat_" + mixed(r, 22) + "_" + mixed(r, 59)))
    add("gitlab",
        lambda r: (lambda k: (f"CI uses {k}", k))("glpat-" + rand(r, B64URL, 20)),
        lambda r: (lambda k: (f"runner token {k}", k))("glrt-" + rand(r, B64URL, 20)))
    add("slack_token",
        *[lambda r, p=p: (lambda k: (f"slack client {k}", k))(p + f"{r.randint(10**10, 10**11)}-{r.randint(10**10, 10**11)}-" + mixed(r, 24))
          for p in ("xoxb-", "xoxp-", "xoxa-2-", "xoxe.xoxp-1-", "xoxe-1-")],
        lambda r: (lambda k: (f"app token {k}", k))(f"xapp-1-A{rand(r, string.ascii_uppercase + string.digits, 10)}-{r.randint(10**12, 10**13)}-{rand(r, HEX, 64)}"))
    add("slack_webhook",
        lambda r: (lambda k: (f"posting to https://hooks.slack.com/services/{k}", k))(
            f"T{rand(r, string.ascii_uppercase + string.digits, 8)}/B{rand(r, string.ascii_uppercase + string.digits, 10)}/{mixed(r, 24)}"))
    add("discord_webhook",
        lambda r: (lambda k: (f"notify https://discord.com/api/webhooks/{r.randint(10**17, 10**18)}/{k}", k))(rand(r, B64URL, 68)))
    add("teams_webhook",
        lambda r: (lambda k: (f"teams https://contoso.webhook.office.com/webhookb2/{k}", k))(
            f"{uuid.UUID(int=r.getrandbits(128))}@{uuid.UUID(int=r.getrandbits(128))}/IncomingWebhook/{rand(r, HEX, 32)}/{uuid.UUID(int=r.getrandbits(128))}"))
    add("stripe",
        *[lambda r, p=p: (lambda k: (f"charge with {k}", k))(p + mixed(r, 24)) for p in ("sk_live_", "rk_live_", "sk_test_")],
        lambda r: (lambda k: (f"webhook signing secret {k}", k))("whsec_" + mixed(r, 32)))
    add("openai",
        lambda r: (lambda k: (f"OPENAI_API_KEY is {k}", k))("sk-proj-" + rand(r, B64URL, 48)),
        lambda r: (lambda k: (f"client(api_key={k!r})", k))("sk-" + mixed(r, 48)),
        lambda r: (lambda k: (f"svc {k}", k))("sk-svcacct-" + rand(r, B64URL, 40)))
    add("anthropic",
        lambda r: (lambda k: (f"anthropic key {k} loaded", k))("sk-ant-api03-" + rand(r, B64URL, 93) + "AA"),
        lambda r: (lambda k: (f"admin {k}", k))("sk-ant-admin01-" + rand(r, B64URL, 60)))
    add("google",
        lambda r: (lambda k: (f"maps key {k}", k))("AIza" + rand(r, B64URL, 35)),
        lambda r: (lambda k: (f"https://www.googleapis.com/x?key={k}&alt=json", k))("AIza" + rand(r, B64URL, 35)),
        lambda r: (lambda k: (f"oauth {k}", k))("ya29." + rand(r, B64URL, 120)),
        lambda r: (lambda k: (f"client secret {k}", k))("GOCSPX-" + rand(r, B64URL, 28)))
    add("npm", lambda r: (lambda k: (f"//registry.npmjs.org/:_authToken={k}", k))("npm_" + mixed(r, 36)))
    add("pypi", lambda r: (lambda k: (f"twine upload -p {k}", k))("pypi-AgEIcHlwaS5vcmc" + rand(r, B64URL, 60)))
    add("sendgrid", lambda r: (lambda k: (f"mail via {k}", k))("SG." + rand(r, B64URL, 22) + "." + rand(r, B64URL, 43)))
    add("twilio", lambda r: (lambda k: (f"twilio api key {k}", k))("SK" + rand(r, HEX, 32)))
    add("digitalocean", lambda r: (lambda k: (f"doctl auth init -t {k}", k))("dop_v1_" + rand(r, HEX, 64)))
    add("shopify",
        *[lambda r, p=p: (lambda k: (f"shop token {k}", k))(p + rand(r, HEX, 32)) for p in ("shpat_", "shpss_", "shpca_")])
    add("databricks", lambda r: (lambda k: (f"DATABRICKS_TOKEN {k}", k))("dapi" + rand(r, "abcdefgh0123456789", 32)))
    add("huggingface", lambda r: (lambda k: (f"huggingface-cli login --token {k}", k))("hf_" + mixed(r, 34)))
    add("azure_storage",
        lambda r: (lambda k: (f"DefaultEndpointsProtocol=https;AccountName=acct{r.randint(1, 99)};AccountKey={k};EndpointSuffix=core.windows.net", k))(
            base64.b64encode(r.randbytes(64)).decode()))
    add("azure_service_bus",
        lambda r: (lambda k: (f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={k}", k))(
            base64.b64encode(r.randbytes(32)).decode()),
        lambda r: (lambda k: (f"SharedAccessSignature sr=ns.servicebus.windows.net&sig={k}&se=1700000000&skn=Root", k))(
            rand(r, ALNUM, 43) + "%3D"))
    add("azure_sas_url",
        lambda r: (lambda k: (f"blob https://acct.blob.core.windows.net/c/f.bin?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01T00:00:00Z&sig={k}", k))(
            rand(r, ALNUM, 43) + "%3D"))
    add("aws_presigned_url",
        lambda r: (lambda cred, sig: (f"GET https://b.s3.amazonaws.com/k.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}"
                                      f"%2F20261130%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261130T000000Z&X-Amz-Expires=3600"
                                      f"&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}", sig))(
            "AKIA" + rand(r, string.ascii_uppercase + "234567", 16), rand(r, HEX, 64)),
        lambda r: (lambda tok: (f"https://b.s3.amazonaws.com/k?X-Amz-Security-Token={tok}&X-Amz-Expires=60", tok))(rand(r, ALNUM, 80)))
    add("gcs_signed_url",
        lambda r: (lambda sig: (f"https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam.gserviceaccount.com"
                                f"%2F20261130%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Expires=900&X-Goog-Signature={sig}", sig))(rand(r, HEX, 256)))
    add("database_uri",
        *[lambda r, s=s: (lambda pw: (f"connecting to {s}://app_user:{pw}@db.internal:5432/app", pw))(mixed(r, 16))
          for s in ("postgres", "postgresql+psycopg", "mysql", "amqp")],
        lambda r: (lambda pw: (f"MONGO_URL=mongodb+srv://admin:{pw}@cluster0.ab1cd.mongodb.net/?retryWrites=true", pw))(mixed(r, 20)),
        lambda r: (lambda pw: (f"cache redis://:{pw}@redis:6379/0", pw))(mixed(r, 24)),
        lambda r: (lambda pw: (f"mlflow at https://mlflow:{pw}@mlflow.example.com", pw + "@"))(rand(r, string.ascii_letters, 6) + "@" + rand(r, string.digits, 4)))
    add("url_token_user",
        lambda r: (lambda k: (f"remote https://:{k}@git.example.com/x.git", k))(mixed(r, 32)),
        lambda r: (lambda k: (f"pip index https://{k}@pypi.example.com/simple", k))(mixed(r, 40)))
    add("query_params",
        *[lambda r, p=p: (lambda k: (f"GET /api/login?user=bob&{p}={k}&lang=en", k))(mixed(r, 12))
          for p in ("pwd", "pass", "password", "token", "access_token", "sig", "apikey", "api_key", "secret", "auth")])
    add("json_in_text",
        lambda r: (lambda k: (f'request body was {{"user": "bob", "password": "{k}"}} and failed', k))(mixed(r, 14)),
        lambda r: (lambda k: (f"config {{'api_key': '{k}', 'model': 'm'}}", k))(mixed(r, 20)),
        lambda r: (lambda k: (f'{{"clientSecret":"{k}"}}', k))(mixed(r, 24)),
        lambda r: (lambda k: (f'payload={{"auth": {{"token": "{k}"}}}}', k))(mixed(r, 30)))
    add("cookie",
        lambda r: (lambda k: (f"Cookie: session={k}; theme=dark", k))(mixed(r, 32)),
        lambda r: (lambda k: (f"Set-Cookie: sessionid={k}; Path=/; HttpOnly", k))(mixed(r, 32)),
        lambda r: (lambda k: (f"cookie jar has session={k}", k))(mixed(r, 26)),
        lambda r: (lambda k: (f"JSESSIONID={k}", k))(rand(r, HEX.upper(), 32)))
    add("auth_header",
        lambda r: (lambda k: (f"Authorization: Basic {k}", k))(base64.b64encode(f"user:{mixed(r, 10)}".encode()).decode()),
        lambda r: (lambda k: (f"headers: authorization=Bearer {k}", k))(mixed(r, 40)),
        lambda r: (lambda k: (f"Authorization: Token {k}", k))(rand(r, HEX, 40)),
        lambda r: (lambda k: (f"x-api-key: {k}", k))(mixed(r, 32)),
        lambda r: (lambda k: (f"curl -u deploy:{k} https://ci.example.com", k))(mixed(r, 14)),
        lambda r: (lambda k: (f'Authorization: Digest username="bob", realm="api", nonce="{k}", response="{k}"', k))(rand(r, HEX, 32)))
    for name in ("apiKey", "accessToken", "clientSecret", "authToken", "passwd", "pwd", "pass", "secretAccessKey",
                 "privateKey", "x-api-key", "AWS_SECRET_ACCESS_KEY", "refresh_token", "db_password", "HF_TOKEN",
                 "MLFLOW_TRACKING_PASSWORD", "webhookSecret", "signing_key", "encryptionKey", "csrftoken"):
        add("named_pair",
            lambda r, n=name: (lambda k: (f"{n}={k}", k))(rand(r, LOWER_ALNUM, 12)),
            lambda r, n=name: (lambda k: (f"{n}: {k}", k))(rand(r, string.ascii_lowercase, 10)))
    add("misc_prefixed",
        lambda r: (lambda k: (f"mailgun {k}", k))("key-" + rand(r, LOWER_ALNUM, 32)),
        lambda r: (lambda k: (f"grafana {k}", k))("glc_" + rand(r, B64, 60)),
        lambda r: (lambda k: (f"vault {k}", k))("hvs." + rand(r, B64URL, 90)),
        lambda r: (lambda k: (f"prefect {k}", k))("pnu_" + mixed(r, 36)),
        lambda r: (lambda k: (f"bot https://api.telegram.org/bot{k}/sendMessage", k))(f"{r.randint(10**8, 10**9)}:AA{rand(r, B64URL, 33)}"),
        lambda r: (lambda k: (f"age {k}", k))("AGE-SECRET-KEY-1" + rand(r, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
        lambda r: (lambda k: (f"newrelic {k}", k))("NRAK-" + rand(r, string.ascii_uppercase + string.digits, 27)),
        lambda r: (lambda k: (f"linear {k}", k))("lin_api_" + mixed(r, 40)),
        lambda r: (lambda k: (f"docker login -p {k}", k))("dckr_pat_" + rand(r, B64URL, 27)),
        lambda r: (lambda k: (f"groq {k}", k))("gsk_" + mixed(r, 52)),
        lambda r: (lambda k: (f"replicate {k}", k))("r8_" + mixed(r, 37)),
        lambda r: (lambda k: (f"jira {k}", k))("ATATT3xFfGF0" + rand(r, B64URL, 170) + "=" + rand(r, HEX.upper(), 8)),
        lambda r: (lambda k: (f"azure ad {k}", k))(rand(r, ALNUM, 3) + "8Q~" + rand(r, ALNUM + "_~.-", 34)),
        lambda r: (lambda k: (f"langsmith {k}", k))("lsv2_pt_" + rand(r, HEX, 32) + "_" + rand(r, HEX, 10)),
        lambda r: (lambda k: (f"supabase {k}", k))("sbp_" + rand(r, HEX, 40)),
        lambda r: (lambda k: (f"twitter {k}", k))("A" * 22 + mixed(r, 30) + "%2B" + mixed(r, 20) + "%3D" + mixed(r, 30)),
        lambda r: (lambda k: (f"braintree {k}", k))(f"access_token$production${rand(r, LOWER_ALNUM, 16)}${rand(r, HEX, 32)}"),
        lambda r: (lambda k: (f"slack cookie token {k}", k))("xoxc-" + rand(r, string.digits, 12) + "-" + rand(r, HEX, 64)),
        lambda r: (lambda k: (f"doppler {k}", k))("dp.pt." + mixed(r, 43)),
        lambda r: (lambda k: (f"figma {k}", k))("figd_" + rand(r, B64URL, 40)))
    add("high_entropy_unprefixed",
        lambda r: (lambda k: (f"using {k} for upload", k))(mixed(r, 40)),
        lambda r: (lambda k: (f"key material {k}", k))(mixed(r, 32)),
        lambda r: (lambda k: (f"blob {k}==", k))(base64.b64encode(r.randbytes(48)).decode().rstrip("=")))
    return f


def _secrets(per_template: int = 2, seed: int = 10) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    out = []
    for family, gens in _families().items():
        for gen in gens:
            for _ in range(per_template):
                text, secret = gen(rng)
                out.append((family, text, secret))
    return out


SECRETS: list[tuple[str, str, str]] = _secrets()
FAMILIES: list[str] = sorted({family for family, _, _ in SECRETS})


def _lookalikes(seed: int = 11) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sha = lambda: hashlib.sha256(rng.randbytes(16)).hexdigest()  # noqa: E731
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    out: list[tuple[str, str]] = []
    for text in ("token_count=5", "max_tokens: 256", "prompt_tokens=12 completion_tokens=30", "num_tokens=3",
                 "tokens_per_s=41.5", "tokens_generated=128", "token_count: 2048", "total_tokens=4096",
                 "key_count=3", "password_min_length=12"):
        out.append(("count", text))
    for _ in range(6):
        out.append(("sha256", sha()))
        out.append(("sha256_field", f"prompt_sha256={sha()[:16]}"))
        out.append(("uuid", uid()))
        out.append(("request_id", f"request_id={uid()}"))
        out.append(("mlflow_run_id", f"mlflow_run_id={rng.getrandbits(128):032x}"))
        out.append(("flow_run_id", f"flow_run_id: {uid()}"))
        out.append(("git_sha", f"commit {rng.getrandbits(160):040x}"))
    for name in ("meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3",
                 "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "HuggingFaceTB/SmolLM2-135M-Instruct", "gpt-4o-mini",
                 "claude-3-5-sonnet-20241022", "microsoft/Phi-3-mini-4k-instruct", "google/gemma-2-2b-it",
                 "models:/qlora-adapter/3", "runs:/0a1b2c3d4e5f60718293a4b5c6d7e8f9/adapter"):
        out.append(("model_name", name))
    for path in ("/work/models/adapter_model.safetensors", "logs/training/train_20261130.log",
                 "s3://mlops-logs/backup/2026/11/30/api_gateway.log.gz", "/home/user/.cache/huggingface/hub/models--x",
                 "C:\\Users\\me\\data\\train.jsonl", "checkpoints/checkpoint-1500/optimizer.pt",
                 "file:///tmp/mlruns/0/0a1b2c3d4e5f/artifacts", "/var/lib/secrets/README.md"):
        out.append(("path", path))
    for url in ("http://127.0.0.1:8000/v1/chat/completions", "https://huggingface.co/meta-llama/Llama-3.2-1B",
                "http://localhost:4200/api/flows?limit=10&offset=20", "https://github.com/org/repo/pull/42",
                "ssh://git@github.com/org/repo.git", "postgresql://db.internal:5432/app",
                "https://grafana.example.com/d/abc123/logs?orgId=1&from=now-1h", "redis://redis:6379/0"):
        out.append(("url", url))
    for prose in ("Reset your password from the settings page", "the tokenizer has 32000 tokens",
                  "token validation failed for user bob", "Basic Authentication required",
                  "Bearer of bad news: the run diverged", "secret santa is on friday",
                  "key performance indicators improved", "session started at 10:00",
                  "auth service unavailable, retrying in 5s", "the cookie banner was dismissed",
                  "private key rotation is scheduled", "connection refused by db.internal:5432",
                  "epoch 3/10 loss=0.2345 lr=1e-4", "Passed 12 of 12 checks", "signature verification enabled"):
        out.append(("prose", prose))
    for misc in ("2026-11-30T20:12:41.123Z", "vllm/vllm-openai:v0.6.3", "alice@example.com", "10.0.0.12:9090",
                 "#ff8800", "v1.2.3-rc.1+build.5", "AKIA", "sk-learn", "dapi", "eyJ", "-----BEGIN CERTIFICATE-----",
                 "cuda:0", "bf16", "nf4", "lora_r=16 lora_alpha=32", "status_code=401", "x-request-id: 7d1f",
                 "ThisIsNotASecret", "ABCDEFGHIJKLMNOP", "eos_token: </s>", "pad_token=<pad>", "curl --user bob https://x"):
        out.append(("misc", misc))
    return out


LOOKALIKES: list[tuple[str, str]] = _lookalikes()

SECRET_KEY_NAMES: list[str] = [
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "client_secret", "clientSecret", "api_key", "apiKey",
    "apikey", "API-KEY", "x-api-key", "X-Api-Key", "access_token", "accessToken", "refresh_token", "id_token",
    "auth_token", "authToken", "token", "hf_token", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "GITHUB_TOKEN",
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "aws_session_token", "secretAccessKey",
    "private_key", "privateKey", "PRIVATE_KEY", "ssh_key", "signing_key", "encryption_key", "master_key",
    "AccountKey", "SharedAccessKey", "SharedAccessSignature", "connection_string", "connectionString",
    "authorization", "Authorization", "Proxy-Authorization", "cookie", "Cookie", "set-cookie", "Set-Cookie",
    "session", "session_id", "sessionId", "JSESSIONID", "csrftoken", "xsrf_token", "credentials", "creds",
    "db_password", "MLFLOW_TRACKING_PASSWORD", "DATABASE_PASSWORD", "sas_token", "sig", "signature",
    "X-Amz-Signature", "X-Amz-Security-Token", "webhook_secret", "bearer", "jwt", "otp",
    "x-rapidapi-key", "x-functions-key", "mfa_code", "SLACK_WEBHOOK_URL", "client-key-data", "secret_id",
]
PLAIN_KEY_NAMES: list[str] = [
    "token_count", "prompt_tokens", "completion_tokens", "max_tokens", "num_tokens", "tokens_per_s",
    "tokens_per_second", "tokens_generated", "total_tokens", "request_id", "mlflow_run_id", "flow_run_id",
    "task_run_id", "model_name", "tokenizer", "tokenizer_name", "path", "file_path", "prompt_sha256",
    "token_type", "private_key_id", "AWS_ACCESS_KEY_ID", "cache_key", "s3_key", "secret_name", "password_file",
    "token_path", "auth_type", "key_count", "keys_total", "pin_memory", "passage", "author", "session_name",
    "pad_token", "eos_token", "bos_token", "special_tokens", "pad_token_id", "public_key", "publicKey",
]
