"""Where archives go: a local folder (`file:///path`), S3 (`s3://bucket/prefix`), or the S3 bucket a
prefect-aws `S3Bucket` block names (`prefect://s3-bucket/BLOCK`: bucket, folder and credentials,
endpoint included, kept in Prefect and edited in its UI).

Both backends offer the same small surface, keyed by paths relative to the destination
root (`training/2025-12-20/training_2025-12-20_ab12.tar.gz`):

    check()                 reachable and writable target, else RetentionError
    size(key)               bytes, or None when absent
    upload(path, key)       atomic for file://, managed (multipart) transfer for S3
    put_bytes / read_bytes  small objects (manifests)
    digest(key)             (size, sha256) computed by reading the object back
    list(prefix), delete(key), download(key, path)

S3 calls that fail transiently (connection refused/reset, timeouts, HTTP 5xx, SlowDown) are
retried with exponential backoff; anything else (403, missing bucket, bad key) fails at once.
When the tries are used up the call raises DestinationUnreachable, a RetentionError.
boto3 is imported inside the S3 backend only; it reads credentials, region and
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL from the environment itself.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlparse

from configs.errors import RetentionError

T = TypeVar("T")
CHUNK_BYTES = 1024 * 1024


class DestinationUnreachable(RetentionError):
    """The destination did not answer after every retry: nothing further should be attempted."""


class Destination(Protocol):
    url: str

    def check(self) -> None: ...
    def size(self, key: str) -> int | None: ...
    def upload(self, path: Path, key: str) -> None: ...
    def put_bytes(self, data: bytes, key: str) -> None: ...
    def read_bytes(self, key: str) -> bytes: ...
    def digest(self, key: str) -> tuple[int, str]: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def download(self, key: str, path: Path) -> None: ...


def sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


class FileDestination:
    """Archives under a local folder; every write is temp file + fsync + rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root.resolve() and self.root.resolve() not in path.parents:
            raise RetentionError(f"key {key!r} points outside the destination {self.url}")
        return path

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RetentionError(f"cannot create the backup folder {self.root}: {exc}; "
                                 "choose a writable --destination") from exc
        if not os.access(self.root, os.W_OK):
            raise RetentionError(f"backup folder {self.root} is not writable; choose a writable --destination")

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def _write_atomic(self, key: str, write: Callable[[Any], None]) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            with open(tmp, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise RetentionError(f"cannot write {target}: {exc}") from exc

    def upload(self, path: Path, key: str) -> None:
        def copy(out: Any) -> None:
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK_BYTES):
                    out.write(chunk)

        self._write_atomic(key, copy)

    def put_bytes(self, data: bytes, key: str) -> None:
        self._write_atomic(key, lambda out: out.write(data))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise RetentionError(f"cannot read {self._path(key)}: {exc}") from exc

    def digest(self, key: str) -> tuple[int, str]:
        try:
            return sha256_file(self._path(key))
        except OSError as exc:
            raise RetentionError(f"cannot read back {self._path(key)}: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        root = self.root.resolve()
        return sorted(str(p.resolve().relative_to(root).as_posix()) for p in base.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise RetentionError(f"cannot delete {self._path(key)}: {exc}") from exc

    def download(self, key: str, path: Path) -> None:
        data_path = self._path(key)
        try:
            path.write_bytes(data_path.read_bytes())
        except OSError as exc:
            raise RetentionError(f"cannot copy {data_path} to {path}: {exc}") from exc


_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
                    "Throttling", "ThrottlingException", "503", "500", "502", "504"}


def is_transient(exc: BaseException) -> bool:
    """Network trouble and server-side (5xx/throttling) errors: worth another try."""
    import botocore.exceptions as bce

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:  # boto3's S3UploadFailedError wraps the real cause
        seen.add(id(cur))
        if isinstance(cur, (bce.ConnectionError, bce.HTTPClientError, bce.IncompleteReadError,
                            bce.ResponseStreamingError, ConnectionError, TimeoutError)):
            return True
        if isinstance(cur, bce.ClientError):
            err = cur.response.get("Error", {})
            status = cur.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return status >= 500 or err.get("Code") in _TRANSIENT_CODES
        cur = cur.__cause__ or cur.__context__
    return False


class S3Destination:
    """Archives in an S3 bucket (or an S3-compatible store) under a key prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, retry_attempts: int = 4,
                 retry_backoff_s: float = 1.0, on_retry: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.retry_attempts = retry_attempts
        self.retry_backoff_s = retry_backoff_s
        self._on_retry = on_retry
        self._sleep = sleep

    @property
    def endpoint(self) -> str:
        return str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "AWS S3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one S3 operation, retrying transient failures with exponential backoff."""
        import botocore.exceptions as bce

        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                transient = is_transient(exc)
                if not transient:
                    raise RetentionError(f"{what} in {self.url} failed: {_describe(exc)}") from exc
                if attempt >= self.retry_attempts:
                    raise DestinationUnreachable(
                        f"{what} in {self.url} failed after {attempt} tries: {_describe(exc)}; check that the S3 "
                        f"endpoint {self.endpoint} is reachable (AWS_ENDPOINT_URL_S3 / s3_endpoint_url)") from exc
                wait = self.retry_backoff_s * (2 ** (attempt - 1))
                if self._on_retry is not None:
                    self._on_retry(f"{what}: {_describe(exc)}; retry {attempt}/{self.retry_attempts - 1} in {wait:.1f} s")
                self._sleep(wait)

    def check(self) -> None:
        import botocore.exceptions as bce

        try:
            self._call(f"reaching bucket {self.bucket!r}", lambda: self.client.head_bucket(Bucket=self.bucket))
        except RetentionError as exc:
            cause = exc.__cause__
            if isinstance(cause, bce.NoCredentialsError):
                raise RetentionError("no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                                     "AWS_PROFILE in the environment") from cause
            if isinstance(cause, bce.ClientError):
                status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    raise RetentionError(f"bucket {self.bucket!r} does not exist at {self.endpoint}; "
                                         "create it or fix the destination URL") from cause
                if status == 403:
                    raise RetentionError(f"access to bucket {self.bucket!r} denied; check the AWS credentials "
                                         "in the environment (AWS_ACCESS_KEY_ID/AWS_PROFILE)") from cause
            raise

    def size(self, key: str) -> int | None:
        import botocore.exceptions as bce

        def head() -> int | None:
            try:
                return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
            except bce.ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return None
                raise

        return self._call(f"looking up {key}", head)

    def upload(self, path: Path, key: str) -> None:
        self._call(f"uploading {key}", lambda: self.client.upload_file(str(path), self.bucket, self._key(key)))

    def put_bytes(self, data: bytes, key: str) -> None:
        self._call(f"writing {key}", lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data))

    def read_bytes(self, key: str) -> bytes:
        return self._call(f"reading {key}",
                          lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())

    def digest(self, key: str) -> tuple[int, str]:
        def read_back() -> tuple[int, str]:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            h = hashlib.sha256()
            size = 0
            for chunk in body.iter_chunks(CHUNK_BYTES):
                h.update(chunk)
                size += len(chunk)
            return size, h.hexdigest()

        return self._call(f"reading back {key}", read_back)

    def list(self, prefix: str = "") -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0

        def list_all() -> list[str]:
            keys: list[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
            return sorted(keys)

        return self._call(f"listing {prefix or '/'}", list_all)

    def delete(self, key: str) -> None:
        self._call(f"deleting {key}", lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    def download(self, key: str, path: Path) -> None:
        self._call(f"downloading {key}", lambda: self.client.download_file(self.bucket, self._key(key), str(path)))


def _describe(exc: BaseException) -> str:
    import botocore.exceptions as bce

    if isinstance(exc, bce.ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{err.get('Code', 'error')} (HTTP {status}): {err.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def make_s3_client(*, endpoint_url: str | None = None, addressing_style: str = "auto",
                   connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0) -> Any:
    """A boto3 S3 client; credentials, region and AWS_ENDPOINT_URL(_S3) come from the environment.

    botocore's own retries are off: our backoff loop is the one place that retries, and says so.
    """
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": addressing_style}, connect_timeout=connect_timeout_s,
                    read_timeout=read_timeout_s, retries={"total_max_attempts": 1})
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)


BLOCK_TYPES = ("s3-bucket",)


def s3_client_from_block(block: Any, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0) -> Any:
    """A boto3 client with the block's credentials and client parameters (endpoint, TLS, config).

    Our timeouts and "no botocore retries" are the defaults; a botocore config in the block wins.
    """
    from botocore.config import Config

    creds = block.credentials
    params = creds.aws_client_parameters.get_params_override()
    ours = Config(connect_timeout=connect_timeout_s, read_timeout=read_timeout_s, retries={"total_max_attempts": 1})
    params["config"] = ours.merge(params["config"]) if "config" in params else ours
    return creds.get_boto3_session().client("s3", **params)


def load_s3_bucket_block(name: str) -> Any:
    """The prefect-aws S3Bucket block saved as `name`, from the Prefect API this process uses."""
    import httpx

    try:
        from prefect_aws import S3Bucket
    except ImportError as exc:
        raise RetentionError("a prefect:// destination needs prefect-aws: pip install 'mlops-pipeline[serving]'") from exc
    try:
        return S3Bucket.load(name)
    except ValueError as exc:  # no such block document
        raise RetentionError(f"no S3Bucket block named {name!r} in Prefect; create it in the UI (Blocks -> S3 "
                             f"Bucket) or with S3Bucket(bucket_name=..., credentials=AwsCredentials(...))"
                             f".save({name!r})") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise RetentionError(f"cannot load the S3Bucket block {name!r}: the Prefect API did not answer ({exc}); "
                             "check PREFECT_API_URL") from exc


def open_destination(url: str, *, s3_client: Any = None, endpoint_url: str | None = None,
                     addressing_style: str = "auto", connect_timeout_s: float = 5.0, retry_attempts: int = 4,
                     retry_backoff_s: float = 1.0, on_retry: Callable[[str], None] | None = None) -> Destination:
    """The backend for `s3://bucket/prefix` or `file:///path`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise RetentionError(f"destination {url!r}: only local paths are supported (file:///ABSOLUTE/PATH)")
        return FileDestination(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise RetentionError(f"destination {url!r} names no bucket; write s3://BUCKET/PREFIX")
        client = s3_client or make_s3_client(endpoint_url=endpoint_url, addressing_style=addressing_style,
                                             connect_timeout_s=connect_timeout_s)
        return S3Destination(client, parsed.netloc, parsed.path, retry_attempts=retry_attempts,
                             retry_backoff_s=retry_backoff_s, on_retry=on_retry)
    if parsed.scheme == "prefect":
        name = parsed.path.strip("/")
        if parsed.netloc not in BLOCK_TYPES or not name or "/" in name:
            raise RetentionError(f"destination {url!r}: write prefect://s3-bucket/BLOCK_NAME")
        block = load_s3_bucket_block(name)
        client = s3_client or s3_client_from_block(block, connect_timeout_s=connect_timeout_s)
        return S3Destination(client, block.bucket_name, block.bucket_folder or "", retry_attempts=retry_attempts,
                             retry_backoff_s=retry_backoff_s, on_retry=on_retry)
    raise RetentionError(f"destination {url!r}: use s3://BUCKET/PREFIX, prefect://s3-bucket/BLOCK_NAME or "
                         "file:///ABSOLUTE/PATH")
