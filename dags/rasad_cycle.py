"""Rasad's monitoring cycle: poll -> fetch -> enrich -> index -> alert, every 5 minutes.

Thin on purpose: each task calls one step of ``rasad.pipeline`` (imported inside the
task, so parsing this file does no work). Steps exchange plain JSON through XCom.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="rasad_cycle",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["rasad", "news"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True},
    doc_md=__doc__,
)
def rasad_cycle():
    @task
    def setup() -> dict:
        from rasad.pipeline import step_setup

        return step_setup()

    @task
    def poll(_setup: dict) -> dict:
        from rasad.pipeline import step_poll

        return step_poll()

    @task
    def fetch(polled: dict) -> dict:
        from rasad.pipeline import step_fetch

        return step_fetch(polled)

    @task
    def enrich(fetched: dict) -> dict:
        from rasad.pipeline import step_enrich

        return step_enrich(fetched)

    @task
    def index(enriched: dict) -> dict:
        from rasad.pipeline import step_index

        return step_index(enriched)

    @task
    def alert(enriched: dict, indexed: dict) -> dict:
        from rasad.pipeline import step_alert

        return step_alert(enriched, indexed=indexed)

    @task
    def summary(polled: dict, fetched: dict, enriched: dict, indexed: dict, alerted: dict) -> dict:
        from rasad.pipeline import summarize

        return summarize(polled, fetched, enriched, indexed, alerted).to_dict()

    polled = poll(setup())
    fetched = fetch(polled)
    enriched = enrich(fetched)
    indexed = index(enriched)
    alerted = alert(enriched, indexed)
    summary(polled, fetched, enriched, indexed, alerted)


rasad_cycle()
