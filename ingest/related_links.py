"""Inline "read also" links: paragraphs that only point to another story, removed before extraction.

Arabic news sites (and English ones) put «اقرأ أيضاً: <a>headline of another story</a>»,
"Read more: <a>…</a>" or "Related: <a>…</a>" between the paragraphs of an article. They sit
inside the article body, so trafilatura keeps them, and then the other story's headline is
tagged, clustered and alerted on as if this article said it.

A block is removed only when it is *nothing but* a label and links:

- a block (``p``, ``li``, ``div``, ``h2``–``h6``, …) whose text starts with a label and whose
  remaining letters are at least 85% link text (``<p><b>اقرأ أيضا:</b> <a>…</a></p>``,
  ``<p><a>Read more: …</a></p>``);
- a block that is only a label («ذات صلة», "Related stories") followed by up to six
  sibling blocks or a list that are only links: the label and those blocks go;
- a line of a paragraph, after a ``<br>``, that is a label and links only: that line goes.

A paragraph that merely contains a link, or starts with "More than…" or "See also the
report…" followed by ordinary text, is kept: the rest of it is not link text. Labels are
matched after normalisation (no diacritics or tatweel, one alef form, ي for ى, ه for ة,
lower case), so «إقرأ أيضاً», «اقرأ ايضا» and «اقـرأ أيضـاً» are one label.
"""

from __future__ import annotations

import re

from lxml.etree import XPath
from lxml.html import HtmlElement

# Share of a label block's remaining letters that must sit inside links.
MIN_LINK_SHARE = 0.85
# A related-link line is a label and a headline or three, not a paragraph.
MAX_BLOCK_CHARS = 400
# Link-only siblings taken with a label-only block («ذات صلة» then a list of headlines).
MAX_FOLLOWING_BLOCKS = 6

_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "h2", "h3", "h4", "h5", "h6", "blockquote", "section", "aside", "figure", "dd", "dt",
     "ul", "ol", "td", "article", "header", "footer", "main", "body", "center", "table"}
)  # fmt: skip
_NEVER_WHOLE = frozenset({"body", "html", "article", "main", "table"})
_NOT_A_HEADLINE_LINK = ("#", "javascript:", "mailto:", "tel:", "whatsapp:")

_NORMALIZE = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
_STRIP_RE = re.compile("[\u064b-\u065f\u0670\u0640\u200b-\u200f\u061c\u00ad]")  # harakat, tatweel, bidi

# Written in the normalised form. A separator or the end must follow the label; labels that
# also begin ordinary sentences ("More", "Related", "Read", «شاهد», «للمزيد») need a colon
# or a dash, or must be the whole block.
_ALSO = r"(?:ايضا|كذلك)"
_AR_LABELS = (
    rf"و?اقرا\s+(?:{_ALSO}|المزيد|اكثر)(?:\s+(?:عن|في|حول)\s+هذا(?:\s+الموضوع)?)?",
    rf"و?(?:شاهد|طالع|تابع)\s+{_ALSO}",
    r"(?:مواضيع|اخبار|مقالات|روابط|قصص|موضوعات|تقارير)?\s*(?:ذات|ذو)\s+صله",
    rf"(?:قد\s+)?(?:يهمك|يعجبك|يهمكم)\s*{_ALSO}?",
    r"اخترنا\s+لك",
    r"المزيد\s+(?:من\s+)?(?:الاخبار|التفاصيل)",
)
_AR_COLON_LABELS = (
    r"اقرا",
    r"شاهد",
    r"طالع",
    r"للمزيد(?:\s+من\s+(?:الاخبار|التفاصيل|المعلومات))?",
    r"المزيد",
)
_EN_LABELS = (
    r"read\s+(?:more|also|next)",
    r"also\s+read",
    r"see\s+also",
    r"also\s+see",
    r"related\s+(?:stories|story|articles?|coverage|content|news|reading|links?|posts?|topics?)",
    r"recommended\s+(?:reading|stories|for\s+you)",
    r"further\s+reading",
    r"you\s+(?:may|might)\s+also\s+(?:like|be\s+interested(?:\s+in)?)",
    r"don'?t\s+miss",
    r"more\s+(?:on|about)\s+(?:this(?:\s+story)?|that)",
    r"more\s+stories",
)
_EN_COLON_LABELS = (
    r"read",
    r"related",
    r"more",
    r"recommended",
    r"see",
    r"watch",
    r"listen",
    r"more\s+on\s+\S{1,40}",
)
_SEP = r"\s*(?:[:：\-–—|»›>]+|$)"
_LEAD = r"^[\W_\d]*"  # bullets, arrows, quotes, brackets before the label
_LABEL_RE = re.compile(
    _LEAD
    + r"(?:"
    + "|".join(rf"(?:{p})(?:{_SEP}|\s+)" for p in (*_AR_LABELS, *_EN_LABELS))
    + "|"
    + "|".join(rf"(?:{p})\s*[:：\-–—]+" for p in (*_AR_COLON_LABELS, *_EN_COLON_LABELS))
    + r")"
)
# A block that is only a label: any label above, or a colon-label's word alone («ذات صلة», "Related").
_LABEL_ONLY_RE = re.compile(
    _LEAD
    + r"(?:"
    + "|".join(rf"(?:{p})" for p in (*_AR_LABELS, *_EN_LABELS, *_AR_COLON_LABELS, r"related", r"recommended"))
    + r")[\W_]*$"
)

