"""An idle cycle: FEEDS feeds that all answer 304 (issue 13, bar 2).

What the service does when nothing is new: the watcher's poll of every feed (the same
`poll_feeds` the trigger runs), then the processing run's claim (nothing to claim) and
alert step (nothing to alert). Printed: CPU seconds spent in this process (user + system)
for the whole idle cycle, requests answered 304, and whether any event state, article or
queue document was written. Bar: < 1 s of CPU, no event-state write.

    .venv/bin/python bench/bench_idle.py [--feeds 500]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--hosts", type=int, default=10)
    args = ap.parse_args()

    from rasad.ingest.feeds import load_registry
    from rasad.ingest.http.client import HttpClient
    from rasad.ingest.queue import WorkQueue
    from rasad.ingest.stage import poll_feeds
    from rasad.ingest.store import IngestStore
    from rasad.core.es import make_client, single_index
    from rasad.pipeline import step_alert, step_claim, step_setup
    from rasad.core.settings import load_settings
    from tests.conftest import free_port, own_es_node
    from tests.service.farm import RULES, FeedFarm

    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="rasad-idle-"))
    node_cm = own_es_node("bench-idle")
    base, es_url, _port, _home = node_cm.__enter__()
    farm = FeedFarm(feeds=args.feeds, hosts=args.hosts, port=free_port())
    try:
        with farm:
            for f in range(args.feeds):
                farm.add_item(f, time.time() - 3600)
            feeds = farm.registry(tmp / "feeds.yaml", interval="1m")
            (tmp / "rules.yaml").write_text(RULES, encoding="utf-8")
            s = base.replace(es_url=es_url, index_prefix=f"idle{uuid.uuid4().hex[:8]}", allow_private_networks=True,
                             respect_robots=False, feeds_file=str(feeds), rules_file=str(tmp / "rules.yaml"),
                             var_dir=str(tmp / "var"), smtp_port=free_port())  # fmt: skip
            es = make_client(s)
            step_setup(s)
            specs = load_registry(feeds)
            client = HttpClient(s)
            store, queue = IngestStore(es, s), WorkQueue(es, s)
            t = datetime.now(timezone.utc)
            first = poll_feeds(specs, client, store, queue, now=t, workers=s.fetch_workers)
            # Drain the first poll's items so the idle cycle has nothing left to claim.
            for b in step_claim("warm", s, now=t):
                queue.complete([(e, "new", None, None) for e in queue.batch_entries(b["id"])], t)
            step_alert(s, now=t)

            def versions() -> dict[str, int]:
                out = {}
                for kind in ("events", "queue", "eventstate"):
                    idx = single_index(s, kind)
                    es.indices.refresh(index=idx, ignore_unavailable=True)
                    st = es.options(ignore_status=404).indices.stats(index=idx, metric="indexing")
                    out[kind] = st.get("_all", {}).get("primaries", {}).get("indexing", {}).get("index_total", 0)
                return out

            before = versions()
            requests0, nm0 = farm.requests, farm.not_modified
            later = t + timedelta(minutes=2)
            c0, w0 = cpu(), time.monotonic()
            idle = poll_feeds(specs, client, store, queue, now=later, workers=s.fetch_workers)
            claimed = step_claim("idle", s, now=later)
            alerted = step_alert(s, now=later)
            c1, w1 = cpu(), time.monotonic()
            after = versions()
            client.close()
    finally:
        node_cm.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    nm = farm.not_modified - nm0
    print(f"machine: {os.cpu_count()} cpus, load {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    print(f"first poll: {first.queued} items queued from {first.polled} feeds")
    print(f"idle cycle over {args.feeds} feeds: {farm.requests - requests0} requests, {nm} answered 304, "
          f"{idle.queued} queued, {len(claimed)} batches, {alerted['articles']} articles to alert")  # fmt: skip
    print(f"CPU in this process: {c1 - c0:.2f} s (wall {w1 - w0:.2f} s); bar < 1 s")
    print(f"writes during the idle cycle: {({k: after[k] - before[k] for k in after})} (event state must be 0)")
    ok = c1 - c0 < 1.0 and after["eventstate"] == before["eventstate"] and after["events"] == before["events"]
    ok = ok and nm == args.feeds and after["queue"] == before["queue"]
    print("bar:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
