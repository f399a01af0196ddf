"""Seeded mutators: bytes, markup structure, YAML structure and hostile Unicode.

Every choice comes from the ``random.Random`` passed in, so an input is reproduced exactly
from (target, seed, index): the runner derives one generator per input.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

MAX_INPUT = 2 * 1024 * 1024  # a mutated input never grows past this (the HTTP client caps bodies too)

# Bytes that make parsers change state: markup, entities, encodings, controls.
XML_TOKENS = [
    b"<", b">", b"</", b"/>", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"&#xD800;", b"&nbsp;", b"&bogus;",
    b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?xml version='1.0'?>", b'<?xml version="1.0" encoding="utf-16"?>',
    b'<?xml version="1.0" encoding="windows-1256"?>', b'<?xml version="1.0" encoding="bogus-42"?>',
    b"<!DOCTYPE rss>", b'<!DOCTYPE x [<!ENTITY a "aaaaaaaa">]>', b'<!ENTITY % p SYSTEM "file:///etc/passwd">',
    b'<!ENTITY e SYSTEM "http://127.0.0.1/">', b"&a;&a;&a;", b"\x00", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf",
    b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\r\n", b"\t", b"\x0b", b"\x1b[31m",
    b"<item>", b"</item>", b"<entry>", b"</entry>", b"<link>", b"</link>", b"<guid>", b"</guid>",
    b'<link href="', b'" rel="alternate"/>', b"<title>", b"</title>", b"<pubDate>", b"</pubDate>",
    b"<description>", b"</description>", b"<content:encoded>", b"</content:encoded>", b'xml:base="',
    b"javascript:alert(1)", b"http://[::1", b"http://a:99999/", b"https://www.example.com/amp/x?utm_source=a",
    b"http://xn--", b"//example.org/x", b"data:text/html,<script>", b"Mon, 31 Feb 2025 25:61:00 +9999",
    b"9999-99-99T99:99:99Z", b"-0001-01-01", b"1e309", b'{"version": "https://jsonfeed.org/version/1.1"',
    b'"items": [', b"]}", b"\\ud800", b"\xd8\xb7\xd8\xa7\xd9\x84\xd8\xa8\xd8\xa7\xd9\x86",
    b"\xd9\x80" * 8, b"\xe2\x80\xae", b"\xe2\x80\x8b", b"\xef\xbb\xbb",
]  # fmt: skip
HTML_TOKENS = [
    *XML_TOKENS,
    b"<html>", b"<head>", b"</head>", b"<body>", b"</body>", b"<p>", b"</p>", b"<div>", b"</div>", b"<article>",
    b"<script>", b"</script>", b"<style>", b"<noscript>", b"<template>", b"<table>", b"<td>", b"<a href='x'>",
    b'<meta charset="windows-1256">', b'<meta charset="utf-16">', b'<meta charset="x-bogus">',
    b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-6">',
    b'<meta property="article:published_time" content="', b'<time datetime="', b'<meta name="author" content="',
    b'<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"', b'"author":{"name":',
    b"\xc8\xed\xe6\xca\xed\xe4", b"\xe2\xd8\xc7\xd1", b"\xd9\xa2\xd9\xa1 \xd9\x86\xd9\x88\xd9\x81\xd9\x85\xd8\xa8\xd8\xb1",
    b"\xd8\xaa\xd8\xb4\xd8\xb1\xd9\x8a\xd9\x86 \xd8\xa7\xd9\x84\xd8\xab\xd8\xa7\xd9\x86\xd9\x8a 2025",
    b"<!doctype html>", b"<html lang='ar' dir='rtl'>", b"%PDF-", b"\x1f\x8b", b"<rss>",
]  # fmt: skip

_TAG_RE = re.compile(rb"<[^<>]{0,200}>")


def _span(rng: random.Random, n: int, max_len: int = 64) -> tuple[int, int]:
    start = rng.randrange(n + 1)
    return start, min(n, start + rng.randrange(max_len + 1))


def mutate_bytes(rng: random.Random, data: bytes, tokens: Sequence[bytes], others: Sequence[bytes] = (),
                 rounds: int | None = None) -> bytes:  # fmt: skip
    """Apply 1-8 random byte-level mutations (flip, insert, delete, repeat, splice, token)."""
    buf = bytearray(data)
    for _ in range(rounds if rounds is not None else rng.choice((1, 1, 2, 3, 4, 8))):
        op = rng.randrange(11)
        n = len(buf)
        if op == 0 and n:  # flip bits
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # set a byte to an interesting value
            buf[rng.randrange(n)] = rng.choice((0, 0x7F, 0x80, 0xC0, 0xFF, 0x3C, 0x3E, 0x26, 0x22, 0x0A))
        elif op == 2:  # insert a token
            i = rng.randrange(n + 1)
            buf[i:i] = rng.choice(tokens)
        elif op == 3 and n:  # delete a range
            a, b = _span(rng, n, rng.choice((4, 64, 4096)))
            del buf[a:b]
        elif op == 4 and n:  # duplicate a range
            a, b = _span(rng, n, 256)
            buf[b:b] = buf[a:b] * rng.choice((1, 2, 16))
        elif op == 5 and others:  # splice in a piece of another seed
            other = rng.choice(others)
            a, b = _span(rng, len(other), 2048)
            i = rng.randrange(n + 1)
            buf[i:i] = other[a:b]
        elif op == 6 and n:  # truncate
            del buf[rng.randrange(n) :]
        elif op == 7:  # random bytes
            i = rng.randrange(n + 1)
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
        elif op == 8 and n:  # swap two ranges
            a, b = _span(rng, n, 128)
            c, d = _span(rng, n, 128)
            if b <= c:
                buf[a:d] = buf[c:d] + buf[b:c] + buf[a:b]
        elif op == 9:  # a token repeated many times (deep nesting, long runs)
            i = rng.randrange(n + 1)
            buf[i:i] = rng.choice(tokens) * rng.choice((10, 100, 1000))
        elif op == 10 and n:  # markup structure: drop, duplicate or move one tag
            tags = list(_TAG_RE.finditer(bytes(buf[: 256 * 1024])))
            if tags:
                m = rng.choice(tags)
                tag = m.group()
                how = rng.randrange(3)
                if how == 0:
                    del buf[m.start() : m.end()]
                elif how == 1:
                    buf[m.end() : m.end()] = tag * rng.choice((1, 2, 50))
                else:
                    del buf[m.start() : m.end()]
                    i = rng.randrange(len(buf) + 1)
                    buf[i:i] = tag
        if len(buf) > MAX_INPUT:
            del buf[MAX_INPUT:]
    return bytes(buf)


# --- hostile Unicode --------------------------------------------------------------------------

ARABIC_LETTERS = [chr(c) for c in range(0x0621, 0x064B)] + list("پچژکگیۀةىئؤإأآٱ")
DIACRITICS = [chr(c) for c in range(0x064B, 0x0660)] + ["\u0670", "\u06e1", "\u0610", "\u06d6", "\u06ed"]
TATWEEL = "\u0640"
CONTROLS = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
            "\u2066", "\u2067", "\u2068", "\u2069", "\u061c", "\ufeff", "\u00ad", "\u034f", "\u2028", "\u2029",
            "\x00", "\x1b", "\r", "\n", "\t", "\x0b", "\x0c", "\x85"]  # fmt: skip
PRESENTATION = [chr(c) for c in range(0xFB50, 0xFDFF, 7)] + [chr(c) for c in range(0xFE70, 0xFEFD, 3)] + ["\ufdfa", "\ufdfb", "\ufefb"]
SURROGATES = ["\ud800", "\udfff", "\udc00", "\ud83d"]
# Characters whose lower() or NFKC changes length, and other case/width traps.
CASE_TRAPS = ["İ", "ẞ", "ß", "ﬁ", "ﬀ", "Ǆ", "ǅ", "Σ", "ς", "Ⅻ", "Ａ", "①", "㎏", "™", "ǰ", "ŉ", "ΐ", "K", "Å"]
DIGITS = list("0123456789٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹")
PUNCT = [*"،؛؟«»“”‹›—–‐-\"'.,;:!?()[]{}<>/\\|@#$%^&*_=+~`", "…", "٪", "٫", "٬", "۔"]
OTHER_SCRIPTS = list("abcdefghijklmnopqrstuvwxyzABCXYZ") + list("абвгдежзΑΒΓабв中文日本語ไทยעבריתहिन्दी") + [
    "😀", "🇸🇦", "👩‍👩‍👧", "\U0001d400", "\U000e0001", "\ufffd", "\uffff", "\U0010ffff"]  # fmt: skip
SPACES = [" ", " ", " ", "\u00a0", "\u2009", "\u3000", "\u202f"]

_POOLS = [
    (ARABIC_LETTERS, 40), (DIACRITICS, 10), ([TATWEEL], 4), (CONTROLS, 4), (PRESENTATION, 4), (SURROGATES, 1),
    (CASE_TRAPS, 2), (DIGITS, 4), (PUNCT, 6), (OTHER_SCRIPTS, 8), (SPACES, 17),
]  # fmt: skip
_POOL_LISTS = [p for p, _ in _POOLS]
_POOL_WEIGHTS = [w for _, w in _POOLS]


def random_unicode(rng: random.Random, length: int) -> str:
    """A string drawn from hostile pools (Arabic, marks, controls, presentation forms, surrogates...)."""
    pools = rng.choices(_POOL_LISTS, weights=_POOL_WEIGHTS, k=length)
    return "".join(rng.choice(p) for p in pools)


def decorate_arabic(rng: random.Random, word: str) -> str:
    """A word as hostile text spells it: diacritics, tatweel, zero-width and bidi marks inside it."""
    out = []
    for ch in word:
        out.append(ch)
        r = rng.random()
        if r < 0.15:
            out.append(rng.choice(DIACRITICS))
        elif r < 0.2:
            out.append(TATWEEL * rng.randrange(1, 4))
        elif r < 0.24:
            out.append(rng.choice(CONTROLS[:19]))
    prefix = rng.choice(("", "", "و", "ف", "ب", "ل", "وب", "وال", "لل", "فال", "\u202b", "«"))
    return prefix + "".join(out)


def mutate_text(rng: random.Random, text: str, words: Sequence[str] = (), others: Sequence[str] = ()) -> str:
    """Apply 1-8 character-level mutations to ``text`` (insert hostile runs, known words, long tokens...)."""
    s = text
    for _ in range(rng.choice((1, 2, 3, 4, 8))):
        n = len(s)
        i = rng.randrange(n + 1)
        op = rng.randrange(10)
        if op == 0:
            s = s[:i] + random_unicode(rng, rng.randrange(1, 40)) + s[i:]
        elif op == 1 and words:
            s = s[:i] + " " + decorate_arabic(rng, rng.choice(words)) + rng.choice((" ", "", ".", "،", "\n")) + s[i:]
        elif op == 2 and n:
            a, b = _span(rng, n, 200)
            s = s[:a] + s[b:]
        elif op == 3:  # a very long token
            unit = rng.choice(ARABIC_LETTERS + DIACRITICS + [TATWEEL, "a", "ﻻ", "İ", "\u200b"])
            s = s[:i] + unit * rng.choice((300, 5000, 60000)) + s[i:]
        elif op == 4 and n:  # presentation forms for a run of letters (what NFKC undoes)
            a, b = _span(rng, n, 30)
            s = s[:a] + "".join(rng.choice(PRESENTATION) if c in ARABIC_LETTERS else c for c in s[a:b]) + s[b:]
        elif op == 5 and others:
            o = rng.choice(others)
            a, b = _span(rng, len(o), 500)
            s = s[:i] + o[a:b] + s[i:]
        elif op == 6 and n:  # controls sprinkled through a range
            a, b = _span(rng, n, 80)
            s = s[:a] + "".join(c + (rng.choice(CONTROLS) if rng.random() < 0.3 else "") for c in s[a:b]) + s[b:]
        elif op == 7:
            s = s[:i] + rng.choice(SURROGATES + CASE_TRAPS) + s[i:]
        elif op == 8 and n:  # duplicate a range
            a, b = _span(rng, n, 300)
            s = s[:b] + s[a:b] * rng.choice((1, 2, 20)) + s[b:]
        elif op == 9 and n:
            a, b = _span(rng, n, 100)
            s = s[:a] + s[a:b].upper() + s[b:]
        if len(s) > 400_000:
            s = s[:400_000]
    return s


# --- YAML structure ---------------------------------------------------------------------------

HOSTILE_SCALARS: list[Any] = [
    None, True, False, 0, -1, 1.5, float("inf"), float("nan"), 10**30, "", " ", "~", "yes", "off", "0x1F",
    "08:00", "24:00", "1:2:3", "2025-13-45", "2025-05-01T10:00:00+99:00", "15m", "0m", "-5m", "1e9d", "∞",
    "طالبان", "ـــ", "\u200b", "\u202e", "a" * 300, "../../etc/passwd", "http://", "javascript:alert(1)",
    "http://[::1", "mailto:x@y", "a@b", "@", "x@y..z", "Asia/Riyadh", "Mars/Olympus", "../UTC", "UTC\x00",
    "America/../../etc/passwd", [], {}, ["a"], [1, 2], {"a": 1}, [[[]]], "2025-05-01", "*", "ISIS-K*", "ً",
]  # fmt: skip


def mutate_structure(rng: random.Random, value: Any, keys: Sequence[str], depth: int = 0) -> Any:
    """A copy of a YAML data tree with values replaced, keys added/removed/renamed and nesting changed."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            r = rng.random()
            if r < 0.08:
                continue  # drop the key
            if r < 0.12:
                key = rng.choice([k.upper(), k + "s", k[:-1], " " + k, 1, None, True, k.replace("_", "-")])
            else:
                key = k
            out[key] = mutate_structure(rng, v, keys, depth + 1) if rng.random() < 0.5 else v
        if rng.random() < 0.1:
            out[rng.choice([*keys, "bogus", 42, "", "<<"])] = rng.choice(HOSTILE_SCALARS)
        return out
    if isinstance(value, list):
        items = [mutate_structure(rng, v, keys, depth + 1) if rng.random() < 0.4 else v for v in value]
        r = rng.random()
        if r < 0.1 and items:
            items.append(items[rng.randrange(len(items))])  # a duplicate entry
        elif r < 0.15 and items:
            items.pop(rng.randrange(len(items)))
        elif r < 0.2:
            items.append(rng.choice(HOSTILE_SCALARS))
        return items
    r = rng.random()
    if r < 0.3:
        return rng.choice(HOSTILE_SCALARS)
    if r < 0.35 and depth < 6:
        return [value] if rng.random() < 0.5 else {"nested": value}
    if r < 0.45 and isinstance(value, str):
        return mutate_text(rng, value)
    return value


