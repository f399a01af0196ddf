"""Real SMTP servers (aiosmtpd) for the alert tests: one that answers what the test scripts.

Each reply in ``data_replies`` answers one DATA command in turn (then "250"); a
``rcpt_replies`` mapping answers RCPT for chosen addresses. Only accepted messages are
kept, with their envelope, so a test can tell what was really delivered and to whom.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


class ScriptedHandler:
    def __init__(
        self,
        data_replies: list[str] | None = None,
        rcpt_replies: dict[str, str] | None = None,
        on_data: Callable[[], None] | None = None,
    ):
        self.data_replies = list(data_replies or [])
        self.rcpt_replies = dict(rcpt_replies or {})
        self.on_data = on_data
        self.received: list[Received] = []
        self.data_attempts = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self.rcpt_replies.get(address)
        if reply and not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.data_attempts += 1
            reply = self.data_replies.pop(0) if self.data_replies else "250 Message accepted for delivery"
            if reply.startswith("250"):
                self.received.append(
                    Received(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        envelope.original_content or envelope.content,
                    )
                )
        if self.on_data is not None:
            self.on_data()
        return reply


class ScriptedSmtp:
    """aiosmtpd on 127.0.0.1:port with a :class:`ScriptedHandler` (TLS/auth options passed through)."""

    def __init__(self, port: int, handler: ScriptedHandler | None = None, **controller_kw):
        from aiosmtpd.controller import Controller

        self.handler = handler or ScriptedHandler()
        self.port = port
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port, **controller_kw)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> ScriptedSmtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
