"""robots.txt (RFC 9309): the rules for our product token, their matching, and how long they are cached."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

MAX_CRAWL_DELAY = 10.0
ROBOTS_TTL = 3600.0
ROBOTS_FAILURE_TTL = 300.0
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least the first 500 KiB


@dataclass
class RobotsRules:
    """The rules of one robots.txt that apply to our product token."""

    rules: list[tuple[int, bool, re.Pattern[str]]] = field(default_factory=list)  # (length, allow, pattern)
    crawl_delay: float | None = None

    def allowed(self, url: str) -> bool:
        """Longest matching rule wins; on a tie, allow wins (RFC 9309 2.2.2)."""
        parts = urlsplit(url)
        path = _robots_normal(parts.path or "/") + (("?" + _robots_normal(parts.query)) if parts.query else "")
        if path == "/robots.txt":
            return True
        best: tuple[int, bool] | None = None
        for length, allow, pattern in self.rules:
            if pattern.match(path) and (best is None or (length, allow) > best):
                best = (length, allow)
        return True if best is None else best[1]


def _robots_normal(s: str) -> str:
    # Compare decoded octets, so /%D8%A7 and the raw Arabic letter match the same rule.
    return unquote(s)


def _robots_pattern(value: str) -> re.Pattern[str]:
    value = _robots_normal(value)
    anchored = value.endswith("$")
    body = value[:-1] if anchored else value
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(regex + ("$" if anchored else ""), re.DOTALL)


def parse_robots(text: str, agent: str) -> RobotsRules:
    """Rules of a robots.txt for the product token ``agent`` (its own groups, else the ``*`` groups)."""
    token = agent.lower()
    groups: list[tuple[list[str], list[tuple[str, str]]]] = []
    agents: list[str] = []
    lines: list[tuple[str, str]] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (x.strip() for x in line.split(":", 1))
        key = key.lower()
        if key in ("user-agent", "useragent"):
            if in_rules:
                groups.append((agents, lines))
                agents, lines, in_rules = [], [], False
            agents.append(value.lower())
        elif key in ("allow", "disallow", "crawl-delay") and agents:
            in_rules = True
            lines.append((key, value))
    if agents:
        groups.append((agents, lines))
    mine = [ls for ags, ls in groups if any(a != "*" and a == token for a in ags)]
    if not mine:
        mine = [ls for ags, ls in groups if "*" in ags]
    out = RobotsRules()
    for ls in mine:
        for key, value in ls:
            if key == "crawl-delay":
                try:
                    out.crawl_delay = max(out.crawl_delay or 0.0, float(value))
                except ValueError:
                    pass
            elif value:  # an empty Disallow means "nothing disallowed"
                out.rules.append((len(value), key == "allow", _robots_pattern(value)))
    return out
