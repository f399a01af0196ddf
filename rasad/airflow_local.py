"""Run the DAG in this process with a local SQLite Airflow (the demo and the tests).

Airflow reads its configuration when first imported, so ``configure_airflow`` must run
before anything imports ``airflow``. ``dag.test()`` then runs every task in-process: no
scheduler, executor or api-server is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rasad.core.shipped import shipped

DAGS_FOLDER = shipped("dags")


def configure_airflow(home: Path) -> None:
    """Point Airflow at a SQLite database under ``home`` (call before importing airflow)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        }
    )


def sink_connection_uri(host: str, port: int) -> str:
    """An Airflow SMTP connection URI for a plain local sink (no implicit TLS, no STARTTLS)."""
    return f"smtp://{host}:{port}/?disable_ssl=true&disable_tls=true"


def ensure_db(home: Path) -> None:
    """Create or upgrade Airflow's metadata tables (idempotent)."""
    from airflow.utils import db  # noqa: PLC0415

    db.upgradedb() if (home / "airflow.db").exists() else db.initdb()


def load_dag(dag_id: str = "rasad_process") -> Any:
    """Parse ``dags/`` and return one DAG."""
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]


def run_dag_test(dag_id: str = "rasad_process", run_conf: dict | None = None) -> tuple[Any, dict[str, Any]]:
    """Run one DAG run in-process; return the run and each task's XCom return value.

    A mapped task's value is the list of its instances' values, in map-index order.
    """
    from airflow.models.xcom import XComModel  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    dag = load_dag(dag_id)
    dr = dag.test(run_conf=run_conf) if run_conf else dag.test()
    values: dict[str, Any] = {}
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == dr.run_id,
                                               XComModel.key == "return_value").order_by(XComModel.map_index).all()  # fmt: skip
        for row in rows:
            v = XComModel.deserialize_value(row)
            if row.map_index is not None and row.map_index >= 0:
                values.setdefault(row.task_id, []).append(v)
            else:
                values[row.task_id] = v
    return dr, values
