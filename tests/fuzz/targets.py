"""The fuzz targets by name (each in tests/fuzz/target_<name>.py)."""

from __future__ import annotations

import importlib

from tests.fuzz.engine import Target

TARGETS = {
    "feed": "tests.fuzz.target_feed:FeedTarget",
    "page": "tests.fuzz.target_page:PageTarget",
    "yaml": "tests.fuzz.target_yaml:YamlTarget",
    "text": "tests.fuzz.target_text:TextTarget",
    "search": "tests.fuzz.target_search:SearchTarget",
    "mail": "tests.fuzz.target_mail:MailTarget",
}


def load_target(name: str) -> Target:
    """A fresh instance of the target called ``name``."""
    if name not in TARGETS:
        raise SystemExit(f"unknown target {name!r} (known: {', '.join(TARGETS)})")
    module, cls = TARGETS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
