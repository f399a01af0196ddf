"""The work on an article that needs nothing but its own title, text and language, done early.

In ``rasad run`` every page is extracted in a pool of worker processes (one per core) while the
main process waits; after a batch is extracted the main process dedups, tags, clusters and
indexes it alone, and the pool sits idle (docs/scaling.md: that serial part was ~35 % of a batch).
Part of that serial work depends on nothing but the article itself: its content fingerprints
(exact hash and MinHash), its entities and topics, its search forms and its event tokens. The
extraction worker computes them right after the page's text is known (:func:`extract_and_prepare`,
the pool's job in ``rasad run``), on every core, and the main process takes them over
(``Prepared.apply_to``, called where the download thread builds the article) instead of
computing them again. Inside an Airflow batch task there is no pool by default, and the stages
compute them as before.

The results are the same values the later stages compute (the same functions, the same seeds
and tagger version), so a batch comes out identical either way; a test checks it. Whatever the
worker could not compute (a tagging error, a text too short for a MinHash) is left for the stage
that always did it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rasad.core.records import Article, EntityTag, TopicTag
    from rasad.ingest.extract.model import Extracted, FeedHints

log = logging.getLogger(__name__)
# Event tokens of a text's lead kept for the clusterer, which reads the first
# ClusterConfig.max_body_tokens (200 by default); a larger setting tokenises there again.
TOKEN_HEAD = 256


@dataclass
class Prepared:
    """What :func:`prepare_article` computed, and the title, text and language it was computed for."""

    title: str
    text_length: int
    language: str | None
    content_hash: str | None = None
    minhash: list[int] = field(default_factory=list)
    minhash_bands: list[str] = field(default_factory=list)
    title_search: str = ""
    text_search: str = ""
    title_tokens: list[str] = field(default_factory=list)  # the event tokens of the title (enrich.events.tokens)
    text_tokens: list[str] = field(default_factory=list)  # ... and of the text: its first TOKEN_HEAD
    text_tokens_complete: bool = False  # True: the text has no more than those
    entities: list[EntityTag] = field(default_factory=list)
    topics: list[TopicTag] = field(default_factory=list)
    tagger_version: str | None = None  # None: not tagged here (the tag stage will)

    def fits(self, title: str, text: str, language: str | None) -> bool:
        # The text travels only once (in the Extracted it rode with); its length and the title
        # are enough to catch a caller that changed the article in between.
        return self.title == title and self.text_length == len(text) and self.language == language

    def apply_to(self, article: Article) -> bool:
        """Give ``article`` what was computed for it; False (nothing given) if it is not the article it was computed for."""
        from rasad.enrich.events.tokens import remember_tokens  # noqa: PLC0415
        from rasad.enrich.normalize import remember_search_form  # noqa: PLC0415

        if not self.fits(article.title, article.text, article.language):
            return False
        if self.content_hash:
            article.content_hash = self.content_hash
            article.minhash, article.minhash_bands = self.minhash, self.minhash_bands
        if self.tagger_version is not None:
            article.entities, article.topics = self.entities, self.topics
            article.tagger_version = self.tagger_version
        remember_search_form(article.title, self.title_search)
        remember_search_form(article.text, self.text_search)
        remember_tokens(article.title, self.title_tokens, True)
        remember_tokens(article.text, self.text_tokens, self.text_tokens_complete)
        return True


def prepare_article(title: str, text: str, language: str | None, seeds_dir: str | None) -> Prepared:
    """Fingerprints, search forms, tags and event tokens of one article (``seeds_dir``: the tagger's seeds)."""
    from rasad.enrich.events.tokens import tokenize_text  # noqa: PLC0415
    from rasad.enrich.normalize import search_form  # noqa: PLC0415
    from rasad.ingest.dedup import content_hash, minhash_text  # noqa: PLC0415

    out = Prepared(title=title, text_length=len(text), language=language)
    if text:
        out.content_hash = content_hash(text)
        mh = minhash_text(text)
        if mh:
            out.minhash, out.minhash_bands = list(mh.signature), mh.bands
    out.title_search, out.text_search = search_form(title), search_form(text)
    out.title_tokens = tokenize_text(title)
    body = tokenize_text(text)
    out.text_tokens, out.text_tokens_complete = body[:TOKEN_HEAD], len(body) <= TOKEN_HEAD
    try:
        from rasad.enrich.tagging import get_tagger  # noqa: PLC0415 - spaCy: only where tagging runs

        tagger = get_tagger(seeds_dir)
        out.entities, out.topics = tagger.tag(title, text, language)
        out.tagger_version = tagger.version
    except Exception:  # the tag stage tags it again, and logs its own failure there
        log.exception("tagging in the extraction worker failed (the tag stage will try again)")
    return out


def extract_and_prepare(body: bytes, url: str, content_type: str | None = None, feed_entry: FeedHints | None = None,
                        seeds_dir: str | None = None) -> Extracted:  # fmt: skip
    """``extract_article``, plus ``Extracted.prepared`` when ``seeds_dir`` names the tagger's seeds."""
    from rasad.ingest.extract.article import extract_article  # noqa: PLC0415
    from rasad.ingest.extract.model import STATUS_OK  # noqa: PLC0415

    ex = extract_article(body, url, content_type, feed_entry)
    if seeds_dir is not None and ex.status == STATUS_OK and ex.text:
        # The title the article will carry: the page's, else the feed item's (ingest.stage).
        title = ex.title or (feed_entry.title if feed_entry else None) or ""
        try:
            ex.prepared = prepare_article(title, ex.text, ex.language, seeds_dir)
        except Exception:  # the extraction stands; the stages compute what this did not
            log.exception("preparing the article of %s failed (the stages will compute it)", url)
    return ex
