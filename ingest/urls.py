"""Canonical URLs: one spelling per article, so the same story under many links is one document.

Rules (each seen on real news sites): lower-case scheme and host, drop default ports,
``www.``/``m.``/``mobile.``/``amp.`` host prefixes, AMP path variants (``/amp``,
``/amp/``, ``.amp.html``, ``?amp=1``, ``outputType=amp``), tracking parameters (``utm_*``,
``fbclid``, ``gclid`` ...), fragments, trailing slashes, and sort the remaining query.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = {
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid",
    "_ga", "_gl", "ref", "ref_src", "ref_url", "referrer", "cmpid", "ito", "ns_mchannel",
    "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "at_medium", "at_campaign",
    "amp", "outputtype", "ocid", "src", "spm", "share", "s_cid", "__twitter_impression",
    "rss", "feed", "via", "cid", "icid", "sr_share", "smid", "partner",
}  # fmt: skip
TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "oly_", "vero_", "at_")
MOBILE_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
_AMP_PATH = re.compile(r"(/amp/?$|\.amp(?=\.html?$)|/amp(?=/))", re.IGNORECASE)
_MULTI_SLASH = re.compile(r"/{2,}")


class URLError(ValueError):
    """A URL that cannot be an article address (not http(s), no host)."""


def canonicalize_url(url: str) -> str:
    """Return the canonical form of an article URL (see module docstring)."""
    raw = url.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise URLError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise URLError(f"URL has no host: {url!r}")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    for prefix in MOBILE_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    # http and https versions of one page are one article.
    scheme = "https"
    path = _MULTI_SLASH.sub("/", parts.path or "/")
    path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~%")
    path = _AMP_PATH.sub("", path) or "/"
    if path.endswith("/index.html") or path.endswith("/index.htm"):
        path = path.rsplit("/", 1)[0] + "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def url_host(url: str) -> str:
    """Lower-case host of a URL (empty string if none)."""
    return (urlsplit(url).hostname or "").lower()
