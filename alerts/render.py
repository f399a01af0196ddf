"""Alert mails: multipart text + HTML, Arabic right-to-left and English left-to-right, matches highlighted.

Everything from an article or a feed is untrusted: header values lose CR/LF and control
characters (no header injection), HTML is escaped (a ``<script>`` in a headline stays
text), and only http(s) links become links (no ``javascript:`` URLs).
"""

from __future__ import annotations

import email.policy
import html
import re
import unicodedata
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from rasad.alerts.items import SIGNAL, AlertItem
from rasad.alerts.plan import EVENTS, MailPlan, signals_of
from rasad.alerts.rules import AlertRule
from rasad.core.records import parse_iso

# Lone surrogates (\ud800-\udfff) too: a JSON feed can carry them, and no mail can encode them.
_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]+")
SUBJECT_MAX = 180
DIGEST_FULL_ITEMS = 40
# How a mail goes on the wire: CRLF, and headers not folded. CPython's folder drops the space
# between two encoded-words when it folds a long non-ASCII subject («لمواجهة تهديد» arrives as
# «لمواجهةتهديد»); unfolded, the subject is one encoded-word on one line (< 998 octets, RFC 5322).
WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)
RTL_LANGUAGES = {"ar", "fa", "ur", "he", "ps", "ckb"}
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "en": "English",
    "fa": "Persian",
    "ur": "Urdu",
    "ru": "Russian",
    "fr": "French",
}
# An Arabic item is labelled in Arabic, so a right-to-left block does not mix in English words.
LABELS: dict[str, dict[str, str]] = {
    "ltr": {
        "topics": "Topics",
        "entities": "Entities",
        "matched": "Matched",
        "event": "event in Kibana",
        "more": "more source",
        "mores": "more sources",
    },
    "rtl": {
        "topics": "المواضيع",
        "entities": "الكيانات",
        "matched": "سبب التنبيه",
        "event": "الحدث في Kibana",
        "more": "مصدر آخر",
        "mores": "مصادر أخرى",
    },
}
# The language of an article, named in the direction's language (as LABELS).
LANGUAGE_LABELS: dict[str, dict[str, str]] = {
    "ltr": LANGUAGE_NAMES,
    "rtl": {
        "ar": "العربية",
        "en": "الإنجليزية",
        "fa": "الفارسية",
        "ur": "الأردية",
        "ru": "الروسية",
        "fr": "الفرنسية",
    },
}
SIGNAL_LABELS = {"new": "New event", "confirmed": "Confirmed event", "breaking": "Breaking"}
MODE_LABELS = {"hourly": "hourly digest", "daily": "daily digest", "throttled": "held back by the throttle"}


def safe_header(value: str, limit: int = SUBJECT_MAX) -> str:
    """One line of header text: no CR/LF, control or bidi-override characters; bounded length."""
    value = _CTRL.sub(" ", value or "")
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL without control characters, else None."""
    if not url or _CTRL.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # a bracketed host that is no IP address: http://[::1
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


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


def item_direction(item: AlertItem) -> str:
    """Direction of an item: from its language when known, else from its script."""
    if item.language:
        return "rtl" if item.language.split("-")[0] in RTL_LANGUAGES else "ltr"
    return text_direction(item.title + " " + item.snippet)


def highlight_html(text: str, spans: list[list[int]] | list[tuple[int, int]]) -> str:
    """Escape text and wrap the given (start, end) spans in <mark> (overlaps merged)."""
    merged: list[list[int]] = []
    for start, end in sorted((int(a), int(b)) for a, b in spans):
        if start < 0 or end > len(text) or start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(html.escape(text[pos:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def highlight_text(text: str, spans: list[list[int]]) -> str:
    """Plain-text highlight: matched words in [brackets]."""
    out, pos = [], 0
    for start, end in sorted((int(a), int(b)) for a, b in spans):
        if start < pos or end > len(text) or start >= end:
            continue
        out += [text[pos:start], "[", text[start:end], "]"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def format_time(value: str | None, tz: str) -> str:
    """An ISO UTC time shown in the rule's time zone, e.g. '2025-11-22 11:15 (Asia/Riyadh)'."""
    dt = parse_iso(value) if value else None
    if dt is None:
        return ""
    try:
        local = dt.astimezone(ZoneInfo(tz))
    except OverflowError:  # year 1 or 9999 from a feed's date, shifted past the calendar's end
        return f"{dt:%Y-%m-%d %H:%M} (UTC)"
    return f"{local:%Y-%m-%d %H:%M} ({'UTC' if tz == 'UTC' else tz})"


