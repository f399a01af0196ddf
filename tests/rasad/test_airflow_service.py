"""The local Airflow service with its real components: start, run DAGs through the scheduler, crash, stop.

No ``dag.test()`` here: the api-server, scheduler, dag-processor and triggerer (and, in the
second test, PostgreSQL, redis-server and two Celery workers) run as separate processes
on loopback, and every process they leave is looked for by pid afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from rasad import airflow_service as svc
from tests.conftest import RESOURCES, free_port

DAGS = RESOURCES / "airflow_service"


def _alive(pid: int, start: int | None = None) -> bool:
    st = svc._proc_stat(pid)
    return bool(st) and (start is None or st[3] == start)


def _tree(root: int) -> dict[int, tuple[int, int, int, int]]:
    """Every live descendant of ``root`` by parent pid: {pid: (ppid, pgrp, session, start)}."""
    stats = {int(e): svc._proc_stat(int(e)) for e in os.listdir("/proc") if e.isdigit()}
    stats = {p: st for p, st in stats.items() if st}
    out: dict[int, tuple[int, int, int, int]] = {}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, st in stats.items():
            if st[0] == parent and pid not in out:
                out[pid] = st
                todo.append(pid)
    return out


def _listening(pids: set[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that one of ``pids`` holds."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                addr, port = cols[1].split(":")
                if v6:
                    host = "::1" if addr == "0" * 24 + "01000000" else ("::" if set(addr) == {"0"} else addr)
                else:
                    host = ".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0))
                found.add((host, int(port, 16)))
    return found


def _all_service_pids(home: Path) -> dict[int, int]:
    """{pid: start time} of every process in the service's sessions right now."""
    return {p: svc._proc_stat(p)[3] for pids in svc.service_pids(home).values() for p in pids if svc._proc_stat(p)}


