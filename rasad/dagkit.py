"""What every Rasad DAG shares: default task arguments and the feed assets with their watchers.

Kept out of ``dags/`` so the DAG files stay a dozen lines and the triggerer, which does
not see the DAGs folder, imports nothing from it. Importing this module is cheap (no
stage, no spaCy): it runs at every DAG parse.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rasad.core.settings import SMTP_CONN_ID, load_settings

OWNER = "rasad"


def safety_net_cron() -> str:
    """How often the processing DAG runs without any feed event (picks up anything left)."""
    return load_settings().safety_net_cron


def failure_notifier() -> Any:
    """Airflow's SMTP notifier, mailing the operator when a task fails for good."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier  # noqa: PLC0415

    s = load_settings()
    return SmtpNotifier(
        to=s.operator_email or "rasad-operator@localhost",
        from_email=s.mail_from,
        smtp_conn_id=SMTP_CONN_ID,
        subject="[Rasad] task failed: {{ ti.dag_id }}.{{ ti.task_id }} ({{ ti.run_id }})",
        html_content="Task {{ ti.task_id }} of {{ ti.dag_id }} failed after {{ ti.try_number }} tries. "
        "Log: {{ ti.log_url }}",
    )


def default_args(timeout_minutes: int = 30) -> dict[str, Any]:
    """Owner, bounded retries with backoff, a timeout and the failure mail, for every task."""
    s = load_settings()
    return {
        "owner": OWNER,
        "retries": max(2, s.task_retries),
        "retry_delay": timedelta(seconds=s.task_retry_delay),
        "retry_exponential_backoff": True,
        # Bounded: a growing wait after an outage would otherwise stall monitoring for hours.
        "max_retry_delay": timedelta(seconds=s.task_max_retry_delay),
        "execution_timeout": timedelta(minutes=timeout_minutes),
        "on_failure_callback": failure_notifier(),
    }


def feed_assets() -> Any:
    """Any of the feed assets: one per watch shard, each watched by a ``FeedWatchTrigger``.

    ``AssetAny``, not a list: a list means *all* shards must report before a run starts.
    """
    from airflow.sdk import Asset, AssetAny, AssetWatcher  # noqa: PLC0415

    from rasad.triggers import FeedWatchTrigger  # noqa: PLC0415

    shards = max(1, load_settings().watch_shards)
    return AssetAny(*[
        Asset(name=f"rasad_feeds_shard_{i}_of_{shards}", uri=f"rasad://feeds/shard-{i}-of-{shards}",
              watchers=[AssetWatcher(name=f"rasad_feed_watch_{i}_of_{shards}",
                                     trigger=FeedWatchTrigger(shard=i, shards=shards))])  # fmt: skip
        for i in range(shards)
    ])
