"""An article parked in the outbox during an outage is indexed by a later run *and* alerted on."""

from __future__ import annotations

import time

import yaml

from indexing.bulk import article_action, outbox_for
from rasad.pipeline import step_alert, step_index, step_setup
from rasad.records import Article, utc_iso
from rasad.settings import load_settings


def test_replayed_articles_reach_the_alert_step(settings, es, mail_sink, tmp_path):
    s = load_settings()
    step_setup(s)
    art = Article(url="https://news.example/kabulov", canonical_url="https://news.example/kabulov", feed_id="f",
                  source="Example", title="Kabulov meets Taliban envoys in Moscow",
                  text="Zamir Kabulov met Taliban envoys in Moscow on Tuesday. " * 20, language="en",
                  published="2025-11-21T09:00:00Z", fetched_at=utc_iso(None) or "2025-11-21T09:05:00Z")  # fmt: skip
    # An earlier run's index step met an outage and parked the article in the outbox.
    outbox_for(s).put([article_action(s, art)])
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "kabulov", "keywords": {"any": ["Kabulov"]},
                                                "recipients": ["a@example.org"]}]}))  # fmt: skip

    indexed = step_index({"articles": []}, s)
    assert indexed["replayed_from_outbox"] == 1 and len(outbox_for(s)) == 0
    assert [d["id"] for d in indexed["replayed_articles"]] == [art.id]
    alerted = step_alert({"articles": []}, s, str(rules), indexed=indexed)
    assert alerted["sent"] == 1
    time.sleep(0.3)
    assert [m["Subject"] for m in mail_sink.messages()] == ["[Rasad] kabulov: " + art.title]
