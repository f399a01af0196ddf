"""The human-readable summary of a pipeline cycle (for the CLI and the demo)."""

from __future__ import annotations


def print_summary(d: dict) -> None:
    """Human-readable cycle summary."""
    rows = [
        ("feeds polled", d["feeds_polled"]),
        ("  not modified", d["feeds_not_modified"]),
        ("  failed", d["feeds_failed"]),
        ("items seen", d["items_seen"]),
        ("  new in the work queue", d.get("items_queued", 0)),
        ("batches processed", d.get("batches", 0)),
        ("new articles", d["new_articles"]),
        ("  of which near-duplicates (kept, linked)", d["near_duplicates"]),
        ("duplicates skipped", d["duplicates"]),
        ("articles tagged", d["tagged"]),
        ("new events", d["events_new"]),
        ("articles indexed", d["indexed"]),
        ("  dead-lettered", d["dead_lettered"]),
        ("pages to retry later (transient failures)", d.get("retry_later", 0)),
        ("alert matches", d["alerts_matched"]),
        ("  already alerted (earlier runs)", d["alerts_already_sent"]),
        ("  folded into an earlier alert", d["alerts_folded"]),
        ("  snoozed", d["alerts_snoozed"]),
        ("  waiting for a digest", d["alerts_waiting"]),
        ("alert mails sent", d["alerts_sent"]),
        ("  to retry (SMTP unavailable)", d["alerts_retry_later"]),
        ("  failed", d["alerts_failed"]),
    ]
    rows += [(f"  to {r}", n) for r, n in sorted((d.get("alerts_mails_by_recipient") or {}).items())]
    width = max(len(k) for k, _ in rows)
    if d.get("cluster"):
        print(f"{'writing to':<{width}}  {d['cluster']}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if d["failures"]:
        print("failures by reason:")
        for k, v in sorted(d["failures"].items()):
            print(f"  {k:<{width - 2}}  {v}")
    for e in d["errors"][:20]:
        print(f"  ! {e}")


# --------------------------------------------------------------------------- es
