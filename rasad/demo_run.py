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

from rasad.core.settings import load_settings

DEMO_SITE_PORT = 8765


def run_demo(use_airflow: bool = True) -> int:
    """Run the demo; print the summary and where to look."""
    # The demo site is on loopback: allow it explicitly (the SSRF guard refuses it otherwise).
    os.environ.setdefault("RASAD_ALLOW_PRIVATE_NETWORKS", "1")
    # The demo runs its own local node, so it says so explicitly (there is no silent default).
    os.environ.setdefault("RASAD_ES_URL", load_settings(es_url=None).local_es_url)
    s = load_settings()
    from rasad import esnode  # noqa: PLC0415
    from rasad.demo import DemoSite, MailSink  # noqa: PLC0415
    from rasad.pipeline import CycleSummary, process_queue, step_poll, step_setup, summarize_run  # noqa: PLC0415

    t0 = time.monotonic()
    print(f"[demo] starting Elasticsearch {s.es_version} at {s.es_url} (first run downloads it) ...", flush=True)
    info = esnode.start_node(s)
    print(f"[demo] Elasticsearch is up ({time.monotonic() - t0:.0f}s)", flush=True)
    mail_dir = s.var_path / "mail"
    with DemoSite(port=DEMO_SITE_PORT) as site, MailSink(mail_dir, port=s.smtp_port):
        print(f"[demo] demo site at {site.base_url}, SMTP sink on 127.0.0.1:{s.smtp_port} -> {mail_dir}", flush=True)
        setup = step_setup(s)
        print(f"[demo] writing to {setup['cluster']}", flush=True)
        # What the service's feed watchers do in the triggerer, once, in this process.
        polled = step_poll(s)
        print(f"[demo] polled {polled['feeds_polled']} feed(s): {polled['items_queued']} new item(s) queued", flush=True)
        summary = CycleSummary(cluster=setup["cluster"])
        summary.add(polled)
        if use_airflow:
            from rasad.airflow_local import configure_airflow, ensure_db, run_dag_test, sink_connection_uri  # noqa: PLC0415

            # Task logs would bury the summary; warnings and errors still show.
            os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
            configure_airflow(s.var_path / "airflow")
            # The failure notifier mails through the connection; here it is the demo's sink.
            os.environ.setdefault("AIRFLOW_CONN_RASAD_SMTP", sink_connection_uri(s.smtp_host, s.smtp_port))
            ensure_db(s.var_path / "airflow")
            print("[demo] running the Airflow DAG rasad_process with dag.test() ...", flush=True)
            dr, values = run_dag_test("rasad_process")
            if str(dr.state) != "success" and getattr(dr.state, "value", "") != "success":
                print(f"[demo] DAG run ended in state {dr.state}", file=sys.stderr)
                return 1
            summary = summarize_run(values, polled)
            summary.cluster = setup["cluster"]
        else:
            summary.add(process_queue(s).to_dict())
        time.sleep(0.5)  # let the SMTP sink finish writing the last message
        summary_d = summary.to_dict()
    from rasad.report import print_summary  # noqa: PLC0415

    print()
    print_summary(summary_d)
    n_mail = len(list(mail_dir.glob("*.eml")))
    print(
        f"""
[demo] done in {time.monotonic() - t0:.0f}s.
  First, for the rasad commands below (they never guess a cluster to write to):
                     export RASAD_ES_URL={info.url}
  Articles indexed:  curl -s '{info.url}/{s.index('articles')}/_count'
  Search:            .venv/bin/rasad search "طالبان"   (or curl '{info.url}/{s.index('articles')}/_search?q=text_search:طالبان')
  Alert mails:       {mail_dir}/*.eml ({n_mail} file(s))
  Feed health:       .venv/bin/rasad feeds status
  Stop the node:     .venv/bin/rasad es stop"""
    )
    return 0
