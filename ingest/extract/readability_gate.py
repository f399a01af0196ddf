"""Skip trafilatura's readability fallback where, in precision mode, only doubling an article could win.

Why: after its own extractor, trafilatura runs readability-lxml on a copy of the raw tree and
(precision focus, ``_prefer_readability``) keeps readability's text only if the own text is
empty, readability's is more than twice as long, or the own body is structurally deficient (no
paragraph text, more tables than paragraphs). The copy and readability's scoring are ~20% of
our extraction time, on every page.

What is skipped: readability alone, and only when the own extraction holds at least
``OWN_TEXT_FACTOR`` × trafilatura's ``min_extracted_size`` characters (2 × 250 by default) in a
body that is not deficient. Readability could then win only with more than twice that much
text the main extractor did not take. Measured with ``bench/eval_extraction.py`` and the farm's
pages: on the 246 gold pages it is skipped on 233 and changes one text, for the better (readability's
4,030 characters of a listing replaced the 894-character article: token F1 0.331, skipped
0.986); on 400 pages of the end-to-end farm it is skipped on 387 and changes none; extraction
CPU falls by ~20%. Everything after readability (jusText on an unclean body, the sanitizer)
runs exactly as shipped, because trafilatura's own ``compare_extraction`` still runs, handed an
empty tree for readability instead of a copy of the page.

Installed next to the prune selectors by ``extract_article``; ``bare_trafilatura()`` and
:func:`without_gate` take it out (the benchmarks' floor is trafilatura as shipped).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from copy import copy
from typing import Any

from lxml.html import HtmlElement

# Own text of this many times trafilatura's min_extracted_size (in a sound body) is kept without
# asking readability: the same bound _prefer_readability applies to a deficient body. Shorter
# extractions (teasers, captions, list pages) still get the comparison.
OWN_TEXT_FACTOR = 2


class _State:
    held_off = 0  # inside without_gate() (or bare_trafilatura()): install() changes nothing
    original_compare: Any = None  # trafilatura.core._extract_and_compare as shipped
    original_readability: Any = None  # trafilatura.external.try_readability as shipped
    active = False
    skipped = 0  # pages whose readability run was skipped (this process)
    compared = 0  # pages that still ran readability


_local = threading.local()  # "skip readability for this call" flag: extraction may run in threads


def skip_readability(body: Any, text: str, options: Any) -> bool:
    """Own text long enough and in a sound body that only a >2x readability text would replace it."""
    if getattr(options, "focus", None) != "precision":
        return False  # recall and balanced modes have more ways for readability to win
    if len(text) < OWN_TEXT_FACTOR * options.min_extracted_size:
        return False
    # trafilatura's deficiency test (_prefer_readability): no paragraph text, or table-dominated
    if not body.xpath(".//p//text()"):
        return False
    return len(body.findall(".//table")) <= len(body.findall(".//p"))


def _gated_extract_and_compare(
    cleaned_tree: Any, cleaned_tree_backup: Any, tree: Any, options: Any
) -> tuple[Any, str]:
    """trafilatura.core._extract_and_compare, without readability's copy and run where it cannot win."""
    from trafilatura import core  # the names the shipped function looks up, patched or not

    postbody, temp_text = core.extract_content(cleaned_tree, options)
    if options.fast:
        return postbody, temp_text
    if not skip_readability(postbody, temp_text, options):
        _State.compared += 1
        return core.compare_extraction(cleaned_tree_backup, copy(tree), postbody, temp_text, options)
    _State.skipped += 1
    _local.skip = True
    try:  # an empty raw tree: readability yields nothing, so the own text stays; jusText as shipped
        return core.compare_extraction(cleaned_tree_backup, HtmlElement(), postbody, temp_text, options)
    finally:
        _local.skip = False


def _gated_try_readability(htmlinput: Any) -> Any:
    if getattr(_local, "skip", False):
        return HtmlElement()  # what try_readability returns when it finds nothing
    return _State.original_readability(htmlinput)


def install() -> None:
    """Route trafilatura's stage 2 through the gate (idempotent; both names are looked up at call time)."""
    from trafilatura import core, external

    if _State.active or _State.held_off:
        return
    _State.original_compare = core._extract_and_compare
    _State.original_readability = external.try_readability
    core._extract_and_compare = _gated_extract_and_compare
    external.try_readability = _gated_try_readability
    _State.active = True


def uninstall() -> None:
    from trafilatura import core, external

    if not _State.active:
        return
    core._extract_and_compare = _State.original_compare
    external.try_readability = _State.original_readability
    _State.active = False


def installed() -> bool:
    return _State.active


@contextmanager
def without_gate() -> Iterator[None]:
    """trafilatura's readability comparison on every page inside the block, extract_article's too."""
    was_active = _State.active
    uninstall()
    _State.held_off += 1
    try:
        yield
    finally:
        _State.held_off -= 1
        if was_active:
            install()


def counts() -> dict[str, int]:
    """Pages that skipped and ran readability in this process (what the tests check the gate by)."""
    return {"skipped": _State.skipped, "compared": _State.compared}
