"""Preload the pipeline's heavy libraries in Airflow's executor workers.

LocalExecutor workers are forked from the scheduler, Celery workers are long-lived, and
every task process is forked from one of them. Importing spaCy, trafilatura, lingua and
the Elasticsearch client and building the tagger (5-10 s on a loaded machine) once in the
parent means each task starts warm, sharing those pages copy-on-write, instead of paying
it again for every batch: the difference between an alert in seconds and one after
several task hops of imports. Only code and read-only data are loaded here: no client,
thread or connection that a fork could break.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)

# Argument vectors of the processes whose children run tasks.
EXECUTOR_COMMANDS = (("scheduler",), ("celery", "worker"))


def wants_preload(argv: list[str]) -> bool:
    """Whether this Airflow process forks task processes (scheduler with LocalExecutor, a Celery worker)."""
    args = [a for a in argv[1:] if not a.startswith("-")]
    return any(tuple(args[: len(c)]) == c for c in EXECUTOR_COMMANDS)


def preload() -> float:
    """Import the stages and build the tagger; returns the seconds it took (never raises)."""
    t0 = time.monotonic()
    try:
        import elasticsearch  # noqa: F401, PLC0415
        import trafilatura  # noqa: F401, PLC0415

        import rasad.alerts.deliver  # noqa: PLC0415
        import rasad.enrich.events.cluster  # noqa: PLC0415
        import rasad.indexing.bulk  # noqa: PLC0415
        import rasad.ingest.extract.article  # noqa: PLC0415
        import rasad.ingest.language  # noqa: PLC0415
        from rasad.core.settings import load_settings  # noqa: PLC0415
        from rasad.enrich.tagging import get_tagger  # noqa: PLC0415

        s = load_settings()
        get_tagger(s.path(s.seeds_dir))
        # Language models load on first use: use each once (single-threaded detection).
        rasad.ingest.language.detect_language("موسكو وطالبان تبحثان التعاون الأمني في كابول")
        rasad.ingest.language.detect_language("Moscow and the Taliban discuss security cooperation in Kabul")
    except Exception as e:  # a warm start is an optimisation; tasks import what is missing
        log.warning("preloading the pipeline failed (%s: %s); tasks will import it themselves", type(e).__name__, e)
    return time.monotonic() - t0


def maybe_preload(argv: list[str] | None = None) -> None:
    """Called from ``airflow_local_settings`` in every Airflow process; acts only in executor parents."""
    if wants_preload(list(sys.argv if argv is None else argv)):
        secs = preload()
        log.info("pipeline preloaded for task processes in %.1fs", secs)
