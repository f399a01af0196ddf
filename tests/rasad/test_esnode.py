"""The local Elasticsearch node manager, against the real node the session started."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from rasad import esnode
from rasad.settings import load_settings


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
    port = int(es_node.rsplit(":", 1)[1])
    status = esnode.node_status(s, port=port)
    assert status.running
    # Starting again on a port where our node answers returns at once, same node.
    again = esnode.start_node(s, port=port, home=status.home)
    assert again.running and again.port == port
    with urllib.request.urlopen(f"{es_node}/_cluster/health") as r:
        assert json.load(r)["status"] in ("green", "yellow")
    # Bound to loopback only.
    with urllib.request.urlopen(f"{es_node}/_nodes/http") as r:
        nodes = json.load(r)["nodes"]
    for node in nodes.values():
        assert all(a.startswith("127.0.0.1") or a.startswith("[::1]") for a in node["http"]["bound_address"])


def test_refuses_a_port_taken_by_something_else():
    s = load_settings()
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        with pytest.raises(esnode.NodeError, match="not Elasticsearch"):
            esnode.start_node(s, port=port, wait=5)


def test_stop_of_a_node_never_started_is_a_no_op(tmp_path):
    s = load_settings()
    assert esnode.stop_node(s, port=1, home=tmp_path) is False