def mutate_yaml_text(rng: random.Random, text: str) -> str:
    """Line-level YAML damage: re-indent, duplicate or drop lines, tabs, anchors, deep nesting, flow style."""
    lines = text.split("\n")
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not lines:
            lines = [""]
        i = rng.randrange(len(lines))
        op = rng.randrange(9)
        if op == 0:
            lines[i] = " " * rng.choice((1, 2, 3, 4)) + lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            lines.pop(i)
        elif op == 3:
            lines[i] = lines[i].replace("  ", "\t", 1)
        elif op == 4:
            lines.insert(i, rng.choice(("x: &a [1]", "y: *a", "<<: *a", "? [a, b]\n: c", "!!python/object:os.system x",
                                        "key: !!binary aGVsbG8=", "k: !custom 1", "%YAML 1.1", "---", "...",
                                        "- " * 40 + "x", "[" * 200 + "]" * 200, "{" * 300, "x: " + "[" * 5000)))
        elif op == 5:
            lines[i] = lines[i] + rng.choice((": ", " #", " '", ' "', ": |", ": >-", ":", " - "))
        elif op == 6:
            lines[i] = mutate_text(rng, lines[i])
        elif op == 7:
            lines[i] = lines[i].replace(": ", ":", 1)
        elif op == 8:
            lines.insert(i, "  " * rng.randrange(30) + "- " + rng.choice(("a", "{", "[", "b: c")))
    return "\n".join(lines)
