"""Every DAG file imports cleanly, defines its DAGs, and keeps work out of parse time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_dag_file_imports_and_defines_dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    files = sorted(p.name for p in DAGS.glob("*.py"))
    assert files, "dags/ holds no DAG file"
    defined = {Path(d.fileloc).name for d in bag.dags.values()}
    assert defined == set(files), f"files without a DAG: {set(files) - defined}"
    for dag in bag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag.dag_id}.{t.task_id} has no retries"


def test_dag_files_do_no_heavy_work_at_parse_time():
    # Parsing must not import the pipeline's heavy libraries (spaCy, trafilatura,
    # elasticsearch): the scheduler parses DAG files every few seconds.
    code = (
        "import sys, runpy, time; t=time.monotonic(); "
        f"[runpy.run_path(p) for p in {[str(p) for p in DAGS.glob('*.py')]!r}]; "
        "heavy=[m for m in ('spacy','trafilatura','elasticsearch','feedparser') if m in sys.modules]; "
        "print(heavy)"
    )
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert time.monotonic() - t < 60