# Text nodes that may open a label: the first word of every label, raw (not normalised), tested
# on the non-blank text nodes libxml2 hands over (a Python walk of every node cost ~8 ms a page).
_TEXT_NODES_XPATH = XPath(".//text()[normalize-space()]")
_START_RE = re.compile(
    r"^[\W\d_]*(?:و?[اأإآ]?ق\u0640*ر|و?(?:شاهد|طالع|تابع)|مواضيع|[أا]خبار|مقالات|روابط|قصص|موضوعات|تقارير|"
    r"ذات|ذو|قد|يهمك|يعجبك|اخترنا|ال?مزيد|للمزيد|"
    r"read|also|see|related|recommended|further|you|don|more|watch|listen)",
    re.IGNORECASE,
)
# How much of a block's text is read to decide whether it opens with a label.
_HEAD_CHARS = 200
_WORD_RE = re.compile(r"\w", re.UNICODE)


def normalize_label_text(text: str) -> str:
    """Text as labels are matched: no diacritics, tatweel or bidi marks, one alef form, lower case."""
    return " ".join(_STRIP_RE.sub("", text).translate(_NORMALIZE).lower().split())


def _head_text(element: HtmlElement) -> str:
    """The first ~200 characters of an element's text, without reading the rest of a long block."""
    parts: list[str] = []
    size = 0
    for text in element.itertext():
        parts.append(text)
        size += len(text)
        if size >= _HEAD_CHARS:
            break
    return "".join(parts)[:_HEAD_CHARS]


def _letters(text: str) -> int:
    return len(_WORD_RE.findall(text))


def _is_headline_link(element: HtmlElement) -> bool:
    href = (element.get("href") or "").strip().lower()
    return bool(href) and not href.startswith(_NOT_A_HEADLINE_LINK)


def _pieces(element: HtmlElement, in_link: bool = False) -> list[tuple[str, bool]]:
    """The element's text as (piece, inside a headline link) in document order."""
    out: list[tuple[str, bool]] = []
    in_link = in_link or (element.tag == "a" and _is_headline_link(element))
    if element.text:
        out.append((element.text, in_link))
    for child in element:
        if isinstance(child.tag, str):
            out.extend(_pieces(child, in_link))
        if child.tail:
            out.append((child.tail, in_link))
    return out


def _label_then_links(pieces: list[tuple[str, bool]]) -> bool:
    """Whether the pieces read as a label followed by link text only (≥85% of the letters after it)."""
    text = "".join(p for p, _ in pieces)
    if not text.strip() or len(text) > MAX_BLOCK_CHARS * 2:
        return False
    norm = normalize_label_text(text)
    match = _LABEL_RE.match(norm)
    if not match:
        return False
    # Count the letters the label covers, then what follows it, by link membership.
    label_letters = _letters(match.group(0))
    linked = unlinked = 0
    for piece, in_link in pieces:
        n = _letters(normalize_label_text(piece))
        take = min(n, label_letters)
        label_letters -= take
        n -= take
        if in_link:
            linked += n
        else:
            unlinked += n
    return linked > 0 and linked >= MIN_LINK_SHARE * (linked + unlinked)


