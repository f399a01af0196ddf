"""What a request gives back: a ``FetchResult`` with the body, or a ``FetchError`` saying why not."""

from __future__ import annotations

from dataclasses import dataclass, field

# Error kinds. Transient ones are retried (and a feed failing with them backs off);
# permanent ones are recorded with their reason and skipped.
TRANSIENT_KINDS = {"timeout", "connection", "http_5xx", "http_429", "dns", "robots_unavailable"}
PERMANENT_KINDS = {
    "http_4xx", "too_large", "too_many_redirects", "blocked_ssrf", "blocked_robots",
    "bad_url", "not_modified", "not_html", "bad_encoding", "http_5xx_permanent",
}  # fmt: skip


class FetchError(Exception):
    """A request that did not produce a usable body; ``kind`` says why, ``transient`` whether to retry."""

    def __init__(self, kind: str, reason: str, url: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"{kind}: {reason} ({url})")
        self.kind = kind
        self.reason = reason
        self.url = url
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


@dataclass
class FetchResult:
    url: str  # final URL after redirects
    status: int
    body: bytes
    headers: dict[str, str]
    requested_url: str
    redirects: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def not_modified(self) -> bool:
        return self.status == 304
