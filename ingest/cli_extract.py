"""``rasad extract FILE_OR_URL [--url URL]``: run the extraction path on one page, print JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rasad.core.records import utc_iso


def add_extract_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``extract`` sub-command on an argparse sub-parsers object."""
    parser = subparsers.add_parser(
        "extract",
        help="extract clean article text and metadata from a saved page or a URL",
        description="Print the article extracted from FILE_OR_URL as JSON (url, title, text, author, "
        "published in UTC and which date won, language, sitename, text_source, status).",
    )
    parser.add_argument(
        "source", metavar="FILE_OR_URL", help="a saved HTML file (may be .gz) or an http(s) URL"
    )
    parser.add_argument(
        "--url", help="the page's URL when reading a file (used for dates in the path and relative links)"
    )
    parser.add_argument(
        "--content-type",
        help="Content-Type header to assume for a file (e.g. 'text/html; charset=windows-1256')",
    )
    parser.add_argument(
        "--timezone",
        type=_timezone_arg,
        help="the site's IANA time zone (e.g. Asia/Riyadh), as a feed's 'timezone' in the registry: page "
        "times without an offset are read in it (without it they are never taken as UTC)",
    )
    parser.set_defaults(func=run_extract)
    return parser


def _timezone_arg(value: str) -> str:
    from rasad.ingest.dates import load_timezone

    try:
        load_timezone(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def is_url(source: str) -> bool:
    """Whether the argument names a web page rather than a file."""
    return source.startswith(("http://", "https://"))


def extracted_to_json(extracted: Any, url: str) -> dict[str, Any]:
    """The JSON object printed for one extraction."""
    return {
        "url": url,
        "title": extracted.title,
        "text": extracted.text,
        "author": extracted.author,
        "published": utc_iso(extracted.published),
        "published_source": extracted.published_source,
        "language": extracted.language,
        "sitename": extracted.sitename,
        "image": extracted.image,
        "text_source": extracted.text_source,
        "status": extracted.status,
        "status_reason": extracted.status_reason,
    }


def run_extract(args: argparse.Namespace) -> int:
    """Handler of ``rasad extract``: fetch or read the page, extract it, print JSON; 1 if no article."""
    from rasad.ingest.extract.article import extract_article
    from rasad.ingest.extract.model import FeedHints

    if is_url(args.source):
        from rasad.ingest.http.client import (
            fetch_page,  # the project's one HTTP client (timeouts, caps, SSRF guard)
        )

        page = fetch_page(args.source)
        body, url, content_type = page.body, args.url or page.url, page.content_type
    else:
        path = Path(args.source)
        if not path.is_file():
            print(f"rasad extract: no such file: {path}", file=sys.stderr)
            return 2
        body, url, content_type = path.read_bytes(), args.url or path.resolve().as_uri(), args.content_type
    extracted = extract_article(body, url, content_type, FeedHints(timezone=args.timezone))
    json.dump(extracted_to_json(extracted, url), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0 if extracted.status == "ok" else 1
