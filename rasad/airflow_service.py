"""Rasad's local Airflow service: api-server, scheduler, dag-processor and triggerer as separate processes.

``start_service`` starts every component on loopback, each in its own session with a pid
file under ``var/airflow-service/run/``, and returns once each one answers.
``stop_service`` stops the scheduler first and the api-server last, SIGTERM then SIGKILL,
and then kills whatever is left in each component's *session*: LocalExecutor task
processes put themselves in a process group of their own (Airflow 3.3's supervisor calls
``setpgid``), so a ``killpg`` on the scheduler's group misses a task orphaned by a
SIGKILLed scheduler, but ``setpgid`` keeps the session. Nothing is ever found by name.

The configuration lives in ``AIRFLOW_HOME/airflow.cfg`` (0600, with a generated JWT secret,
Fernet key and API secret kept in ``secrets.json``, 0600): any ``airflow`` command run
with ``service_env(home)`` talks to the same service. Airflow 3.3.2's log servers bind
every interface (``host=""`` in ``airflow.utils.serve_logs``), so they stay off
(``--skip-serve-logs``); the api-server reads task logs from the shared log folder.

Also started here, when asked and not already answering: the local Elasticsearch node,
the demo site and the SMTP sink; and, for ``db="postgres"`` / ``executor="celery"``, an
own PostgreSQL cluster and redis-server, each on loopback and stopped by pid.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlparse

from rasad.core.settings import PROJECT_ROOT, load_settings
from rasad.core.shipped import shipped

log = logging.getLogger(__name__)

DEFAULT_HOME = PROJECT_ROOT / "var" / "airflow-service"
DAGS_FOLDER = shipped("dags")
DEMO_FEEDS = shipped("examples/demo/feeds.yaml")
DEMO_RULES = shipped("examples/demo/rules.yaml")
VENV_BIN = Path(sys.prefix) / "bin"
# Stop order: the scheduler first (so it hands out no more work), the api-server last
# (tasks report their end through it); the backing services after Airflow.
STOP_STAGES = [{"scheduler"}, {"celery-worker"}, {"triggerer", "dag-processor"}, {"api-server"},
               {"mail-sink", "demo-site", "redis"}, {"postgres"}]  # fmt: skip
JOB_TYPES = {"scheduler": "SchedulerJob", "triggerer": "TriggererJob", "dag-processor": "DagProcessorJob"}


class ServiceError(RuntimeError):
    """The service could not be started or stopped (the message names the component and its log)."""


@dataclass
class ServiceConfig:
    """What to start and where; every port is configurable."""

    home: Path = DEFAULT_HOME
    dags_folder: Path = DAGS_FOLDER
    api_port: int = 8080
    executor: str = "local"  # "local" (LocalExecutor) or "celery"
    workers: int = 2  # Celery workers (each its own process and hostname)
    worker_concurrency: int = 2  # task slots per Celery worker
    parallelism: int = 4  # [core] parallelism: LocalExecutor pre-forks this many workers
    db: str = "sqlite"  # "sqlite" or "postgres"
    pg_port: int = 5433
    redis_port: int = 6380
    # Log-server ports, written to the config for completeness; the servers stay off
    # because Airflow 3.3.2 binds them to every interface.
    worker_log_port: int = 8793
    trigger_log_port: int = 8794
    demo_port: int = 8765
    # [scheduler] task_instance_heartbeat_timeout: a task whose supervisor stopped
    # heartbeating (its Celery worker or machine died with it) is failed and retried after
    # this long. Airflow's 300 s would hold a lost batch for five minutes; the supervisor
    # heartbeats every 5 s, so 120 s leaves room for a loaded api-server.
    task_heartbeat_timeout: int = 120
    start_es: bool = True  # start (or reuse) the local node RASAD_ES_URL points at, if on loopback
    start_demo: bool = True  # demo site on 127.0.0.1:demo_port
    start_mail: bool = True  # SMTP sink on the configured smtp port, writing var/mail/
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every component
    ready_timeout: float = 240.0

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.dags_folder = Path(self.dags_folder).resolve()
        if self.executor not in ("local", "celery"):
            raise ServiceError(f"executor must be 'local' or 'celery', not {self.executor!r}")
        if self.db not in ("sqlite", "postgres"):
            raise ServiceError(f"db must be 'sqlite' or 'postgres', not {self.db!r}")
        if self.executor == "celery" and self.db != "postgres":
            raise ServiceError("the Celery executor needs --db postgres (SQLite takes one writer at a time)")
        if not 1 <= self.parallelism <= 64 or self.workers < 1 or self.worker_concurrency < 1:
            raise ServiceError("parallelism must be 1-64 and workers/worker_concurrency at least 1")


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    alive: bool
    port: int | None
    log: str


@dataclass
class ServiceInfo:
    home: Path
    ui_url: str
    executor: str
    db: str
    es_url: str
    es_cluster: str | None  # "name (uuid)" of the cluster the tasks write to, if it answers
    components: list[ComponentStatus]
    ready_seconds: float | None = None

    @property
    def running(self) -> bool:
        return bool(self.components) and all(c.alive for c in self.components)


# --------------------------------------------------------------------------- processes (by pid and session)


def _proc_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, pgrp, session, start time in ticks) of a live process, None if gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])


def _pid_file(home: Path, name: str) -> Path:
    return home / "run" / f"{name}.pid"


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _leader_alive(rec: dict) -> bool:
    st = _proc_stat(rec["pid"])
    return st is not None and st[3] == rec["start"]  # same start time: not a reused pid


def _all_stats() -> dict[int, tuple[int, int, int, int]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _proc_stat(int(entry))):
            stats[int(entry)] = st
    return stats


def _live_members(rec: dict) -> list[int]:
    """The component's session, plus every descendant of its leader (PostgreSQL's children call setsid)."""
    stats = _all_stats()
    # A session id is only kept while a process of that session lives, so the number
    # cannot have been reused by an unrelated session.
    found = {p for p, st in stats.items() if st[2] == rec["sid"]}
    if _leader_alive(rec):
        todo = [rec["pid"]]
        while todo:
            parent = todo.pop()
            for p, st in stats.items():
                if st[0] == parent and p not in found:
                    found.add(p)
                    todo.append(p)
    return sorted(found)


def _spawn(home: Path, name: str, argv: list[str], env: dict[str, str], port: int | None,
           user: str | None = None, stop_signal: int = signal.SIGTERM) -> dict:  # fmt: skip
    """Start one component in a new session with its output in logs/<name>.out; write its pid file."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.out"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    kwargs: dict = {}
    if user:
        kwargs = {"user": user, "group": user, "extra_groups": []}
    with os.fdopen(fd, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(home), start_new_session=True, **kwargs)  # fmt: skip
    st = _proc_stat(proc.pid)
    rec = {"name": name, "pid": proc.pid, "pgid": proc.pid, "sid": proc.pid, "start": st[3] if st else 0,
           "port": port, "log": str(log_path), "argv": argv[:3], "stop_signal": int(stop_signal)}  # fmt: skip
    path = _pid_file(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    tmp.replace(path)
    _CHILDREN.append(proc)  # keep the Popen so its exit is reaped (no zombie in our own process)
    return rec


_CHILDREN: list[subprocess.Popen] = []


_REAP_LOCK = threading.Lock()


def _reap() -> None:
    with _REAP_LOCK:  # stop_service stops one stage's components from several threads
        for p in list(_CHILDREN):
            if p.poll() is not None:
                _CHILDREN.remove(p)


def _snapshot(pids: list[int]) -> dict[int, int]:
    """{pid: start time} of the live ones: a pid is only signalled while its start time still matches."""
    return {p: st[3] for p in pids if (st := _proc_stat(p))}


def _still(procs: dict[int, int]) -> dict[int, int]:
    return {p: t for p, t in procs.items() if (st := _proc_stat(p)) and st[3] == t}


def _wait_gone(procs: dict[int, int], timeout: float) -> dict[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        _reap()
        procs = _still(procs)
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(0.1)


def _signal_all(procs: dict[int, int], sig: int) -> None:
    for pid in _still(procs):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_component(home: Path, name: str, timeout: float = 30.0) -> int:
    """Stop one component by its pid file: its signal, then SIGKILL; then everything left in its session.

    Returns how many processes were still alive when it began.
    """
    path = _pid_file(home, name)
    rec = _read_record(path)
    if rec is None:
        return 0
    procs = _snapshot(_live_members(rec))
    count = len(procs)
    if _leader_alive(rec):
        leader = {rec["pid"]: rec["start"]}
        _signal_all(leader, rec.get("stop_signal", signal.SIGTERM))
        if _wait_gone(leader, timeout):
            _signal_all(leader, signal.SIGKILL)
            _wait_gone(leader, 5)
    # What the leader left behind (pre-forked workers, orphaned task processes, a crashed
    # leader's children): whatever is still in its session, and its descendants seen before.
    rest = _still({**procs, **_snapshot(_live_members(rec))})
    if rest:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rec["pgid"], signal.SIGTERM)
        _signal_all(rest, signal.SIGTERM)
        rest = _wait_gone(rest, min(timeout, 5.0))
        _signal_all(rest, signal.SIGKILL)
        rest = _wait_gone({**rest, **_snapshot(_live_members(rec))}, 5)
        if rest:
            raise ServiceError(f"{name}: processes {sorted(rest)} survived SIGKILL")
    path.unlink(missing_ok=True)
    return count


def service_pids(home: Path = DEFAULT_HOME) -> dict[str, list[int]]:
    """Every live process of the service, by component (each component's whole session)."""
    out: dict[str, list[int]] = {}
    for path in sorted((Path(home) / "run").glob("*.pid")):
        rec = _read_record(path)
        if rec:
            out[rec["name"]] = _live_members(rec)
    return out


# --------------------------------------------------------------------------- small network checks


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _http_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - our own services' http URLs
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _redis_ping(port: int, password: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"+OK") and b"+PONG" in data
    except OSError:
        return False


def cluster_label(es_url: str) -> str | None:
    """'name (uuid)' of the Elasticsearch cluster at ``es_url``, None if it does not answer."""
    base = es_url.rstrip("/")
    health = _http_json(f"{base}/_cluster/health")
    if not health:
        return None
    state = _http_json(f"{base}/_cluster/state/metadata?filter_path=metadata.cluster_uuid") or {}
    return f"{health.get('cluster_name')} ({state.get('metadata', {}).get('cluster_uuid', '?')})"


# --------------------------------------------------------------------------- secrets and configuration


class _Secrets(dict):
    """The service's secrets; masked in repr so a traceback (pytest prints arguments) never shows them."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"


def _secrets(home: Path) -> _Secrets:
    """Generated once per home and kept (0600): the Fernet key must stay the same across restarts."""
    path = home / "secrets.json"
    old = _read_record(path) or {}
    want = {
        "jwt_secret": lambda: secrets.token_urlsafe(64),
        "api_secret_key": lambda: secrets.token_urlsafe(48),
        "fernet_key": lambda: urlsafe_b64encode(os.urandom(32)).decode(),
        "pg_password": lambda: secrets.token_urlsafe(24),
        "redis_password": lambda: secrets.token_urlsafe(24),
    }
    values = _Secrets({k: old.get(k) or make() for k, make in want.items()})
    if values != old:
        _write_private(path, json.dumps(values))
    return values


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _sql_conn(cfg: ServiceConfig, sec: dict[str, str]) -> str:
    if cfg.db == "postgres":
        return f"postgresql+psycopg2://airflow:{quote(sec['pg_password'], safe='')}@127.0.0.1:{cfg.pg_port}/airflow"
    return f"sqlite:///{cfg.home / 'airflow.db'}"


def _write_airflow_cfg(cfg: ServiceConfig, sec: dict[str, str]) -> Path:
    base = f"http://127.0.0.1:{cfg.api_port}"
    sections: dict[str, dict[str, str]] = {
        "core": {
            "dags_folder": str(cfg.dags_folder),
            "executor": "CeleryExecutor" if cfg.executor == "celery" else "LocalExecutor",
            "parallelism": str(cfg.parallelism),
            "load_examples": "False",
            "dags_are_paused_at_creation": "False",
            "execution_api_server_url": f"{base}/execution/",
            "fernet_key": sec["fernet_key"],
            "simple_auth_manager_users": "admin:admin",
            "simple_auth_manager_passwords_file": str(cfg.home / "simple_auth_manager_passwords.json.generated"),
        },
        "database": {"sql_alchemy_conn": _sql_conn(cfg, sec)},
        "api": {"host": "127.0.0.1", "port": str(cfg.api_port), "base_url": f"{base}/", "workers": "1",
                "secret_key": sec["api_secret_key"], "expose_config": "False"},  # fmt: skip
        "api_auth": {"jwt_secret": sec["jwt_secret"]},
        "logging": {
            "base_log_folder": str(cfg.home / "logs" / "tasks"),
            "worker_log_server_port": str(cfg.worker_log_port),
            "trigger_log_server_port": str(cfg.trigger_log_port),
        },
        "scheduler": {"enable_health_check": "False",
                      "task_instance_heartbeat_timeout": str(cfg.task_heartbeat_timeout)},
        # A shared 2-core machine can keep the api-server busy past the default 5 s; a
        # task whose calls time out fails for no fault of its own.
        "workers": {"execution_api_timeout": "30.0"},
    }
    if cfg.executor == "celery":
        sections["celery"] = {
            "broker_url": f"redis://:{quote(sec['redis_password'], safe='')}@127.0.0.1:{cfg.redis_port}/0",
            "result_backend": "db+" + _sql_conn(cfg, sec).replace("+psycopg2", ""),
            "worker_concurrency": str(cfg.worker_concurrency),
            # A worker takes one message per free slot and acknowledges it only when the task
            # ends (Airflow's defaults, written out because recovery depends on them): a
            # message a dead worker held is not lost with it.
            "task_acks_late": "True",
            "worker_prefetch_multiplier": "1",
        }
        # Recovery from a dead worker is Airflow's, not the broker's: the task instance stops
        # heartbeating, the scheduler fails it after task_heartbeat_timeout and the retry
        # goes to a live worker. Redis would also redeliver the unacknowledged message after
        # the visibility timeout; that must never happen while the first copy still runs
        # (the same try would start twice), so the timeout stays well above the longest
        # task (execution_timeout is 30 min). A late redelivery of a dead worker's message
        # is refused by the Execution API: that try is no longer queued.
        sections["celery_broker_transport_options"] = {"visibility_timeout": "7200"}
    text = "# Written by rasad/airflow_service.py on each start; holds secrets (0600).\n"
    for name, opts in sections.items():
        text += f"\n[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
    path = cfg.home / "airflow.cfg"
    _write_private(path, text)
    # Airflow imports airflow_local_settings from AIRFLOW_HOME/config in every process;
    # ours preloads the pipeline in the processes that fork tasks (rasad/warm.py).
    local = cfg.home / "config" / "airflow_local_settings.py"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text('"""Written by rasad airflow start."""\nfrom rasad.warm import maybe_preload\n\nmaybe_preload()\n')
    return path


def _inherited_env() -> dict[str, str]:
    """The caller's environment without Airflow *configuration* (AIRFLOW__*, AIRFLOW_HOME, AIRFLOW_CONFIG).

    Those would override the service's own config file (a test session sets several);
    connections and variables (AIRFLOW_CONN_*, AIRFLOW_VAR_*) pass through.
    """
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("AIRFLOW__") or k in ("AIRFLOW_HOME", "AIRFLOW_CONFIG"))}  # fmt: skip


def service_env(home: Path = DEFAULT_HOME, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an ``airflow`` command against the service: its home and config, nothing inherited."""
    home = Path(home).resolve()
    env = _inherited_env()
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"})  # fmt: skip
    recorded = (_read_record(home / "service.json") or {}).get("env", {})
    env.update(recorded)
    env.update(extra or {})
    return env


def run_airflow(home: Path, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``airflow ARGS`` against the service; raise with its output if it fails and ``check``."""
    proc = subprocess.run([str(VENV_BIN / "airflow"), *args], env=service_env(home), capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip
    if check and proc.returncode != 0:
        raise ServiceError(f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def airflow_json(home: Path, *args: str, timeout: float = 120.0) -> object:
    """Run ``airflow ARGS -o json`` against the service and return the parsed output (warnings skipped)."""
    out = run_airflow(home, *args, "-o", "json", timeout=timeout).stdout
    # Airflow prints import warnings on stdout before the JSON document.
    for i, line in enumerate(out.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads("\n".join(out.splitlines()[i:]))
    raise ServiceError(f"airflow {' '.join(args)} printed no JSON:\n{out[-1500:]}")


def _rasad_env(cfg: ServiceConfig) -> dict[str, str]:
    """RASAD_* for the tasks: what ``start`` was run with, the local defaults otherwise, always explicit."""
    s = load_settings()
    feeds = s.path(s.feeds_file).resolve()
    env = {
        # Always explicit: the local node unless the caller named a cluster.
        "RASAD_ES_URL": s.es_url or s.local_es_url,
        "RASAD_FEEDS_FILE": str(feeds),
        "RASAD_RULES_FILE": str(s.path(s.rules_file).resolve()),
        "RASAD_VAR_DIR": str(s.var_path.resolve()),
        "RASAD_SMTP_HOST": s.smtp_host,
        "RASAD_SMTP_PORT": str(s.smtp_port),
    }
    # The demo site is on loopback, which the SSRF guard refuses unless told otherwise;
    # a real registry keeps the guard unless the caller's environment lifts it.
    if feeds == DEMO_FEEDS.resolve():
        env["RASAD_ALLOW_PRIVATE_NETWORKS"] = "1"
    env.update(cfg.env)
    if "AIRFLOW_CONN_RASAD_SMTP" not in os.environ and "AIRFLOW_CONN_RASAD_SMTP" not in env:
        # Task-failure mails (the DAGs' SMTP notifier) go where the alerts go.
        from rasad.airflow_local import sink_connection_uri  # noqa: PLC0415

        env["AIRFLOW_CONN_RASAD_SMTP"] = sink_connection_uri(env["RASAD_SMTP_HOST"], int(env["RASAD_SMTP_PORT"]))
    return env


# --------------------------------------------------------------------------- backing services


def _pg_bin(tool: str) -> str:
    roots = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for root in reversed(roots):
        if (root / tool).is_file():
            return str(root / tool)
    found = shutil.which(tool)
    if not found:
        raise ServiceError(f"PostgreSQL's {tool} not found; run `make system-deps` (installs Debian's postgresql)")
    return found


def _as_pg_user() -> str | None:
    # PostgreSQL refuses to run as root: drop to the Debian package's `postgres` user.
    return "postgres" if os.geteuid() == 0 else None


def _start_postgres(cfg: ServiceConfig, sec: dict[str, str], env: dict[str, str]) -> None:
    pg = cfg.home / "pg"
    data = pg / "data"
    user = _as_pg_user()
    (pg / "run").mkdir(parents=True, exist_ok=True)
    if user:
        import pwd  # noqa: PLC0415

        for parent in [pg, *pg.parents]:
            if not os.stat(parent).st_mode & 0o001:
                raise ServiceError(f"{parent} is not traversable by other users, so PostgreSQL (running as "
                                   f"{user}, because it refuses root) cannot reach {pg}; use another --home")  # fmt: skip

        pw = pwd.getpwnam(user)
        for p in (pg, pg / "run"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    if not (data / "PG_VERSION").is_file():
        shutil.rmtree(data, ignore_errors=True)
        pwfile = pg / "pwfile"
        _write_private(pwfile, sec["pg_password"] + "\n")
        if user:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        proc = subprocess.run([_pg_bin("initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={pwfile}",
                               "-A", "scram-sha-256", "-E", "UTF8", "--no-locale"],
                              capture_output=True, text=True, user=user, check=False,
                              env={**env, "HOME": str(pg)})  # fmt: skip
        pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise ServiceError(f"initdb failed in {data}:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    argv = [_pg_bin("postgres"), "-D", str(data), "-p", str(cfg.pg_port), "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={pg / 'run'}", "-c", "max_connections=200"]  # fmt: skip
    # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
    rec = _spawn(cfg.home, "postgres", argv, {**env, "HOME": str(pg)}, cfg.pg_port, user=user, stop_signal=signal.SIGINT)
    _wait_until(lambda: _pg_ready(cfg.pg_port), cfg.ready_timeout, "postgres", rec)
    _ensure_pg_database(cfg, sec)


def _pg_ready(port: int) -> bool:
    proc = subprocess.run([_pg_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], check=False)
    return proc.returncode == 0


def _ensure_pg_database(cfg: ServiceConfig, sec: dict[str, str]) -> None:
    import psycopg2  # noqa: PLC0415 - installed with apache-airflow-providers-postgres

    conn = psycopg2.connect(host="127.0.0.1", port=cfg.pg_port, user="airflow", password=sec["pg_password"], dbname="postgres")
    conn.autocommit = True  # CREATE DATABASE cannot run in a transaction (so no `with conn:`)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE airflow")
    finally:
        conn.close()


def _start_redis(cfg: ServiceConfig, sec: dict[str, str], env: dict[str, str]) -> None:
    exe = shutil.which("redis-server")
    if not exe:
        raise ServiceError("redis-server not found; run `make system-deps` (installs Debian's redis-server)")
    d = cfg.home / "redis"
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "redis.conf"
    # The password goes in a 0600 file, not on the command line (visible in ps).
    _write_private(conf, f"bind 127.0.0.1\nport {cfg.redis_port}\nprotected-mode yes\ndir {d}\nsave \"\"\n"
                         f"appendonly no\ndaemonize no\nrequirepass {sec['redis_password']}\n")  # fmt: skip
    rec = _spawn(cfg.home, "redis", [exe, str(conf)], env, cfg.redis_port)
    _wait_until(lambda: _redis_ping(cfg.redis_port, sec["redis_password"]), 30, "redis", rec)


def _start_demo_parts(cfg: ServiceConfig, env: dict[str, str], started: list[str]) -> None:
    s = load_settings(env)
    py = str(VENV_BIN / "python")
    if cfg.start_demo:
        if _port_open(cfg.demo_port):
            print(f"[airflow] reusing what answers on 127.0.0.1:{cfg.demo_port} as the demo site", flush=True)
        else:
            rec = _spawn(cfg.home, "demo-site", [py, "-m", "rasad.airflow_service", "serve-site", str(cfg.demo_port)],
                         env, cfg.demo_port)  # fmt: skip
            _wait_until(lambda: _port_open(cfg.demo_port), 30, "demo-site", rec)
            started.append("demo-site")
    if cfg.start_mail:
        if _port_open(s.smtp_port, s.smtp_host):
            print(f"[airflow] reusing the SMTP server on {s.smtp_host}:{s.smtp_port}", flush=True)
        elif s.smtp_host in ("127.0.0.1", "localhost"):
            rec = _spawn(cfg.home, "mail-sink", [py, "-m", "rasad.airflow_service", "serve-mail", str(s.smtp_port),
                                                 str(s.var_path / "mail")], env, s.smtp_port)  # fmt: skip
            _wait_until(lambda: _port_open(s.smtp_port), 30, "mail-sink", rec)
            started.append("mail-sink")


def _start_es(cfg: ServiceConfig, env: dict[str, str]) -> bool:
    """Start the local node the tasks point at, unless it answers already; True if we started it."""
    from rasad import esnode  # noqa: PLC0415

    s = load_settings(env)
    u = urlparse(s.es_url)
    if u.hostname not in ("127.0.0.1", "localhost") or not cfg.start_es:
        return False
    if esnode.node_status(s).running:
        return False
    print(f"[airflow] starting Elasticsearch at {s.es_url} ...", flush=True)
    esnode.start_node(s)
    return True


# --------------------------------------------------------------------------- readiness


def _wait_until(check, timeout: float, name: str, rec: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if rec and not _leader_alive(rec):
            raise ServiceError(f"{name} exited during start-up; see {rec['log']}:\n{_tail(rec['log'])}")
        time.sleep(0.3)
    raise ServiceError(f"{name} did not answer within {timeout:.0f}s" + (f"; see {rec['log']}:\n{_tail(rec['log'])}" if rec else ""))


def _tail(path: str, n: int = 2500) -> str:
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _parse_ts(v: object) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if not isinstance(v, datetime):
        raise TypeError(f"not a date-time: {v!r}")
    return v if v.tzinfo else v.replace(tzinfo=UTC)


def _fresh_jobs(conn: str, since: datetime) -> set[str]:
    """Job types with a running job started after ``since`` and heartbeating (read from Airflow's DB)."""
    import sqlalchemy  # noqa: PLC0415

    engine = sqlalchemy.create_engine(conn)
    try:
        with engine.connect() as c:
            rows = c.execute(sqlalchemy.text(
                "SELECT job_type, start_date, latest_heartbeat FROM job WHERE state = 'running'")).fetchall()  # fmt: skip
    except sqlalchemy.exc.SQLAlchemyError:
        return set()
    finally:
        engine.dispose()
    return {r[0] for r in rows if (_parse_ts(r[1]) or since) >= since and _parse_ts(r[2])}


def _celery_hosts(broker: str) -> set[str]:
    from celery import Celery  # noqa: PLC0415

    app = Celery(broker=broker)
    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception:  # the broker not answering yet is just "not ready"
        return set()
    finally:
        app.close()
    return {h for r in replies for h in r}


def wait_for_dags(home: Path, dag_ids: list[str], timeout: float = 120.0) -> None:
    """Wait until the dag-processor has parsed every DAG in ``dag_ids`` (rows in the ``dag`` table)."""
    import sqlalchemy  # noqa: PLC0415

    conn = _cfg_value(Path(home), "database", "sql_alchemy_conn")
    engine = sqlalchemy.create_engine(conn)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as c:
                rows = c.execute(sqlalchemy.text("SELECT dag_id FROM dag WHERE is_stale = :f"), {"f": False}).fetchall()
            missing = set(dag_ids) - {r[0] for r in rows}
            if not missing:
                return
            if time.monotonic() > deadline:
                raise ServiceError(f"DAG(s) {sorted(missing)} not parsed within {timeout:.0f}s; see {home}/logs/dag-processor.out")
            time.sleep(0.5)
    finally:
        engine.dispose()


def _schema_stamp(conn: str) -> dict | None:
    """Airflow's version and the database's alembic revision, None if the tables are not there."""
    from importlib.metadata import version  # noqa: PLC0415

    import sqlalchemy  # noqa: PLC0415

    engine = sqlalchemy.create_engine(conn)
    try:
        with engine.connect() as c:
            rev = c.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    except sqlalchemy.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return {"airflow": version("apache-airflow"), "revision": rev} if rev else None


def _cfg_value(home: Path, section: str, key: str) -> str:
    import configparser  # noqa: PLC0415

    cp = configparser.ConfigParser(interpolation=None)
    cp.read(home / "airflow.cfg")
    return cp.get(section, key)


# --------------------------------------------------------------------------- start / stop / status


def _running_components(home: Path) -> list[str]:
    return [n for n, pids in service_pids(home).items() if pids]


def start_service(cfg: ServiceConfig) -> ServiceInfo:
    """Start every component and return once each one answers (or raise, having stopped what it started)."""
    t0 = time.monotonic()
    home = cfg.home
    if _running_components(home):
        info = service_status(home)
        state = _read_record(home / "service.json") or {}
        asked = {"executor": cfg.executor, "db": cfg.db, "api_port": cfg.api_port}
        if info.running and all(state.get(k) == v for k, v in asked.items()):
            return info
        if info.running:
            raise ServiceError(f"the service in {home} runs with {({k: state.get(k) for k in asked})}, not {asked}; "
                               "`rasad airflow stop` first")  # fmt: skip
        raise ServiceError(f"part of the service in {home} runs ({_running_components(home)}); `rasad airflow stop` first")
    if not (cfg.dags_folder.is_dir()):
        raise ServiceError(f"DAGs folder {cfg.dags_folder} is not a folder")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o711)  # noqa: S103 - others may traverse (postgres reaches pg/), not list; secrets are 0600
    for sub in ("run", "logs"):
        (home / sub).mkdir(exist_ok=True)
    airflow_ports = {"api-server": cfg.api_port}
    if cfg.db == "postgres":
        airflow_ports["postgres"] = cfg.pg_port
    if cfg.executor == "celery":
        airflow_ports["redis"] = cfg.redis_port
    for name, port in airflow_ports.items():
        if _port_open(port):
            raise ServiceError(f"{name}: port {port} on 127.0.0.1 is already taken (choose another port)")
    sec = _secrets(home)
    pw_file = home / "simple_auth_manager_passwords.json.generated"
    if not pw_file.exists():
        # Written by us (0600) so the api-server does not generate one and print it to its log.
        _write_private(pw_file, json.dumps({"admin": secrets.token_urlsafe(18)}) + "\n")
    rasad_env = _rasad_env(cfg)
    base = _inherited_env()
    base.update(rasad_env)
    base["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    started_es = False
    started_at = datetime.now(UTC)
    try:
        extras: list[str] = []
        started_es = _start_es(cfg, base)
        _start_demo_parts(cfg, base, extras)
        if cfg.db == "postgres":
            _start_postgres(cfg, sec, base)
        if cfg.executor == "celery":
            _start_redis(cfg, sec, base)
        _write_airflow_cfg(cfg, sec)
        _write_private(home / "service.json", json.dumps({
            "executor": cfg.executor, "db": cfg.db, "api_port": cfg.api_port, "env": rasad_env,
            "started_es": started_es, "workers": cfg.workers if cfg.executor == "celery" else 0,
            "worker_concurrency": cfg.worker_concurrency}))  # fmt: skip
        env = service_env(home)
        log.info("backing services up at %.1fs", time.monotonic() - t0)
        schema = _schema_stamp(conn_str := _sql_conn(cfg, sec))
        if schema is None or schema != (_read_record(home / "schema.json") or {}):
            run_airflow(home, "db", "migrate", timeout=cfg.ready_timeout)
            # Remembered so a restart on an up-to-date database skips the ~5-15 s migrate.
            _write_private(home / "schema.json", json.dumps(_schema_stamp(conn_str) or {}))
            log.info("db migrate done at %.1fs", time.monotonic() - t0)
        if cfg.db == "sqlite":
            import sqlite3  # noqa: PLC0415

            with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the scheduler
        af = str(VENV_BIN / "airflow")
        api = _spawn(home, "api-server", [af, "api-server", "--host", "127.0.0.1", "--port", str(cfg.api_port),
                                          "--workers", "1"], env, cfg.api_port)  # fmt: skip
        recs = {"api-server": api}
        recs["dag-processor"] = _spawn(home, "dag-processor", [af, "dag-processor"], env, None)
        recs["scheduler"] = _spawn(home, "scheduler", [af, "scheduler", "--skip-serve-logs"], env, None)
        recs["triggerer"] = _spawn(home, "triggerer", [af, "triggerer", "--skip-serve-logs"], env, None)
        hostnames = []
        if cfg.executor == "celery":
            for i in range(1, cfg.workers + 1):
                hostnames.append(f"worker{i}@rasad")
                # One pid file per worker: celery-worker-1, celery-worker-2, ...
                recs[f"celery-worker-{i}"] = _spawn_worker(home, i, cfg.worker_concurrency, env)
        conn = _sql_conn(cfg, sec)
        deadline_left = lambda: max(1.0, cfg.ready_timeout - (time.monotonic() - t0))  # noqa: E731
        health = f"http://127.0.0.1:{cfg.api_port}/api/v2/monitor/health"
        _wait_until(lambda: _http_json(health) is not None, deadline_left(), "api-server", api)
        log.info("api-server answers at %.1fs", time.monotonic() - t0)
        want = set(JOB_TYPES.values())
        def jobs_ready() -> bool:
            for name, rec in recs.items():
                if not _leader_alive(rec):
                    raise ServiceError(f"{name} exited during start-up; see {rec['log']}:\n{_tail(rec['log'])}")
            return want <= _fresh_jobs(conn, started_at)
        _wait_until(jobs_ready, deadline_left(), "scheduler/triggerer/dag-processor heartbeats")
        log.info("scheduler, triggerer and dag-processor heartbeat at %.1fs", time.monotonic() - t0)
        if hostnames:
            broker = _cfg_value(home, "celery", "broker_url")
            _wait_until(lambda: set(hostnames) <= _celery_hosts(broker), deadline_left(), "celery workers")
    except BaseException:
        with contextlib.suppress(Exception):
            stop_service(home, timeout=10)
        raise
    info = service_status(home)
    info.ready_seconds = time.monotonic() - t0
    return info


def _spawn_worker(home: Path, i: int, concurrency: int, env: dict[str, str]) -> dict:
    """Start Celery worker ``i`` (pid file celery-worker-<i>): its own Celery and Airflow host name."""
    name = f"worker{i}"
    wenv = {**env, "AIRFLOW__CORE__HOSTNAME_CALLABLE": "rasad.airflow_service.worker_hostname",
            "RASAD_AIRFLOW_WORKER": name}  # fmt: skip
    argv = [str(VENV_BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@rasad", "--concurrency",
            str(concurrency), "--skip-serve-logs", "--without-mingle", "--without-gossip"]  # fmt: skip
    return _spawn(home, f"celery-worker-{i}", argv, wenv, None)


RESTARTABLE = ("scheduler", "triggerer", "dag-processor", "api-server", "celery-worker-<n>")


def restart_component(home: Path, name: str) -> dict:
    """Start one crashed (or stopped) Airflow component again, as ``start`` did.

    What an operator's supervisor (systemd, a container runtime) does after a crash; the
    fault tests use it after SIGKILL. Anything the dead process left in its session is
    stopped first, so no orphan survives the restart.
    """
    state = _read_record(home / "service.json")
    if state is None:
        raise ServiceError(f"no service in {home}")
    worker = name.removeprefix("celery-worker-")
    if worker != name and worker.isdigit() and 1 <= int(worker) <= int(state.get("workers") or 0):
        stop_component(home, name, timeout=10)
        return _spawn_worker(home, int(worker), int(state.get("worker_concurrency") or 1), service_env(home))
    if name not in RESTARTABLE:
        raise ServiceError(f"cannot restart {name!r} alone (one of {', '.join(RESTARTABLE)})")
    stop_component(home, name, timeout=10)
    af = str(VENV_BIN / "airflow")
    argv = {
        "api-server": [af, "api-server", "--host", "127.0.0.1", "--port", str(state["api_port"]), "--workers", "1"],
        "dag-processor": [af, "dag-processor"],
        "scheduler": [af, "scheduler", "--skip-serve-logs"],
        "triggerer": [af, "triggerer", "--skip-serve-logs"],
    }[name]
    return _spawn(home, name, argv, service_env(home), state["api_port"] if name == "api-server" else None)


def worker_hostname() -> str:
    """[core] hostname_callable for Celery workers on one machine: the host name plus the worker's name."""
    return f"{socket.getfqdn()}-{os.environ.get('RASAD_AIRFLOW_WORKER', 'worker')}"


def _stage_of(name: str) -> int:
    base = "celery-worker" if name.startswith("celery-worker") else name
    for i, stage in enumerate(STOP_STAGES):
        if base in stage:
            return i
    return len(STOP_STAGES)


def stop_service(home: Path = DEFAULT_HOME, timeout: float = 30.0) -> list[str]:
    """Stop every component (scheduler first, api-server last) and anything left in their sessions."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    home = Path(home).resolve()
    names = sorted(p.stem for p in (home / "run").glob("*.pid"))
    stopped: list[str] = []
    errors: list[str] = []

    def stop_one(name: str) -> None:
        t = time.monotonic()
        try:
            if stop_component(home, name, timeout=timeout):
                stopped.append(name)
                log.info("stopped %s in %.1fs", name, time.monotonic() - t)
        except ServiceError as e:
            errors.append(str(e))

    # Stage by stage; the components of one stage do not depend on each other, so they
    # stop side by side (uvicorn and the triggerer each take seconds to drain).
    for stage in sorted({_stage_of(n) for n in names}):
        group = [n for n in names if _stage_of(n) == stage]
        with ThreadPoolExecutor(max_workers=len(group)) as pool:
            list(pool.map(stop_one, group))
    state = _read_record(home / "service.json") or {}
    if state.get("started_es"):
        from rasad import esnode  # noqa: PLC0415

        s = load_settings({**os.environ, **state.get("env", {})})
        if esnode.stop_node(s):
            stopped.append("elasticsearch")
        state["started_es"] = False
        _write_private(home / "service.json", json.dumps(state))
    if errors:
        raise ServiceError("; ".join(errors))
    return stopped


def service_status(home: Path = DEFAULT_HOME) -> ServiceInfo:
    """Each component with pid, alive or dead and port, and the cluster the tasks write to."""
    home = Path(home).resolve()
    state = _read_record(home / "service.json") or {}
    comps = []
    for path in sorted((home / "run").glob("*.pid")):
        rec = _read_record(path)
        if rec:
            alive = _leader_alive(rec)
            comps.append(ComponentStatus(rec["name"], rec["pid"], alive, rec.get("port"), rec["log"]))
    comps.sort(key=lambda c: (-_stage_of(c.name), c.name))
    es_url = state.get("env", {}).get("RASAD_ES_URL", "")
    return ServiceInfo(home=home, ui_url=f"http://127.0.0.1:{state.get('api_port', '?')}/", executor=state.get("executor", "?"),
                       db=state.get("db", "?"), es_url=es_url, es_cluster=cluster_label(es_url) if es_url else None,
                       components=comps)  # fmt: skip


def format_status(info: ServiceInfo) -> str:
    """The status table ``rasad airflow status`` prints."""
    if not info.components and info.executor == "?":
        return f"no Airflow service in {info.home} (start it with `rasad airflow start`)"
    lines = [f"Airflow service in {info.home}: {info.executor} executor, {info.db} metadata DB, UI {info.ui_url}"]
    for c in info.components:
        lines.append(f"  {c.name:<16} pid {c.pid!s:<8} {'alive' if c.alive else 'DEAD':<6} "
                     f"port {c.port if c.port else '-':<6} log {c.log}")  # fmt: skip
    if not info.components:
        lines.append("  (nothing running)")
    lines.append(f"  tasks write to Elasticsearch {info.es_url or '?'}: cluster {info.es_cluster or 'not answering'}")
    return "\n".join(lines)


def info_dict(info: ServiceInfo) -> dict:
    """ServiceInfo as plain JSON-able data."""
    d = asdict(info)
    d["home"] = str(info.home)
    return d


# --------------------------------------------------------------------------- demo parts as processes


def _serve_forever(kind: str, port: int, folder: str | None) -> None:
    from rasad.demo import DemoSite, MailSink  # noqa: PLC0415

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    ctx = DemoSite(port=port) if kind == "serve-site" else MailSink(Path(folder or "var/mail"), port=port)
    with ctx:
        while not stop["now"]:
            time.sleep(0.2)


if __name__ == "__main__":  # `python -m rasad.airflow_service serve-site PORT | serve-mail PORT DIR`
    _serve_forever(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