def _is_label_only(element: HtmlElement) -> bool:
    text = element.text_content()
    return len(text) < 80 and bool(_LABEL_ONLY_RE.match(normalize_label_text(text)))


def _is_links_only(element: HtmlElement) -> bool:
    """A block (or list) whose letters are ≥85% headline-link text."""
    if element.tag in {"img", "br"} or not isinstance(element.tag, str):
        return False
    pieces = _pieces(element)
    linked = sum(_letters(p) for p, in_link in pieces if in_link)
    total = sum(_letters(p) for p, _ in pieces)
    return linked > 0 and linked >= MIN_LINK_SHARE * total and total <= MAX_BLOCK_CHARS * 3


def _block_of(element: HtmlElement) -> HtmlElement:
    node = element
    while node.tag not in _BLOCK_TAGS:
        parent = node.getparent()
        if parent is None:
            break
        node = parent
    return node


def _attached(element: HtmlElement, root: HtmlElement) -> bool:
    return element is root or any(a is root for a in element.iterancestors())


def _drop(element: HtmlElement) -> None:
    if element.getparent() is not None:
        element.drop_tree()  # keeps the tail text, which belongs to the surrounding block


def _drop_line(block: HtmlElement, br: HtmlElement) -> bool:
    """Remove the line of ``block`` that a ``<br>`` opens (its tail and the children up to the next
    ``<br>``) if that line is a label and links only."""
    line: list[HtmlElement] = []
    sibling = br.getnext()
    while sibling is not None and sibling.tag != "br":
        line.append(sibling)
        sibling = sibling.getnext()
    pieces: list[tuple[str, bool]] = [(br.tail, False)] if br.tail else []
    for child in line:
        pieces.extend(_pieces(child))
        if child.tail:
            pieces.append((child.tail, False))
    if not _label_then_links(pieces):
        return False
    for child in line:
        block.remove(child)  # with its tail: the tail is part of the line
    br.tail = None
    block.remove(br)
    return True


def _line_start(block: HtmlElement, owner: HtmlElement, is_tail: bool) -> HtmlElement | None:
    """The ``<br>`` that opens the line where a label text sits, if the label starts that line."""
    if is_tail:
        return owner if owner.tag == "br" and owner.getparent() is block else None
    top = owner
    while top.getparent() is not block:
        top = top.getparent()
    previous = top.getprevious()
    if previous is None or previous.tag != "br" or (previous.tail or "").strip():
        return None
    return previous


def remove_related_links(root: HtmlElement) -> int:
    """Remove inline "read also / related / more" link blocks under ``root``; returns blocks removed."""
    removed = 0
    for node in _TEXT_NODES_XPATH(root):
        if not _START_RE.match(node):
            continue
        head = normalize_label_text(node[:_HEAD_CHARS])
        # A label split over elements («<b>اقرأ</b> أيضاً») leaves a short first piece.
        if not (_LABEL_RE.match(head) or _LABEL_ONLY_RE.match(head) or len(head.split()) <= 3):
            continue
        owner = node.getparent()
        if owner is None:
            continue
        # A tail belongs to the block around the element it follows.
        holder = owner.getparent() if node.is_tail else owner
        if holder is None or not _attached(holder, root):
            continue
        block = _block_of(holder)
        # The whole block may go only if it is a paragraph-sized block, never the page or article.
        whole = block is not root and block.tag not in _NEVER_WHOLE
        if whole:
            opening = normalize_label_text(_head_text(block))
            whole = bool(_LABEL_RE.match(opening) or _LABEL_ONLY_RE.match(opening))
        if whole and _label_then_links(_pieces(block)):
            _drop(block)
            removed += 1
            continue
        if whole and _is_label_only(block):
            following: list[HtmlElement] = []
            sibling = block.getnext()
            while sibling is not None and len(following) < MAX_FOLLOWING_BLOCKS and _is_links_only(sibling):
                following.append(sibling)
                sibling = sibling.getnext()
            if following:
                for element in (block, *following):
                    _drop(element)
                removed += 1
            continue
        # «…نص الفقرة.<br><strong>اقرأ أيضاً:</strong> <a>…</a>»: only that line goes.
        br = _line_start(block, owner, node.is_tail) if owner is not block or node.is_tail else None
        if br is not None and _drop_line(block, br):
            removed += 1
    return removed
