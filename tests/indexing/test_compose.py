"""docker-compose.yml is a valid Compose file describing the production-like stack.

Validation uses `docker compose config` when the docker CLI has the compose plugin, else
`docker-compose config` (scripts/install-system-deps.sh installs it), and always the
Compose JSON schema (vendored). No Docker engine is needed for either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT / "docker-compose.yml"
SCHEMA = Path(__file__).resolve().parents[1] / "resources" / "indexing" / "compose_spec.json"
LONG_RUNNING = {"elasticsearch", "kibana", "postgres", "mailpit", "airflow-apiserver", "airflow-scheduler",
                "airflow-dag-processor", "airflow-triggerer"}  # fmt: skip
ONE_SHOT = {"kibana-setup", "kibana-import", "airflow-init", "elasticsearch-certs"}
# Services that only start with a profile (COMPOSE_PROFILES or --profile), all long-running.
PROFILES = {"celery": {"redis", "airflow-worker"}, "flower": {"airflow-flower"},
            "es-cluster": {"elasticsearch-2", "elasticsearch-3"}}  # fmt: skip
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def _env_example() -> dict[str, str]:
    env = {}
    for line in (PROJECT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def compose_cli() -> list[str] | None:
    """The compose command available here, if any (v2 plugin first)."""
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if r.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _run_config(tmp_path: Path, env: dict[str, str], profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (scripts/install-system-deps.sh); "
                    "the JSON-schema test still validates the file")  # fmt: skip
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RASAD_", "ELASTIC", "KIBANA", "POSTGRES"))}
    flags = [arg for p in profiles for arg in ("--profile", p)]
    return subprocess.run([*cli, "--env-file", str(env_file), "-f", str(COMPOSE), *flags, "config"], cwd=tmp_path,
                          capture_output=True, text=True, env=clean, check=False, timeout=120)  # fmt: skip


def _active(resolved: dict, profiles: tuple[str, ...]) -> dict:
    """The services that start with these profiles (docker-compose 1.29 prints every service)."""
    return {n: svc for n, svc in resolved["services"].items()
            if not svc.get("profiles") or set(svc["profiles"]) & set(profiles)}  # fmt: skip


def _config(tmp_path: Path, env: dict[str, str], profiles: tuple[str, ...] = ()) -> dict:
    r = _run_config(tmp_path, env, profiles)
    assert r.returncode == 0, r.stderr
    resolved = yaml.safe_load(r.stdout)
    expected = LONG_RUNNING | ONE_SHOT | {n for p in profiles for n in PROFILES[p]}
    assert set(_active(resolved, profiles)) == expected
    return resolved


def test_compose_config_validates(tmp_path):
    resolved = _config(tmp_path, _env_example())
    services = _active(resolved, ())
    es_env = services["elasticsearch"]["environment"]
    assert es_env["ELASTIC_PASSWORD"] == _env_example()["ELASTIC_PASSWORD"]
    assert es_env["xpack.security.enabled"] == "true"
    # Elasticsearch refuses cluster.initial_master_nodes with single-node discovery.
    assert es_env["discovery.type"] == "single-node" and "cluster.initial_master_nodes" not in es_env
    assert "discovery.seed_hosts" not in es_env
    for name in AIRFLOW:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert services[name]["environment"]["RASAD_ES_REPLICAS"] == "auto"


def test_compose_celery_profile(tmp_path):
    env = {**_env_example(), "AIRFLOW_EXECUTOR": "CeleryExecutor"}
    resolved = _config(tmp_path, env, ("celery",))
    services = _active(resolved, ("celery",))
    worker = services["airflow-worker"]
    assert worker["command"] == ["airflow", "celery", "worker"] and worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in (*AIRFLOW, "airflow-worker"):
        e = services[name]["environment"]
        assert e["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert e["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
        assert e["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
        # Nothing a task needs on one container's disk: the same stores and volumes everywhere.
        assert e["RASAD_ES_URL"] == services["airflow-scheduler"]["environment"]["RASAD_ES_URL"]
    assert not services["redis"].get("ports"), "the broker is reachable inside the compose network only"
    assert "healthcheck" in services["redis"] and "healthcheck" in worker
    flower = _active(_config(tmp_path, env, ("celery", "flower")), ("celery", "flower"))["airflow-flower"]
    assert flower["command"][-2:] == ["celery", "flower"]


def test_compose_es_cluster_profile(tmp_path):
    hosts = "http://elasticsearch:9200,http://elasticsearch-2:9200,http://elasticsearch-3:9200"
    env = {**_env_example(), "ES_DISCOVERY_TYPE": "multi-node", "RASAD_ES_URL": hosts}
    services = _active(_config(tmp_path, env, ("es-cluster",)), ("es-cluster",))
    nodes = {n: services[n] for n in ("elasticsearch", "elasticsearch-2", "elasticsearch-3")}
    names = {svc["environment"]["node.name"] for svc in nodes.values()}
    assert names == {"es01", "es02", "es03"}
    certs = " ".join(services["elasticsearch-certs"]["command"])
    data_volumes = set()
    for service, svc in nodes.items():
        e = svc["environment"]
        assert e["discovery.type"] == "multi-node" and e["cluster.name"] == "rasad"
        assert set(e["discovery.seed_hosts"].split(",")) == set(nodes)
        # Only es01 bootstraps: the others always join it, never form a second cluster.
        assert ("cluster.initial_master_nodes" in e) == (service == "elasticsearch")
        assert not any(k.startswith("cluster.initial_master") for k in e if k != "cluster.initial_master_nodes")
        name = e["node.name"]
        assert e["xpack.security.transport.ssl.enabled"] == "true"
        assert e["xpack.security.transport.ssl.key"] == f"certs/{name}/{name}.key"
        assert f"name: {name}, dns: [{service}" in certs
        data_volumes |= {v for v in svc["volumes"] if v.endswith("/usr/share/elasticsearch/data:rw")}
    assert len(data_volumes) == 3, "each node its own data volume"
    assert nodes["elasticsearch"]["environment"]["cluster.initial_master_nodes"] == "es01"
    typo = _run_config(tmp_path, {**env, "ES_DISCOVERY_TYPE": "multinode"}, ("es-cluster",))
    assert typo.returncode != 0 and "multinode.env" in typo.stderr + typo.stdout
    for name in AIRFLOW:
        assert services[name]["environment"]["RASAD_ES_URL"] == hosts


def test_compose_config_refuses_a_missing_password(tmp_path):
    env = _env_example()
    del env["ELASTIC_PASSWORD"]
    r = _run_config(tmp_path, env)
    assert r.returncode != 0 and "ELASTIC_PASSWORD" in (r.stderr + r.stdout)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # anchors and << merges resolved


def test_compose_matches_the_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator(schema).validate(_compose())


def test_stack_shape():
    c = _compose()
    services = c["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT | set().union(*PROFILES.values())
    for name in LONG_RUNNING | set().union(*PROFILES.values()):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no"
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for vol in svc.get("volumes", []):
            src = str(vol).split(":")[0]
            assert src.startswith(".") or src in c["volumes"], f"{name}: volume {src} is not a named volume"
    for name in (*AIRFLOW, "airflow-worker"):
        svc = services[name]
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["RASAD_ES_URL"].endswith("elasticsearch:9200}") or "elasticsearch:9200" in env["RASAD_ES_URL"]
        assert ".:/opt/rasad:ro" in svc["volumes"] and env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/rasad/dags"
        assert (PROJECT / "dags").is_dir()
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "true"
    assert "kibana" in services["kibana-import"]["depends_on"]
    assert services["kibana-import"]["command"][-4:-2] == ["kibana", "import"]
    dockerfile = PROJECT / services["airflow-apiserver"]["build"]["dockerfile"]
    assert dockerfile.is_file()
