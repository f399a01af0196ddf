"""The ``rasad`` command line. Subcommands are thin: they parse arguments and call the stages."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rasad.core.settings import SettingsError, load_settings
from rasad.report import print_summary


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# --------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    from rasad.pipeline import run_cycle  # noqa: PLC0415

    s = load_settings()
    summary = run_cycle(s, feeds_file=args.feeds, rules_file=args.rules, force=args.force)
    if args.json:
        _print_json(summary.to_dict())
    else:
        print_summary(summary.to_dict())
    return 0


def _local_cluster_home(s, args: argparse.Namespace) -> Path | None:
    """The folder of a local cluster started by `rasad es start --nodes N`, if a node of it runs."""
    from rasad import esnode  # noqa: PLC0415

    home = Path(args.data_dir) if args.data_dir else esnode.cluster_home(s, args.port or esnode._port_of(s.es_url or s.local_es_url))
    plan = esnode.read_manifest(home)
    # A stopped cluster's plan stays behind; the single node on the same port is meant then.
    if plan is None or not any(esnode._read_pid(Path(n["home"])) for n in plan["nodes"]):
        return None
    return home


def _print_cluster(s, info) -> None:
    from rasad.core.es import describe_cluster, make_client  # noqa: PLC0415

    for n in info.nodes:
        state = "running" if n.running else "not running"
        print(f"  {n.name:<20} {state:<12} {n.url} (transport {n.transport_port}, pid {n.pid}, home {n.home})")
    if any(n.running for n in info.nodes):
        print(describe_cluster(make_client(s.replace(es_url=",".join(n.url for n in info.nodes if n.running)))))
    print(f"RASAD_ES_URL={info.url}")


def cmd_es(args: argparse.Namespace) -> int:
    from rasad import esnode  # noqa: PLC0415

    s = load_settings()
    home = Path(args.data_dir) if args.data_dir else None
    if args.action == "start" and (args.nodes or 1) > 1:
        cluster_info = esnode.start_cluster(s, nodes=args.nodes, port=args.port, home=home)
        print(f"Elasticsearch {s.es_version} cluster {cluster_info.name} ({len(cluster_info.nodes)} nodes) "
              f"is {cluster_info.status}:")  # fmt: skip
        _print_cluster(s, cluster_info)
    elif args.action == "start":
        info = esnode.start_node(s, port=args.port, home=home)
        print(f"Elasticsearch {info.version} running at {info.url} (pid {info.pid}, home {info.home})")
    elif args.action == "stop":
        cluster = _local_cluster_home(s, args)
        if cluster is not None:
            n = esnode.stop_cluster(s, cluster)
            print(f"stopped {n} node(s) of the cluster in {cluster}" if n else "not running (nothing to stop)")
        else:
            stopped = esnode.stop_node(s, port=args.port, home=home)
            print("stopped" if stopped else "not running (nothing to stop)")
    elif args.action == "status":
        cluster = _local_cluster_home(s, args)
        if cluster is not None:
            cluster_info = esnode.cluster_status(s, cluster)
            up = sum(n.running for n in cluster_info.nodes)
            print(f"cluster {cluster_info.name}: {up} of {len(cluster_info.nodes)} node(s) running, "
                  f"health {cluster_info.status}")  # fmt: skip
            _print_cluster(s, cluster_info)
            return 0 if up == len(cluster_info.nodes) else 3
        info = esnode.node_status(s, port=args.port, home=home)
        print(f"{'running' if info.running else 'not running'} at {info.url} (pid {info.pid}, home {info.home})")
        if info.running:
            from rasad.core.es import describe_cluster, make_client  # noqa: PLC0415

            print(describe_cluster(make_client(s.replace(es_url=info.url))))
            if s.es_url:
                print(f"RASAD_ES_URL={s.es_url} -> {describe_cluster(make_client(s))}")
            else:
                print("RASAD_ES_URL is not set: commands that write will refuse to run")
        return 0 if info.running else 3
    elif args.action == "setup":
        from rasad.pipeline import step_setup  # noqa: PLC0415

        rep = step_setup(s)
        if rep.get("analyzer_choice"):
            print(rep["analyzer_choice"])
        _print_json(rep)
    return 0


# --------------------------------------------------------------------------- feeds


def cmd_feeds(args: argparse.Namespace) -> int:
    if args.action == "check":
        from rasad.ingest.feeds import validate_registry  # noqa: PLC0415

        path = Path(args.file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            print(f"{path}: cannot read: {e.strerror}", file=sys.stderr)
            return 2
        specs, problems = validate_registry(text, str(path))
        for p in problems:
            print(p)
        print(f"{len(specs)} valid feed(s), {len(problems)} problem(s)")
        return 1 if problems else 0
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.ingest.store import IngestStore  # noqa: PLC0415

    s = load_settings()
    states = IngestStore(make_client(s), s).all_states()
    if args.json:
        import dataclasses  # noqa: PLC0415

        _print_json([dataclasses.asdict(x) for x in states])
        return 0
    cols = ("feed_id", "health", "consecutive_failures", "last_success", "next_poll", "items_seen", "last_error_kind")
    print("  ".join(f"{c:<22}" for c in cols))
    for st in states:
        print("  ".join(f"{str(getattr(st, c) or '-')[:22]:<22}" for c in cols))
    return 0


# --------------------------------------------------------------------------- queue


def cmd_queue(args: argparse.Namespace) -> int:
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415

    s = load_settings()
    q = WorkQueue(make_client(s), s)
    counts = q.counts()
    failures = q.failures(20)
    out = {"by_state": counts.by_state, "oldest_new": counts.oldest_new, "unalerted": counts.unalerted,
           "recent_failures": failures}  # fmt: skip
    if args.json:
        _print_json(out)
        return 0
    print("queue: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.by_state.items())) or "queue: empty")
    print(f"oldest waiting item: {counts.oldest_new or '-'}; indexed, not yet alerted: {counts.unalerted}")
    for f in failures:
        print(f"  ! {f['feed_id']} {f['link']}: {f['outcome']}: {f['reason']}")
    return 0


# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from rasad.demo_run import run_demo  # noqa: PLC0415

    return run_demo(use_airflow=not args.no_airflow)


def cmd_serve_demo(args: argparse.Namespace) -> int:
    import time  # noqa: PLC0415

    from rasad.demo import DemoSite, MailSink  # noqa: PLC0415

    s = load_settings()
    with DemoSite(port=args.port) as site, MailSink(s.var_path / "mail", port=s.smtp_port):
        print(f"demo site at {site.base_url}, SMTP sink on 127.0.0.1:{s.smtp_port} -> {s.var_path / 'mail'}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


# --------------------------------------------------------------------------- airflow (local service)


def cmd_airflow(args: argparse.Namespace) -> int:
    from rasad import airflow_service as svc  # noqa: PLC0415

    home = Path(args.home) if args.home else svc.DEFAULT_HOME
    try:
        if args.action == "start":
            cfg = svc.ServiceConfig(
                home=home, api_port=args.api_port, executor=args.executor, workers=args.workers, db=args.db,
                worker_concurrency=args.worker_concurrency,
                pg_port=args.pg_port, redis_port=args.redis_port, parallelism=args.parallelism,
                dags_folder=Path(args.dags_folder) if args.dags_folder else svc.DAGS_FOLDER,
                demo_port=args.demo_port, start_es=not args.no_es, start_demo=not args.no_demo,
                start_mail=not args.no_mail,
            )  # fmt: skip
            info = svc.start_service(cfg)
            print(svc.format_status(info))
            ready = f" (ready in {info.ready_seconds:.0f}s)" if info.ready_seconds else " (already running)"
            print(f"Airflow UI: {info.ui_url}{ready}; user admin, password in {home}/simple_auth_manager_passwords.json.generated")
        elif args.action == "stop":
            stopped = svc.stop_service(home, timeout=args.timeout)
            print(f"stopped: {', '.join(stopped)}" if stopped else "not running (nothing to stop)")
        else:
            info = svc.service_status(home)
            if args.json:
                _print_json(svc.info_dict(info))
            else:
                print(svc.format_status(info))
            return 0 if info.running else 3
    except svc.ServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def add_airflow_parser(sub: argparse._SubParsersAction) -> None:
    """`rasad airflow start|stop|status`: the local Airflow service (rasad/airflow_service.py)."""
    a = sub.add_parser("airflow", help="the local Airflow service: api-server, scheduler, dag-processor, triggerer")
    a.add_argument("action", choices=["start", "stop", "status"])
    a.add_argument("--home", help="AIRFLOW_HOME with pid files and logs (default var/airflow-service)")
    a.add_argument("--api-port", type=int, default=8080, help="api-server (UI) port on 127.0.0.1")
    a.add_argument("--executor", choices=["local", "celery"], default="local")
    a.add_argument("--workers", type=int, default=2, help="Celery workers (with --executor celery)")
    a.add_argument("--worker-concurrency", type=int, default=2, help="task slots per Celery worker")
    a.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite", help="metadata database")
    a.add_argument("--pg-port", type=int, default=5433, help="port of the service's own PostgreSQL")
    a.add_argument("--redis-port", type=int, default=6380, help="port of the service's own redis-server")
    a.add_argument("--parallelism", type=int, default=4, help="[core] parallelism (LocalExecutor pre-forks this many)")
    a.add_argument("--dags-folder", help="DAGs folder (default: the repository's dags/)")
    a.add_argument("--demo-port", type=int, default=8765, help="demo site port")
    a.add_argument("--no-es", action="store_true", help="do not start the local Elasticsearch node")
    a.add_argument("--no-demo", action="store_true", help="do not start the demo site")
    a.add_argument("--no-mail", action="store_true", help="do not start the SMTP sink")
    a.add_argument("--timeout", type=float, default=30.0, help="stop: seconds before SIGKILL")
    a.add_argument("--json", action="store_true", help="status as JSON")
    a.set_defaults(func=cmd_airflow)


# --------------------------------------------------------------------------- wiring


def _events_eval(args: argparse.Namespace) -> int:
    from rasad.enrich.events.eval import main as eval_main  # noqa: PLC0415

    return eval_main(list(args.extra) + list(args.rest))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="rasad", description="Arabic-first news monitoring.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="one full cycle in this process: poll, then work the queue, then alert")
    r.add_argument("--feeds", help="feed registry (default: settings feeds_file)")
    r.add_argument("--rules", help="alert rules (default: settings rules_file)")
    r.add_argument("--force", action="store_true", help="poll every feed even if not due")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("es", help="the local Elasticsearch node and index setup")
    e.add_argument("action", choices=["start", "stop", "status", "setup"])
    e.add_argument("--port", type=int, help="HTTP port (default: from RASAD_ES_URL)")
    e.add_argument("--data-dir", help="node home (config, data, logs); default in the cache")
    e.add_argument("--nodes", type=int, help="start: a local cluster of this many nodes on loopback (HTTP ports "
                   "--port, --port+1, ...); stop/status find its nodes by pid")  # fmt: skip
    e.set_defaults(func=cmd_es)

    f = sub.add_parser("feeds", help="feed registry and feed health")
    fsub = f.add_subparsers(dest="action", required=True)
    fc = fsub.add_parser("check", help="validate a feed registry")
    fc.add_argument("file")
    fc.set_defaults(func=cmd_feeds)
    fs = fsub.add_parser("status", help="table of feed health")
    fs.add_argument("--json", action="store_true")
    fs.set_defaults(func=cmd_feeds)

    q = sub.add_parser("queue", help="the work queue between feed watching and processing")
    qsub = q.add_subparsers(dest="action", required=True)
    qs = qsub.add_parser("status", help="items by state, the oldest waiting, recent failures")
    qs.add_argument("--json", action="store_true")
    qs.set_defaults(func=cmd_queue)

    d = sub.add_parser("demo", help="run the offline demo end to end")
    d.add_argument("--no-airflow", action="store_true", help="run the cycle in-process instead of via the DAG")
    d.set_defaults(func=cmd_demo)
    sd = sub.add_parser("serve-demo", help="serve the demo site and SMTP sink until interrupted")
    sd.add_argument("--port", type=int, default=8765)
    sd.set_defaults(func=cmd_serve_demo)
    add_airflow_parser(sub)

    # Subcommands owned by the stage packages register themselves (imported here, lazily,
    # so `rasad --help` stays quick and each package keeps its own CLI next to its code).
    from rasad.alerts.cli_alerts import add_alerts_parser  # noqa: PLC0415
    from rasad.enrich.cli_tag import add_seeds_parser, add_tag_parser  # noqa: PLC0415
    from rasad.indexing.cli_index import add_index_parsers  # noqa: PLC0415
    from rasad.ingest.cli_extract import add_extract_parser  # noqa: PLC0415

    add_extract_parser(sub)
    add_tag_parser(sub)
    add_seeds_parser(sub)
    add_index_parsers(sub)
    add_alerts_parser(sub)

    ev = sub.add_parser("events", help="story clustering")
    esub = ev.add_subparsers(dest="action", required=True)
    ee = esub.add_parser("eval", help="run the clustering on a benchmark stream and print its metrics", add_help=False)
    ee.add_argument("rest", nargs=argparse.REMAINDER)
    ee.set_defaults(func=_events_eval, passthrough=True)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rasad`` console script."""
    parser = build_parser()
    # `rasad events eval` hands its arguments (even --help) to the evaluation's own parser.
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        return int(args.func(args) or 0)
    except SettingsError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        from rasad.alerts.rules import RulesError  # noqa: PLC0415
        from rasad.esnode import NodeError  # noqa: PLC0415
        from rasad.ingest.feeds import RegistryError  # noqa: PLC0415

        if isinstance(e, (RegistryError, RulesError, NodeError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
