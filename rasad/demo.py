"""The offline demo: a loopback news site serving ``examples/demo/site`` and an SMTP sink.

The site substitutes ``{{BASE_URL}}`` in feeds and pages with its own address, so the
same files work on any port. The SMTP sink (aiosmtpd) writes every received message as
an ``.eml`` file under ``var/mail/``. Tests use these same real servers.
"""

from __future__ import annotations

import email
import email.policy
import mimetypes
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

from rasad.core.shipped import shipped

SITE_DIR = shipped("examples/demo/site")
PLACEHOLDER = b"{{BASE_URL}}"


class _SiteHandler(BaseHTTPRequestHandler):
    server_version = "RasadDemo/1.0"
    root: Path = SITE_DIR

    def log_message(self, fmt: str, *args: object) -> None:  # quiet: tests and demo read summaries
        pass

    def do_GET(self) -> None:  # http.server's naming
        path = unquote(urlsplit(self.path).path)
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()) or not target.is_file():
            self.send_error(404)
            return
        body = target.read_bytes()
        host, port = cast(tuple[str, int], self.server.server_address)[:2]  # an AF_INET server
        base = f"http://{host}:{port}".encode()
        body = body.replace(PLACEHOLDER, base)
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".xml":
            ctype = "application/rss+xml" if "rss" in target.name else "application/atom+xml"
        if target.suffix in (".html", ".htm") and b"windows-1256" not in body[:2048].lower():
            ctype += "; charset=utf-8"
        etag = f'"{zlib.crc32(body):08x}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            self.server.requests.append((path, 304))  # type: ignore[attr-defined]
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)
        self.server.requests.append((path, 200))  # type: ignore[attr-defined]


class DemoSite:
    """The demo news site on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, port: int = 0, root: Path = SITE_DIR):
        handler = type("Handler", (_SiteHandler,), {"root": Path(root)})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.requests = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = cast(tuple[str, int], self.httpd.server_address)[:2]  # an AF_INET server
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, int]]:
        return self.httpd.requests  # type: ignore[attr-defined]

    def __enter__(self) -> DemoSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _MailboxHandler:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        self.folder.mkdir(parents=True, exist_ok=True)
        # Time-ordered and unique: a name never repeats, even after files were deleted.
        path = self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{uuid.uuid4().hex[:6]}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.replace(path)
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on 127.0.0.1 writing each message to ``folder`` as an .eml file."""

    def __init__(self, folder: Path, port: int = 8025):
        from aiosmtpd.controller import Controller  # noqa: PLC0415

        self.folder = Path(folder)
        self.controller = Controller(_MailboxHandler(self.folder), hostname="127.0.0.1", port=port)

    @property
    def port(self) -> int:
        return self.controller.port

    def messages(self) -> list[email.message.EmailMessage]:
        """Every message received so far, oldest first."""
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.folder.glob("*.eml"))
        ]

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
