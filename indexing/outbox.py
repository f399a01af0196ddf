"""A durable local outbox: bulk actions kept on disk while Elasticsearch is unreachable.

Each batch is one JSON-lines file written to a temporary name, fsynced, then renamed,
so a crash never leaves a half-written batch that looks complete. Batches are replayed
oldest first, one at a time (memory stays bounded by one batch however long the outage
was), and each is deleted only after Elasticsearch acknowledged every action in it.
Actions carry their deterministic ``_index`` and ``_id``, so replaying a batch whose
documents partly reached Elasticsearch before the outage overwrites them, never duplicates.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


class Outbox:
    """A folder of pending batches of bulk actions."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def put(self, actions: list[dict]) -> Path | None:
        """Durably store one batch; returns its file (None for an empty batch)."""
        if not actions:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for a in actions:
                f.write(json.dumps(a, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        final = self.folder / name
        os.replace(tmp, final)
        _fsync_dir(self.folder)  # the rename itself must survive a power cut
        return final

    def names(self) -> list[str]:
        """Names of the complete batches, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.glob("*.jsonl"))

    def read(self, name: str) -> list[dict]:
        """The actions of one batch."""
        with open(self.folder / name, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def iter_batches(self) -> Iterator[tuple[str, list[dict]]]:
        """Complete batches, oldest first, read one at a time."""
        for name in self.names():
            yield name, self.read(name)

    def remove(self, names: list[str]) -> None:
        """Delete batches Elasticsearch has acknowledged."""
        for n in names:
            (self.folder / n).unlink(missing_ok=True)

    def __len__(self) -> int:
        total = 0
        for name in self.names():
            with open(self.folder / name, encoding="utf-8") as f:
                total += sum(1 for line in f if line.strip())
        return total


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
