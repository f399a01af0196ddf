"""The maintenance tasks as a task process of the live service runs them."""

from __future__ import annotations

import os

from rasad.service_tasks import BLOCKED_DB_URL, clean_airflow_db, db_cli_env


def test_db_clean_from_a_task_process_reads_the_services_config(airflow_db, tmp_path, monkeypatch):
    # A task process of the real scheduler gets the sentinel URL (Airflow 3 blocks the metadata
    # database from task code); the service's airflow.cfg names the real one.
    real = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    home = tmp_path / "airflow"
    home.mkdir()
    (home / "airflow.cfg").write_text(f"[database]\nsql_alchemy_conn = {real}\n", encoding="utf-8")
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", BLOCKED_DB_URL)
    monkeypatch.setenv("AIRFLOW__CORE__SQL_ALCHEMY_CONN", BLOCKED_DB_URL)
    env = db_cli_env()
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env and "AIRFLOW__CORE__SQL_ALCHEMY_CONN" not in env
    assert clean_airflow_db()["cleaned_before"]


def test_a_real_url_in_the_environment_is_kept(monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://rasad@127.0.0.1:5432/airflow")
    assert db_cli_env()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql://rasad@127.0.0.1:5432/airflow"
