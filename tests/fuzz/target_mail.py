"""Hostile titles, summaries, URLs and labels -> alert mail rendering: no executable markup, every link http(s)."""

from __future__ import annotations

import email
import email.policy
import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from tests.fuzz.engine import PropertyFailure, Target
from tests.fuzz.mutate import mutate_text, random_unicode

HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>", "'><a href=javascript:x>",
    "</title><script>x</script>", "<style>*{}</style>", "<iframe src=//evil>", "javascript:alert(1)", "&lt;script&gt;",
    "Subject: injected\r\nBcc: evil@example.org", "line\nX-Evil: 1", "\u202eevil\u202c", "<!--", "]]>", "{{7*7}}",
    "<meta http-equiv=refresh content=0;url=//evil>", "<base href=//evil/>", "<form action=//evil><input>",
    "طالبان <b>موسكو</b>", "vbscript:msgbox", "data:text/html;base64,PHNjcmlwdD4=", "\x00\x01\x1b[2J", "a" * 3000,
]  # fmt: skip
URLS = [
    "https://example.org/a?b=1&c=<2>", "http://example.org/\"onmouseover=alert(1)", "javascript:alert(1)",
    "JAVASCRIPT:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "vbscript:x", "//evil.example/x", "/relative", "http://[::1", "http://[v1.x]/", "https://a.b/\u202e", "ftp://x/y",
    "https://exa mple.org/", "http://example.org/\r\nX: y", "https:evil", "http:///x", "", "mailto:x@y", "file:///etc/passwd",
    "https://xn--mgbh0fb.xn--kgbechtv/خبر", "http://127.0.0.1:99999/", "https://example.org/" + "a" * 3000,
]  # fmt: skip
LANGS = [None, "ar", "en", "fa", "ar-SA", "<script>", "", "ur", "x" * 50]
TIMES = [None, "2025-05-09T10:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-05-09T10:00:00+14:00",
         "1970-01-01T00:00:00Z"]  # fmt: skip
ZONES = ["UTC", "Asia/Riyadh", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kabul"]
BAD_TAGS = {"script", "iframe", "object", "embed", "frame", "frameset", "applet", "form", "input", "button", "base",
            "link", "svg", "math", "img", "video", "audio", "textarea", "select", "meta"}  # fmt: skip
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "data", "srcset"}
KIBANA = "http://127.0.0.1:5601"


MAX_FIELD = 4000  # feed titles and names are short; one long field per mail is enough to test length


def _s(rng: random.Random, pool: list[str]) -> str:
    r = rng.random()
    if r < 0.4:
        return rng.choice(pool)
    if r < 0.7:
        return mutate_text(rng, rng.choice(pool))[:MAX_FIELD]
    return random_unicode(rng, rng.randrange(0, 80)) + rng.choice(pool)


