"""Checks for the base URLs users type (`--base-url`, `--backend-url`, `backend_url:`).

A URL that cannot work (no scheme, no host, a port that is not a number) is refused up front
with the option's name and an example, instead of failing deep inside the HTTP client.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def check_base_url(url: str, what: str = "URL") -> str:
    """`http(s)://host[:port][/path]` with no query or fragment; returns it without a trailing '/'.

    Raises ValueError naming `what` and the fix.
    """
    example = "e.g. http://127.0.0.1:8000"
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{what} is empty; give a base URL, {example}")
    if url != url.strip() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError(f"{what} {url!r} contains spaces or control characters; {example}")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number in 0..65535
    except ValueError as exc:
        raise ValueError(f"{what} {url!r} is not a valid URL ({_reason(exc)}); {example}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{what} {url!r} must start with http:// or https://; {example}")
    if not parts.hostname:
        raise ValueError(f"{what} {url!r} names no host; {example}")
    if port == 0:
        raise ValueError(f"{what} {url!r}: port 0 cannot be connected to; give the server's port, {example}")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} {url!r}: a base URL takes no ?query or #fragment; {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} carries credentials (user:password@); leave them out of the URL, the API key "
                         "comes from the environment")  # and do not echo them
    return url.rstrip("/")


def _reason(exc: ValueError) -> str:
    text = str(exc)
    if "Port" in text or "port" in text:
        return "the port must be a number from 1 to 65535"
    return text
