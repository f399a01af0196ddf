"""One processing run on 1 and on 2 Celery workers (issue 13, bar 4: docs/scaling.md).

For each worker count, the real service (api-server, scheduler, dag-processor, triggerer,
CeleryExecutor with N workers, redis-server, PostgreSQL, all on loopback) watches one
aggregator feed on a loopback farm. Once it is ready, ITEMS items appear in that feed at
once, their pages spread over HOSTS virtual hosts (127.0.0.11-...). One poll queues them
all, so one `rasad_process` run claims them as HOSTS batches (one host each) and maps
`process` over them. Each round has its own farm port and index prefix, so the two rounds
see the same pages and start from empty indices on the same Elasticsearch node.

Printed per round, from Airflow's task-instance rows and the articles index: articles
indexed, runs and batches, batches per worker, first `process` start -> last `process`
end (articles/s over that span), publication -> last article indexed, the mean batch
time, and the load before and after; then the ratio of 2 workers to 1.

    .venv/bin/python bench/bench_celery.py [--items 160 --hosts 8 --concurrency 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port
from tests.service.farm import RULES, FeedFarm, TimingSink, service_env


@contextlib.contextmanager
def es_node():
    """A node of the bench's own, stopped by pid afterwards (also when its start timed out).

    Like tests.conftest.own_es_node, with room for a JVM start at load 20 (minutes)."""
    from rasad import esnode
    from rasad.core.settings import load_settings

    base = load_settings()
    port = free_port()
    home = base.cache_path / "nodes" / f"bench-celery-{port}-{os.getpid()}"
    try:
        yield esnode.start_node(base, port=port, home=home, wait=600).url
    finally:
        esnode.stop_node(base, port=port, home=home)
        shutil.rmtree(home, ignore_errors=True)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def ti_rows(home: Path) -> list[dict]:
    import sqlalchemy

    from rasad.airflow_service import _cfg_value

    engine = sqlalchemy.create_engine(_cfg_value(home, "database", "sql_alchemy_conn"))
    try:
        with engine.connect() as c:
            rows = c.execute(sqlalchemy.text(
                "SELECT run_id, map_index, state, hostname, start_date, end_date FROM task_instance "
                "WHERE dag_id = 'rasad_process' AND task_id = 'process'")).mappings().all()  # fmt: skip
    finally:
        engine.dispose()
    return [dict(r) for r in rows]


def count_indexed(es_url: str, prefix: str) -> int:
    from rasad.core.es import make_client
    from rasad.core.settings import load_settings

    s = load_settings(env={"RASAD_ES_URL": es_url, "RASAD_INDEX_PREFIX": prefix})
    es = make_client(s)
    try:
        es.indices.refresh(index=s.index("articles"), ignore_unavailable=True, allow_no_indices=True)
        return es.count(index=s.index("articles"), ignore_unavailable=True, allow_no_indices=True)["count"]
    except Exception:  # the index appears with the first batch
        return 0


def feeds_polled(es_url: str, prefix: str) -> int:
    from rasad.core.es import make_client
    from rasad.core.settings import load_settings

    s = load_settings(env={"RASAD_ES_URL": es_url, "RASAD_INDEX_PREFIX": prefix})
    try:
        return make_client(s).count(index=f"{s.index('feeds')}-*", ignore_unavailable=True,
                                    allow_no_indices=True)["count"]  # fmt: skip
    except Exception:
        return 0


def wait(cond, timeout: float, what: str, every: float = 1.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if v := cond():
            return v
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def one_round(workers: int, args: argparse.Namespace, es_url: str, tmp: Path) -> dict:
    from rasad.airflow_service import ServiceConfig, start_service, stop_service

    per_host = -(-args.items // args.hosts)
    farm = FeedFarm(feeds=1, hosts=args.hosts, port=free_port(), window=args.items)
    sink = TimingSink(free_port())
    prefix = f"bc{workers}{uuid.uuid4().hex[:6]}"
    parent = Path(tempfile.mkdtemp(prefix="rasad-bench-celery-", dir=tmp))
    os.chmod(parent, 0o711)  # noqa: S103 - PostgreSQL (as the postgres user) reaches its data below
    home = parent / "svc"
    with farm, sink:
        feeds = farm.registry(parent / "feeds.yaml", interval="10s")
        rules = parent / "rules.yaml"
        rules.write_text(RULES, encoding="utf-8")
        env = service_env(es_url, prefix, feeds, rules, sink.port, parent / "var",
                          RASAD_SAFETY_NET_CRON="0 0 1 1 *",  # only the poll's event starts a run
                          RASAD_BATCH_SIZE=str(per_host), RASAD_MAX_BATCHES=str(args.hosts))  # fmt: skip
        cfg = ServiceConfig(home=home, api_port=free_port(), executor="celery", db="postgres", workers=workers,
                            worker_concurrency=args.concurrency, parallelism=max(4, workers * args.concurrency),
                            pg_port=free_port(), redis_port=free_port(), start_es=False, start_demo=False,
                            start_mail=False, env=env, ready_timeout=900)  # fmt: skip
        t0 = time.monotonic()
        try:
            start_service(cfg)
            ready = time.monotonic() - t0
            wait(lambda: feeds_polled(es_url, prefix) >= 1, 300, "the watcher's first poll")
            load_before = load()
            published = time.time()
            for n in range(args.items):
                farm.add_item(0, published, host=n % args.hosts)
            wait(lambda: count_indexed(es_url, prefix) >= args.items, args.timeout, f"{args.items} articles indexed")
            indexed_at = time.time()
            print(f"{workers} worker(s): {args.items} articles indexed {indexed_at - published:.1f}s after publication",
                  flush=True)  # fmt: skip

            def batches() -> list[dict]:
                # Only the mapped batches: a run whose claim found nothing (the first, empty poll's
                # event) has one unmapped `process` row (map_index -1) and no batch.
                return [r for r in ti_rows(home) if r["map_index"] >= 0]

            wait(lambda: batches() and all(r["end_date"] for r in batches()), 300, "the batches' ends")
            rows = [r for r in batches() if r["state"] == "success"]
            indexed = count_indexed(es_url, prefix)
            load_after = load()
        finally:
            stop_service(home)
            shutil.rmtree(parent, ignore_errors=True)
    starts = [r["start_date"] for r in rows]
    ends = [r["end_date"] for r in rows]
    span = (max(ends) - min(starts)).total_seconds()
    per_worker: dict[str, int] = {}
    for r in rows:
        w = (r["hostname"] or "").rsplit("-", 1)[-1]
        per_worker[w] = per_worker.get(w, 0) + 1
    mean_batch = sum((e - s).total_seconds() for s, e in zip(starts, ends, strict=True)) / len(rows)
    return {"workers": workers, "ready_s": ready, "indexed": indexed, "runs": len({r["run_id"] for r in rows}),
            "batches": len(rows), "per_worker": per_worker, "span_s": span, "rate": indexed / span,
            "publish_to_indexed_s": indexed_at - published, "mean_batch_s": mean_batch,
            "load_before": load_before, "load_after": load_after}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=160)
    ap.add_argument("--hosts", type=int, default=8, help="virtual hosts = batches of the run (at most 8 per run)")
    ap.add_argument("--concurrency", type=int, default=1, help="task slots per worker")
    ap.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for the articles of one round")
    args = ap.parse_args()

    print(f"bench_celery: {args.items} items on {args.hosts} hosts, {args.concurrency} slot(s) per worker; "
          f"{os.cpu_count()} cores, load {load()}", flush=True)  # fmt: skip
    results = []
    with es_node() as es_url, tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o711)  # noqa: S103 - PostgreSQL (as the postgres user) traverses it
        for w in [int(x) for x in args.workers.split(",")]:
            r = one_round(w, args, es_url, Path(tmp))
            results.append(r)
            print(f"{w} worker(s): ready in {r['ready_s']:.0f}s; {r['indexed']} articles indexed in {r['runs']} run(s), "
                  f"{r['batches']} batches {r['per_worker']}; first process start -> last end {r['span_s']:.1f}s = "
                  f"{r['rate']:.2f} articles/s; publication -> all indexed {r['publish_to_indexed_s']:.1f}s; "
                  f"mean batch {r['mean_batch_s']:.1f}s; load {r['load_before']} -> {r['load_after']}",
                  flush=True)  # fmt: skip
    print("\n| workers | slots | articles | runs | batches (per worker) | process span s | articles/s | "
          "publication -> indexed s | mean batch s | load before -> after |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        pw = ", ".join(f"{k} {v}" for k, v in sorted(r["per_worker"].items()))
        print(f"| {r['workers']} | {r['workers'] * args.concurrency} | {r['indexed']} | {r['runs']} | {r['batches']} "
              f"({pw}) | {r['span_s']:.1f} | {r['rate']:.2f} | {r['publish_to_indexed_s']:.1f} | "
              f"{r['mean_batch_s']:.1f} | {r['load_before']} -> {r['load_after']} |")  # fmt: skip
    if len(results) >= 2:
        print(f"\n{results[-1]['workers']} workers / {results[0]['workers']}: "
              f"{results[-1]['rate'] / results[0]['rate']:.2f}x articles/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
