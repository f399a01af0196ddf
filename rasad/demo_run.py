"""`make demo`: the whole pipeline on embedded defaults, offline, end to end.

Starts (or reuses) the local Elasticsearch node, serves the demo site on
127.0.0.1:8765 and an SMTP sink writing to var/mail/, then runs the Airflow DAG once
with ``dag.test()`` on a SQLite metadata database under var/airflow/. The node keeps
running afterwards so the index can be queried; `rasad es stop` stops it.
"""

from __future__ import annotations

import os
import sys
import time

from rasad.settings import load_settings

DEMO_SITE_PORT = 8765


def run_demo(use_airflow: bool = True) -> int:
    """Run the demo; print the summary and where to look."""
    # The demo site is on loopback: allow it explicitly (the SSRF guard refuses it otherwise).
    os.environ.setdefault("RASAD_ALLOW_PRIVATE_NETWORKS", "1")
    s = load_settings()
    from rasad import esnode  # noqa: PLC0415
    from rasad.demo import DemoSite, MailSink  # noqa: PLC0415

    t0 = time.monotonic()
    print(f"[demo] starting Elasticsearch {s.es_version} at {s.es_url} (first run downloads it) ...", flush=True)
    info = esnode.start_node(s)
    print(f"[demo] Elasticsearch is up ({time.monotonic() - t0:.0f}s)", flush=True)
    mail_dir = s.var_path / "mail"
    with DemoSite(port=DEMO_SITE_PORT) as site, MailSink(mail_dir, port=s.smtp_port):
        print(f"[demo] demo site at {site.base_url}, SMTP sink on 127.0.0.1:{s.smtp_port} -> {mail_dir}", flush=True)
        if use_airflow:
            from rasad.airflow_local import configure_airflow, ensure_db, run_dag_test  # noqa: PLC0415

            # Task logs would bury the summary; warnings and errors still show.
            os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
            configure_airflow(s.var_path / "airflow")
            ensure_db(s.var_path / "airflow")
            print("[demo] running the Airflow DAG rasad_cycle with dag.test() ...", flush=True)
            dr, values = run_dag_test("rasad_cycle")
            if str(dr.state) != "success" and getattr(dr.state, "value", "") != "success":
                print(f"[demo] DAG run ended in state {dr.state}", file=sys.stderr)
                return 1
            summary = values.get("summary") or {}
        else:
            from rasad.pipeline import run_cycle  # noqa: PLC0415

            summary = run_cycle(s, force=True).to_dict()
        time.sleep(0.5)  # let the SMTP sink finish writing the last message
    from rasad.cli import print_summary  # noqa: PLC0415

    print()
    print_summary(summary)
    n_mail = len(list(mail_dir.glob("*.eml")))
    print(
        f"""
[demo] done in {time.monotonic() - t0:.0f}s.
  Articles indexed:  curl -s '{info.url}/{s.index('articles')}/_count'
  Search:            .venv/bin/rasad search "طالبان"   (or curl '{info.url}/{s.index('articles')}/_search?q=text_search:طالبان')
  Alert mails:       {mail_dir}/*.eml ({n_mail} file(s))
  Feed health:       .venv/bin/rasad feeds status
  Stop the node:     .venv/bin/rasad es stop"""
    )
    return 0
