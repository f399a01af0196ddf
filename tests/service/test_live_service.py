"""The live service with the real components, not dag.test(): api-server, scheduler,
dag-processor and triggerer as separate processes (LocalExecutor, SQLite), the feed
watcher in the triggerer, a real Elasticsearch node of the test's own, a loopback feed
farm and a real SMTP server.

1. A new item in a feed polled every 10 s is mailed within 60 s; `stop` leaves no process.
2. Faults: SIGKILL of the triggerer, of the scheduler and of a task process mid-batch,
   each followed by a restart; a batch that fails past its retries while Elasticsearch is
   down, then recovery while the feed answers 304; clearing finished tasks after
   `airflow db clean`. After each: every item indexed exactly once, mailed exactly once,
   and monitoring goes on by itself.

The fault test runs twice: with the LocalExecutor on SQLite, and with the CeleryExecutor
(two workers, redis-server as the broker, PostgreSQL as the metadata database, all on
loopback). Under Celery it first shows one run's batches executed on both workers (and
each worker's task log read back through the api-server), and the task process killed in
step 3 becomes the whole Celery worker that runs the batch (worker, pool, supervisor and
task: what a lost machine does), restarted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port, own_es_node
from tests.service.farm import RULES, FeedFarm, TimingSink, service_env

pytestmark = pytest.mark.service


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _wait(cond, timeout: float, what: str, every: float = 0.5):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def own_node():
    """A node this test may stop and start (never the session's)."""
    with own_es_node("test-live") as node:
        yield node


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "live_service"

# Service options by executor. Celery: batches of one host each (RASAD_BATCH_SIZE=1), so
# the items of one poll on several hosts make one run with several batches to spread.
EXECUTORS = {
    "local": ({"parallelism": 3}, {}),
    "celery": ({"executor": "celery", "db": "postgres", "workers": 2, "worker_concurrency": 2, "parallelism": 4},
               {"RASAD_BATCH_SIZE": "1"}),
}  # fmt: skip


# The Celery variant is marked so that `make test-celery` (-m celery_service) can run it alone.
@pytest.fixture(params=[pytest.param(e, marks=pytest.mark.celery_service) if e == "celery" else e
                        for e in sorted(EXECUTORS)])  # fmt: skip
def live(request, own_node, tmp_path):
    """The running service (LocalExecutor or CeleryExecutor) over a small farm; stopped (and checked) afterwards."""
    from rasad.airflow_service import ServiceConfig, service_pids, start_service, stop_service

    executor = request.param
    opts, extra_env = EXECUTORS[executor]
    base, es_url, es_port, es_home = own_node
    # Two feeds on the first two of four virtual hosts; an item's page may be on any of them.
    farm = FeedFarm(feeds=2, hosts=4, port=free_port())
    sink = TimingSink(free_port())
    # PostgreSQL runs as the postgres user, which must reach its data under the home.
    parent = Path(tempfile.mkdtemp(prefix="rasad-live-"))
    os.chmod(parent, 0o711)  # noqa: S103 - the postgres user must traverse it
    home = parent / "svc"
    prefix = f"live{uuid.uuid4().hex[:8]}"
    with farm, sink:
        feeds = farm.registry(tmp_path / "feeds.yaml", interval="10s")
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES, encoding="utf-8")
        env = service_env(es_url, prefix, feeds, rules, sink.port, tmp_path / "var",
                          RASAD_SAFETY_NET_CRON="* * * * *", RASAD_TASK_RETRIES="2", RASAD_TASK_RETRY_DELAY="3",
                          RASAD_TASK_MAX_RETRY_DELAY="10", RASAD_RETRIES="0", RASAD_CLAIM_LEASE="60",
                          **extra_env)  # fmt: skip
        if executor == "celery":
            opts = {**opts, "pg_port": free_port(), "redis_port": free_port()}
        # A task whose worker died is failed after 60 s without heartbeat, then retried.
        cfg = ServiceConfig(home=home, api_port=free_port(), start_es=False, start_demo=False, start_mail=False,
                            env=env, task_heartbeat_timeout=60, ready_timeout=600, **opts)  # fmt: skip
        t0 = time.monotonic()
        info = start_service(cfg)
        print(f"\n[{executor}] service ready in {time.monotonic() - t0:.1f}s (load {_load()}): {info.ui_url}")
        pids: set[int] = set()
        try:
            yield {"farm": farm, "sink": sink, "home": home, "env": env, "es_url": es_url, "es_port": es_port,
                   "es_home": es_home, "base": base, "prefix": prefix, "pids": pids, "executor": executor,
                   "api_port": cfg.api_port}  # fmt: skip
        finally:
            try:
                for group in service_pids(home).values():
                    pids.update(group)
                stop_service(home)
                left = [p for p in pids if _alive(p)]
                left += [p for g in service_pids(home).values() for p in g if _alive(p)]
                assert not left, f"processes left after stop: {left}"
            finally:
                # The component and task logs stay for a look afterwards (tests/artifacts is not in git).
                dest = ARTIFACTS / request.node.name
                shutil.rmtree(dest, ignore_errors=True)
                if (home / "logs").is_dir():
                    shutil.copytree(home / "logs", dest, ignore_dangling_symlinks=True)
                shutil.rmtree(parent, ignore_errors=True)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _es(live):
    from rasad.core.es import make_client
    from rasad.core.settings import load_settings

    s = load_settings(env={"RASAD_ES_URL": live["es_url"], "RASAD_INDEX_PREFIX": live["prefix"]})
    return make_client(s), s


