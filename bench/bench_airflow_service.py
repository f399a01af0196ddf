"""Benchmark of the local Airflow service: start until ready, idle memory and CPU, stop.

Starts the real service (rasad/airflow_service.py) in a temporary home on free ports with
the test DAGs (nothing scheduled, so the idle figures are the service's own), and prints:
* start → every component answers, also as a ratio to one bare ``airflow version`` run
  in the same run (the fixed cost of importing Airflow here, under the same load);
* idle RSS and PSS per component and in all (every process in each component's session);
* idle CPU over ``--idle`` seconds, in % of one core;
* stop → no process left (checked by pid); and the machine's load.
The Elasticsearch node is not part of it (``start_es=False``); the demo site and SMTP sink are.

    .venv/bin/python bench/bench_airflow_service.py [--executor celery --db postgres --workers 2] [--idle 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasad import airflow_service as svc

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2 :].split()
        total += int(f[11]) + int(f[12])  # utime + stime
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executor", default="local", choices=["local", "celery"])
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--parallelism", type=int, default=4)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle measurement")
    args = ap.parse_args()

    print(f"load before: {os.getloadavg()}")
    t0 = time.monotonic()
    subprocess.run([str(svc.VENV_BIN / "airflow"), "version"], env=svc.service_env(Path(tempfile.mkdtemp())),
                   capture_output=True, check=True)  # fmt: skip
    bare = time.monotonic() - t0
    parent = Path(tempfile.mkdtemp(prefix="rasad-airflow-bench-"))
    os.chmod(parent, 0o711)  # noqa: S103 - PostgreSQL runs as `postgres` and must reach its folder
    home = parent / "svc"
    env = {"RASAD_SMTP_PORT": str(free_port()), "RASAD_VAR_DIR": str(parent / "var")}
    os.environ.update(env)
    cfg = svc.ServiceConfig(home=home, dags_folder=Path(__file__).resolve().parent.parent / "tests" / "resources" / "airflow_service",
                            api_port=free_port(), executor=args.executor, db=args.db, workers=args.workers,
                            parallelism=args.parallelism, pg_port=free_port(), redis_port=free_port(),
                            demo_port=free_port(), start_es=False)  # fmt: skip
    try:
        info = svc.start_service(cfg)
        print(f"start until every component answers: {info.ready_seconds:.1f}s "
              f"({info.ready_seconds / bare:.1f}x one bare `airflow version`: {bare:.1f}s)")  # fmt: skip
        time.sleep(10)  # let start-up work (first DAG parse, pre-forking) settle
        pids = svc.service_pids(home)
        all_pids = [p for ps in pids.values() for p in ps]
        c0, w0 = cpu_ticks(all_pids), time.monotonic()
        time.sleep(args.idle)
        cpu = (cpu_ticks(all_pids) - c0) / TICKS / (time.monotonic() - w0) * 100
        tot_rss = tot_pss = 0
        print(f"{'component':<18}{'procs':>6}{'RSS MB':>9}{'PSS MB':>9}")
        for name, ps in sorted(pids.items()):
            rss = sum(mem_kb(p)[0] for p in ps)
            pss = sum(mem_kb(p)[1] for p in ps)
            tot_rss += rss
            tot_pss += pss
            print(f"{name:<18}{len(ps):>6}{rss / 1024:>9.0f}{pss / 1024:>9.0f}")
        print(f"{'all':<18}{len(all_pids):>6}{tot_rss / 1024:>9.0f}{tot_pss / 1024:>9.0f}")
        print(f"idle CPU over {args.idle:.0f}s: {cpu:.1f}% of one core")
        before = {p: svc._proc_stat(p)[3] for p in all_pids if svc._proc_stat(p)}
        t1 = time.monotonic()
        svc.stop_service(home)
        stop = time.monotonic() - t1
        left = [p for p, start in before.items() if (st := svc._proc_stat(p)) and st[3] == start]
        print(f"stop: {stop:.1f}s, processes left: {len(left)}")
    finally:
        svc.stop_service(home, timeout=10)
        shutil.rmtree(parent, ignore_errors=True)
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
