"""The local Elasticsearch node manager, against the real node the session started."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest

from rasad import esnode
from rasad.cli import main
from rasad.core.es import describe_cluster, es_hosts, make_client
from rasad.core.settings import SettingsError, load_settings
from tests.conftest import free_port


def test_find_java_picks_a_jdk_that_runs_elasticsearch_9():
    home = esnode.find_java()
    rel = esnode._java_release(Path(home))
    assert int(rel["JAVA_VERSION"].split(".")[0]) >= 21
    assert "jdk.jdi" in rel.get("MODULES", "jdk.jdi")


def test_find_java_explains_what_it_tried(monkeypatch, tmp_path):
    monkeypatch.setattr(esnode, "_java_candidates", lambda: [tmp_path])
    with pytest.raises(esnode.NodeError, match="RASAD_JAVA_HOME"):
        esnode.find_java()


def test_start_is_idempotent_and_status_reports_the_node(es_node):
    s = load_settings()
    es_node = es_node.split(",")[0]  # a cluster session: any one of its nodes
    port = int(es_node.rsplit(":", 1)[1])
    status = esnode.node_status(s, port=port)
    assert status.running
    # Starting again on a port where our node answers returns at once, same node.
    again = esnode.start_node(s, port=port, home=status.home)
    assert again.running and again.port == port
    with urllib.request.urlopen(f"{es_node}/_cluster/health") as r:  # our node on loopback
        assert json.load(r)["status"] in ("green", "yellow")
    # Bound to loopback only.
    with urllib.request.urlopen(f"{es_node}/_nodes/http") as r:
        nodes = json.load(r)["nodes"]
    for node in nodes.values():
        assert all(a.startswith(("127.0.0.1", "[::1]")) for a in node["http"]["bound_address"])


def test_refuses_a_port_taken_by_something_else():
    s = load_settings()
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        with pytest.raises(esnode.NodeError, match="not Elasticsearch"):
            esnode.start_node(s, port=port, wait=5)


def test_a_start_that_times_out_leaves_no_process_behind():
    """Given up on (here after 2 s, on a loaded machine after the full wait), the half-started JVM is killed."""
    import os
    import time

    s = load_settings()
    port = free_port()
    home = s.cache_path / "nodes" / f"test-timeout-{port}"
    try:
        with pytest.raises(esnode.NodeError, match=f"port {port}"):
            esnode.start_node(s, port=port, home=home, wait=2)
        time.sleep(2)
        root = str(home.resolve())
        left = []
        for entry in Path("/proc").iterdir():
            try:
                cwd = os.readlink(entry / "cwd") if entry.name.isdigit() else ""
            except OSError:
                continue
            if cwd == root or cwd.startswith(root + "/"):
                left.append(int(entry.name))
        assert not left, f"processes left working in {home}: {left}"
        assert not esnode._port_open(port)
    finally:
        # The node's folder sits in the shared cache, beside the real nodes: leave nothing there.
        shutil.rmtree(home, ignore_errors=True)


def test_stop_of_a_node_never_started_is_a_no_op(tmp_path):
    s = load_settings()
    assert esnode.stop_node(s, port=1, home=tmp_path) is False


# --------------------------------------------------------------------------- cluster


def test_cluster_plan_gives_every_node_its_own_ports_and_folder(tmp_path):
    plan = esnode.plan_cluster(tmp_path, 3, [9200, 9201, 9202], [9300, 9301, 9302])
    assert esnode.read_manifest(tmp_path) == plan
    names = [n["name"] for n in plan["nodes"]]
    assert len(set(names)) == 3 and len({n["home"] for n in plan["nodes"]}) == 3
    first = esnode._cluster_discovery(plan, plan["nodes"][0])
    assert "transport.port: 9300" in first
    assert 'discovery.seed_hosts: ["127.0.0.1:9300", "127.0.0.1:9301", "127.0.0.1:9302"]' in first
    # A fresh node bootstraps; a node that already holds data must not (it rejoins its cluster).
    assert any(line.startswith("cluster.initial_master_nodes") and all(n in line for n in names) for line in first)
    data = tmp_path / "node-0" / "data"
    data.mkdir(parents=True)
    (data / "_state").mkdir()
    assert not any("initial_master_nodes" in line for line in esnode._cluster_discovery(plan, plan["nodes"][0]))


def test_cluster_plan_refuses_a_single_node_or_shared_ports(tmp_path):
    with pytest.raises(esnode.NodeError, match="at least 2 nodes"):
        esnode.plan_cluster(tmp_path, 1, [9200])
    with pytest.raises(esnode.NodeError, match="distinct HTTP ports"):
        esnode.plan_cluster(tmp_path, 3, [9200, 9200, 9201])


def test_cluster_status_without_a_cluster_says_so(tmp_path):
    with pytest.raises(esnode.NodeError, match=r"no cluster\.json"):
        esnode.cluster_status(load_settings(), tmp_path)
    assert esnode.stop_cluster(load_settings(), tmp_path) == 0


def test_client_over_several_urls_skips_a_dead_node(es_node):
    dead = f"http://127.0.0.1:{free_port()}"  # nobody listens: connection refused
    s = load_settings(es_url=f"{dead}, {es_node}")
    assert es_hosts(s) == [dead, *es_node.split(",")]
    es = make_client(s)
    for _ in range(4):  # round-robin reaches the dead node at least once; each call still succeeds
        assert es.cluster.health()["status"] in ("green", "yellow")
    with pytest.raises(SettingsError, match="names no Elasticsearch node"):
        es_hosts(load_settings(es_url=" , "))


def test_describe_cluster_names_the_cluster(es_node):
    es = make_client(load_settings(es_url=es_node))
    line = describe_cluster(es)
    health = es.cluster.health()
    uuid = es.cluster.state(metric="metadata", filter_path="metadata.cluster_uuid")["metadata"]["cluster_uuid"]
    assert line.startswith(f"Elasticsearch cluster {health['cluster_name']} (uuid {uuid}): {health['status']}")
    assert f"{health['number_of_nodes']} node(s)" in line and "master rasad-" in line
    down = describe_cluster(make_client(load_settings(es_url=f"http://127.0.0.1:{free_port()}")))
    assert down.startswith("Elasticsearch cluster unreachable (ConnectionError")


def test_cluster_status_and_cli_report_every_node(es_cluster, capsys):
    if es_cluster is None:
        pytest.skip("needs the session cluster: make test-cluster (RASAD_TEST_ES_NODES=3)")
    s = load_settings()
    info = esnode.cluster_status(s, es_cluster.home)
    assert len(info.nodes) == 3 and all(n.running and n.pid for n in info.nodes)
    assert len({n.pid for n in info.nodes}) == 3 and info.status in ("green", "yellow")
    assert info.health["number_of_nodes"] == 3
    # Starting again finds the running cluster and launches nothing.
    again = esnode.start_cluster(s, nodes=3, home=es_cluster.home)
    assert [n.pid for n in again.nodes] == [n.pid for n in info.nodes]
    assert main(["es", "status", "--data-dir", str(es_cluster.home)]) == 0
    out = capsys.readouterr().out
    assert f"cluster {info.name}: 3 of 3 node(s) running" in out
    assert all(f"pid {n.pid}" in out for n in info.nodes)
    assert f"RASAD_ES_URL={info.url}" in out and f"Elasticsearch cluster {info.name} (uuid " in out
