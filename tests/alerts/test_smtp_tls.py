"""SMTP with STARTTLS, implicit TLS and auth (real aiosmtpd servers), from settings or Airflow."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest

from rasad.alerts.smtp import SmtpConfig, SmtpFailure, SmtpSender, config_from_connection, smtp_config
from tests.alerts.smtp_servers import ScriptedSmtp
from tests.conftest import free_port

RAW = "From: alerts@rasad.example\r\nTo: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls(tmp_path, monkeypatch):
    """A server TLS context; the client trusts its certificate through SSL_CERT_FILE, as an operator would."""
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return ctx


def _auth(server, session, envelope, mechanism, auth_data):  # aiosmtpd's API
    from aiosmtpd.smtp import AuthResult

    return AuthResult(
        success=(auth_data.login, auth_data.password) == (b"rasad", b"s3cret/pw"), handled=False
    )


def test_starttls_with_auth_delivers(tls):
    port = free_port()
    with ScriptedSmtp(
        port, tls_context=tls, require_starttls=True, authenticator=_auth, auth_require_tls=True
    ) as srv:
        cfg = SmtpConfig("127.0.0.1", port, "rasad", "s3cret/pw", starttls=True)
        with SmtpSender(cfg) as sender:
            assert sender.send(RAW, ["a@example.org"], "alerts@rasad.example") == {}
        assert len(srv.received) == 1 and srv.received[0].rcpt_tos == ["a@example.org"]
        # Without STARTTLS the server refuses to go on: a permanent 5xx, recorded as such.
        with pytest.raises(SmtpFailure) as err, SmtpSender(SmtpConfig("127.0.0.1", port)) as plain:
            plain.send(RAW, ["a@example.org"])
        assert err.value.reply.startswith("530") and not err.value.transient
        with (
            pytest.raises(SmtpFailure) as err,
            SmtpSender(SmtpConfig("127.0.0.1", port, "rasad", "wrong", starttls=True, timeout=5)) as bad,
        ):
            bad.send(RAW, ["a@example.org"])
        assert err.value.reply.startswith("535") and "login as 'rasad'" in err.value.reply
        assert not err.value.transient
        assert len(srv.received) == 1


def test_implicit_tls_with_auth_delivers(tls):
    port = free_port()
    with ScriptedSmtp(port, ssl_context=tls, authenticator=_auth, auth_require_tls=False) as srv:
        cfg = SmtpConfig("127.0.0.1", port, "rasad", "s3cret/pw", ssl=True)
        with SmtpSender(cfg) as sender:
            sender.send(RAW, ["a@example.org", "b@example.org"], "alerts@rasad.example")
        assert srv.received[0].rcpt_tos == ["a@example.org", "b@example.org"]


def test_untrusted_certificate_is_a_connection_failure(tmp_path):
    cert, key = _self_signed(tmp_path)  # not put in SSL_CERT_FILE: the client must not trust it
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = free_port()
    with ScriptedSmtp(port, ssl_context=ctx) as srv:
        with pytest.raises(SmtpFailure) as err, SmtpSender(SmtpConfig("127.0.0.1", port, ssl=True)) as sender:
            sender.send(RAW, ["a@example.org"])
        assert "CERTIFICATE_VERIFY_FAILED" in err.value.reply and err.value.connection
        assert srv.received == []


def test_settings_and_an_airflow_connection_configure_smtp(settings, monkeypatch, tls):
    from airflow.sdk import BaseHook

    cfg = smtp_config(
        settings.replace(
            smtp_host="mail.example",
            smtp_port=587,
            smtp_user="u",
            smtp_password="pw-secret-1",
            smtp_starttls=True,
        )
    )
    assert (cfg.host, cfg.port, cfg.user, cfg.starttls, cfg.ssl) == ("mail.example", 587, "u", True, False)
    assert "pw-secret-1" not in repr(cfg) and "pw-secret-1" not in str(cfg)

    port = free_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_RASAD_SMTP_TEST",
        f"smtp://rasad:s3cret%2Fpw@127.0.0.1:{port}?disable_ssl=true&timeout=7"
        "&from_email=Desk+%3Cdesk%40rasad.example%3E",
    )
    conn_cfg = config_from_connection(BaseHook.get_connection("rasad_smtp_test"), settings)
    assert (conn_cfg.host, conn_cfg.port, conn_cfg.user, conn_cfg.password) == (
        "127.0.0.1",
        port,
        "rasad",
        "s3cret/pw",
    )
    assert (conn_cfg.ssl, conn_cfg.starttls, conn_cfg.timeout) == (False, True, 7.0)
    assert conn_cfg.mail_from == "Desk <desk@rasad.example>"
    with ScriptedSmtp(
        port, tls_context=tls, require_starttls=True, authenticator=_auth, auth_require_tls=True
    ) as srv:
        with SmtpSender(conn_cfg) as sender:
            sender.send(RAW, ["a@example.org"])
        assert srv.received[0].mail_from == "desk@rasad.example"