class MailTarget(Target):
    name = "mail"
    extension = "json"

    def _item(self, rng: random.Random, n: int) -> dict[str, Any]:
        title = _s(rng, HOSTILE)
        snippet = _s(rng, HOSTILE)
        spans = lambda t: [[rng.randrange(-5, len(t) + 5), rng.randrange(-5, len(t) + 5)] for _ in range(rng.randrange(4))]  # noqa: E731
        item = {
            "key": f"k{n}-" + rng.choice(["", "\"'<>", "\r\n"]), "rule": "r", "type": rng.choice(["article", "signal"]),
            "created_at": "2025-05-09T10:00:00Z", "title": title, "url": _s(rng, URLS), "source": _s(rng, HOSTILE),
            "feed_id": rng.choice(["f", "<b>", ""]), "published": rng.choice(TIMES), "language": rng.choice(LANGS),
            "article_id": f"a{n}", "event_id": rng.choice([None, "e1", "\"'><script>", "x') or ('1"]),
            "title_spans": spans(title), "snippet": snippet, "snippet_spans": spans(snippet),
            "topics": [{"id": _s(rng, HOSTILE), "label": _s(rng, HOSTILE), "label_ar": rng.choice(["", _s(rng, HOSTILE)])}
                       for _ in range(rng.randrange(3))],
            "entities": [{"id": "x", "name": _s(rng, HOSTILE), "name_ar": _s(rng, HOSTILE), "type": "person"}
                         for _ in range(rng.randrange(3))],
            "reasons": [_s(rng, HOSTILE) for _ in range(rng.randrange(3))],
        }  # fmt: skip
        if item["type"] == "signal":
            item["signal"] = {"id": f"s{n}", "kind": rng.choice(["new", "confirmed", "breaking", "<x>", None]),
                              "source_count": rng.randrange(5), "article_count": rng.randrange(9),
                              "titles": {rng.choice(["ar", "en", "<x>", "\"q"]): _s(rng, HOSTILE) for _ in range(2)}}  # fmt: skip
            item["related"] = [{"title": _s(rng, HOSTILE), "url": _s(rng, URLS), "source": _s(rng, HOSTILE),
                                "language": rng.choice(LANGS)} for _ in range(rng.randrange(4))]  # fmt: skip
        return item

    def generate(self, rng: random.Random) -> dict[str, Any]:
        mode = rng.choice(["immediate", "hourly", "daily", "throttled"])
        n = 1 if mode == "immediate" else rng.choice([1, 2, 3, 5, 5, 45])
        items = [self._item(rng, i) for i in range(n)]
        folded = {items[0]["key"]: [self._item(rng, 100 + i) for i in range(rng.randrange(3))]}
        return {"mode": mode, "items": items, "folded": folded, "timezone": rng.choice(ZONES),
                "rule": rng.choice(["iskp", "a.b-c_1"]), "mail_from": rng.choice(["rasad@example.org",
                "Rasad <rasad@example.org>", "x@[1.2.3.4]", "<script>@x"])}  # fmt: skip

    def encode(self, value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=True, indent=1).encode()

    def decode(self, data: bytes) -> dict[str, Any]:
        return json.loads(data)

    def shrink(self, value: dict[str, Any]) -> list[Any]:
        out = []
        if len(value["items"]) > 1:
            out.append({**value, "items": value["items"][:1], "folded": {}})
        if value["folded"]:
            out.append({**value, "folded": {}})
        for i, it in enumerate(value["items"]):
            for k in ("title", "snippet", "source", "url"):
                for smaller in super().shrink(it[k])[:8]:
                    items = list(value["items"])
                    items[i] = {**it, k: smaller, f"{k}_spans": []} if k in ("title", "snippet") else {**it, k: smaller}
                    out.append({**value, "items": items})
        return out

    def check(self, value: dict[str, Any]) -> None:
        from lxml import html as lhtml

        from rasad.alerts.items import AlertItem
        from rasad.alerts.plan import MailPlan
        from rasad.alerts.render import build_mail, wire_text
        from rasad.alerts.rules import AlertRule

        rule = AlertRule(name=value["rule"], recipients=("analyst@example.org",), timezone=value["timezone"],
                         mode=value["mode"] if value["mode"] != "throttled" else "immediate")  # fmt: skip
        items = [AlertItem.from_dict(d) for d in value["items"]]
        folded = {k: [AlertItem.from_dict(d) for d in v] for k, v in value["folded"].items()}
        now = datetime(2025, 5, 9, 12, tzinfo=timezone.utc)
        plan = MailPlan(key="plan-key", rule=rule, mode=value["mode"], items=items, folded=folded,
                        window=(now - timedelta(hours=1), now) if value["mode"] != "immediate" else None)  # fmt: skip
        msg = build_mail(plan, mail_from=value["mail_from"], rules_file="rules.yaml", kibana_url=KIBANA, date=now)
        wire = wire_text(msg)
        parsed = email.message_from_string(wire, policy=email.policy.default)
        names = {k.lower() for k in parsed}
        expected = {"subject", "from", "to", "date", "message-id", "x-rasad-rule", "x-rasad-mode", "auto-submitted",
                    "mime-version", "content-type", "list-id", "list-unsubscribe", "precedence",
                    "in-reply-to", "references"}  # fmt: skip
        if names - expected:
            raise PropertyFailure(f"unexpected headers (header injection?): {sorted(names - expected)}")
        for k in ("subject", "from", "message-id"):
            if any(c in str(parsed[k]) for c in "\r\n"):
                raise PropertyFailure(f"{k} header spans lines: {str(parsed[k])[:200]!r}")
        page = msg.get_body(("html",)).get_content()
        tree = lhtml.document_fromstring(page)
        styles = 0
        for el in tree.iter():
            if not isinstance(el.tag, str):
                continue  # comments, processing instructions
            tag = el.tag.lower()
            if tag in BAD_TAGS and not (tag == "meta" and set(el.attrib) == {"charset"}):
                raise PropertyFailure(f"executable or active element <{tag}> in the mail HTML")
            if tag == "style":
                styles += 1
            for attr, val in el.attrib.items():
                a = attr.lower()
                if a.startswith("on"):
                    raise PropertyFailure(f"event handler attribute {attr}={val[:80]!r} on <{tag}>")
                if a in URL_ATTRS:
                    parts = urlsplit(val.strip())
                    if parts.scheme not in ("http", "https") or not parts.netloc:
                        raise PropertyFailure(f"<{tag} {attr}={val[:120]!r}>: not an absolute http(s) link")
                if a == "style" and any(x in val.lower() for x in ("url(", "expression(", "javascript:", "@import")):
                    raise PropertyFailure(f"active CSS in style attribute: {val[:120]!r}")
        if styles != 1:
            raise PropertyFailure(f"{styles} <style> elements (only the mail's own one is expected)")
        msg.get_body(("plain",)).get_content()
