"""Line numbers of the entries of a YAML list, so config validation can say "file:line: field: why".

Used by the feed registry (ingest/feeds.py) and the alert rules (alerts/rules.py), both a
top-level mapping holding one list of mappings.
"""

from __future__ import annotations

import yaml


def item_key_lines(text: str, list_key: str) -> tuple[dict[int, dict[str, int]], list[tuple[int, str, int]]]:
    """For each entry of ``text[list_key]`` (by index), the 1-based line of the entry ("") and of
    each key (its first occurrence); and the keys given twice as (entry, key, line)."""
    lines: dict[int, dict[str, int]] = {}
    repeated: list[tuple[int, str, int]] = []
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines, repeated
    if not isinstance(root, yaml.MappingNode):
        return lines, repeated
    for key, val in root.value:
        if key.value == list_key and isinstance(val, yaml.SequenceNode):
            for i, item in enumerate(val.value):
                entry = {"": item.start_mark.line + 1}
                if isinstance(item, yaml.MappingNode):
                    for k, _ in item.value:
                        name = str(k.value)
                        if name in entry:
                            # YAML silently keeps the last value: a likely copy-paste slip.
                            repeated.append((i, name, k.start_mark.line + 1))
                        else:
                            entry[name] = k.start_mark.line + 1
                lines[i] = entry
    return lines, repeated
