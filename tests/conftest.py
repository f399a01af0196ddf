"""Shared fixtures: a real Elasticsearch node, the real demo site on loopback, a real SMTP server, Airflow on SQLite.

Airflow reads its configuration at import time, so it is configured here at module level,
before any test module imports it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

from rasad.airflow_local import configure_airflow

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="rasad-airflow-"))
configure_airflow(_AIRFLOW_HOME)
os.environ.setdefault("RASAD_VAR_DIR", tempfile.mkdtemp(prefix="rasad-var-"))

PROJECT = Path(__file__).resolve().parent.parent
RESOURCES = Path(__file__).resolve().parent / "resources"
SHARED = PROJECT.parent / "shared"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def own_es_node(tag: str):
    """A throwaway node of one's own (stopped and removed afterwards): for tests and benchmarks
    that stop and start it, or must not share the session's. Yields (settings, url, port, home)."""
    from rasad import esnode
    from rasad.core.settings import load_settings

    base = load_settings()
    port = free_port()
    home = base.cache_path / "nodes" / f"{tag}-{port}-{os.getpid()}"
    info = esnode.start_node(base, port=port, home=home)
    try:
        yield base, info.url, port, home
    finally:
        esnode.stop_node(base, port=port, home=home)
        shutil.rmtree(home, ignore_errors=True)


# RASAD_TEST_ES_NODES=3 (make test-cluster) runs the session against a local cluster of that
# many nodes instead of one node; es_node is then every node's URL, comma-separated.
TEST_ES_NODES = int(os.environ.get("RASAD_TEST_ES_NODES") or 1)


@pytest.fixture(scope="session")
def es_cluster():
    """The session's local Elasticsearch cluster (esnode.ClusterInfo), or None on a single-node run."""
    if TEST_ES_NODES < 2:
        yield None
        return
    from rasad import esnode
    from rasad.core.settings import load_settings

    s = load_settings()
    ports = set()
    while len(ports) < TEST_ES_NODES:
        ports.add(free_port())
    ports = sorted(ports)
    home = s.cache_path / "nodes" / f"test-cluster-{ports[0]}-{os.getpid()}"
    try:
        yield esnode.start_cluster(s, nodes=TEST_ES_NODES, home=home, http_ports=ports)
    finally:
        esnode.stop_cluster(s, home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def es_node(es_cluster):
    """A real Elasticsearch for the whole test session (own ports, own data dirs): one node,
    or with RASAD_TEST_ES_NODES=N a cluster of N nodes (then every node's URL, comma-separated)."""
    if es_cluster is not None:
        yield es_cluster.url
        return
    from rasad import esnode
    from rasad.core.settings import load_settings

    s = load_settings()
    port = free_port()
    home = s.cache_path / "nodes" / f"test-{port}-{os.getpid()}"
    info = esnode.start_node(s, port=port, home=home)
    yield info.url
    esnode.stop_node(s, port=port, home=home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def settings(es_node, tmp_path, monkeypatch):
    """Settings pointing at the test node, with a fresh index prefix and var dir per test.

    The same values are put in the environment, because Airflow tasks and CLI commands
    load their settings from it.
    """
    from rasad.core.settings import load_settings

    env = {
        "RASAD_ES_URL": es_node,
        # Known before the settings load, so a test's mail_sink listens where settings point.
        "RASAD_SMTP_HOST": "127.0.0.1",
        "RASAD_SMTP_PORT": str(free_port()),
        "RASAD_INDEX_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "RASAD_VAR_DIR": str(tmp_path / "var"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings()


@pytest.fixture
def es(settings):
    """Client for the test node; the test's indices are deleted afterwards."""
    from rasad.core.es import make_client

    client = make_client(settings)
    yield client
    client.indices.delete(index=f"{settings.index_prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    client.options(ignore_status=404).indices.delete_index_template(name=f"{settings.index_prefix}-*")


@pytest.fixture
def demo_site():
    """The demo news site served from loopback on a free port."""
    from rasad.demo import DemoSite

    with DemoSite(port=0) as site:
        yield site


@pytest.fixture
def demo_feeds(demo_site, tmp_path) -> Path:
    """examples/demo/feeds.yaml rewritten to point at the running demo site."""
    text = (PROJECT / "examples" / "demo" / "feeds.yaml").read_text(encoding="utf-8")
    out = tmp_path / "feeds.yaml"
    out.write_text(text.replace("http://127.0.0.1:8765", demo_site.base_url), encoding="utf-8")
    return out


@pytest.fixture
def mail_sink(tmp_path, monkeypatch):
    """A real SMTP server (aiosmtpd) on loopback writing .eml files, where the settings point."""
    from rasad.demo import MailSink

    port = int(os.environ.get("RASAD_SMTP_PORT") or 0)
    if not port or os.environ.get("RASAD_SMTP_HOST") != "127.0.0.1":
        port = free_port()
        monkeypatch.setenv("RASAD_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("RASAD_SMTP_PORT", str(port))
    with MailSink(tmp_path / "mail", port=port) as sink:
        yield sink


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata tables in a throwaway SQLite database."""
    from rasad.airflow_local import ensure_db

    ensure_db(_AIRFLOW_HOME)
    return _AIRFLOW_HOME
