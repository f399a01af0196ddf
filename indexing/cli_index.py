"""``rasad search``, ``rasad retag`` and ``rasad kibana import``: thin wrappers over the indexing package."""

from __future__ import annotations

import argparse
import json
import os
import sys


def cmd_search(args: argparse.Namespace) -> int:
    """Search stored articles; a table (bidi-reordered) or JSON with highlights."""
    from rasad.core.es import make_client
    from rasad.core.settings import load_settings
    from rasad.indexing.search import SearchError, SearchQuery, render_json, render_table, search_articles

    s = load_settings()
    q = SearchQuery(text=args.query or "", topic=args.topic, entity=args.entity, since=args.since, lang=args.lang,
                    limit=args.limit)  # fmt: skip
    try:
        if args.json:
            print(render_json(search_articles(make_client(s), s, q)))
            return 0
        result = search_articles(make_client(s), s, q, pre="\x00", post="\x01")
    except SearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(render_table(result, bidi=not args.no_bidi, color=color))
    return 0


def cmd_retag(args: argparse.Namespace) -> int:
    """Re-tag stored articles in place from their stored text."""
    import dataclasses

    from rasad.core.es import make_client
    from rasad.core.settings import load_settings
    from rasad.indexing.retag import retag_articles
    from rasad.indexing.search import SearchError

    s = load_settings()
    try:
        rep = retag_articles(make_client(s), s, since=args.since, force=args.force, topics=args.topic or None,
                             progress=not args.json and sys.stderr.isatty())  # fmt: skip
    except SearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(dataclasses.asdict(rep), ensure_ascii=False, indent=2))
    else:
        print(f"tagger {rep.tagger_version}: {rep.retagged} article(s) re-tagged ({rep.changed} with changed tags), "
              f"{rep.skipped_current} already current, {rep.conflicts} changed meanwhile, {rep.failed} failed")  # fmt: skip
        for err in rep.errors[:20]:
            print(f"  ! {err}")
    return 1 if rep.failed else 0


def cmd_kibana(args: argparse.Namespace) -> int:
    """Import the saved objects in kibana/*.ndjson into Kibana."""
    from rasad.core.settings import load_settings
    from rasad.indexing.kibana import KibanaError, import_saved_objects

    s = load_settings()
    try:
        rep = import_saved_objects(s, url=args.url)
    except KibanaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"imported {rep['successCount']} saved object(s) from {', '.join(rep['files'])} into {args.url or s.kibana_url}")
    return 0


def add_index_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``search``, ``retag`` and ``kibana`` on the ``rasad`` command line."""
    p = subparsers.add_parser("search", help="full-text search of stored articles (Arabic-aware)")
    p.add_argument("query", nargs="?", default="", help='words to find; "quoted" for a phrase; empty: newest')
    p.add_argument("--topic", help="taxonomy topic id (a parent includes its sub-topics)")
    p.add_argument("--entity", help="entity id or name (English or Arabic)")
    p.add_argument("--since", help="only articles from the last 30m/24h/7d/2w, or since an ISO date")
    p.add_argument("--lang", choices=["ar", "en"], help="article language")
    p.add_argument("--limit", type=int, default=20, help="number of hits (default 20, at most 500)")
    p.add_argument("--json", action="store_true", help="print JSON (highlights as <em>…</em>)")
    p.add_argument("--no-bidi", action="store_true",
                   help="print Arabic in logical order (for terminals that reorder right-to-left text themselves)")
    p.set_defaults(func=cmd_search)

    r = subparsers.add_parser("retag", help="re-tag stored articles after the seeds changed (nothing re-downloaded)")
    r.add_argument("--since", help="only articles from the last 30m/24h/7d/2w, or since an ISO date")
    r.add_argument("--force", action="store_true", help="also re-tag articles already tagged by this tagger version")
    r.add_argument("--topic", action="append", help="only articles tagged with this topic id (repeatable)")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(func=cmd_retag)

    k = subparsers.add_parser("kibana", help="Kibana saved objects (dashboards, data views, searches)")
    ksub = k.add_subparsers(dest="action", required=True)
    ki = ksub.add_parser("import", help="load kibana/*.ndjson through Kibana's saved-objects API")
    ki.add_argument("--url", help="Kibana base URL (default: settings kibana_url, RASAD_KIBANA_URL)")
    ki.set_defaults(func=cmd_kibana)
