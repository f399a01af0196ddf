"""Test DAG for tests/rasad/test_airflow_service.py: eight mapped tasks that each take a few seconds."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="svc_mapped", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False,
     tags=["test"])  # fmt: skip
def svc_mapped():
    @task
    def work(i: int) -> int:
        import time

        time.sleep(3)  # long enough that one worker's slots fill and the other takes the rest
        return i

    work.expand(i=list(range(8)))


svc_mapped()
