"""Test DAG for tests/rasad/test_airflow_service.py: one task that sleeps ``params.sleep`` seconds."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="svc_sleep", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False,
     params={"sleep": 0}, tags=["test"])  # fmt: skip
def svc_sleep():
    @task
    def nap(params=None) -> int:  # noqa: ANN001 - Airflow injects the run's params
        import time

        seconds = int(params["sleep"])
        time.sleep(seconds)
        return seconds

    nap()


svc_sleep()
