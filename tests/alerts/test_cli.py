"""``rasad alerts check`` and ``rasad alerts preview`` (bar 4: preview matches what the pipeline sends)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rasad.alerts.cli_alerts import add_alerts_parser

PROJECT = Path(__file__).resolve().parents[2]
DEMO_RULES = PROJECT / "examples" / "demo" / "rules.yaml"


def run_cli(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="rasad")
    add_alerts_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["alerts", *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


def test_check_accepts_the_demo_rules():
    code, out = run_cli("check", str(DEMO_RULES))
    assert code == 0, out
    assert out.strip().endswith("5 valid rule(s), 0 problem(s)")


def test_check_reports_every_problem_with_its_line(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n"
        "  - name: ok-rule\n"
        "    keywords: [طالبان]\n"
        "    recipients: [a@example.org]\n"
        "  - name: bad rule\n"  # line 5
        "    keywords: {any: [Taliban], most: [x]}\n"
        "    recipients: [not-an-address]\n"
        "    mode: weekly\n"
        "    timezone: Mars/Olympus\n"
        "  - name: events\n"  # line 10
        "    kind: breaking\n"
        "    recipients: [a@example.org]\n"
        "    throttle_per_hour: 0\n"
        "  - name: typo\n"  # line 14
        "    entities: [talibn]\n"
        "    recipients: [a@example.org]\n",
        encoding="utf-8",
    )
    code, out = run_cli("check", str(bad))
    assert code == 1
    assert f"{bad}:5: rules[1].name: name 'bad rule' must match" in out
    assert f"{bad}:6: rules[1].keywords: keywords must be a list or a mapping with any/all/none" in out
    assert f"{bad}:7: rules[1].recipients: 'not-an-address' is not an e-mail address" in out
    assert f"{bad}:8: rules[1].mode: mode 'weekly' must be one of immediate, hourly, daily" in out
    assert f"{bad}:9: rules[1].timezone: unknown time zone 'Mars/Olympus'" in out
    assert f"{bad}:10: rules[2]: a breaking rule needs a topics or entities filter" in out
    assert f"{bad}:13: rules[2].throttle_per_hour: must be a positive whole number" in out
    assert "rule 'typo': unknown entity id 'talibn'; did you mean taliban" in out
    code, out = run_cli("check", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read" in out


def _preview(rules: Path, *extra: str) -> dict:
    code, out = run_cli("preview", str(rules), "--since", "24h", "--json", *extra)
    assert code == 0
    return json.loads(out)


def _sent(mail_sink) -> list[dict]:
    return [
        {
            "message_id": str(m["Message-ID"]),
            "subject": str(m["Subject"]),
            "to": [str(m["To"])],
            "text": m.get_body(("plain",)).get_content(),
        }
        for m in mail_sink.messages()
    ]


def _comparable(mails: list[dict]) -> list[tuple]:
    # SMTP carries lines ending in CRLF; the preview's are the in-memory newlines.
    return sorted(
        (m["message_id"], m["subject"], ", ".join(m["to"]), m["text"].replace("\r\n", "\n")) for m in mails
    )


def test_preview_shows_what_the_pipeline_then_sends(demo_env, es, mail_sink):
    """Preview from the stored articles first, then the alert step sends exactly those mails."""
    from rasad.alerts.ledger import AlertLedger
    from rasad.pipeline import step_alert, step_claim, step_poll, step_process_batch, step_setup

    s, rules = demo_env
    step_setup(s)
    step_poll(s)
    indexed = sum(step_process_batch(b["id"], s)["indexed"] for b in step_claim("t", s))
    assert indexed > 10
    es.indices.refresh(index=s.index("articles"))
    before = _preview(rules)
    assert before["already_alerted"] == 0 and len(before["mails"]) >= 3, before
    assert {r for m in before["mails"] for r in m["rules"]} >= {"taliban-russia", "isis-k"}
    # One inbox per recipient: the analyst's two immediate rules make one mail.
    assert [m["rules"] for m in before["mails"] if m["to"] == ["analyst@example.org"]] == [
        ["taliban-russia", "isis-k"]
    ]
    assert {w["rule"] for w in before["waiting"]} >= {"recognition-digest"}

    alerted = step_alert(s)
    assert alerted["alerts_sent"] == len(before["mails"]) and alerted["alerts_failed"] == 0
    assert _comparable(_sent(mail_sink)) == _comparable(before["mails"])

    # Everything previewed is now alerted: nothing more would go out; the digests still wait.
    after = _preview(rules)
    assert after["mails"] == [] and after["already_alerted"] == before["matched"]
    queued = {d["id"] for d in AlertLedger(es, s).all_docs("item") if d["status"] == "queued"}
    assert {k for w in after["waiting"] for k in w["items"]} == queued
    assert {k for w in before["waiting"] for k in w["items"]} == queued


def test_preview_of_a_later_hour_matches_the_digest_the_pipeline_sends(demo_env, es, mail_sink, tmp_path):
    """run_cycle, then preview the next hour: the hourly digest previewed is the digest sent."""
    from rasad.alerts.deliver import send_alerts
    from rasad.alerts.rules import load_rules
    from rasad.pipeline import run_cycle

    s, rules = demo_env
    summary = run_cycle(s)
    assert summary.alerts_sent >= 3 and summary.alerts_failed == 0, summary
    immediate = _sent(mail_sink)
    # Ignoring the ledger, the preview rebuilds the very mails the cycle sent.
    again = _preview(rules, "--include-alerted")
    now_mails = [m for m in again["mails"] if m["mode"] in ("immediate", "event", "events")]
    assert _comparable(now_mails) == _comparable(immediate)

    # The human-readable form says the same, and --out writes each mail for a mail client and a browser.
    code, out = run_cli("preview", str(rules), "--include-alerted", "--out", str(tmp_path / "out"))
    assert code == 0 and f"=== mail 1/{len(again['mails'])} · to " in out
    assert f"{len(again['mails'])} mail(s) would be sent now" in out
    assert all(m["subject"] in out for m in again["mails"])
    assert (
        len(list((tmp_path / "out").glob("*.eml")))
        == len(list((tmp_path / "out").glob("*.html")))
        == len(again["mails"])
    )
    code, out = run_cli("preview", str(rules))
    assert "0 mail(s) would be sent now" in out and "wait for hourly digest" in out

    now = datetime.now(timezone.utc)
    later_at = now + timedelta(hours=1)
    later = later_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest_preview = _preview(rules, "--at", later, "--since", "48h")
    # The hour has ended: its hourly digest goes out (the analyst's one mail held nothing back).
    expected = [("recognition-digest", "hourly", "desk@example.org")]
    # The daily digest too when its local send time falls within that hour (08:00 Asia/Riyadh in
    # the demo rules, 05:00 UTC): a run between 04:00 and 05:00 UTC previews and sends it as well.
    daily = next(r for r in load_rules(rules) if r.name == "central-asia-daily")
    local = later_at.astimezone(daily.tz)
    hour, minute = (int(x) for x in daily.send_at.split(":"))
    if now < local.replace(hour=hour, minute=minute, second=0, microsecond=0) <= later_at:
        expected.append(("central-asia-daily", "daily", "desk@example.org"))
    assert sorted((m["rule"], m["mode"], m["to"][0]) for m in digest_preview["mails"]) == sorted(expected)
    rep = send_alerts(es, s, load_rules(rules), [], now=datetime.fromisoformat(later.replace("Z", "+00:00")))
    assert rep.sent == len(expected)
    sent_digests = [m for m in _sent(mail_sink) if m not in immediate]
    assert _comparable(sent_digests) == _comparable(digest_preview["mails"])
    assert any("recognition-digest" in m["subject"] and "hourly digest" in m["subject"] for m in sent_digests)
