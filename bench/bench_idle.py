"""An idle cycle: FEEDS feeds that all answer 304 (issue 13, bar 2).

What the service does when nothing is new, as it does it: the watcher's polling round over
every feed (``FeedWatcher.poll_round``, what the trigger runs), then the processing run's
claim (nothing to claim) and alert step (nothing to alert), with the run keys the DAG uses.
The farm (standing for the web) is served by a child process and the node is its own
process, so the CPU measured in this process is ours only. Printed: CPU seconds (user +
system) of the whole idle cycle, requests answered 304, the documents written during it
per index (nothing may be written), the node's CPU for information, and, apart from the
bar, a round in which every feed's stored clock is due for refreshing (what every feed
costs once per rasad.ingest.store.CLOCK_REFRESH). Bar: < 1 s of CPU, no write at all.

    .venv/bin/python bench/bench_idle.py [--feeds 500] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

INTERVAL_S = 20  # short, so the idle round comes due soon after the first one


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def node_cpu(home: Path) -> float:
    """CPU seconds the node's process has used so far (0 if unknown)."""
    try:
        pid = int((home / "run" / "es.pid").read_text().strip())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def bare_conditional_gets(urls: list[str], etags: dict[str, str]) -> float:
    """CPU of the same conditional GETs with bare http.client, one kept-alive connection per host:
    the floor any client in Python pays, measured in the same run as the baseline."""
    import http.client
    from urllib.parse import urlsplit

    conns: dict[str, http.client.HTTPConnection] = {}
    c0 = cpu()
    for url in urls:
        parts = urlsplit(url)
        conn = conns.get(parts.netloc)
        if conn is None:
            conn = conns[parts.netloc] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", parts.path, headers={"If-None-Match": etags[url], "User-Agent": "bench"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 304, (url, resp.status)
    spent = cpu() - c0
    for conn in conns.values():
        conn.close()
    return spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--profile", help="write a cProfile of the idle cycle (CPU clock, main thread) to this file")
    args = ap.parse_args()

    import logging

    import rasad.ingest.store
    from bench.harness import FarmProcess, node_and_farm
    from rasad.core.es import make_client
    from rasad.ingest.queue import WorkQueue
    from rasad.ingest.watch import FeedWatcher
    from rasad.pipeline import ensure_setup, step_alert, step_claim
    from tests.conftest import free_port

    # Importing the watcher configures Airflow's logging, which would print (and format) a line
    # per Elasticsearch request; the service's log level is the operator's choice, not our cost.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    load_start = os.getloadavg()
    farm = FarmProcess(feeds=args.feeds, hosts=args.hosts)
    with node_and_farm("bench-idle", farm, interval=f"{INTERVAL_S}s") as env:
        s = env.settings.replace(smtp_port=free_port(), poll_jitter=0.0)
        es = make_client(s)
        for f in range(args.feeds):
            farm.add_item(f, time.time() - 3600)
        watcher = FeedWatcher(0, 1, settings=s, prepare=ensure_setup)  # as rasad.triggers wires it
        first = watcher.poll_round()
        # Drain the first round's items so the idle cycle has nothing left to claim or alert.
        t = datetime.now(timezone.utc)
        queue = WorkQueue(es, s)
        for b in step_claim("warm~1", s, now=t):
            queue.complete([(e, "new", None, None) for e in queue.batch_entries(b["id"])], t)
        step_alert(s, now=t, release_run="warm")

        def writes() -> dict[str, int]:
            es.indices.refresh(index=f"{s.index_prefix}*")
            st = es.indices.stats(index=f"{s.index_prefix}*", metric="indexing", level="indices")
            return {name: v["primaries"]["indexing"]["index_total"] for name, v in st["indices"].items()}

        def cycle(run: str) -> dict:
            time.sleep(max(0.0, max(watcher._next.values()) - time.monotonic()) + 0.2)  # every feed due
            requests0, nm0 = farm.stats()
            before, node0 = writes(), node_cpu(env.es_home)
            prof = None
            if args.profile:
                import cProfile

                prof = cProfile.Profile(time.process_time)
            c0, w0 = cpu(), time.monotonic()
            if prof:
                prof.enable()
            rep = watcher.poll_round()
            claimed = step_claim(f"{run}~1", s)
            alerted = step_alert(s, release_run=run)
            if prof:
                prof.disable()
            c1, w1 = cpu(), time.monotonic()
            node1, after = node_cpu(env.es_home), writes()
            requests1, nm1 = farm.stats()
            if prof and run == "idle":
                prof.dump_stats(args.profile)
            return {"cpu": c1 - c0, "wall": w1 - w0, "node": node1 - node0, "polled": rep.polled,
                    "queued": rep.queued, "requests": requests1 - requests0, "not_modified": nm1 - nm0,
                    "batches": len(claimed), "alerted": alerted["articles"],
                    "writes": {k.removeprefix(s.index_prefix): after.get(k, 0) - before.get(k, 0)
                               for k in after if after.get(k, 0) != before.get(k, 0)}}  # fmt: skip

        idle = cycle("idle")
        # Once per CLOCK_REFRESH every feed's clock is saved: all of them at once, as a worst case.
        saved_refresh = rasad.ingest.store.CLOCK_REFRESH
        rasad.ingest.store.CLOCK_REFRESH = timedelta(0)
        try:
            refresh = cycle("refresh")
        finally:
            rasad.ingest.store.CLOCK_REFRESH = saved_refresh
        urls = [farm.layout.feed_url(f) for f in range(args.feeds)]
        stored = watcher.store.load_states([f"farm-{f}" for f in range(args.feeds)])
        etags = {farm.layout.feed_url(f): stored[f"farm-{f}"].etag or "" for f in range(args.feeds)}
        floor = bare_conditional_gets(urls, etags)
        watcher.close()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cpus, load {load_start[0]:.2f} at start, "
          f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} at end (1/5/15 min)")  # fmt: skip
    print(f"first round: {first.polled} feeds polled, {first.queued} items queued; feeds polled every {INTERVAL_S}s")
    print(f"idle cycle over {args.feeds} feeds: {idle['polled']} polled, {idle['requests']} requests, "
          f"{idle['not_modified']} answered 304, {idle['queued']} queued, {idle['batches']} batches, "
          f"{idle['alerted']} articles to alert")  # fmt: skip
    print(f"CPU in our process: {idle['cpu']:.2f} s (wall {idle['wall']:.2f} s; the node: {idle['node']:.2f} s); "
          f"bar < 1 s")  # fmt: skip
    print(f"baseline, same run: {args.feeds} bare http.client conditional GETs (kept alive): CPU {floor:.2f} s; "
          f"idle cycle / baseline = {idle['cpu'] / floor:.1f}x")  # fmt: skip
    print(f"documents written during the idle cycle: {idle['writes'] or 'none'} (bar: none, event state included)")
    print(f"clock-refresh round (every feed's state saved, once per {saved_refresh}): CPU {refresh['cpu']:.2f} s, "
          f"node {refresh['node']:.2f} s, written {refresh['writes'] or 'none'}")  # fmt: skip
    ok = idle["cpu"] < 1.0 and not idle["writes"] and idle["not_modified"] == args.feeds == idle["requests"]
    ok = ok and idle["batches"] == 0 and idle["alerted"] == 0
    print("bar:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
