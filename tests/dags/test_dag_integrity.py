"""Every DAG file imports cleanly, defines its DAGs, keeps work out of parse time, and
every task has what an operator relies on (owner, bounded retries, a timeout, a failure mail)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"rasad_process", "rasad_digest", "rasad_maintenance", "rasad_retag"}


@pytest.fixture(scope="module")
def bag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports_and_defines_dags(bag):
    assert bag.import_errors == {}
    files = sorted(p.name for p in DAGS.glob("*.py"))
    defined = {Path(d.fileloc).name for d in bag.dags.values()}
    assert defined == set(files), f"files without a DAG: {set(files) - defined}"
    assert set(bag.dags) == EXPECTED


def test_every_task_has_owner_bounded_retries_timeout_and_failure_mail(bag):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    for dag in bag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        for t in dag.tasks:
            where = f"{dag.dag_id}.{t.task_id}"
            assert t.owner == "rasad", where
            assert t.retries >= 2, where
            assert t.retry_exponential_backoff, where
            assert t.max_retry_delay is not None and t.max_retry_delay <= timedelta(minutes=10), where
            assert t.execution_timeout is not None and t.execution_timeout <= timedelta(hours=4), where
            callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
            assert any(isinstance(c, SmtpNotifier) for c in callbacks), where


def test_process_dag_is_event_driven_with_a_timed_safety_net(bag, monkeypatch):
    import runpy

    from airflow.sdk import AssetAny, AssetOrTimeSchedule

    monkeypatch.setenv("RASAD_WATCH_SHARDS", "3")
    dag = runpy.run_path(str(DAGS / "rasad_process.py"))["rasad_process"]()
    tt = dag.timetable
    assert isinstance(tt, AssetOrTimeSchedule)
    assert type(tt.timetable).__name__ == "CronTriggerTimetable"
    # Any shard's event starts a run (a list of assets would wait for all of them).
    assert isinstance(tt.asset_condition, AssetAny)
    assets = list(tt.asset_condition.objects)
    assert len(assets) == 3
    idents = set()
    for a in assets:
        (w,) = a.watchers
        path, kwargs = w.trigger.serialize()
        assert path == "rasad.triggers.FeedWatchTrigger"
        assert set(kwargs) == {"shard", "shards"}  # small, stable identity
        idents.add((kwargs["shard"], kwargs["shards"]))
    assert idents == {(0, 3), (1, 3), (2, 3)}


def test_dag_files_parse_fast_and_do_no_heavy_work():
    # Parsing must not import the pipeline's heavy libraries (spaCy, trafilatura,
    # elasticsearch): the DAG processor parses DAG files every few seconds.
    code = (
        "import sys, runpy, time\n"
        "import airflow.sdk\n"  # Airflow itself is loaded once per DAG processor, not per file
        f"for p in sorted({[str(p) for p in DAGS.glob('*.py')]!r}):\n"
        "    t = time.monotonic(); runpy.run_path(p); print('PARSE', p, round(time.monotonic() - t, 3))\n"
        "heavy=[m for m in ('spacy','trafilatura','elasticsearch','feedparser') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "[]", out.stdout + out.stderr
    times = {Path(line.split()[1]).name: float(line.split()[2]) for line in lines if line.startswith("PARSE ")}
    print("DAG parse times (s):", times)
    assert len(times) == len(EXPECTED)
    assert max(times.values()) < 1.0, times


def test_dag_parse_does_not_need_elasticsearch(monkeypatch, airflow_db):
    # No cluster configured at all: parsing still works (the settings are only read).
    monkeypatch.delenv("RASAD_ES_URL", raising=False)
    t = time.monotonic()
    from airflow.dag_processing.dagbag import DagBag

    assert DagBag(dag_folder=str(DAGS)).import_errors == {}
    assert time.monotonic() - t < 30
