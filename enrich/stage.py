"""The enrich stage: clean Articles -> tagged Articles grouped into events.

Called by the DAG and ``rasad run`` through ``rasad.pipeline.step_enrich``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rasad.records import Article
from rasad.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class EnrichResult:
    articles: list[Article]
    events_new: int = 0
    signals: list[dict] = field(default_factory=list)


def enrich_articles(articles: list[Article], settings: Settings) -> EnrichResult:
    """Tag every article against the seeds' entities and taxonomy (one bad article never stops the rest)."""
    from enrich.tagging import get_tagger, tag_article  # noqa: PLC0415 - spaCy is heavy

    tagger = get_tagger(settings.path(settings.seeds_dir))
    out: list[Article] = []
    for a in articles:
        try:
            out.append(tag_article(a, tagger))
        except Exception:  # keep the article untagged rather than lose it
            log.exception("tagging failed for %s", a.url)
            out.append(a)
    return EnrichResult(out)
