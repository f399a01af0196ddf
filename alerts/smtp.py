"""SMTP delivery: plain, STARTTLS or implicit TLS, with auth, configured by settings or an Airflow connection.

Failures are classified here, once: a 4xx reply, a refused or dropped connection or a
timeout is transient (retry later); a 5xx reply is permanent (the ledger records it as
``failed`` with the server's words).
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from rasad.core.settings import Settings


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to hand mail over (the password is never logged or printed)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = 20.0
    mail_from: str = "rasad@localhost"
    source: str = "settings"

    def __repr__(self) -> str:
        tls = "ssl" if self.ssl else "starttls" if self.starttls else "plain"
        return f"SmtpConfig({self.host}:{self.port}, {tls}, user={self.user!r}, from {self.source})"


class SmtpFailure(Exception):
    """A mail was not accepted; ``transient`` says whether trying again later can help."""

    def __init__(self, reply: str, transient: bool, connection: bool = False):
        super().__init__(reply)
        self.reply = reply
        self.transient = transient
        self.connection = connection  # the server could not be reached at all


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def config_from_connection(conn: Any, settings: Settings) -> SmtpConfig:
    """SMTP settings from an Airflow SMTP connection, read the way the SMTP provider reads it.

    Like ``SmtpHook``: implicit TLS unless the extra ``disable_ssl`` is true; STARTTLS on a
    plain connection unless ``disable_tls`` is true; ``timeout`` and ``from_email`` extras.
    """
    extra = conn.extra_dejson or {}
    use_ssl = not _flag(extra.get("disable_ssl", False))
    return SmtpConfig(
        host=conn.host or settings.smtp_host,
        port=int(conn.port or (465 if use_ssl else 587)),
        user=conn.login or None,
        password=conn.password or None,
        ssl=use_ssl,
        starttls=not use_ssl and not _flag(extra.get("disable_tls", False)),
        timeout=float(extra.get("timeout", settings.smtp_timeout)),
        mail_from=extra.get("from_email") or settings.mail_from,
        source=f"Airflow connection {conn.conn_id!r}",
    )


def smtp_config(settings: Settings) -> SmtpConfig:
    """SMTP settings: from the Airflow connection named by ``smtp_conn_id`` if set, else from settings."""
    conn_id = getattr(settings, "smtp_conn_id", None)
    if conn_id:
        from airflow.sdk import BaseHook  # noqa: PLC0415 - only when a connection is configured

        return config_from_connection(BaseHook.get_connection(conn_id), settings)
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        ssl=settings.smtp_ssl,
        timeout=settings.smtp_timeout,
        mail_from=settings.mail_from,
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def classify_error(exc: BaseException) -> SmtpFailure:
    """The SmtpFailure for an exception raised while sending."""
    if isinstance(exc, SmtpFailure):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        text = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in exc.recipients.items())
        return SmtpFailure(text, all(400 <= c < 500 for c in codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        return SmtpFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}", 400 <= exc.smtp_code < 500)
    if isinstance(
        exc,
        (
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPConnectError,
            ConnectionError,
            socket.timeout,
            TimeoutError,
            ssl.SSLError,
            OSError,
        ),
    ):
        return SmtpFailure(f"{type(exc).__name__}: {exc}", True, connection=True)
    return SmtpFailure(f"{type(exc).__name__}: {exc}", False)


class SmtpSender:
    """One SMTP session reused for many mails; reconnects after a failure."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        context = ssl.create_default_context()
        try:
            if c.ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=context)
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            conn.ehlo()
            if c.starttls and not c.ssl:
                conn.starttls(context=context)
                conn.ehlo()
            if c.user and c.password:
                conn.login(c.user, c.password)
        except smtplib.SMTPAuthenticationError as e:
            raise SmtpFailure(
                f"{e.smtp_code} {_text(e.smtp_error)} (login as {c.user!r})", 400 <= e.smtp_code < 500
            ) from e
        except Exception as e:  # every way of not getting a session is classified the same way
            failure = classify_error(e)
            failure.connection = failure.connection or failure.transient
            raise failure from e
        return conn

    def send(self, raw: str, recipients: list[str], mail_from: str | None = None) -> dict[str, str]:
        """Send one message; return refused recipients (some accepted); raise SmtpFailure if none accepted."""
        if self._conn is None:
            self._conn = self._connect()
        sender = parseaddr(mail_from or self.config.mail_from)[1] or "rasad@localhost"
        try:
            # SMTP wants CRLF line ends; smtplib only fixes them for str messages, not bytes.
            data = re.sub(r"\r?\n", "\r\n", raw).encode("utf-8")
            refused = self._conn.sendmail(sender, recipients, data)
        except Exception as e:
            self.close()
            raise classify_error(e) from e
        return {r: f"{c} {_text(m)}" for r, (c, m) in refused.items()}

    def close(self) -> None:
        """End the session (quietly: the mail is already accepted or already failed)."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
