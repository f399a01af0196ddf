"""Alert mails: multipart text + HTML, Arabic right-to-left, matched words highlighted.

Everything from an article is untrusted: subjects lose CR/LF and control characters
(no header injection), HTML is escaped (a ``<script>`` in a headline stays text).
"""

from __future__ import annotations

import html
import re
import unicodedata
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

from alerts.match import RuleMatch
from alerts.rules import AlertRule
from rasad.records import Article, Mention

_CTRL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
SUBJECT_MAX = 180


def safe_header(value: str, limit: int = SUBJECT_MAX) -> str:
    """One line of header text: no CR/LF or control characters, bounded length."""
    value = _CTRL.sub(" ", value or "")
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def text_direction(text: str) -> str:
    """'rtl' if the text is mostly in a right-to-left script, else 'ltr'."""
    rtl = ltr = 0
    for ch in text[:400]:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            rtl += 1
        elif bidi == "L":
            ltr += 1
    return "rtl" if rtl > ltr else "ltr"


def highlight_html(text: str, spans: list[tuple[int, int]]) -> str:
    """Escape text and wrap the given (start, end) spans in <mark>."""
    out, pos = [], 0
    for start, end in sorted(set(spans)):
        if start < pos or end > len(text) or start >= end:
            continue
        out.append(html.escape(text[pos:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def snippet(article: Article, highlights: list[Mention], width: int = 240) -> tuple[str, list[tuple[int, int]]]:
    """A passage of the text around the first match, with match spans relative to it."""
    text = article.text or article.summary or ""
    hits = [m for m in highlights if m.field == "text"]
    if not hits:
        cut = text[:width]
        return cut + ("…" if len(text) > width else ""), []
    first = hits[0].start
    start = max(0, first - width // 3)
    # Start at a word boundary so a snippet never begins mid-word.
    while start > 0 and not text[start - 1].isspace() and first - start < width // 2:
        start -= 1
    end = min(len(text), start + width)
    spans = [(m.start - start, m.end - start) for m in hits if m.start >= start and m.end <= end]
    prefix = "…" if start > 0 else ""
    shift = len(prefix)
    return prefix + text[start:end] + ("…" if end < len(text) else ""), [(a + shift, b + shift) for a, b in spans]


def _meta_line(a: Article) -> str:
    parts = [a.source or a.feed_id]
    if a.published:
        parts.append(a.published.replace("T", " ").replace("Z", " UTC"))
    if a.language:
        parts.append(a.language)
    return " · ".join(parts)


def render_item_html(m: RuleMatch, kibana_url: str) -> str:
    """One article of a mail as an HTML block (direction from its language/script)."""
    a = m.article
    direction = "rtl" if (a.language in ("ar", "fa", "ur") or text_direction(a.title + a.text) == "rtl") else "ltr"
    title_spans = [(h.start, h.end) for h in m.highlights if h.field == "title"]
    snip, spans = snippet(a, m.highlights)
    topics = ", ".join(t.label for t in a.topics) or "—"
    entities = ", ".join(e.name for e in a.entities[:12]) or "—"
    event = ""
    if a.event_id:
        ev_url = f"{kibana_url.rstrip('/')}/app/discover#/?_a=(query:(language:kuery,query:'event_id:\"{a.event_id}\"'))"
        event = f' · <a href="{html.escape(ev_url, quote=True)}">event</a>'
    return (
        f'<div class="item" dir="{direction}" lang="{html.escape(a.language or "")}" '
        f'style="direction:{direction};text-align:{"right" if direction == "rtl" else "left"};'
        'margin:0 0 18px 0;padding:10px;border:1px solid #ddd;border-radius:6px">'
        f'<h3 style="margin:0 0 6px 0"><a href="{html.escape(a.url, quote=True)}">{highlight_html(a.title, title_spans)}</a></h3>'
        f'<div class="meta" style="color:#555;font-size:90%">{html.escape(_meta_line(a))}{event}</div>'
        f'<p class="snippet">{highlight_html(snip, spans)}</p>'
        f'<div class="tags" style="font-size:85%;color:#333">Topics: {html.escape(topics)}<br>Entities: {html.escape(entities)}'
        f'<br>Matched: {html.escape("; ".join(m.reasons))}</div>'
        "</div>"
    )


def render_item_text(m: RuleMatch) -> str:
    """One article of a mail as plain text."""
    a = m.article
    snip, _ = snippet(a, m.highlights)
    return "\n".join(
        [
            a.title,
            _meta_line(a),
            a.url,
            snip,
            "Topics: " + (", ".join(t.label for t in a.topics) or "-"),
            "Entities: " + (", ".join(e.name for e in a.entities[:12]) or "-"),
            "Matched: " + "; ".join(m.reasons),
        ]
    )


def footer(rule: AlertRule, rules_file: str) -> tuple[str, str]:
    """Text and HTML footer naming the rule and how to change it."""
    t = f"Sent by Rasad rule '{rule.name}'. To change or stop it, edit {rules_file} (rule '{rule.name}')."
    return t, f'<p style="color:#777;font-size:80%" dir="ltr">{html.escape(t)}</p>'


def build_message(rule: AlertRule, matches: list[RuleMatch], *, mail_from: str, rules_file: str,
                  kibana_url: str, message_id: str | None = None, subject: str | None = None,
                  date: datetime | None = None) -> EmailMessage:  # fmt: skip
    """A multipart/alternative mail for one rule and one or more matched articles."""
    if subject is None:
        subject = (
            f"[Rasad] {rule.name}: {matches[0].article.title}"
            if len(matches) == 1
            else f"[Rasad] {rule.name}: {len(matches)} new articles"
        )
    msg = EmailMessage()
    msg["Subject"] = safe_header(subject)
    msg["From"] = mail_from
    msg["To"] = ", ".join(rule.recipients)
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(domain="rasad.local")
    msg["X-Rasad-Rule"] = safe_header(rule.name)
    ft, fh = footer(rule, rules_file)
    text = "\n\n".join(render_item_text(m) for m in matches) + "\n\n-- \n" + ft + "\n"
    msg.set_content(text)
    body = "".join(render_item_html(m, kibana_url) for m in matches)
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(safe_header(subject))}</title>"
        "<style>mark{background:#ffe066;padding:0 2px}</style></head>"
        f'<body style="font-family:Arial,Tahoma,sans-serif">{body}{fh}</body></html>'
    )
    msg.add_alternative(page, subtype="html")
    return msg