def _indexed_urls(live) -> list[str]:
    es, s = _es(live)
    try:
        es.indices.refresh(index=s.index("articles"), ignore_unavailable=True, allow_no_indices=True)
        res = es.search(index=s.index("articles"), size=1000, source=["url"], ignore_unavailable=True,
                        allow_no_indices=True)  # fmt: skip
    except Exception:
        return []
    return [h["_source"]["url"] for h in res["hits"]["hits"]]


def _watching(live) -> bool:
    """The watcher has polled every feed at least once (their states exist)."""
    es, s = _es(live)
    try:
        return es.count(index=f"{s.index('feeds')}-*", ignore_unavailable=True, allow_no_indices=True)["count"] >= 2
    except Exception:
        return False


def _publish_and_wait(live, feed: int, timeout: float = 90.0, label: str = "") -> float:
    """Publish one new item now; wait for its mail; return publication -> mail seconds."""
    farm, sink = live["farm"], live["sink"]
    item = farm.add_item(feed, time.time())
    got = _wait(lambda: sink.first_mail().get(item.key), timeout, f"the mail for {item.key} {label}")
    return got - item.publish_at


def _exactly_once(live) -> None:
    farm, sink = live["farm"], live["sink"]
    published = [i for i in farm.items if i.publish_at <= time.time()]
    urls = _indexed_urls(live)
    assert sorted(urls) == sorted({farm.page_url(i) for i in published}), "each item indexed exactly once"
    copies = sink.copies()
    for i in published:
        assert copies.get(("analyst@example.org", i.key)) == 1, (i.key, copies)


def _ti_rows(home: Path, task_id: str) -> list[dict]:
    """rasad_process.``task_id``'s task instances from Airflow's own records (SQLite or PostgreSQL)."""
    import sqlalchemy

    from rasad.airflow_service import _cfg_value

    engine = sqlalchemy.create_engine(_cfg_value(home, "database", "sql_alchemy_conn"))
    try:
        with engine.connect() as c:
            rows = c.execute(sqlalchemy.text(
                "SELECT id, run_id, map_index, try_number, state, hostname, pid, start_date, end_date "
                "FROM task_instance WHERE dag_id = 'rasad_process' AND task_id = :t"), {"t": task_id}).mappings().all()  # fmt: skip
    finally:
        engine.dispose()
    return [dict(r) for r in rows]


def _ti_history(home: Path, run_id: str, map_index: int, try_number: int) -> dict:
    """An earlier try of rasad_process.process (Airflow 3 keeps each finished try in task_instance_history)."""
    import sqlalchemy

    from rasad.airflow_service import _cfg_value

    engine = sqlalchemy.create_engine(_cfg_value(home, "database", "sql_alchemy_conn"))
    try:
        with engine.connect() as c:
            row = c.execute(sqlalchemy.text(
                "SELECT state, hostname, end_date FROM task_instance_history WHERE dag_id = 'rasad_process' "
                "AND task_id = 'process' AND run_id = :r AND map_index = :m AND try_number = :t"),
                {"r": run_id, "m": map_index, "t": try_number}).mappings().first()  # fmt: skip
    finally:
        engine.dispose()
    return dict(row) if row else {}


def _failed_runs(home: Path) -> list[str]:
    """Run ids of failed rasad_process runs (Airflow's dag_run table)."""
    import sqlalchemy

    from rasad.airflow_service import _cfg_value

    engine = sqlalchemy.create_engine(_cfg_value(home, "database", "sql_alchemy_conn"))
    try:
        with engine.connect() as c:
            rows = c.execute(sqlalchemy.text(
                "SELECT run_id FROM dag_run WHERE dag_id = 'rasad_process' AND state = 'failed'")).fetchall()  # fmt: skip
    finally:
        engine.dispose()
    return [r[0] for r in rows]


