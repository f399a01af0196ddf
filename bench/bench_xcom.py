"""XCom and task-log size at 2,000 articles in one batch (issue 10, bar 4).

Queues ARTICLES items from a loopback farm, then runs the processing DAG once
(dag.test(): the real task code, in-process) with one batch big enough for all of them,
capturing everything the tasks log. Printed: articles indexed, the largest XCom row of
the run and the longest task log line, against the bars (< 64 KB, <= 10 KB).

    .venv/bin/python bench/bench_xcom.py [--articles 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(home: Path) -> None:
    """Run in a fresh interpreter: Airflow must be configured before it is imported."""
    from rasad.airflow_local import configure_airflow, ensure_db, run_dag_test

    configure_airflow(home)
    ensure_db(home)
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import func

    from rasad.pipeline import step_poll, step_setup, summarize_run

    step_setup()
    polled = step_poll()
    t0 = time.monotonic()
    dr, values = run_dag_test("rasad_process")
    secs = time.monotonic() - t0
    summary = summarize_run(values, polled)
    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.map_index, func.length(XComModel.value)).filter(
            XComModel.dag_id == "rasad_process", XComModel.run_id == dr.run_id).all()  # fmt: skip
    biggest = max(rows, key=lambda r: r[2] or 0)
    print(f"RESULT state={dr.state} seconds={secs:.1f} queued={polled['items_queued']} batches={summary.batches} "
          f"indexed={summary.indexed} xcom_rows={len(rows)} xcom_max={biggest[2]} xcom_max_task={biggest[0]}"
          f"[{biggest[1]}] mails={summary.alerts_sent}", flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child))
        return 0

    from tests.conftest import free_port, own_es_node
    from tests.service.farm import RULES, FeedFarm, TimingSink

    tmp = Path(tempfile.mkdtemp(prefix="rasad-xcom-"))
    node_cm = own_es_node("bench-xcom")
    _base, es_url, _port, _home = node_cm.__enter__()
    feeds_n = 40
    farm = FeedFarm(feeds=feeds_n, hosts=10, port=free_port())
    sink = TimingSink(free_port())
    try:
        with farm, sink:
            for k in range(args.articles):
                farm.add_item(k % feeds_n, time.time() - 60)
            # A feed shows its latest 20 items; this farm shows all of them at once.
            farm.visible = lambda feed, now: [i for i in farm.items if i.feed == feed]  # type: ignore[method-assign]
            feeds = farm.registry(tmp / "feeds.yaml", interval="1h")
            (tmp / "rules.yaml").write_text(RULES, encoding="utf-8")
            env = {**os.environ, "RASAD_ES_URL": es_url, "RASAD_INDEX_PREFIX": f"x{uuid.uuid4().hex[:8]}",
                   "RASAD_FEEDS_FILE": str(feeds), "RASAD_RULES_FILE": str(tmp / "rules.yaml"),
                   "RASAD_SMTP_HOST": "127.0.0.1", "RASAD_SMTP_PORT": str(sink.port),
                   "RASAD_ALLOW_PRIVATE_NETWORKS": "1", "RASAD_RESPECT_ROBOTS": "0", "RASAD_VAR_DIR": str(tmp / "var"),
                   "RASAD_BATCH_SIZE": str(args.articles), "RASAD_MAX_BATCHES": "1",
                   "RASAD_PER_HOST_CONCURRENCY": "4"}  # fmt: skip
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, __file__, "--child", str(tmp / "airflow")], env=env,
                                  capture_output=True, text=True, timeout=3600, check=False)  # fmt: skip
            wall = time.monotonic() - t0
    finally:
        node_cm.__exit__(None, None, None)
    out = proc.stdout + proc.stderr
    (tmp / "run.log").write_text(out)
    lines = out.splitlines()
    longest = max((len(line.encode()) for line in lines), default=0)
    result = next((line for line in lines if line.startswith("RESULT ")), None)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cpus, load {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    print(f"run: {wall:.0f}s wall; {result}")
    if proc.returncode != 0 or result is None:
        print(out[-4000:])
        return 1
    fields = dict(kv.split("=", 1) for kv in result.split()[1:])
    xmax = int(fields["xcom_max"])
    print(f"largest XCom row: {xmax} bytes ({fields['xcom_max_task']}); bar < 65536: "
          f"{'PASS' if xmax < 65536 else 'FAIL'}")  # fmt: skip
    print(f"longest task log line: {longest} bytes of {len(lines)} lines; bar <= 10240: "
          f"{'PASS' if longest <= 10240 else 'FAIL'}")  # fmt: skip
    ok = xmax < 65536 and longest <= 10240 and int(fields["indexed"]) >= args.articles
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
