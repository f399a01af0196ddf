"""Names an analyst reads for the entity and topic ids that signals carry (from the seeds)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _knowledge() -> Any:
    # Signals carry only ids; the seeds give them the names an analyst reads.
    from rasad.enrich.knowledge import load_knowledge  # noqa: PLC0415 - earlier stage, loaded on first use

    try:
        return load_knowledge()
    except (OSError, ValueError):  # a broken seeds folder must not stop the mail
        return None


def topic_labels(topic_id: str) -> dict[str, str]:
    """A topic id as the mail shows it (labels from the seeds' taxonomy, the id if unknown)."""
    k = _knowledge()
    t = k.topics.get(topic_id) if k else None
    return {"id": topic_id, "label": t.label if t else topic_id, "label_ar": t.label_ar if t else ""}


def entity_names(entity_id: str) -> dict[str, str]:
    """An entity id as the mail shows it (names from the seeds' entity list, the id if unknown)."""
    k = _knowledge()
    e = k.entities.get(entity_id) if k else None
    return {"id": entity_id, "name": e.name if e else entity_id, "name_ar": e.name_ar if e else "",
            "type": e.type if e else ""}  # fmt: skip
