"""Publication -> alert mail, through the real service (issue 10, bar 1).

The real api-server, scheduler, dag-processor and triggerer (LocalExecutor, SQLite) watch
a loopback feed farm: FEEDS feeds on HOSTS virtual hosts (127.0.0.11-...), each polled
every 60 s, with ITEMS items appearing at random times over MINUTES minutes. A real SMTP
server records when each mail is accepted. Printed: p50/p95/max of

  (a) publication -> mail accepted, and
  (b) the first poll that returned the item -> mail accepted (the part that is ours),

items lost, duplicate mails, and the machine's load. Bars: p95 (b) <= 15 s, p95 (a) <= 75 s,
0 lost, 0 duplicates.

    .venv/bin/python bench/bench_latency.py [--feeds 200 --hosts 10 --items 300 --minutes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import node_and_farm
from tests.conftest import free_port
from tests.service.farm import FeedFarm, TimingSink


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v) + 0.5) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", default="60s")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--parallelism", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="leave the node running afterwards (to look at what was stored)")
    args = ap.parse_args()

    from rasad.airflow_service import ServiceConfig, start_service, stop_service
    from rasad.core.es import make_client

    farm = FeedFarm(feeds=args.feeds, hosts=args.hosts, port=free_port())
    sink = TimingSink(free_port())
    load_start = os.getloadavg()
    with node_and_farm("bench-latency", farm, interval=args.interval, keep=args.keep) as env:
        s, tmp, es_url, prefix = env.settings, env.tmp, env.es_url, env.prefix
        with sink:
            env_vars = {
                "RASAD_ES_URL": es_url, "RASAD_INDEX_PREFIX": prefix, "RASAD_FEEDS_FILE": s.feeds_file,
                "RASAD_RULES_FILE": s.rules_file, "RASAD_SMTP_HOST": "127.0.0.1",
                "RASAD_SMTP_PORT": str(sink.port), "RASAD_ALLOW_PRIVATE_NETWORKS": "1", "RASAD_RESPECT_ROBOTS": "0",
                "RASAD_VAR_DIR": s.var_dir, "RASAD_WATCH_SHARDS": str(args.shards),
            }  # fmt: skip
            cfg = ServiceConfig(home=tmp / "svc", api_port=free_port(), start_es=False, start_demo=False,
                                start_mail=False, parallelism=args.parallelism, env=env_vars)  # fmt: skip
            t0 = time.monotonic()
            start_service(cfg)
            print(f"service ready in {time.monotonic() - t0:.1f}s", flush=True)
            es = make_client(s)
            # Warm-up: every feed polled once (feed states exist), so items are new to a poll.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    n = es.count(index=f"{s.index('feeds')}-*")["count"]
                except Exception:
                    n = 0
                if n >= args.feeds:
                    break
                time.sleep(1)
            print(f"all {args.feeds} feeds polled once after {time.monotonic() - t0:.1f}s", flush=True)
            rnd = random.Random(args.seed)
            start = time.time() + 5
            span = args.minutes * 60
            items = [farm.add_item(rnd.randrange(args.feeds), start + rnd.uniform(0, span)) for _ in range(args.items)]
            # Wait for the last publication plus two poll intervals and a margin.
            end = start + span + 180
            while time.time() < end:
                if len(sink.first_mail()) >= len(items):
                    break
                time.sleep(2)
            time.sleep(10)  # late duplicates would show here
            stop_service(cfg.home)
    load_end = os.getloadavg()
    mails = sink.first_mail()
    a = [mails[i.key] - i.publish_at for i in items if i.key in mails]
    b = [mails[i.key] - farm.first_served[i.key] for i in items if i.key in mails and i.key in farm.first_served]
    lost = [i.key for i in items if i.key not in mails]
    dups = {k: v for k, v in sink.copies().items() if v > 1}
    out = {
        "feeds": args.feeds, "hosts": args.hosts, "items": len(items), "minutes": args.minutes,
        "a_pub_to_mail": {"p50": statistics.median(a) if a else None, "p95": pct(a, 95), "max": max(a, default=None)},
        "b_poll_to_mail": {"p50": statistics.median(b) if b else None, "p95": pct(b, 95), "max": max(b, default=None)},
        "lost": len(lost), "duplicate_mails": len(dups), "mails": len(sink.received),
        "feed_requests": farm.requests, "not_modified": farm.not_modified,
        "load_start": load_start, "load_end": load_end, "cpus": os.cpu_count(),
    }  # fmt: skip
    print(f"machine: {os.cpu_count()} cpus, load {load_start[0]:.2f} at start, {load_end[0]:.2f} at end "
          f"(1/5/15 min: {', '.join(f'{x:.2f}' for x in load_end)})")  # fmt: skip
    print(f"{len(items)} items on {args.feeds} feeds / {args.hosts} hosts over {args.minutes:g} min, "
          f"polled every {args.interval}; {farm.requests} feed/page requests, {farm.not_modified} answered 304")
    for name, key in (("(a) publication -> mail", "a_pub_to_mail"), ("(b) first poll -> mail", "b_poll_to_mail")):
        d = out[key]
        print(f"{name:<26} p50 {d['p50']:6.1f} s   p95 {d['p95']:6.1f} s   max {d['max']:6.1f} s")
    print(f"lost {len(lost)}, duplicate mails {len(dups)}, mails {len(sink.received)}")
    if args.keep:
        print(f"kept: node {es_url}, prefix {prefix}, service home {tmp / 'svc'}; lost: "
              f"{[farm.page_url(farm.by_key(k)) for k in lost][:20]}")
    ok = (out["b_poll_to_mail"]["p95"] <= 15 and out["a_pub_to_mail"]["p95"] <= 75 and not lost and not dups)
    print("bars (p95 b <= 15 s, p95 a <= 75 s, 0 lost, 0 duplicates):", "PASS" if ok else "FAIL")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
