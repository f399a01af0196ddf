"""Fixtures for the alert tests: the ledger template installed, a scripted SMTP server, article makers."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rasad.core.records import Article, EntityTag, Mention, TopicTag, article_id
from tests.alerts.smtp_servers import ScriptedSmtp
from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_settings(settings, es, tmp_path):
    """Settings with the alert ledger template installed on the test node (fresh prefix per test)."""
    from rasad.indexing.setup import load_template

    es.indices.put_index_template(
        name=settings.index("alerts"), **load_template("alerts", settings.index_prefix)
    )
    rules_file = tmp_path / "rules.yaml"
    return settings.replace(rules_file=str(rules_file), kibana_url="http://kibana.test:5601")


@pytest.fixture
def smtp(ledger_settings):
    """A scripted SMTP server on a free port; use ``smtp.settings`` to send through it."""
    port = free_port()
    with ScriptedSmtp(port) as server:
        server.settings = ledger_settings.replace(smtp_host="127.0.0.1", smtp_port=port)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def demo_env(settings, es, demo_feeds, mail_sink, monkeypatch, tmp_path):
    """Settings (from the environment, as the CLI reads them) for a demo cycle with the demo rules."""
    from rasad.core.settings import load_settings

    rules = tmp_path / "rules.yaml"
    shutil.copy(PROJECT / "examples" / "demo" / "rules.yaml", rules)
    monkeypatch.setenv("RASAD_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("RASAD_RULES_FILE", str(rules))
    monkeypatch.setenv("RASAD_FEEDS_FILE", str(demo_feeds))
    return load_settings(), rules


def make_article(
    title: str,
    text: str = "",
    *,
    lang: str = "ar",
    source: str = "Source A",
    feed: str = "feed-a",
    url: str | None = None,
    published: str = "2025-11-22T08:15:00Z",
    duplicate_of: str | None = None,
    topics: list[TopicTag] | None = None,
    entities: list[EntityTag] | None = None,
    event_id: str | None = None,
) -> Article:
    """An article as the enrich stage hands it on (tags given explicitly, not guessed)."""
    url = url or f"https://{feed}.example/{abs(hash(title)) % 10**8}"
    return Article(
        url=url,
        canonical_url=url,
        feed_id=feed,
        source=source,
        title=title,
        text=text,
        language=lang,
        published=published,
        fetched_at="2025-11-22T09:00:00Z",
        duplicate_of=duplicate_of,
        topics=topics or [],
        entities=entities or [],
        event_id=event_id,
    )


def at(text: str) -> datetime:
    """A UTC time from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)


__all__ = ["EntityTag", "Mention", "TopicTag", "article_id", "at", "make_article"]
