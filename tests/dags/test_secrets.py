"""Secrets never leak: a real cycle (dag.test) with distinctive Elasticsearch, SMTP and Airflow secrets set,
then every log line, XCom, stored document, mail, file under var/ and error message is searched for them.

The SMTP server really demands the password (AUTH on a loopback aiosmtpd), so the secret is used,
not just configured; it comes from an Airflow connection, as in production. A dead feed and a
missing feed make the cycle produce error messages too.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import sqlite3
from pathlib import Path

import yaml

from tests.conftest import free_port

ES_PASSWORD = "EsPw-" + secrets.token_hex(8)
SMTP_PASSWORD = "SmtpPw-" + secrets.token_hex(8)  # in the Airflow connection (used)
SMTP_ENV_PASSWORD = "SmtpEnvPw-" + secrets.token_hex(8)  # in RASAD_SMTP_PASSWORD (configured, overridden)
JWT_SECRET = "JwtSecret-" + secrets.token_hex(24)
SMTP_USER = "rasad-mailer"


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(b"FernetKey-" + secrets.token_bytes(22)).decode()


FERNET_KEY = _fernet_key()
SECRETS = {"es_password": ES_PASSWORD, "smtp_password": SMTP_PASSWORD, "smtp_env_password": SMTP_ENV_PASSWORD,
           "airflow_jwt_secret": JWT_SECRET, "airflow_fernet_key": FERNET_KEY}  # fmt: skip


def _forms(secret: str) -> list[bytes]:
    """The secret as it could appear: plain, JSON-escaped, URL-quoted, base64 (alone and as SMTP AUTH PLAIN)."""
    from urllib.parse import quote

    raw = secret.encode()
    plain_auth = base64.b64encode(b"\0" + SMTP_USER.encode() + b"\0" + raw)
    return [raw, json.dumps(secret).encode()[1:-1], quote(secret).encode(), base64.b64encode(raw)[:-2], plain_auth]


def _leaks(blob: bytes) -> list[str]:
    return [name for name, s in SECRETS.items() if any(f in blob for f in _forms(s))]


class _AuthSink:
    """aiosmtpd on loopback that requires AUTH with SMTP_USER / SMTP_PASSWORD and keeps what it accepts."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[bytes] = []
        self.logins: list[bool] = []

        def check(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
            self.logins.append(ok)
            return AuthResult(success=ok)

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.messages.append(envelope.original_content or envelope.content)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=check,
                                     auth_required=True, auth_require_tls=False)  # fmt: skip


def test_no_secret_in_logs_xcom_documents_mails_or_errors(settings, es, demo_site, demo_feeds, airflow_db,
                                                          monkeypatch, tmp_path, caplog, capfd):  # fmt: skip
    from rasad.airflow_local import run_dag_test

    port = free_port()
    reg = yaml.safe_load(demo_feeds.read_text(encoding="utf-8"))
    reg["feeds"] += [
        {"id": "dead", "url": f"http://127.0.0.1:{free_port()}/rss.xml", "name": "Dead", "poll_interval": "5m"},
        {"id": "missing", "url": f"{demo_site.base_url}/nope.xml", "name": "404", "poll_interval": "5m"},
    ]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump(reg, allow_unicode=True), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "any", "keywords": ["طالبان", "Taliban", "Kabulov"],
                                                "recipients": ["analyst@example.org"]}]},
                                    allow_unicode=True), encoding="utf-8")  # fmt: skip
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": SMTP_USER, "password": SMTP_PASSWORD,
            "extra": {"disable_ssl": True, "disable_tls": True}}  # fmt: skip
    env = {
        "RASAD_FEEDS_FILE": str(feeds), "RASAD_RULES_FILE": str(rules), "RASAD_ALLOW_PRIVATE_NETWORKS": "1",
        "RASAD_ES_USER": "elastic", "RASAD_ES_PASSWORD": ES_PASSWORD,
        "RASAD_SMTP_USER": SMTP_USER, "RASAD_SMTP_PASSWORD": SMTP_ENV_PASSWORD, "RASAD_SMTP_CONN_ID": "rasad_smtp",
        "AIRFLOW_CONN_RASAD_SMTP": json.dumps(conn), "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
    }  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    caplog.set_level(logging.DEBUG)
    sink = _AuthSink(port)
    sink.controller.start()
    from rasad.pipeline import step_poll, summarize_run

    try:
        polled = step_poll()  # what the triggerer's watcher does, with the same settings
        dr, values = run_dag_test("rasad_process")
    finally:
        sink.controller.stop()
    summary = summarize_run(values, polled).to_dict()
    values["poll"] = polled
    assert "success" in str(dr.state), dr.state
    # The cycle really used the secrets: mails went through an authenticated session, and it failed somewhere.
    assert sink.messages and sink.logins and all(sink.logins), (summary, sink.logins)
    assert summary["alerts_sent"] == len(sink.messages)
    assert summary["feeds_failed"] == 2 and summary["errors"], summary

    found: dict[str, list[str]] = {}
    # The scanner itself finds a secret in each form it looks for (else the test could not fail).
    assert _leaks(f"user=x password={ES_PASSWORD}".encode()) == ["es_password"]
    assert _leaks(base64.b64encode(b"\0" + SMTP_USER.encode() + b"\0" + SMTP_PASSWORD.encode())) == ["smtp_password"]

    def scan(where: str, blob: bytes) -> None:
        for name in _leaks(blob):
            found.setdefault(name, []).append(where)

    out, err = capfd.readouterr()
    scan("stdout", out.encode())
    scan("stderr", err.encode())
    scan("log records", "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records).encode())
    home = Path(os.environ["AIRFLOW_HOME"])
    for p in (home / "logs").rglob("*"):
        if p.is_file():
            scan(f"airflow log {p.relative_to(home)}", p.read_bytes())
    with sqlite3.connect(home / "airflow.db") as db:
        for table, in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - names from sqlite_master
            scan(f"airflow db table {table}", repr(rows).encode())
    scan("xcom values", json.dumps(values, default=str, ensure_ascii=False).encode())
    scan("xcom values (ascii)", json.dumps(values, default=str).encode())
    for p in Path(os.environ["RASAD_VAR_DIR"]).rglob("*"):
        if p.is_file():
            scan(f"var file {p.name}", p.read_bytes())
    es.indices.refresh(index=f"{settings.index_prefix}-*")
    res = es.search(index=f"{settings.index_prefix}-*", size=1000, query={"match_all": {}})
    assert res["hits"]["hits"], "the cycle stored nothing"
    scan("elasticsearch documents", json.dumps(res.body, ensure_ascii=False).encode())
    for i, m in enumerate(sink.messages):
        scan(f"mail {i}", m)
    scan("cycle errors", json.dumps(summary["errors"], ensure_ascii=False).encode())
    assert not found, f"secrets leaked: {found}"
