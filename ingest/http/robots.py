"""robots.txt (RFC 9309): the rules for our product token, parsed by protego, and how long they are cached."""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

MAX_CRAWL_DELAY = 10.0
ROBOTS_TTL = 3600.0
ROBOTS_FAILURE_TTL = 300.0
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least the first 500 KiB


@dataclass(frozen=True)
class RobotsRules:
    """The rules of one robots.txt, as they apply to our product token."""

    parser: Protego
    agent: str

    @property
    def crawl_delay(self) -> float | None:
        """Seconds to wait between requests, if the group for our token asks for it."""
        return self.parser.crawl_delay(self.agent)

    def allowed(self, url: str) -> bool:
        """Whether our token may fetch ``url`` (longest match wins, allow on a tie: RFC 9309 2.2.2)."""
        return self.parser.can_fetch(url, self.agent)


def parse_robots(text: str, agent: str) -> RobotsRules:
    """Rules of a robots.txt for the product token ``agent`` (its own groups, else the ``*`` groups)."""
    return RobotsRules(Protego.parse(text), agent)
