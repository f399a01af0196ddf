"""The alert step of a run with no new articles: it stops after one look, unless a mail is due."""

from __future__ import annotations

import textwrap
from datetime import timedelta

from rasad.alerts.deliver import send_alerts
from rasad.alerts.rules import load_rules
from rasad.pipeline import step_alert
from tests.alerts.conftest import at
from tests.alerts.smtp_servers import ScriptedHandler, ScriptedSmtp
from tests.alerts.test_delivery import TALIBAN, arabic
from tests.conftest import free_port


def test_a_retry_that_comes_due_is_sent_by_an_otherwise_idle_alert_step(es, ledger_settings):
    port = free_port()
    s = ledger_settings.replace(smtp_host="127.0.0.1", smtp_port=port)
    rules_text = textwrap.dedent(TALIBAN.format(mode="immediate", extra="", recipients="[analyst@example.org]"))
    with open(s.rules_file, "w", encoding="utf-8") as f:
        f.write("version: 1\n" + rules_text)
    handler = ScriptedHandler(data_replies=["451 4.7.1 Greylisted, please try again later"])
    with ScriptedSmtp(port, handler) as server:
        t0 = at("2025-11-22 10:00")
        rep = send_alerts(es, s, load_rules(s.rules_file), [arabic(1)], now=t0)
        assert (rep.sent, rep.retry_later) == (0, 1)
        # Not due yet: nothing to do, nothing sent.
        assert step_alert(s, now=t0 + timedelta(seconds=10))["alerts_sent"] == 0
        assert handler.data_attempts == 1
        # Due: the step does its full work although no article is new.
        assert step_alert(s, now=t0 + timedelta(seconds=31))["alerts_sent"] == 1
        assert handler.data_attempts == 2 and len(server.received) == 1
        assert step_alert(s, now=t0 + timedelta(hours=2))["alerts_sent"] == 0
