"""Check the compose file's Elasticsearch discovery and TLS settings on the local server zip.

    .venv/bin/python docker/elasticsearch/check_on_zip.py

No Docker engine runs here, so the settings docker-compose.yml gives its nodes (security on,
transport TLS with elasticsearch-certutil PEM certificates, docker/elasticsearch/*.env for
es01) are tried on the same server version, three nodes on loopback ports 29200-29202:
phase 1: es01 alone with single-node discovery (the default stack);
phase 2: es01 restarted with multi-node.env plus es02/es03 (no initial_master_nodes): the
         stack grows from one node to three and keeps its cluster;
phase 3: a fresh three-node cluster (es01 bootstraps, the others join).
Each phase prints the cluster health; every node's ERROR log lines are printed at the end.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from rasad import esnode  # noqa: E402 - after the path line above
from rasad.core.settings import load_settings  # noqa: E402

s = load_settings()
dist = esnode.ensure_distribution(s)
root = s.cache_path / "nodes" / "compose-check"
shutil.rmtree(root, ignore_errors=True)
certs = root / "certs"
certs.mkdir(parents=True)
env = {**os.environ, "ES_JAVA_HOME": str(esnode.find_java())}
subprocess.run([dist / "bin/elasticsearch-certutil", "ca", "--silent", "--pem", "-out", certs / "ca.zip"], check=True, env=env)
subprocess.run(["unzip", "-oq", "ca.zip"], cwd=certs, check=True)
(certs / "instances.yml").write_text("instances:\n  - {name: es01, dns: [elasticsearch, localhost]}\n  - {name: es02, dns: [elasticsearch-2]}\n  - {name: es03, dns: [elasticsearch-3]}\n")
subprocess.run([dist / "bin/elasticsearch-certutil", "cert", "--silent", "--pem", "--in", certs / "instances.yml",
                "--ca-cert", certs / "ca/ca.crt", "--ca-key", certs / "ca/ca.key", "-out", certs / "certs.zip"], check=True, env=env)
subprocess.run(["unzip", "-oq", "certs.zip"], cwd=certs, check=True)
http = {"es01": 29200, "es02": 29201, "es03": 29202}
tport = {"es01": 29300, "es02": 29301, "es03": 29302}
seeds = "[" + ", ".join(f'"127.0.0.1:{p}"' for p in tport.values()) + "]"

def conf(name, single):
    home = root / name
    for sub in ("data", "logs", "tmp", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    c = home / "config"
    shutil.rmtree(c, ignore_errors=True)
    shutil.copytree(dist / "config", c)
    shutil.copytree(certs, c / "certs")
    lines = ["cluster.name: rasad", f"node.name: {name}", "network.host: 127.0.0.1", f"http.port: {http[name]}",
             f"transport.port: {tport[name]}",
             f"discovery.type: {'single-node' if single else 'multi-node'}",
             "xpack.security.enabled: true", "xpack.security.http.ssl.enabled: false",
             "xpack.security.transport.ssl.enabled: true", "xpack.security.transport.ssl.verification_mode: certificate",
             "xpack.security.transport.ssl.certificate_authorities: certs/ca/ca.crt",
             f"xpack.security.transport.ssl.key: certs/{name}/{name}.key",
             f"xpack.security.transport.ssl.certificate: certs/{name}/{name}.crt",
             f"path.data: {home / 'data'}", f"path.logs: {home / 'logs'}",
             "cluster.routing.allocation.disk.threshold_enabled: false"]
    if not single:  # as in docker/elasticsearch/multi-node.env (es01) and the es02/es03 services
        lines.append(f"discovery.seed_hosts: {seeds}")
        if name == "es01":
            lines.append("cluster.initial_master_nodes: [es01]")
    (c / "elasticsearch.yml").write_text("\n".join(lines) + "\n")
    (c / "jvm.options.d" / "heap.options").write_text("-Xms512m\n-Xmx512m\n")
    # The docker image turns ELASTIC_PASSWORD into bootstrap.password in the keystore; so do we.
    subprocess.run([dist / "bin/elasticsearch-keystore", "create"], env={**env, "ES_PATH_CONF": str(c)}, capture_output=True)
    subprocess.run([dist / "bin/elasticsearch-keystore", "add", "-x", "bootstrap.password"], input=b"change-me-elastic",
                   env={**env, "ES_PATH_CONF": str(c)}, check=True)
    return home, c

def health(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_cluster/health?filter_path=cluster_name,status,number_of_nodes",
                                 headers={"Authorization": "Basic " + base64.b64encode(b"elastic:change-me-elastic").decode()})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())
    except Exception as e:
        return repr(e)[:200]

def start(names, single):
    procs = []
    for n in names:
        home, c = conf(n, single)
        procs.append((n, home, esnode._launch(dist, home, c)))
    for n, home, p in procs:
        try:
            esnode._finish_launch(p, home, http[n], 240)
        except esnode.NodeError as e:
            print("FAILED", n, str(e)[-1500:])

def stop(names):
    for n in names:
        pid = esnode._read_pid(root / n)
        if pid:
            os.kill(pid, 15)
    time.sleep(15)

def wait_nodes(port, n):
    h = None
    for _ in range(60):
        h = health(port)
        if isinstance(h, dict) and h.get("number_of_nodes") == n:
            break
        time.sleep(2)
    return h

os.chmod(root, 0o755)
start(["es01"], True)
print("phase 1 (es01 alone, single-node discovery, transport TLS):", wait_nodes(29200, 1))
stop(["es01"])
start(["es01", "es02", "es03"], False)
h = wait_nodes(29200, 3)
print("phase 2 (es01 as multi-node + es02, es03 joining):", h, health(29201))
stop(["es01", "es02", "es03"])
for n in ("es01", "es02", "es03"):
    shutil.rmtree(root / n)
start(["es01", "es02", "es03"], False)
h = wait_nodes(29200, 3)
print("phase 3 (fresh three-node cluster, es01 bootstraps):", h, health(29202))
stop(["es01", "es02", "es03"])
for n in ("es01", "es02", "es03"):
    errors = [ln[:220] for ln in (root / n / "logs" / "rasad.log").read_text(errors="replace").splitlines() if "ERROR" in ln]
    print(n, "ERROR lines:", errors[:3] or "none")
shutil.rmtree(root, ignore_errors=True)
