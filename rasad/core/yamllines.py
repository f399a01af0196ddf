"""Line numbers of the entries of a YAML list, so config validation can say "file:line: field: why".

Used by the feed registry (ingest/feeds.py) and the alert rules (alerts/rules.py), both a
top-level mapping holding one list of mappings.
"""

from __future__ import annotations

import yaml

# libyaml when PyYAML was built with it (the pinned wheel is): ~10x faster than the pure-Python
# loader, which takes seconds on a 400 KB file. Same safe subset of YAML either way.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """``yaml.safe_load`` with the fastest safe loader available."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def item_key_lines(text: str, list_key: str) -> tuple[dict[int, dict[str, int]], list[tuple[int, str, int]]]:
    """For each entry of ``text[list_key]`` (by index), the 1-based line of the entry ("") and of
    each key (its first occurrence); and the keys given twice as (entry, key, line)."""
    lines: dict[int, dict[str, int]] = {}
    repeated: list[tuple[int, str, int]] = []
    try:
        root = yaml.compose(text, Loader=SAFE_LOADER)
    except (yaml.YAMLError, RecursionError):  # nesting deeper than Python's stack: no lines to give
        return lines, repeated
    if not isinstance(root, yaml.MappingNode):
        return lines, repeated
    for key, val in root.value:
        if key.value == list_key and isinstance(val, yaml.SequenceNode):
            for i, item in enumerate(val.value):
                entry = {"": mark_line(item.start_mark, text)}
                if isinstance(item, yaml.MappingNode):
                    for k, _ in item.value:
                        name = str(k.value)
                        if name in entry:
                            # YAML silently keeps the last value: a likely copy-paste slip.
                            repeated.append((i, name, mark_line(k.start_mark, text)))
                        else:
                            entry[name] = mark_line(k.start_mark, text)
                lines[i] = entry
    return lines, repeated


def mark_line(mark: yaml.Mark, text: str) -> int:
    """1-based line of a YAML mark as an editor counts lines (newlines only).

    YAML also breaks lines at CR, NEL and U+2028/9, so its own ``mark.line`` can name a line past
    the end of the file; the mark's character index cannot.
    """
    index = getattr(mark, "index", None)
    if isinstance(index, int) and 0 <= index <= len(text):
        return text.count("\n", 0, index) + 1
    return mark.line + 1


def error_line(error: BaseException, text: str) -> int:
    """1-based line where YAML reading stopped; 1 when the error does not say (nesting too deep)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return mark_line(mark, text)
    position = getattr(error, "position", None)  # ReaderError: a character YAML does not allow
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return 1


def top_key_lines(text: str) -> dict[str, int]:
    """1-based line of each top-level key of a YAML mapping (by its text), for problems about the file's keys."""
    try:
        root = yaml.compose(text, Loader=SAFE_LOADER)
    except (yaml.YAMLError, RecursionError):
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    lines: dict[str, int] = {}
    for key, _ in root.value:
        lines.setdefault(str(key.value), mark_line(key.start_mark, text))
    return lines


MAX_FLOW_DEPTH = 100


def flow_too_deep(text: str, limit: int = MAX_FLOW_DEPTH) -> int | None:
    """Line where ``[``/``{`` nesting passes ``limit``, else None.

    PyYAML's scanner is quadratic in flow nesting (5,000 ``[`` take ~4 s) and its composer
    recursive, so such a file is refused before parsing. Brackets inside quoted strings are
    counted too: no real registry or rules file comes near the limit either way.
    """
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[" or ch == "{":
            depth += 1
            if depth > limit:
                return text.count("\n", 0, i) + 1
        elif (ch == "]" or ch == "}") and depth:
            depth -= 1
    return None
