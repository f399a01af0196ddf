"""The maintenance, retag and digest DAGs run for real (dag.test(), real node, real SMTP)."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.indexing.conftest import make_article


def test_maintenance_reports_feed_health_retention_and_mails_the_operator(settings, es, mail_sink, airflow_db,
                                                                         monkeypatch):  # fmt: skip
    from rasad.airflow_local import run_dag_test
    from rasad.indexing.bulk import index_articles
    from rasad.ingest.queue import WorkQueue
    from rasad.ingest.store import FeedState, IngestStore
    from rasad.pipeline import step_setup

    monkeypatch.setenv("RASAD_OPERATOR_EMAIL", "ops@example.org")
    monkeypatch.setenv("RASAD_ARTICLE_RETENTION_MONTHS", "12")
    step_setup(settings)
    old = make_article("old/1", "خبر قديم عن طالبان", "نص " * 50, fetched_at="2020-01-05T10:00:00Z")
    new = make_article("new/1", "خبر جديد عن طالبان", "نص " * 50, fetched_at=datetime.now(timezone.utc).isoformat())
    index_articles(es, settings, [old, new])
    store = IngestStore(es, settings)
    store.save_states([FeedState("good", url="https://a.example/rss", health="ok"),
                       FeedState("broken", url="https://b.example/rss", health="flagged", consecutive_failures=7,
                                 last_error_kind="http_5xx", last_error="503 Service Unavailable")])  # fmt: skip
    q = WorkQueue(es, settings)
    q.enqueue([("x1", {"feed_id": "good", "link": "https://a.example/1"})], datetime.now(timezone.utc))

    dr, values = run_dag_test("rasad_maintenance")
    assert "success" in str(dr.state), dr.state
    rep = values["report"]
    assert rep["feeds"] == 2 and rep["feed_problems"] == 1 and rep["deleted_indices"] == 1 and rep["mailed"]
    assert rep["queue"] == {"new": 1}
    names = es.indices.get(index=settings.index("articles") + "-*")
    assert not any(n.endswith("2020.01") for n in names) and names  # the old month is gone, this one stays
    (mail,) = [m for m in mail_sink.messages() if "ops@example.org" in str(m["To"])]
    body = mail.get_content()
    assert "broken" in body and "http_5xx" in body and "feed health" in str(mail["Subject"])
    assert values["clean_airflow_db"]["cleaned_before"]


def test_retag_dag_takes_since_and_topics(settings, es, airflow_db):
    from rasad.airflow_local import run_dag_test
    from rasad.indexing.bulk import index_articles
    from rasad.pipeline import step_setup

    step_setup(settings)
    arts = [make_article(f"r/{i}", "روسيا وطالبان", "وزير الخارجية الروسي لافروف التقى وفد طالبان في موسكو. " * 5)
            for i in range(3)]  # fmt: skip
    index_articles(es, settings, arts)
    dr, values = run_dag_test("rasad_retag", run_conf={"since": None, "topics": [], "force": True})
    assert "success" in str(dr.state), dr.state
    assert values["retag"]["retagged"] == 3 and values["retag"]["failed"] == 0
    # Only articles with a topic nobody has: nothing to do.
    dr, values = run_dag_test("rasad_retag", run_conf={"topics": ["no-such-topic"], "force": True})
    assert values["retag"]["seen"] == 0


def test_digest_dag_delivers_nothing_when_nothing_is_due(settings, es, mail_sink, airflow_db):
    from rasad.airflow_local import run_dag_test

    dr, values = run_dag_test("rasad_digest")
    assert "success" in str(dr.state), dr.state
    assert values["digest"]["alerts_sent"] == 0 and mail_sink.messages() == []