def _wait_run(home: Path, dag_id: str, run_id: str, states: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        runs = svc.airflow_json(home, "dags", "list-runs", dag_id)
        state = next((r["state"] for r in runs if r["run_id"] == run_id), None)
        if state in states:
            return state
        assert time.monotonic() < deadline, f"{dag_id} run {run_id} still {state} after {timeout:.0f}s; see {home}/logs"
        time.sleep(1.0)


def _trigger(home: Path, dag_id: str, conf: str = "{}") -> str:
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    svc.run_airflow(home, "dags", "trigger", dag_id, "--run-id", run_id, "-c", conf)
    return run_id


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "airflow_service"


@pytest.fixture
def service_home(request):
    """A home for one service, traversable by the postgres user; whatever started there is stopped afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="rasad-airflow-svc-"))
    os.chmod(parent, 0o711)  # noqa: S103 - the postgres user must traverse it
    home = parent / "svc"
    yield home
    # Even when the test failed half-way: nothing of the service may outlive it.
    before = _all_service_pids(home)
    svc.stop_service(home, timeout=10)
    left = [p for p, start in before.items() if _alive(p, start)]
    assert not left, f"processes {left} of the service outlived stop_service"
    # The component and task logs stay for a look after a failure (tests/artifacts is not in git).
    dest = ARTIFACTS / request.node.name
    shutil.rmtree(dest, ignore_errors=True)
    if (home / "logs").is_dir():
        shutil.copytree(home / "logs", dest)
    shutil.rmtree(parent, ignore_errors=True)


def test_local_service_runs_dags_and_stop_leaves_no_process(service_home, settings, es_node):
    home = service_home
    cfg = svc.ServiceConfig(home=home, dags_folder=DAGS, api_port=free_port(), parallelism=2,
                            demo_port=free_port(), worker_log_port=free_port(), trigger_log_port=free_port(),
                            ready_timeout=400)  # fmt: skip
    info = svc.start_service(cfg)
    print(f"\nstart until every component answered: {info.ready_seconds:.1f}s, load {os.getloadavg()}")
    names = {c.name for c in info.components}
    assert names == {"api-server", "scheduler", "dag-processor", "triggerer", "demo-site", "mail-sink"}
    assert all(c.alive for c in info.components)
    health = svc._http_json(f"http://127.0.0.1:{cfg.api_port}/api/v2/monitor/health")
    assert {k: v["status"] for k, v in health.items()} == {
        "metadatabase": "healthy", "scheduler": "healthy", "triggerer": "healthy", "dag_processor": "healthy"}  # fmt: skip
    # The tasks write to the test session's node, which the service reused (and must not stop).
    assert info.es_url == es_node
    assert info.es_cluster and info.es_cluster.startswith("rasad-local (")
    text = svc.format_status(svc.service_status(home))
    assert f"port {cfg.api_port}" in text and "cluster rasad-local (" in text and "DEAD" not in text
    # Secrets are the service's own, 0600, and the api-server did not print a password.
    for name in ("airflow.cfg", "secrets.json", "simple_auth_manager_passwords.json.generated"):
        assert (home / name).stat().st_mode & 0o077 == 0, name
    assert "Password for user" not in (home / "logs" / "api-server.out").read_text()
    # Loopback only: no log server on 0.0.0.0 (they are off), the api-server on 127.0.0.1.
    listening = _listening(set(_all_service_pids(home)))
    assert ("127.0.0.1", cfg.api_port) in listening
    assert all(host == "127.0.0.1" for host, _ in listening), listening

    svc.wait_for_dags(home, ["svc_sleep"])
    t0 = time.monotonic()
    run = _trigger(home, "svc_sleep", '{"sleep": 0}')
    assert _wait_run(home, "svc_sleep", run, {"success", "failed"}, 240) == "success"
    print(f"trivial run through the scheduler: {time.monotonic() - t0:.1f}s")

    # A task that sleeps, then the scheduler dies by SIGKILL: its workers and the task are orphaned.
    sched = svc._read_record(home / "run" / "scheduler.pid")
    _trigger(home, "svc_sleep", '{"sleep": 600}')
    deadline = time.monotonic() + 240
    while True:
        tree = _tree(sched["pid"])
        # The task process: a grandchild of the scheduler in a process group of its own.
        tasks = [p for p, st in tree.items() if st[1] == p and st[0] != sched["pid"]]
        if tasks:
            break
        assert time.monotonic() < deadline, f"no task process under the scheduler after 240s: {tree}"
        time.sleep(1.0)
    time.sleep(1.0)
    tree = _tree(sched["pid"])
    os.kill(sched["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(sched["pid"], sched["start"]) and time.monotonic() < deadline:
        svc._reap()
        time.sleep(0.1)
    assert not _alive(sched["pid"], sched["start"])
    time.sleep(1.0)
    orphans = {p: st for p, st in tree.items() if _alive(p, st[3])}
    assert any(p in orphans for p in tasks), "the sleeping task process did not outlive its scheduler"
    assert len(orphans) >= 2, orphans  # the pre-forked worker(s) and the task
    # killpg on the scheduler's group would miss the task: Airflow gives it its own group.
    assert all(orphans[p][1] != sched["pgid"] for p in tasks if p in orphans)
    assert all(st[2] == sched["sid"] for st in orphans.values())
    before = _all_service_pids(home)
    assert set(orphans) <= set(before)

    t0 = time.monotonic()
    stopped = svc.stop_service(home, timeout=15)
    print(f"stop (with orphans): {time.monotonic() - t0:.1f}s")
    assert "scheduler" in stopped and "api-server" in stopped
    left = [p for p, start in {**before, **{p: st[3] for p, st in orphans.items()}}.items() if _alive(p, start)]
    assert not left, f"still alive after stop: {left}"
    assert svc.service_pids(home) == {}
    assert svc._http_json(es_node + "/_cluster/health"), "the reused Elasticsearch node must keep running"
    assert not svc.service_status(home).components


def test_celery_postgres_spreads_mapped_tasks_over_both_workers(service_home):
    import sqlalchemy

    home = service_home
    cfg = svc.ServiceConfig(home=home, dags_folder=DAGS, api_port=free_port(), executor="celery", workers=2,
                            worker_concurrency=2, parallelism=4, db="postgres", pg_port=free_port(),
                            redis_port=free_port(), start_es=False, start_demo=False, start_mail=False,
                            ready_timeout=400)  # fmt: skip
    info = svc.start_service(cfg)
    print(f"\ncelery start until every component answered: {info.ready_seconds:.1f}s, load {os.getloadavg()}")
    assert {c.name for c in info.components} == {"postgres", "redis", "api-server", "scheduler", "dag-processor",
                                                 "triggerer", "celery-worker-1", "celery-worker-2"}  # fmt: skip
    # PostgreSQL's children leave its session (setsid); they are found as the postmaster's descendants.
    assert len(svc.service_pids(home)["postgres"]) > 1
    listening = _listening(set(_all_service_pids(home)))
    assert {("127.0.0.1", cfg.pg_port), ("127.0.0.1", cfg.redis_port), ("127.0.0.1", cfg.api_port)} <= listening
    assert all(host == "127.0.0.1" for host, _ in listening), listening

    svc.wait_for_dags(home, ["svc_mapped"])
    run = _trigger(home, "svc_mapped")
    assert _wait_run(home, "svc_mapped", run, {"success", "failed"}, 300) == "success"
    engine = sqlalchemy.create_engine(svc._cfg_value(home, "database", "sql_alchemy_conn"))
    with engine.connect() as c:
        rows = c.execute(sqlalchemy.text("SELECT map_index, hostname, state FROM task_instance "
                                         "WHERE dag_id = 'svc_mapped' AND run_id = :r"), {"r": run}).fetchall()  # fmt: skip
    engine.dispose()
    assert sorted(r[0] for r in rows) == list(range(8)) and {r[2] for r in rows} == {"success"}
    hosts = {r[1] for r in rows}
    print(f"mapped tasks per worker: { {h: sum(r[1] == h for r in rows) for h in hosts} }")
    assert {h.rsplit("-", 1)[-1] for h in hosts} == {"worker1", "worker2"}, hosts

    before = _all_service_pids(home)
    t0 = time.monotonic()
    svc.stop_service(home, timeout=15)
    print(f"celery stop: {time.monotonic() - t0:.1f}s")
    assert not [p for p, start in before.items() if _alive(p, start)]
    assert svc.service_pids(home) == {}
