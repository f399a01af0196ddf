"""Executor parents preload the pipeline so task processes fork warm; nothing else does."""

from __future__ import annotations

import subprocess
import sys

from rasad.warm import wants_preload


def test_only_processes_that_fork_tasks_preload():
    assert wants_preload(["airflow", "scheduler", "--skip-serve-logs"])
    assert wants_preload(["airflow", "celery", "worker", "--concurrency", "2"])
    for argv in (["airflow", "triggerer"], ["airflow", "api-server"], ["airflow", "dag-processor"],
                 ["airflow", "db", "migrate"], ["airflow", "celery", "flower"], ["pytest"]):  # fmt: skip
        assert not wants_preload(argv), argv


def test_preload_loads_the_stages_and_the_tagger_in_the_parent():
    code = (
        "import sys\n"
        "from rasad.warm import maybe_preload\n"
        "maybe_preload(['airflow', 'scheduler'])\n"
        "import rasad.enrich.tagging as t\n"
        "print(sorted(m for m in ('spacy', 'trafilatura', 'elasticsearch', 'rasad.alerts.deliver') if m in sys.modules),"
        " len(t._TAGGERS))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)
    assert out.stdout.strip().splitlines()[-1] == "['elasticsearch', 'rasad.alerts.deliver', 'spacy', 'trafilatura'] 1"
