"""A durable local outbox: bulk actions kept on disk while Elasticsearch is unreachable.

Each batch is one JSON-lines file written to a temporary name, fsynced, then renamed,
so a crash never leaves a half-written batch that looks complete. Batches are replayed
oldest first and deleted only after Elasticsearch acknowledged them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
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
        return final

    def pending(self) -> list[tuple[str, list[dict]]]:
        """All complete batches, oldest first."""
        if not self.folder.is_dir():
            return []
        out = []
        for p in sorted(self.folder.glob("*.jsonl")):
            with open(p, encoding="utf-8") as f:
                out.append((p.name, [json.loads(line) for line in f if line.strip()]))
        return out

    def remove(self, names: list[str]) -> None:
        """Delete batches Elasticsearch has acknowledged."""
        for n in names:
            (self.folder / n).unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(len(b) for _, b in self.pending())
