"""Send the digests that are due (hourly and daily rules, per recipient and time zone)."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from rasad.dagkit import default_args


@dag(
    dag_id="rasad_digest",
    schedule="5 * * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["rasad", "alerts"],
    default_args=default_args(timeout_minutes=20),
    doc_md=__doc__,
)
def rasad_digest():
    @task
    def digest() -> dict:
        from rasad.pipeline import step_digest

        return step_digest()

    digest()


rasad_digest()
