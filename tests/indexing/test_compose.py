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
ONE_SHOT = {"kibana-setup", "kibana-import", "airflow-init"}


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


def _run_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (scripts/install-system-deps.sh); "
                    "the JSON-schema test still validates the file")  # fmt: skip
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RASAD_", "ELASTIC", "KIBANA", "POSTGRES"))}
    return subprocess.run([*cli, "--env-file", str(env_file), "-f", str(COMPOSE), "config"], cwd=tmp_path,
                          capture_output=True, text=True, env=clean, check=False, timeout=120)  # fmt: skip


def test_compose_config_validates(tmp_path):
    r = _run_config(tmp_path, _env_example())
    assert r.returncode == 0, r.stderr
    resolved = yaml.safe_load(r.stdout)
    assert set(resolved["services"]) == LONG_RUNNING | ONE_SHOT
    es_env = resolved["services"]["elasticsearch"]["environment"]
    assert es_env["ELASTIC_PASSWORD"] == _env_example()["ELASTIC_PASSWORD"]
    assert es_env["xpack.security.enabled"] == "true"


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
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no"
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for vol in svc.get("volumes", []):
            src = str(vol).split(":")[0]
            assert src.startswith(".") or src in c["volumes"], f"{name}: volume {src} is not a named volume"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        svc = services[name]
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["RASAD_ES_URL"].endswith("elasticsearch:9200}") or "elasticsearch:9200" in env["RASAD_ES_URL"]
        assert ".:/opt/rasad:ro" in svc["volumes"] and env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/rasad/dags"
        assert (PROJECT / "dags").is_dir()
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "true"
    assert "kibana" in services["kibana-import"]["depends_on"]
    assert services["kibana-import"]["command"][-4:-2] == ["kibana", "import"]
    dockerfile = PROJECT / services["airflow-apiserver"]["build"]["dockerfile"]
    assert dockerfile.is_file()
