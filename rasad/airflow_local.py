"""Run the DAG in this process with a local SQLite Airflow (the demo and the tests).

Airflow reads its configuration when first imported, so ``configure_airflow`` must run
before anything imports ``airflow``. ``dag.test()`` then runs every task in-process: no
scheduler, executor or api-server is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rasad.settings import PROJECT_ROOT

DAGS_FOLDER = PROJECT_ROOT / "dags"


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


def ensure_db(home: Path) -> None:
    """Create or upgrade Airflow's metadata tables (idempotent)."""
    from airflow.utils import db  # noqa: PLC0415

    db.upgradedb() if (home / "airflow.db").exists() else db.initdb()


def load_dag(dag_id: str = "rasad_cycle") -> Any:
    """Parse ``dags/`` and return one DAG."""
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]


def run_dag_test(dag_id: str = "rasad_cycle") -> tuple[Any, dict[str, Any]]:
    """Run one DAG run in-process; return the run and each task's XCom return value."""
    from airflow.models.xcom import XComModel  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    dag = load_dag(dag_id)
    dr = dag.test()
    values: dict[str, Any] = {}
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == dr.run_id,
                                               XComModel.key == "return_value").all()  # fmt: skip
        for row in rows:
            values[row.task_id] = XComModel.deserialize_value(row)
    return dr, values