def kibana_event_url(kibana_url: str, event_id: str) -> str:
    """Kibana Discover filtered to one event's articles."""
    query = quote(f'event_id:"{event_id}"', safe="")
    return (
        f"{kibana_url.rstrip('/')}/app/discover#/?_g=(time:(from:now-90d,to:now))"
        f"&_a=(query:(language:kuery,query:'{query}'))"
    )


def _labels(item: AlertItem, kind: str) -> list[str]:
    arabic = item_direction(item) == "rtl"
    if kind == "topics":
        return [
            (t.get("label_ar") if arabic and t.get("label_ar") else t.get("label")) or t["id"]
            for t in item.topics
        ]
    return [
        (e.get("name_ar") if arabic and e.get("name_ar") else e.get("name")) or e["id"] for e in item.entities
    ]


def counts(signal: dict) -> str:
    """'2 sources, 3 articles' for a signal."""
    n, m = int(signal.get("source_count") or 0), int(signal.get("article_count") or 0)
    return f"{n} source{'s' if n != 1 else ''}, {m} article{'s' if m != 1 else ''}"


def _link(url: str | None, text_html: str) -> str:
    ok = safe_url(url)
    return f'<a href="{html.escape(ok, quote=True)}">{text_html}</a>' if ok else text_html


def render_item_html(item: AlertItem, folded: list[AlertItem], rule: AlertRule, kibana_url: str) -> str:
    """One article or event of a mail as an HTML block with its own direction."""
    d = item_direction(item)
    lab = LABELS[d]
    align = "right" if d == "rtl" else "left"
    meta = []
    if item.type == SIGNAL and item.signal:
        sig = item.signal
        label = SIGNAL_LABELS.get(sig.get("kind") or "", sig.get("kind") or "")
        meta.append(f"<strong>{html.escape(label)}</strong>")
        meta.append(counts(sig))
    else:
        meta.append(f"<bdi>{html.escape(item.source)}</bdi>")
    if item.published:
        meta.append(f"<bdi>{html.escape(format_time(item.published, rule.timezone))}</bdi>")
    if item.language:
        meta.append(html.escape(LANGUAGE_LABELS[d].get(item.language, item.language)))
    if item.event_id:
        meta.append(_link(kibana_event_url(kibana_url, item.event_id), html.escape(lab["event"])))
    style = f"direction:{d};text-align:{align};margin:0 0 18px 0;padding:10px;border:1px solid #ddd"
    lang = html.escape(item.language or "")
    parts = [
        f'<div class="item" dir="{d}" lang="{lang}" data-key="{html.escape(item.key)}" style="{style}">',
        f'<h3 style="margin:0 0 6px 0">{_link(item.url, highlight_html(item.title, item.title_spans))}</h3>',
        f'<div class="meta" style="color:#555;font-size:90%">{" · ".join(meta)}</div>',
    ]
    if item.type == SIGNAL and item.signal:
        for lang, title in sorted((item.signal.get("titles") or {}).items()):
            if title and title != item.title:
                td = "rtl" if lang in RTL_LANGUAGES else "ltr"
                parts.append(
                    f'<div class="title-alt" dir="{td}" lang="{html.escape(lang)}" style="direction:{td}">'
                    f"{html.escape(title)}</div>"
                )
        if item.related:
            links = "".join(
                f'<li dir="{"rtl" if (r.get("language") or "") in RTL_LANGUAGES else "ltr"}">'
                f"{_link(r.get('url'), html.escape(r.get('title') or r.get('url') or ''))} "
                f'<span style="color:#555">— <bdi>{html.escape(r.get("source") or "")}</bdi></span></li>'
                for r in item.related
            )
            parts.append(f'<ul class="related">{links}</ul>')
    if item.snippet:
        parts.append(
            f'<p class="snippet" style="margin:6px 0">{highlight_html(item.snippet, item.snippet_spans)}</p>'
        )
    tags = []
    sep = "، " if d == "rtl" else ", "
    for key, values in (
        ("topics", _labels(item, "topics")),
        ("entities", _labels(item, "entities")),
        ("matched", item.reasons),
    ):
        if values:  # each value isolated, so a Latin name keeps its order inside Arabic and vice versa
            tags.append(
                f"{html.escape(lab[key])}: " + sep.join(f"<bdi>{html.escape(v)}</bdi>" for v in values)
            )
    if tags:
        parts.append(f'<div class="tags" style="font-size:85%;color:#333">{"<br>".join(tags)}</div>')
    if folded:
        more = sep.join(_link(f.url, f"<bdi>{html.escape(f.source or f.feed_id)}</bdi>") for f in folded)
        word = lab["mores"] if len(folded) > 1 else lab["more"]
        parts.append(
            f'<div class="more" style="font-size:85%;color:#333">+{len(folded)} {html.escape(word)}: '
            f"{more}</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def render_item_text(item: AlertItem, folded: list[AlertItem], rule: AlertRule, kibana_url: str) -> str:
    """One article or event of a mail as plain text."""
    d = item_direction(item)
    lab = LABELS[d]
    lines = [highlight_text(item.title, item.title_spans)]
    meta = []
    if item.type == SIGNAL and item.signal:
        sig = item.signal
        meta.append(SIGNAL_LABELS.get(sig.get("kind") or "", sig.get("kind") or ""))
        meta.append(counts(sig))
    else:
        meta.append(item.source)
    if item.published:
        meta.append(format_time(item.published, rule.timezone))
    if item.language:
        meta.append(LANGUAGE_LABELS[d].get(item.language, item.language))
    lines.append(" · ".join(m for m in meta if m))
    if safe_url(item.url):
        lines.append(item.url)
    if item.signal:
        for lang, title in sorted((item.signal.get("titles") or {}).items()):
            if title and title != item.title:
                lines.append(f"[{lang}] {title}")
        lines += [
            f"- {r.get('title')} ({r.get('source')}) {safe_url(r.get('url')) or ''}".rstrip()
            for r in item.related
        ]
    if item.snippet:
        lines.append(highlight_text(item.snippet, item.snippet_spans))
    for key, values in (
        ("topics", _labels(item, "topics")),
        ("entities", _labels(item, "entities")),
        ("matched", item.reasons),
    ):
        if values:
            lines.append(f"{lab[key]}: " + "; ".join(values))
    if item.event_id:
        lines.append(f"{lab['event']}: " + kibana_event_url(kibana_url, item.event_id))
    if folded:
        word = lab["mores"] if len(folded) > 1 else lab["more"]
        lines.append(f"+{len(folded)} {word}: " + ", ".join(f.source or f.feed_id for f in folded))
        lines += [f"  {f.source or f.feed_id}: {safe_url(f.url)}" for f in folded if safe_url(f.url)]
    # Text from a page must not end the mail body early for naive readers: no bare "-- " signature line.
    return "\n".join(line.replace("\r", " ") for line in lines)


def render_brief_html(item: AlertItem, rule: AlertRule) -> str:
    """One line for an item past the first DIGEST_FULL_ITEMS of a digest: linked title, source, time."""
    d = item_direction(item)
    when = format_time(item.published, rule.timezone)
    return (
        f'<li class="brief-item" dir="{d}" lang="{html.escape(item.language or "")}">'
        f"{_link(item.url, html.escape(item.title))} — <bdi>{html.escape(item.source)}</bdi>"
        f"{' · <bdi>' + html.escape(when) + '</bdi>' if when else ''}</li>"
    )


def render_brief_text(item: AlertItem, rule: AlertRule) -> str:
    """Plain-text form of :func:`render_brief_html`."""
    parts = [item.title, item.source, format_time(item.published, rule.timezone), safe_url(item.url) or ""]
    return "- " + " · ".join(p for p in parts if p)


def footer(rule: AlertRule | list[AlertRule], rules_file: str) -> str:
    """Footer naming the rules of the mail and how to change or stop them."""
    rules = rule if isinstance(rule, list) else [rule]
    names = ", ".join(f"'{r.name}' ({r.mode})" for r in rules)
    which = "rule" if len(rules) == 1 else "rules"
    return (
        f"Sent by Rasad {which} {names}. To change or stop it, edit the {which} in {rules_file} "
        f"(set enabled: false or snooze_until, or remove this address from recipients), then check "
        f"it with `rasad alerts check {rules_file}`."
    )


def _rule_names(plan: MailPlan) -> str:
    return ", ".join(r.name for r in plan.all_rules)


def mail_subject(plan: MailPlan) -> str:
    """Subject of a mail (made header-safe by :func:`build_mail`); an event thread keeps the event's title."""
    rule = plan.rule
    if plan.thread is not None:
        return plan.thread.subject
    if plan.mode == EVENTS:
        n_events = len({i.event_id for i in plan.items})
        n_articles = sum(1 for i in plan.items if i.type != SIGNAL)
        return f"[Rasad] {n_events} events, {n_articles} articles: {plan.items[0].title}"
    if plan.mode == "immediate":
        item = plan.items[0]
        if len(plan.items) > 1:
            return f"[Rasad] {_rule_names(plan)}: {len(plan.items)} new articles: {item.title}"
        if item.type == SIGNAL and item.signal:
            label = SIGNAL_LABELS.get(item.signal.get("kind") or "", "Event")
            return f"[Rasad] {_rule_names(plan)}: {label}: {item.title}"
        more = len(plan.folded.get(item.key, []))
        return f"[Rasad] {_rule_names(plan)}: {item.title}" + (f" (+{more} more sources)" if more else "")
    n = len(plan.items)
    what = "event" if plan.items[0].type == SIGNAL else "article"
    label = MODE_LABELS.get(plan.mode, plan.mode)
    when = ""
    if plan.window:
        tz = ZoneInfo(rule.timezone)
        start, end = (t.astimezone(tz) for t in plan.window)
        when = f" {start:%Y-%m-%d}" if plan.mode == "daily" else f" {start:%H:%M}–{end:%H:%M}"
        if start.date() != end.date() and plan.mode != "daily":
            when = f" {start:%m-%d %H:%M}–{end:%m-%d %H:%M}"
        when += f" {rule.timezone}"
    return f"[Rasad] {_rule_names(plan)}: {n} {what}{'s' if n != 1 else ''} ({label}{when})"


def thread_news(plan: MailPlan) -> str:
    """What a later mail of an event thread adds to the previous one ('' for the thread's first mail)."""
    th = plan.thread
    if th is None or th.is_root:
        return ""
    last = th.last
    sigs = [s for i in plan.items for s in signals_of(i)]
    parts = []
    for s in sigs:
        if s.get("kind") not in (last.get("kinds") or []):
            parts.append(SIGNAL_LABELS.get(s.get("kind") or "", s.get("kind") or "update"))
    if sigs:
        src = max(int(s.get("source_count") or 0) for s in sigs)
        if src > int(last.get("source_count") or 0):
            parts.append(f"now {counts({'source_count': src, 'article_count': max(int(s.get('article_count') or 0) for s in sigs)})}"
                         f" (was {counts(last)})")  # fmt: skip
    langs = {k for s in sigs for k in (s.get("titles") or {})} | {
        i.language for i in plan.items if i.language
    }
    joined = sorted(langs - set(last.get("languages") or []))
    if joined:
        parts.append("now also in " + ", ".join(LANGUAGE_NAMES.get(x, x) for x in joined))
    new_articles = [i for i in plan.items if i.type != SIGNAL and i.article_id not in th.shown]
    if new_articles:
        parts.append(f"{len(new_articles)} new article{'s' if len(new_articles) != 1 else ''}")
    return "New since the last mail: " + ("; ".join(parts) if parts else "an update") + "."


def message_id_for(key: str, mail_from: str) -> str:
    """Stable Message-ID for a mail, so a resend after a crash is recognisably the same mail."""
    return f"<{key}@{mail_domain(mail_from)}>"


def mail_domain(mail_from: str) -> str:
    """The domain of our From address (Message-IDs and List-Id use it)."""
    return safe_header(parseaddr(mail_from)[1].rpartition("@")[2] or "rasad.local", 200).replace(" ", "")


def list_id(mail_from: str) -> str:
    """RFC 2919 List-Id: every Rasad alert is one list, so filters and clients can sort it out."""
    return f"Rasad alerts <alerts.{mail_domain(mail_from)}>"


def list_unsubscribe(plan: MailPlan, mail_from: str, rules_file: str) -> str:
    """RFC 2369 List-Unsubscribe: a mailto: to the alerts' sender naming the recipient, rules and file."""
    addr = parseaddr(mail_from)[1] or f"rasad@{mail_domain(mail_from)}"
    names = _rule_names(plan)
    subject = quote(f"unsubscribe {plan.to} from {names}", safe="")
    body = quote(f"Remove {plan.to} from the recipients of {names} in {rules_file}.", safe="")
    return f"<mailto:{addr}?subject={subject}&body={body}>"


def _encodable(text: str) -> str:
    """The text with lone surrogates (from a JSON feed's escapes) replaced, so it can be encoded as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def wire_text(msg: EmailMessage) -> str:
    """The message as sent: CRLF line ends, 7-bit, headers unfolded (see WIRE_POLICY)."""
    return msg.as_string(policy=WIRE_POLICY)


def build_mail(
    plan: MailPlan, *, mail_from: str, rules_file: str, kibana_url: str, date: datetime | None = None
) -> EmailMessage:
    """The multipart/alternative mail of one plan (text and HTML)."""
    rule = plan.rule
    subject = safe_header(mail_subject(plan))
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = safe_header(mail_from, 300)
    msg["To"] = plan.to  # one recipient per message: nobody sees who else gets alerts
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id_for(plan.key, mail_from)
    if plan.thread is not None and not plan.thread.is_root:
        # Every later mail of an event refers to the thread's first one, so clients show one thread.
        root = message_id_for(plan.thread.root_key, mail_from)
        msg["In-Reply-To"] = root
        msg["References"] = root
    msg["List-Id"] = list_id(mail_from)
    msg["List-Unsubscribe"] = list_unsubscribe(plan, mail_from, rules_file)
    msg["Precedence"] = "bulk"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to alerts
    msg["X-Rasad-Rule"] = safe_header(_rule_names(plan), 300)
    msg["X-Rasad-Mode"] = plan.mode
    if plan.thread is not None:
        msg["X-Rasad-Event"] = safe_header(plan.thread.event_id, 200)
    ft = footer(plan.all_rules, rules_file)
    header = subject.removeprefix("[Rasad] ")
    news = thread_news(plan)
    if news:
        header += "\n" + news
    # A long digest shows its first items in full and lists the rest one line each: nothing is
    # hidden, and the mail stays under the size at which webmail clips it (~100 KB).
    full, brief = plan.items[:DIGEST_FULL_ITEMS], plan.items[DIGEST_FULL_ITEMS:]
    texts = [render_item_text(i, plan.folded.get(i.key, []), rule, kibana_url) for i in full]
    if brief:
        texts.append(f"{len(brief)} more:\n" + "\n".join(render_brief_text(i, rule) for i in brief))
    # base64: 7-bit and short lines whatever the articles contain, and for Arabic less than
    # half the size of quoted-printable (which spends 6 bytes on each Arabic letter).
    msg.set_content(_encodable(header + "\n\n" + "\n\n---\n\n".join(texts) + "\n\n--\n" + ft + "\n"), cte="base64")
    body = "".join(render_item_html(i, plan.folded.get(i.key, []), rule, kibana_url) for i in full)
    if brief:
        rows = "".join(render_brief_html(i, rule) for i in brief)
        body += f'<p class="more-items" dir="ltr">{len(brief)} more:</p><ul class="brief">{rows}</ul>'
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title>"
        "<style>mark{background:#ffe066;padding:0 2px}</style></head>"
        "<body style=\"font-family:Arial,Tahoma,'DejaVu Sans',sans-serif\">"
        f'<p class="header" dir="ltr" style="color:#333">{html.escape(header).replace(chr(10), "<br>")}</p>{body}'
        f'<p class="footer" dir="ltr" style="color:#777;font-size:80%">{html.escape(ft)}</p></body></html>'
    )
    msg.add_alternative(_encodable(page), subtype="html", cte="base64")
    return msg
