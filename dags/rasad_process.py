"""Process what the feed watchers queued: claim batches, work each batch, then alert.

Runs when a watcher reports new items (asset events from the triggerer) and every five
minutes as a safety net. Tasks read the work queue, never the events, and pass only batch
ids and counts, so coalesced or dropped events and cleared tasks lose nothing.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from rasad.dagkit import default_args, feed_assets, safety_net_cron


@dag(
    dag_id="rasad_process",
    # CronTriggerTimetable is a core timetable; the SDK annotates its own protocol (Airflow 3.3 runs it).
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(safety_net_cron(), timezone="UTC"),  # type: ignore[arg-type]
                                 assets=feed_assets()),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,  # a burst while one run works starts the next; claims keep them apart
    tags=["rasad", "news", "ingest"],
    default_args=default_args(timeout_minutes=30),
    doc_md=__doc__,
)
def rasad_process():
    @task
    def claim(run_id: str | None = None, ti=None) -> list[dict]:  # Airflow's context
        from rasad.pipeline import step_claim

        # Batch ids from the run id and try number: a retried claim never reuses a batch
        # id that a half-finished earlier try may still hold.
        return step_claim(f"{run_id or 'manual'}~{getattr(ti, 'try_number', 1)}")

    @task(max_active_tis_per_dagrun=4)
    def process(batch: dict) -> dict:
        from rasad.pipeline import step_alert, step_process_batch

        out = step_process_batch(batch["id"])
        if batch.get("only"):
            # The run's only batch: alert at once instead of one more task hop (seconds
            # that count between publication and the mail). With several batches the alert
            # task sends one mail per recipient for all of them.
            out["alert"] = step_alert()
        return out

    # all_done: a failed batch is retried by a later run; alert what landed. It takes no
    # input from the batches: it reads what the queue says was indexed and not yet alerted
    # (after an inline alert there is nothing left, and it only hands back failed claims).
    @task(trigger_rule="all_done")
    def alert(run_id: str | None = None) -> dict:
        from rasad.pipeline import step_alert

        return step_alert(release_run=run_id)

    process.expand(batch=claim()) >> alert()


rasad_process()
