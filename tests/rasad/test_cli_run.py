"""`rasad run`: one full cycle without Airflow, through the same steps the DAG runs."""

from __future__ import annotations

import json

import yaml

from rasad.cli import main
from tests.conftest import free_port


def test_run_prints_a_true_summary_and_survives_bad_feeds(settings, es, demo_site, demo_feeds, mail_sink,
                                                         monkeypatch, tmp_path, capsys):  # fmt: skip
    monkeypatch.setenv("RASAD_ALLOW_PRIVATE_NETWORKS", "1")
    reg = yaml.safe_load(demo_feeds.read_text(encoding="utf-8"))
    dead = free_port()  # nothing listens there: connection refused
    reg["feeds"] += [
        {"id": "dead", "url": f"http://127.0.0.1:{dead}/rss.xml", "name": "Dead", "poll_interval": "5m"},
        {"id": "not-a-feed", "url": f"{demo_site.base_url}/index.html", "name": "Home page", "poll_interval": "5m"},
        {"id": "missing", "url": f"{demo_site.base_url}/nope.xml", "name": "404", "poll_interval": "5m"},
    ]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump(reg, allow_unicode=True), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [
        {"name": "iskp", "keywords": {"any": ["داعش خراسان", "ISIS-K", "ISKP"]}, "recipients": ["a@example.org"]},
    ]}, allow_unicode=True), encoding="utf-8")  # fmt: skip

    assert main(["run", "--feeds", str(feeds), "--rules", str(rules), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["feeds_polled"] == 5
    assert summary["feeds_failed"] == 3
    assert summary["failures"] == {"feed:connection": 1, "feed:bad_feed": 1, "feed:http_4xx": 1}
    assert summary["items_seen"] == 15 and summary["new_articles"] == 15
    assert summary["indexed"] == 15 and summary["tagged"] == 15
    # One recipient, one rule: every match goes out in one mail.
    assert summary["alerts_matched"] > 1 and summary["alerts_sent"] == 1
    assert len(mail_sink.messages()) == summary["alerts_sent"]
    assert summary["alerts_mails_by_recipient"] == {"a@example.org": 1}

    # Feed health is stored: the failing feeds are recorded with their reason and backed off.
    assert main(["feeds", "status", "--json"]) == 0
    states = {s["feed_id"]: s for s in json.loads(capsys.readouterr().out)}
    assert states["dead"]["health"] == "failing" and states["dead"]["last_error_kind"] == "connection"
    assert states["missing"]["last_error_kind"] == "http_4xx"
    assert states["demo-ar"]["health"] == "ok" and states["demo-ar"]["items_seen"] == 9

    # The human-readable form names every count. The feeds answer the conditional request
    # with 304, so nothing is fetched again.
    assert main(["run", "--feeds", str(feeds), "--rules", str(rules), "--force"]) == 0
    out = capsys.readouterr().out
    for label in ("feeds polled", "items seen", "new articles", "duplicates skipped", "articles tagged",
                  "articles indexed", "alert mails sent", "failures by reason"):  # fmt: skip
        assert label in out
    lines = dict(line.rsplit(None, 1) for line in out.splitlines() if line[:1] == " " or line[:1].isalpha()
                 if len(line.split()) > 1 and line.split()[-1].isdigit())  # fmt: skip
    assert lines["  not modified"] == "2" and lines["new articles"] == "0" and lines["articles indexed"] == "0"
