"""Daily upkeep: feed-health report to the operator, queue and dead-letter summary,
retention of old monthly indices and queue items, and `airflow db clean` of old runs."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from rasad.dagkit import default_args


@dag(
    dag_id="rasad_maintenance",
    schedule="30 3 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["rasad", "maintenance"],
    default_args=default_args(timeout_minutes=60),
    doc_md=__doc__,
)
def rasad_maintenance():
    @task
    def report() -> dict:
        from rasad.service_tasks import maintenance

        return maintenance()

    @task
    def clean_airflow_db() -> dict:
        from rasad.service_tasks import clean_airflow_db

        return clean_airflow_db()

    report() >> clean_airflow_db()


rasad_maintenance()
