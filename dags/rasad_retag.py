"""Re-tag stored articles after the seeds changed (manual; the same code as `rasad retag`)."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from rasad.dagkit import default_args


@dag(
    dag_id="rasad_retag",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["rasad", "enrich", "manual"],
    default_args=default_args(timeout_minutes=240),
    params={
        "since": Param(None, type=["null", "string"], description="only articles first seen since (ISO date or 30d)"),
        "topics": Param([], type="array", description="only articles tagged with any of these topic ids"),
        "force": Param(False, type="boolean", description="re-tag even articles of the current tagger version"),
    },
    doc_md=__doc__,
)
def rasad_retag():
    @task
    def retag(params: dict | None = None) -> dict:
        from rasad.service_tasks import retag

        p = params or {}
        return retag(since=p.get("since"), topics=p.get("topics") or [], force=bool(p.get("force")))

    retag()


rasad_retag()
