"""Response bodies: bounded gzip/deflate/brotli decoding (bomb-safe) and refusing binary content types."""

from __future__ import annotations

import zlib

try:  # brotli is a pinned dependency; without it we simply do not advertise "br"
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

# Page bodies of these types are never articles: stop before downloading them.
BINARY_TYPES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/octet-stream",
                "application/zip", "application/gzip", "application/x-", "application/vnd.", "application/msword",
                "multipart/")  # fmt: skip
CHUNK = 16384


class BodyDecoder:
    """Incremental Content-Encoding decoder whose output per call is bounded (bomb-safe)."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        if encoding in ("gzip", "x-gzip"):
            self.obj: object = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.obj = zlib.decompressobj(zlib.MAX_WBITS)
            self.first = True
        elif encoding == "br" and brotli is not None:
            self.obj = brotli.Decompressor()
        else:
            raise ValueError(encoding)

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decompress ``data``; never returns more than ``limit`` bytes (reaching it means: too large)."""
        if self.encoding == "br":
            return self.obj.process(data, output_buffer_limit=limit) if data else b""  # type: ignore[attr-defined]
        d: zlib._Decompress = self.obj  # type: ignore[assignment]
        try:
            out = d.decompress(data, limit)
        except zlib.error:
            if self.encoding == "deflate" and getattr(self, "first", False):
                # Servers disagree on "deflate": zlib-wrapped per the RFC, raw deflate in practice.
                self.obj = d = zlib.decompressobj(-zlib.MAX_WBITS)
                self.first = False
                out = d.decompress(data, limit)
            else:
                raise
        self.first = False
        # A gzip body may hold several members one after another.
        while d.eof and d.unused_data and len(out) < limit and self.encoding != "deflate":
            rest = d.unused_data
            self.obj = d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += d.decompress(rest, limit - len(out))
        return out


def decoders_for(content_encoding: str | None) -> list[BodyDecoder]:
    """The decoders a Content-Encoding header asks for, in the order to apply them (unknown: ValueError)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    return [BodyDecoder(c) for c in reversed(codings)]  # applied last first


def is_binary_type(content_type: str | None) -> bool:
    """Whether a Content-Type is one that is never an article page (images, PDFs, archives...)."""
    main = (content_type or "").split(";", 1)[0].strip().lower()
    if main in ("application/xhtml+xml", "application/xml", "application/x-httpd-php"):
        return False
    return bool(main) and main.startswith(BINARY_TYPES)