def _task_processes(home: Path, task_id: str) -> list[int]:
    """Pids of the running task processes of rasad_process.``task_id`` (from Airflow's own records)."""
    rows = [r for r in _ti_rows(home, task_id) if r["state"] == "running"]
    pids = {int(r["pid"]) for r in rows if r["pid"]}
    ids = {str(r["id"]) for r in rows}
    # The task process itself is "airflow worker -- <ti id>" (its supervisor adds "LocalExecutor:").
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
            except OSError:
                continue
            if len(cmd) == 4 and cmd[:3] == ["airflow", "worker", "--"] and cmd[3] in ids:
                pids.add(int(d.name))
    return sorted(p for p in pids if _alive(p))


def _worker_of(hostname: str | None) -> str:
    """'worker1' from a task instance's hostname ('<fqdn>-worker1', rasad.airflow_service.worker_hostname)."""
    return (hostname or "").rsplit("-", 1)[-1]


def _queue_batches(live, urls: set[str]) -> dict[str, str]:
    """Page URL -> the batch that processed it, from the work queue."""
    from rasad.ingest.queue import WorkQueue

    es, s = _es(live)
    index = WorkQueue(es, s).index
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=1000, source=["item.link", "batch"])["hits"]["hits"]
    return {h["_source"]["item"]["link"]: h["_source"].get("batch") for h in hits
            if h["_source"].get("item", {}).get("link") in urls}  # fmt: skip


