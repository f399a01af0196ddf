"""YAML for the feed registry and the alert rules -> the validators: every problem names file, line and field."""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.fuzz.engine import PropertyFailure, Target
from tests.fuzz.mutate import mutate_structure, mutate_yaml_text
from tests.fuzz.seeds import yaml_seeds

FEED_KEYS = ["id", "url", "name", "language", "country", "poll_interval", "enabled", "tags", "version", "feeds"]
RULE_KEYS = ["name", "description", "kind", "keywords", "entities", "topics", "languages", "sources",
             "min_relevance", "recipients", "mode", "timezone", "send_at", "throttle_per_hour", "snooze_until",
             "enabled", "any", "all", "none", "version", "rules"]  # fmt: skip
# After "file:line: ": the entry and field (feeds[3].url), or a top-level field, or why the file as a whole
# cannot be read (bad YAML, not the expected mapping).
WHAT = {
    kind: re.compile(rf"(?:{kind}\[\d+\](?:\..*?)?|version|not valid YAML|expected a mapping with a '{kind}:' list)(?::|$| )"
                     rf"|.*?: unknown top-level (?:field|key)")
    for kind in ("feeds", "rules")
}  # fmt: skip


MAX_YAML = 64 * 1024  # config files are hand-written: a few KB; 64 KB is already far beyond


class YamlTarget(Target):
    name = "yaml"
    extension = "yaml"

    def setup(self) -> None:
        self.seeds = {k: yaml_seeds(k) for k in ("feeds", "rules")}
        # Big files split into files of a few entries: PyYAML (pure Python) reads ~10 KB/ms, and
        # a mutation in a 4-entry file tests the validator as well as one in a 60-entry file.
        for kind, seeds in self.seeds.items():
            small = []
            for text in seeds:
                data = yaml.safe_load(text)
                if len(text) < 3000 or not isinstance(data.get(kind), list):
                    small.append(text)
                    continue
                for i in range(0, len(data[kind]), 4):
                    part = {**data, kind: data[kind][i : i + 4]}
                    small.append(yaml.safe_dump(part, allow_unicode=True, sort_keys=False))
            self.seeds[kind] = small
        self.data = {k: [yaml.safe_load(t) for t in v] for k, v in self.seeds.items()}
        self.dir = Path(tempfile.mkdtemp(prefix="rasad-fuzz-yaml-"))
        for kind in ("feeds", "rules"):
            for t in self.seeds[kind]:
                self.check((kind, t))

    def teardown(self) -> None:
        for p in self.dir.iterdir():
            p.unlink()
        self.dir.rmdir()

    def generate(self, rng: random.Random) -> tuple[str, str]:
        kind = rng.choice(("feeds", "rules"))
        keys = FEED_KEYS if kind == "feeds" else RULE_KEYS
        r = rng.random()
        if r < 0.5:
            data = mutate_structure(rng, rng.choice(self.data[kind]), keys)
            try:
                text = yaml.safe_dump(data, allow_unicode=rng.random() < 0.7, sort_keys=False,
                                      default_flow_style=rng.random() < 0.1)  # fmt: skip
            except yaml.YAMLError:
                text = rng.choice(self.seeds[kind])
            if rng.random() < 0.3:
                text = mutate_yaml_text(rng, text)
        else:
            text = mutate_yaml_text(rng, rng.choice(self.seeds[kind]))
        return kind, text[:MAX_YAML]

    def encode(self, value: tuple[str, str]) -> bytes:
        kind, text = value
        return f"# kind: {kind}\n".encode() + text.encode("utf-8", "surrogatepass")

    def decode(self, data: bytes) -> tuple[str, str]:
        head, _, text = data.partition(b"\n")
        return head.decode().split(": ", 1)[1], text.decode("utf-8", "surrogatepass")

    def shrink(self, value: tuple[str, str]) -> list[Any]:
        kind, text = value
        lines = text.split("\n")
        out = ["\n".join(lines[:i] + lines[i + 1 :]) for i in range(len(lines))] if len(lines) > 1 else []
        return [(kind, t) for t in out + super().shrink(text)]

    def check(self, value: tuple[str, str]) -> None:
        from rasad.alerts.rules import RulesError, load_rules
        from rasad.ingest.feeds import RegistryError, load_registry

        kind, text = value
        path = self.dir / f"{kind}-{os.getpid()}.yaml"
        try:
            path.write_text(text, encoding="utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be in a file: the editor could not save it either
            return
        problems: list[str] = []
        try:
            load_registry(path) if kind == "feeds" else load_rules(path)
        except (RegistryError, RulesError) as e:
            problems = e.problems
            if not problems:
                raise PropertyFailure("validation error without problems") from None
        prefix = f"{path}:"
        text = path.read_text(encoding="utf-8")  # as the validator reads it: a lone CR is a line break too
        for p in problems:
            if not p.startswith(prefix):
                raise PropertyFailure(f"problem does not name the file {path}: {p!r}")
            m = re.match(r"(\d+): (.*)", p[len(prefix) :], re.DOTALL)
            if not m:
                raise PropertyFailure(f"problem does not name a line: {p!r}")
            line = int(m.group(1))
            if not 1 <= line <= text.count("\n") + 1:
                raise PropertyFailure(f"problem names line {line}, file has {text.count(chr(10)) + 1}: {p[:300]!r}")
            if not WHAT[kind].match(m.group(2)):
                raise PropertyFailure(f"problem does not name a field: {p!r}")
        json.dumps(problems)  # problems are plain strings
