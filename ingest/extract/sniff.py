"""Refusing what is not HTML (documents, images, archives, feeds served as pages) by type and first bytes."""

from __future__ import annotations

import re
import zlib

# gzip bodies (saved pages, servers that double-compress) are inflated up to this size.
MAX_INFLATED_BYTES = 64 * 1024 * 1024


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF document"),
    (b"\x89PNG", "PNG image"),
    (b"GIF8", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"PK\x03\x04", "ZIP archive (office document?)"),
    (b"RIFF", "RIFF media (WebP/WAV/AVI)"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
    (b"BM", "BMP image"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document"),
    (b"Rar!", "RAR archive"),
    (b"7z\xbc\xaf", "7z archive"),
    (b"\x00\x00\x01\x00", "icon"),
    (b"wOFF", "web font"),
    (b"wOF2", "web font"),
)
_HTML_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "application/xml",
    "text/xml",
    "text/plain",
    "application/octet-stream",
    "binary/octet-stream",
    "",
}
# The document element of a feed, after an optional XML declaration, stylesheet PIs and comments.
_FEED_ROOT_RE = re.compile(
    rb"^(?:<\?xml[^>]*>\s*|<\?xml-stylesheet[^>]*>\s*|<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF)[\s>]",
    re.IGNORECASE | re.DOTALL,
)


def split_content_type(content_type: str | None) -> tuple[str, str | None]:
    """(mime type, charset) from a Content-Type header value."""
    if not content_type:
        return "", None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("'\"").lower() or None
    return mime.strip().lower(), charset


def inflate_gzip(body: bytes) -> bytes:
    """Inflate a gzip body up to MAX_INFLATED_BYTES (a zip bomb stops at the cap)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(body, MAX_INFLATED_BYTES)
    except zlib.error:
        return body


def sniff_not_html(body: bytes, content_type: str | None) -> str | None:
    """Why these bytes are not an HTML page, or None if they may be one."""
    mime, _ = split_content_type(content_type)
    if mime and mime not in _HTML_TYPES:
        return f"content type {mime}"
    head = body[:2048].lstrip(b"\xef\xbb\xbf\xff\xfe\t\r\n ")
    if not head:
        return "empty body"
    for magic, label in _MAGIC:
        if head.startswith(magic):
            return label
    if b"\x00" in head and not head.startswith((b"<\x00", b"\x00<")):
        return "binary content (NUL bytes)"
    if _FEED_ROOT_RE.match(head):
        return "a feed document, not a page"
    if b"<" not in head:
        return "no markup in the first 2 KB"
    return None