def _api_log(live, run_id: str, ti: dict) -> str:
    """A task instance's log as the api-server serves it (REST API, admin token)."""
    from urllib.parse import quote

    base = f"http://127.0.0.1:{live['api_port']}"
    pw = json.loads((live["home"] / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    req = urllib.request.Request(f"{base}/auth/token", data=json.dumps({"username": "admin", "password": pw}).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        token = json.loads(r.read())["access_token"]
    url = (f"{base}/api/v2/dags/rasad_process/dagRuns/{quote(run_id, safe='')}/taskInstances/process/logs/"
           f"{ti['try_number']}?map_index={ti['map_index']}&full_content=true")  # fmt: skip
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def _one_run_on_both_workers(live) -> None:
    """One poll brings four items on four hosts: one run, four batches, run on both workers."""
    farm = live["farm"]
    farm_pages = farm.page

    def slow_page(it):  # every batch lasts a few seconds, so they overlap
        time.sleep(3)
        return farm_pages(it)

    farm.page = slow_page  # type: ignore[method-assign]
    t0 = time.time()
    items = [farm.add_item(0, t0, host=h) for h in range(4)]
    try:
        for it in items:
            _wait(lambda it=it: live["sink"].first_mail().get(it.key), 240, f"the mail for {it.key}")
    finally:
        farm.page = farm_pages  # type: ignore[method-assign]
    print(f"four items on four hosts: mailed {time.time() - t0:.1f}s after publication")
    batch_of = _queue_batches(live, {farm.page_url(i) for i in items})
    assert len(batch_of) == 4 and all(batch_of.values()), batch_of
    # Batch ids are "<run id>~<claim try>-<n>": one claim, one run.
    prefixes = {b.rsplit("-", 1)[0] for b in batch_of.values()}
    assert len(prefixes) == 1 and len(set(batch_of.values())) == 4, batch_of
    run_id = prefixes.pop().rsplit("~", 1)[0]
    tis = [r for r in _ti_rows(live["home"], "process") if r["run_id"] == run_id]
    assert len(tis) == 4 and {r["state"] for r in tis} == {"success"}, tis
    per_worker: dict[str, list[dict]] = {}
    for r in tis:
        per_worker.setdefault(_worker_of(r["hostname"]), []).append(r)
    print(f"run {run_id}: its 4 batches per worker: { {w: len(v) for w, v in sorted(per_worker.items())} }")
    assert set(per_worker) == {"worker1", "worker2"}, {w: [r["hostname"] for r in v] for w, v in per_worker.items()}
    # Logs stay readable from either worker: written to the shared log folder, served by the api-server.
    for w, rows in sorted(per_worker.items()):
        text = _api_log(live, run_id, rows[0])
        assert "batch " in text and run_id in text, (w, text[:2000])
        print(f"api-server served the task log of {w} (map index {rows[0]['map_index']}): {len(text)} bytes")


def _running_batch(live, url: str) -> dict | None:
    """The running process task (its task_instance row) of the batch that claimed ``url``, if any."""
    batch = _queue_batches(live, {url}).get(url)
    if not batch:
        return None
    run_id = batch.rsplit("-", 1)[0].rsplit("~", 1)[0]
    rows = [r for r in _ti_rows(live["home"], "process")
            if r["run_id"] == run_id and r["state"] == "running" and r["pid"]]  # fmt: skip
    return rows[0] if rows else None


def _kill_celery_worker_mid_batch(live) -> None:
    """SIGKILL every process of the Celery worker running a batch; the batch finishes after the retry."""
    from rasad.airflow_service import restart_component, service_pids

    home, farm = live["home"], live["farm"]
    farm_pages = farm.page

    def slow_page(it):
        time.sleep(6)
        return farm_pages(it)

    farm.page = slow_page  # type: ignore[method-assign]
    item = farm.add_item(0, time.time())
    ti = _wait(lambda: _running_batch(live, farm.page_url(item)), 180, "the batch's process task running on a worker",
               every=0.3)  # fmt: skip
    worker = _worker_of(ti["hostname"])
    name = f"celery-worker-{worker.removeprefix('worker')}"
    pids = service_pids(home)[name]
    # The task process (task_instance.pid) belongs to that worker's session.
    assert int(ti["pid"]) in pids, (ti, name, pids)
    live["pids"].update(pids)
    t_kill = time.time()
    for p in pids:
        os.kill(p, signal.SIGKILL)
    farm.page = farm_pages  # type: ignore[method-assign]
    print(f"SIGKILLed {name} ({len(pids)} processes: worker, pool, supervisor, task) running try {ti['try_number']}")
    time.sleep(3)
    restart_component(home, name)
    got = _wait(lambda: live["sink"].first_mail().get(item.key), 420, "the item of the killed worker's batch")
    # Each try is a task instance of its own id in Airflow 3: find the batch by run and map
    # index. The mail leaves before the task ends (the run's only batch alerts inline).

    def batch_done() -> dict | None:
        (row,) = [r for r in _ti_rows(home, "process") if (r["run_id"], r["map_index"]) == (ti["run_id"], ti["map_index"])]
        return row if row["state"] not in ("running", "queued", "scheduled", "up_for_retry") else None

    again = _wait(batch_done, 180, "the killed batch's retry to end", every=1)
    killed = _ti_history(home, ti["run_id"], ti["map_index"], ti["try_number"])
    print(f"killed try {ti['try_number']} ended {killed.get('state')} "
          f"{(killed['end_date'].timestamp() - t_kill) if killed.get('end_date') else float('nan'):.1f}s after the kill "
          f"(heartbeat timeout 60 s); the batch mailed {got - t_kill:.1f}s after the kill; try {again['try_number']} "
          f"{again['state']} on {_worker_of(again['hostname'])}")  # fmt: skip
    assert again["state"] == "success" and again["try_number"] > ti["try_number"], again


@pytest.mark.parametrize("live", ["local"], indirect=True)
def test_new_item_is_mailed_within_a_minute_and_stop_leaves_nothing(live):
    _wait(lambda: _watching(live), 120, "the feed watcher's first polls")
    latency = _publish_and_wait(live, feed=0, timeout=60)
    print(f"publication -> mail: {latency:.1f}s (feed polled every 10 s)")
    assert latency <= 60
    _exactly_once(live)


# Five faults, each waited out with real retries and restarts: ~20 min at load 20 on 2 cores.
@pytest.mark.timeout(2700)
def test_faults_lose_nothing_duplicate_nothing_and_monitoring_resumes(live):
    from rasad import esnode
    from rasad.airflow_service import restart_component, run_airflow, service_pids

    home, farm = live["home"], live["farm"]
    t_start = time.monotonic()
    _wait(lambda: _watching(live), 180, "the feed watcher's first polls")
    print("baseline:", round(_publish_and_wait(live, 0, 180), 1), "s")
    if live["executor"] == "celery":
        _one_run_on_both_workers(live)
        _exactly_once(live)

    # 1. The triggerer dies (SIGKILL) with an item published meanwhile; restarted, it catches up.
    (trig,) = [r for r in [service_pids(home).get("triggerer")] if r]
    live["pids"].update(trig)
    os.kill(trig[0], signal.SIGKILL)
    farm.add_item(1, time.time())
    time.sleep(3)
    restart_component(home, "triggerer")
    print("after triggerer SIGKILL:", round(_publish_and_wait(live, 0, 300, "after the triggerer restart"), 1), "s")
    _wait(lambda: len(live["sink"].first_mail()) >= 3, 240, "the item published while the triggerer was down")
    _exactly_once(live)

    # 2. The scheduler dies (SIGKILL); its orphans are stopped by the restart.
    sched = service_pids(home).get("scheduler") or []
    live["pids"].update(sched)
    os.kill(sched[0], signal.SIGKILL)
    item = farm.add_item(1, time.time())
    time.sleep(3)
    restart_component(home, "scheduler")
    got = _wait(lambda: live["sink"].first_mail().get(item.key), 300, "the item published while the scheduler was down")
    print("after scheduler SIGKILL:", round(got - item.publish_at, 1), "s")
    _exactly_once(live)

    # 3. A task process killed mid-batch (under Celery: the whole worker running it); a
    #    slow page holds the batch in `process`.
    farm_pages = farm.page

    def slow_page(it):
        time.sleep(6)
        return farm_pages(it)

    if live["executor"] == "celery":
        _kill_celery_worker_mid_batch(live)
    else:
        farm.page = slow_page  # type: ignore[method-assign]
        item = farm.add_item(0, time.time())
        pids = _wait(lambda: _task_processes(home, "process"), 120, "a running process task", every=0.2)
        for p in pids:
            os.kill(p, signal.SIGKILL)
        farm.page = farm_pages  # type: ignore[method-assign]
        _wait(lambda: live["sink"].first_mail().get(item.key), 240, "the item of the killed batch")
    _exactly_once(live)

    # 4. Elasticsearch goes down after an item is queued; the batch fails past its retries.
    base, port, es_home = live["base"], live["es_port"], live["es_home"]
    farm.page = slow_page  # type: ignore[method-assign]  # time to stop the node mid-batch
    item = farm.add_item(1, time.time())
    # The item claimed and its batch at work: the outage meets a claim that only its run could hand back.
    ti = _wait(lambda: _running_batch(live, farm.page_url(item)), 120, "the batch's process task", every=0.2)
    esnode.stop_node(base, port=port, home=es_home)
    farm.page = farm_pages  # type: ignore[method-assign]
    # The batch's tries (retries after 3 s, 6 s) and then its run's alert task, which would
    # hand the claim back, all meet the outage: the node stays down until that run has
    # failed (a task hop takes longer at high load).
    t_down = time.monotonic()
    _wait(lambda: ti["run_id"] in _failed_runs(home), 300, f"run {ti['run_id']} to fail during the outage", every=2)
    print(f"Elasticsearch down for {time.monotonic() - t_down:.0f}s until the batch's run {ti['run_id']} had failed")
    esnode.start_node(base, port=port, home=es_home, wait=480)  # a JVM start takes minutes at load 20
    # The feed now answers 304 (its item was seen before the outage). The failed run's alert
    # task may have handed its claims back (if a retry met the node up again), or not (all
    # its tries met the outage): then the claim, renewed by nobody since the node went
    # down, runs out a lease (60 s here) after its last heartbeat, and the safety net's
    # next run takes it. (CI once waited 300 s here on a claim held for 30 minutes.)
    t_up = time.monotonic()
    got = _wait(lambda: live["sink"].first_mail().get(item.key), 300, "the item queued before the outage")
    print(f"the item of the failed run mailed {time.monotonic() - t_up:.0f}s after the node was up again "
          f"({got - item.publish_at:.0f}s after publication)")
    _exactly_once(live)
    print("after the Elasticsearch outage:", round(_publish_and_wait(live, 0, 300), 1), "s")

    # 5. `airflow db clean` removes old XCom and runs; clearing finished tasks still works.
    env = {"AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    cut = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 60))
    run_airflow(home, "db", "clean", "--clean-before-timestamp", cut, "--tables", "xcom", "--skip-archive",
                "--yes", timeout=300)  # fmt: skip
    del env
    start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))
    for task in ("alert", "claim"):
        res = run_airflow(home, "tasks", "clear", "rasad_process", "-t", task, "--downstream", "-s", start, "-y",
                          timeout=300, check=False)  # fmt: skip
        assert res.returncode == 0, res.stderr[-2000:]
    time.sleep(30)
    print("after clearing tasks:", round(_publish_and_wait(live, 1, 300), 1), "s")
    _exactly_once(live)
    from rasad.airflow_service import airflow_json

    # The outage really made a run fail past its retries: step 4 waited for it and recorded it
    # then. Step 5's clear may have re-run that run since (it did under Celery on a clean clone,
    # where this used to be checked here and failed); its articles are still exactly once.
    runs = {r["run_id"]: r["state"] for r in airflow_json(home, "dags", "list-runs", "rasad_process")}
    print(f"the outage's failed run {ti['run_id']}, its state now: {runs.get(ti['run_id'])}")
    print(f"[{live['executor']}] fault test done in {time.monotonic() - t_start:.0f}s, load {_load()}")
