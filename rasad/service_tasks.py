"""The maintenance and re-tag tasks of the service DAGs (each returns counts only)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rasad.core.settings import load_settings

log = logging.getLogger(__name__)
XCOM_KEEP_DAYS = 7


def maintenance(now: datetime | None = None) -> dict:
    """Feed-health report (mailed to the operator), queue and dead-letter summary, retention."""
    from rasad.alerts.smtp import SmtpSender, smtp_config  # noqa: PLC0415
    from rasad.indexing.maintenance import health_mail  # noqa: PLC0415
    from rasad.pipeline import maintenance_report  # noqa: PLC0415

    s = load_settings()
    now = now or datetime.now(timezone.utc)
    report = maintenance_report(s, now)
    mailed = False
    if s.operator_email:
        msg = health_mail(report, s, now)
        sender = SmtpSender(smtp_config(s))
        try:
            sender.send(msg.as_string(), [s.operator_email], s.mail_from)
            mailed = True
        finally:
            sender.close()
    out = {"feeds": report["feeds"], "feed_problems": len(report["feed_problems"]),
           "feeds_overdue": len(report["feeds_overdue"]), "queue": report["queue"],
           "dead_letters": report["dead_letters"], "deleted_indices": len(report["retention"]["deleted_indices"]),
           "queue_items_purged": report["retention"]["queue_items_purged"], "mailed": mailed}  # fmt: skip
    log.info("maintenance: %s", out)
    return out


# What Airflow 3's task supervisor puts in a task's environment so that task code cannot reach the
# metadata database (airflow/sdk/execution_time/supervisor.py block_orm_access).
BLOCKED_DB_URL = "airflow-db-not-allowed:///"


def db_cli_env() -> dict[str, str]:
    """The environment for an ``airflow db`` command started by a task: the blocked URL removed.

    A task process inherits the sentinel URL, so ``airflow db clean`` started from it failed with
    "Could not parse SQLAlchemy URL" in the live service. Without the variable the command reads
    the service's airflow.cfg (``rasad airflow start`` writes the real URL there); a URL set some
    other way (``dag.test()`` in-process, the operator's own variable) is kept.
    """
    env = os.environ.copy()
    for name in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__SQL_ALCHEMY_CONN"):
        if env.get(name) == BLOCKED_DB_URL:
            del env[name]
    return env


def clean_airflow_db(now: datetime | None = None, days: int = XCOM_KEEP_DAYS) -> dict:
    """``airflow db clean`` of XCom, runs and task instances older than ``days`` (no archive tables)."""
    now = now or datetime.now(timezone.utc)
    before = (now - timedelta(days=days)).isoformat()
    airflow = Path(sys.executable).with_name("airflow")
    cmd = [str(airflow) if airflow.exists() else "airflow", "db", "clean", "--clean-before-timestamp", before,
           "--tables", "xcom,dag_run,task_instance,log,job", "--skip-archive", "--yes"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=db_cli_env(), check=False)
    if res.returncode != 0:
        raise RuntimeError(f"airflow db clean failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    log.info("airflow db clean before %s: done", before)
    return {"cleaned_before": before}


def retag(since: str | None = None, topics: list[str] | None = None, force: bool = False) -> dict:
    """Re-tag stored articles (the `rasad retag` code), returning its counts."""
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.indexing.retag import retag_articles  # noqa: PLC0415

    s = load_settings()
    rep = retag_articles(make_client(s), s, since=since, force=force, progress=False, topics=topics or None)
    out = {"tagger_version": rep.tagger_version, "seen": rep.seen, "retagged": rep.retagged, "changed": rep.changed,
           "skipped_current": rep.skipped_current, "conflicts": rep.conflicts, "failed": rep.failed}  # fmt: skip
    log.info("retag: %s", out)
    if rep.failed:
        raise RuntimeError(f"{rep.failed} article(s) failed to re-tag; first: {rep.errors[:3]}")
    return out
