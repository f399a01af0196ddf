"""Canonical URLs: one spelling per article, so the same story under many links is one document.

Rules (each seen on real news sites): lower-case scheme and host, drop default ports,
``www.``/``m.``/``mobile.``/``amp.`` host prefixes, AMP path variants (``/amp``,
``/amp/``, ``.amp.html``, ``?amp=1``, ``outputType=amp``), AMP cache and Google AMP viewer
addresses (unwrapped to the publisher's URL), tracking parameters (``utm_*``, ``fbclid``,
``gclid``, Al Jazeera's ``traffic_source`` ...), fragments, trailing slashes, and sort the
remaining query. Only parameters that never select content are dropped: merging two
different articles into one loses news, which is worse than keeping a duplicate.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = {
    "fbclid", "gclid", "dclid", "gclsrc", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "li_fat_id", "mc_cid", "mc_eid", "igshid", "igsh", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok",
    "ref", "ref_src", "ref_url", "referrer", "cmpid", "cmp", "ito", "ns_mchannel", "ns_source",
    "ns_campaign", "ns_linkname", "ns_fee", "amp", "outputtype", "ocid", "spm", "s_cid",
    "__twitter_impression", "via", "icid", "sr_share", "smid", "xtor", "ftag", "ncid", "traffic_source",
    "fromrss", "rss_source", "guccounter", "wt.mc_id", "wt_mc_id", "soc_src", "soc_trk", "taid",
}  # fmt: skip
TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "oly_", "vero_", "at_", "wt.", "ga_")
MOBILE_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
_AMP_PATH = re.compile(r"(/amp/?$|\.amp(?=\.html?$)|/amp(?=/))", re.IGNORECASE)
_MULTI_SLASH = re.compile(r"/{2,}")
_AMP_CACHE_HOST = ".cdn.ampproject.org"
_AMP_CACHE_PATH = re.compile(r"^/(?:c|v|wp|i|r)/(s/)?(.+)$")
_GOOGLE_AMP_PATH = re.compile(r"^/amp/(s/)?(.+)$")


class URLError(ValueError):
    """A URL that cannot be an article address (not http(s), no host)."""


def unwrap_amp_cache(url: str) -> str:
    """The publisher's URL behind an AMP cache or Google AMP viewer address (else the URL itself)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    m = None
    if host.endswith(_AMP_CACHE_HOST):
        m = _AMP_CACHE_PATH.match(parts.path)
    elif host in ("www.google.com", "google.com") and parts.path.startswith("/amp/"):
        m = _GOOGLE_AMP_PATH.match(parts.path)
    if not m or "." not in m.group(2).split("/", 1)[0]:
        return url
    inner = ("https://" if m.group(1) else "http://") + m.group(2)
    return inner + (f"?{parts.query}" if parts.query else "")


def canonicalize_url(url: str) -> str:
    """Return the canonical form of an article URL (see module docstring)."""
    raw = unwrap_amp_cache(url.strip())
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as e:  # bad IPv6 literal, port out of range
        raise URLError(f"malformed URL {url!r}: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise URLError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise URLError(f"URL has no host: {url!r}")
    with contextlib.suppress(UnicodeError):  # not IDNA-encodable: keep the host as written
        host = host.encode("idna").decode("ascii")
    for prefix in MOBILE_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    if ":" in host:  # an IPv6 literal keeps its brackets, or the URL no longer parses
        host = f"[{host}]"
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    # http and https versions of one page are one article.
    scheme = "https"
    path = _MULTI_SLASH.sub("/", parts.path or "/")
    path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~%")
    path = _AMP_PATH.sub("", path) or "/"
    if path.endswith(("/index.html", "/index.htm")):
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
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
