"""``rasad alerts check RULES`` and ``rasad alerts preview RULES --since 24h``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from rasad.alerts.render import format_time, wire_text


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a rules file: print every problem; exit 1 if there is any, 2 if unreadable."""
    from rasad.alerts.rules import check_rule_ids, read_rules

    rules, problems = read_rules(args.rules)
    if rules and not args.no_seeds:
        from rasad.core.settings import load_settings
        from rasad.enrich.knowledge import load_knowledge

        seeds = args.seeds or str(load_settings().path(load_settings().seeds_dir))
        knowledge = load_knowledge(seeds)
        problems += check_rule_ids(rules, set(knowledge.entities), set(knowledge.topics), args.rules)
    for p in problems:
        print(p)
    if problems and not rules and "cannot read" in problems[0]:
        return 2
    for r in rules:
        state = (
            "disabled"
            if not r.enabled
            else (f"snoozed until {r.snooze_until}" if r.snooze_until else "active")
        )
        print(
            f"  {r.name}: {r.kind}, {r.mode}"
            + (f" ({r.timezone})" if r.mode != "immediate" else "")
            + f", {len(r.recipients)} recipient(s), {state}"
        )
    print(f"{len(rules)} valid rule(s), {len(problems)} problem(s)")
    return 1 if problems else 0


def _text_part(msg) -> str:  # EmailMessage
    part = msg.get_body(("plain",))
    return part.get_content() if part is not None else ""


def cmd_preview(args: argparse.Namespace) -> int:
    """Print the mails the alert step would send now for stored articles; send nothing."""
    from rasad.alerts.preview import parse_since, preview_alerts
    from rasad.alerts.rules import load_rules
    from rasad.core.es import make_client
    from rasad.core.records import parse_iso
    from rasad.core.settings import load_settings

    try:
        since = parse_since(args.since)
    except ValueError as e:
        print(f"error: --since: {e}", file=sys.stderr)
        return 2
    now = parse_iso(args.at) if args.at else datetime.now(timezone.utc)
    s = load_settings()
    rules = load_rules(args.rules)
    pv = preview_alerts(make_client(s), s, rules, since, now, include_alerted=args.include_alerted)  # type: ignore[arg-type]
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    if args.json:
        data = {
            "articles": pv.articles,
            "matched": pv.matched,
            "already_alerted": pv.already_alerted,
            "mails": [
                {
                    "key": p.key,
                    "rule": p.rule.name,
                    "rules": [r.name for r in p.all_rules],
                    "mode": p.mode,
                    "to": [p.to],
                    "subject": str(m["Subject"]),
                    "message_id": str(m["Message-ID"]),
                    "text": _text_part(m),
                    "article_ids": p.article_ids,
                    "signal_ids": p.signal_ids,
                    "in_reply_to": str(m["In-Reply-To"] or "") or None,
                }
                for p, m in pv.mails
            ],
            "waiting": [
                {
                    "rule": w.rule.name,
                    "recipient": w.recipient or None,
                    "items": [i.key for i in w.items],
                    "due_at": w.due_at.isoformat(),
                    "why": w.why,
                }
                for w in pv.waiting
            ],
        }
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for n, (plan, msg) in enumerate(pv.mails, 1):
            names = ", ".join(r.name for r in plan.all_rules)
            print(
                f"=== mail {n}/{len(pv.mails)} · to {plan.to} · rules {names} · {plan.mode} · would be sent now"
            )
            for h in ("From", "To", "Subject", "Message-ID", "In-Reply-To"):
                if msg[h]:
                    print(f"{h}: {msg[h]}")
            print()
            print(_text_part(msg).rstrip())
            print()
        for w in pv.waiting:
            print(
                f"--- rule {w.rule.name}{' for ' + w.recipient if w.recipient else ''}: "
                f"{len(w.items)} item(s) wait for {w.why}, "
                f"due {format_time(w.due_at.isoformat(), w.rule.timezone)}"
            )
            for i in w.items:
                print(f"    · {i.title}")
        print(
            f"{pv.articles} stored article(s) since {args.since}, {pv.matched} match(es), "
            f"{pv.already_alerted} already alerted, {len(pv.mails)} mail(s) would be sent now, "
            f"{sum(len(w.items) for w in pv.waiting)} item(s) waiting"
        )
    if out_dir:
        for plan, msg in pv.mails:
            (out_dir / f"{plan.key}.eml").write_text(wire_text(msg), encoding="ascii", newline="")
            html_part = msg.get_body(("html",))
            if html_part is not None:
                (out_dir / f"{plan.key}.html").write_text(html_part.get_content(), encoding="utf-8")
    return 0


def add_alerts_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``rasad alerts check`` and ``rasad alerts preview`` on the CLI's subparsers."""
    a = subparsers.add_parser("alerts", help="alert rules: validate them, preview their mails")
    asub = a.add_subparsers(dest="action", required=True)
    c = asub.add_parser("check", help="validate a rules file (every problem, with its line)")
    c.add_argument("rules", help="rules YAML file")
    c.add_argument(
        "--seeds", help="seeds folder whose entity and topic ids the rules may name (default: settings)"
    )
    c.add_argument(
        "--no-seeds", action="store_true", help="do not check entity and topic ids against the seeds"
    )
    c.set_defaults(func=cmd_check)
    p = asub.add_parser(
        "preview", help="print the mails the rules would send for stored articles (sends nothing)"
    )
    p.add_argument("rules", help="rules YAML file")
    p.add_argument(
        "--since", default="24h", help="articles fetched in this window: 90m, 24h, 7d (default 24h)"
    )
    p.add_argument(
        "--include-alerted",
        action="store_true",
        help="ignore the ledger: show the mails as if nothing had been alerted yet",
    )
    p.add_argument("--at", help="pretend it is this time (ISO 8601), for digest windows and throttles")
    p.add_argument("--json", action="store_true", help="print the mails as JSON")
    p.add_argument("--out", help="also write each mail as <key>.eml and <key>.html into this folder")
    p.set_defaults(func=cmd_preview)
    return a
