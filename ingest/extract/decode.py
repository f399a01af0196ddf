"""Page bytes to text and one parsed tree: strict UTF-8, declared charsets, Arabic single-byte detection."""

from __future__ import annotations

import codecs
import re
import threading

from lxml.html import HtmlElement, HTMLParser, fromstring

from rasad.ingest.extract.sniff import split_content_type

_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_LATIN_SINGLE_BYTE = {
    "iso-8859-1",
    "latin-1",
    "latin1",
    "windows-1252",
    "cp1252",
    "us-ascii",
    "ascii",
    "iso-8859-15",
    "iso8859-1",
    "l1",
}
_HIGH_RUN_RE = re.compile(rb"[\x80-\xff]{4,}")
# Control characters XML does not allow. libxml2's HTML parser keeps them in text nodes, and then
# lxml refuses to write any text holding one back (ValueError "All strings must be XML compatible")
# when trafilatura copies an element or a pruned element's tail joins its parent: the page was
# lost. Vertical tab and form feed become spaces, the rest go. In UTF-8 these bytes never occur
# inside a multi-byte sequence, so the bytes can be cleaned before libxml2 decodes them.
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0E, 0x20)])
_CONTROL_TABLE = bytes.maketrans(b"\x0b\x0c", b"  ")
_NOT_XML_RE = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ARABIC_CHAR_RE = re.compile("[\u0621-\u064a]")


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _arabic_single_byte_codec(body: bytes) -> str | None:
    """windows-1256 or ISO-8859-6 if runs of 4+ high bytes read as Arabic words in one of them."""
    runs = _HIGH_RUN_RE.findall(body[:200_000])
    if len(runs) < 3:
        return None
    sample = b" ".join(runs[:200])
    best, best_share = None, 0.6  # below this share of Arabic letters it is not Arabic text
    for codec in ("cp1256", "iso8859-6"):
        decoded = sample.decode(codec, errors="replace").replace(" ", "")
        share = len(_ARABIC_CHAR_RE.findall(decoded)) / max(1, len(decoded))
        if share > best_share:
            best, best_share = codec, share
    return best


def _detect_charset(body: bytes) -> str | None:
    from charset_normalizer import from_bytes

    # Lines with high bytes carry the evidence; the ASCII markup around them only dilutes it.
    sample = b"\n".join(line for line in body.splitlines() if re.search(rb"[\x80-\xff]", line))[:40_000]
    best = from_bytes(sample or body[:40_000]).best()
    return best.encoding if best else None


# Letters of French, Spanish, Portuguese, Italian and German, plus typographic marks. No
# Icelandic ð/þ/ý or Nordic ø: those are what Baltic and Czech bytes turn into in windows-1252.
_WESTERN_CHARS = set("àâäçéèêëîïôöùûüÿñáíóúãõœæßìòÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÑÁÍÓÚÃÕŒÆ€’‘“”«»–—…°·×")


def _reads_as_western_european(body: bytes) -> bool:
    """Whether windows-1252 turns every high byte of the page into a Western European letter or mark."""
    try:
        text = body.decode("cp1252")
    except UnicodeDecodeError:
        return False
    high = [c for c in text if ord(c) > 0x7F and not c.isspace()]
    return bool(high) and sum(c in _WESTERN_CHARS for c in high) >= 0.97 * len(high)


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode page bytes to text; returns (text, codec used)."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace"), "utf-8"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace"), "utf-16"
    try:
        return body.decode("utf-8"), "utf-8"  # strict UTF-8 almost never succeeds by accident
    except UnicodeDecodeError:
        pass
    _, http_charset = split_content_type(content_type)
    meta = _META_CHARSET_RE.search(body[:8192])
    declared = [_codec_name(http_charset), _codec_name(meta.group(1).decode("ascii") if meta else None)]
    arabic_codec = _arabic_single_byte_codec(body)
    for codec in declared:
        if not codec or codec == "utf-8":
            continue  # utf-8 was just proven wrong
        if arabic_codec and codec in {_codec_name(c) for c in _LATIN_SINGLE_BYTE}:
            continue  # a Latin declaration over Arabic byte runs is the classic mislabel
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    if arabic_codec:
        return body.decode(arabic_codec, errors="replace"), arabic_codec
    detected = _codec_name(_detect_charset(body))
    if detected and detected != "cp1252" and _reads_as_western_european(body):
        # charset_normalizer calls short French/Spanish pages cp1257 or cp1250; windows-1252
        # is what an undeclared Western page (French in the Maghreb, for us) nearly always is.
        detected = "cp1252"
    if detected:
        try:
            return body.decode(detected), detected
        except UnicodeDecodeError:
            pass
    return body.decode("cp1252", errors="replace"), "cp1252"


# lxml parser objects must not be shared between threads (the stage extracts in a pool).
_parsers = threading.local()


def _utf8_parser() -> HTMLParser:
    parser = getattr(_parsers, "utf8", None)
    if parser is None:
        # trafilatura's own parser settings, so the tree is the one it expects
        parser = _parsers.utf8 = HTMLParser(
            collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
        )
    return parser


def parse_html(body: bytes, content_type: str | None = None) -> tuple[HtmlElement | None, str]:
    """Parse page bytes into an lxml tree; returns (tree or None, codec used).

    libxml2 decodes UTF-8 bytes itself, twice as fast as decoding in Python and parsing the
    string (which is what ``trafilatura.extract`` does). Other encodings are decoded here
    (see :func:`decode_html`) and handed over as UTF-8, so libxml2 never second-guesses them
    from a wrong ``<meta charset>``.
    """
    from trafilatura.utils import load_html

    text, codec = decode_html(body, content_type)
    text = _NOT_XML_RE.sub("", text.replace("\x0b", " ").replace("\x0c", " "))
    data = body[3:] if body.startswith(codecs.BOM_UTF8) else body
    data = text.encode("utf-8") if codec != "utf-8" else data.translate(_CONTROL_TABLE, _CONTROL_BYTES)
    try:
        tree = fromstring(data, parser=_utf8_parser())
    except Exception:
        tree = None
    if tree is None or len(tree) < 1:
        tree = load_html(text)  # repairs faulty doctypes and invalid characters, then retries
    return tree, codec
