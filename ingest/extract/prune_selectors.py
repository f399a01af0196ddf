"""The same elements trafilatura's pruning XPaths select, found in one Python pass instead.

Why: trafilatura prunes boilerplate with XPaths such as ``.//*[self::div or …][re:test(@class,
'…')]``. lxml evaluates each ``re:test`` as a call back into Python from inside libxml2's XPath
engine: ~3 µs a call before the regex even runs. With three of them per element, the two
``OVERALL_DISCARD_XPATH`` expressions alone cost ~80 ms on a real 489 KB Arabic page of 2,400
elements with long class lists (48 of its 287 ms of extraction), and every page pays them two
to three times (raw tree, cleaned tree, fallback extractors). Walking the same elements with
``iterdescendants`` and testing the same attributes with the same compiled regexes selects the
same elements, in the same (document) order, in a fraction of that.

How it stays exact: each expression is parsed from its own XPath source (the installed
trafilatura's, not a copy of it), for the small grammar those expressions use. Anything outside
that grammar, an unknown function, ``and``, a ``re:test`` flag, leaves that expression to lxml
unchanged. So a trafilatura upgrade can only make an expression slow again, never different.
``tests/ingest/extract/test_prune_selectors.py`` checks that every replaced expression selects
exactly what lxml selects on every gold page and farm layout, and that extraction output is
byte-identical with and without it.

XPath 1.0 details kept: ``re:test(@id|@class, …)`` tests the *first* of the two attributes in
source order (the string value of a node-set is its first node's); an absent attribute is the
empty string to ``re:test``, ``contains`` and ``starts-with``, but makes ``@a='x'`` false;
``translate`` drops characters that have no counterpart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lxml import etree

log = logging.getLogger(__name__)

# The expression lists trafilatura passes to prune_unwanted_nodes (trafilatura.xpaths names).
PRUNE_LISTS = (
    "RAW_TREE_PRUNE_XPATH",
    "REMOVE_COMMENTS_AND_LISTS_XPATH",
    "REMOVE_COMMENTS_XPATH",
    "OVERALL_DISCARD_XPATH",
    "PRECISION_DISCARD_XPATH",
    "TEASER_DISCARD_XPATH",
    "DISCARD_IMAGE_ELEMENTS",
    "COMMENTS_DISCARD_XPATH",
)

# Distinct attribute values remembered per regex (a worker's whole run: pages of a site share them).
_MEMO_SIZE = 4096

_NAME_RE = re.compile(r"[A-Za-z_][\w.-]*")

Test = Callable[[Any], bool]
Value = Callable[[Any], str]


class Unsupported(ValueError):
    """The expression uses XPath outside the grammar this module translates."""


class _Parser:
    """Recursive descent over ``.//*[pred][pred]…`` with or-joined terms (grammar in parse_selector)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self._scopes: list[dict[str, Any]] = []  # what each open predicate reads (innermost last)

    def _ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def eat(self, token: str) -> bool:
        self._ws()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.eat(token):
            raise Unsupported(f"expected {token!r} at {self.pos}: {self.text[self.pos:self.pos + 30]!r}")

    def name(self) -> str:
        self._ws()
        match = _NAME_RE.match(self.text, self.pos)
        if not match or ":" in match[0]:
            raise Unsupported(f"expected a name at {self.pos}")
        self.pos = match.end()
        return match[0]

    def literal(self) -> str:
        self._ws()
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ("'", '"'):
            raise Unsupported(f"expected a string literal at {self.pos}")
        end = self.text.find(quote, self.pos + 1)  # XPath 1.0 literals have no escapes
        if end < 0:
            raise Unsupported("unterminated literal")
        value, self.pos = self.text[self.pos + 1 : end], end + 1
        return value

    def at_end(self) -> bool:
        self._ws()
        return self.pos == len(self.text)

    def keyword(self, word: str) -> bool:
        self._ws()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and end < len(self.text) and not self.text[end].isalnum():
            self.pos = end
            return True
        return False

    # --- grammar -------------------------------------------------------------------------

    def predicate(self) -> tuple[list[str] | None, Test]:
        """Or-joined terms: (the tag names if every term is ``self::name``, the test).

        A predicate that reads only the element's tag and attributes is remembered by them (see
        _memoized); one that looks at descendants (``.//h1``) is evaluated every time.
        """
        self._scopes.append({"attrs": set(), "tag": False, "pure": True})
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        if self.keyword("and"):
            raise Unsupported("'and' is not translated")
        scope = self._scopes.pop()
        if self._scopes:  # not(...): the enclosing predicate depends on what this one reads
            outer = self._scopes[-1]
            outer["attrs"] |= scope["attrs"]
            outer["tag"] |= scope["tag"]
            outer["pure"] &= scope["pure"]
        tags = [t[1] for t in terms if t[0] == "self"]
        tests = [t[2] for t in terms]
        test = tests[0] if len(tests) == 1 else _any_of(tuple(tests))
        if len(tags) == len(terms):
            return tags, test
        if scope["pure"] and not self._scopes:
            test = _memoized(test, frozenset(scope["attrs"]), scope["tag"])
        return None, test

    def _reads(self, attr: str) -> None:
        self._scopes[-1]["attrs"].add(attr)

    def term(self) -> tuple[str, str, Test]:
        if self.eat("self::"):
            tag = self.name()
            self._scopes[-1]["tag"] = True
            return "self", tag, lambda el, _tag=tag: el.tag == _tag
        if self.eat("not("):
            _, inner = self.predicate()
            self.expect(")")
            return "not", "", lambda el, _i=inner: not _i(el)
        if self.eat(".//"):
            tag = self.name()
            self._scopes[-1]["pure"] = False
            return "desc", tag, lambda el, _tag=tag: next(el.iterdescendants(_tag), None) is not None
        for function in ("contains(", "starts-with(", "re:test("):
            if self.eat(function):
                value = self.string_expr()
                self.expect(",")
                argument = self.literal()
                self.expect(")")  # a third argument (re:test flags) is not translated
                return "call", function, _call(function, value, argument)
        if self.eat("@"):
            attr = self.name()
            self._reads(attr)
            if self.eat("="):
                wanted = self.literal()
                return "eq", attr, lambda el, _a=attr, _w=wanted: el.get(_a) == _w
            if self.eat("|"):
                raise Unsupported("an attribute union outside a function")
            return "has", attr, lambda el, _a=attr: el.get(_a) is not None
        raise Unsupported(f"unknown term at {self.pos}: {self.text[self.pos:self.pos + 30]!r}")

    def string_expr(self) -> Value:
        if self.eat("translate("):
            inner = self.attr_union()
            self.expect(",")
            source = self.literal()
            self.expect(",")
            target = self.literal()
            self.expect(")")
            table = _translate_table(source, target)

            def translated(el: Any) -> str:
                return inner(el).translate(table)

            return translated
        return self.attr_union()

    def attr_union(self) -> Value:
        self.expect("@")
        names = [self.name()]
        while self.eat("|"):
            self.expect("@")
            names.append(self.name())
        for name in names:
            self._reads(name)
        attr, union = names[0], tuple(names)

        def single(el: Any) -> str:
            return el.get(attr) or ""

        def first(el: Any) -> str:
            return _first_attribute(el, union)

        return single if len(names) == 1 else first


def _any_of(tests: tuple[Test, ...]) -> Test:
    def any_of(el: Any) -> bool:
        return any(test(el) for test in tests)

    return any_of


def _memoized(test: Test, attrs: frozenset[str], uses_tag: bool) -> Test:
    """``test`` remembered by the element's tag (if it reads it) and its attributes among ``attrs``.

    Exact because such a predicate is a function of exactly those: the attributes' values and
    their order (``@id|@class`` takes the first). Most elements of a page share a handful of
    keys, () for the many with none of the attributes.
    """
    seen: dict[tuple[Any, ...], bool] = {}

    def memo(el: Any) -> bool:
        items = el.items()
        key = (el.tag if uses_tag else None, *[kv for kv in items if kv[0] in attrs]) if items else (
            el.tag if uses_tag else None,)  # fmt: skip
        found = seen.get(key)
        if found is None:
            if len(seen) >= _MEMO_SIZE:
                seen.clear()
            found = seen[key] = test(el)
        return found

    return memo


def _call(function: str, value: Value, argument: str) -> Test:
    if function == "contains(":
        return lambda el: argument in value(el)
    if function == "starts-with(":
        return lambda el: value(el).startswith(argument)
    search = re.compile(argument).search  # lxml's EXSLT re:test is re.search with re.UNICODE
    # Class and id values repeat across a page's elements and across a site's pages, and a search
    # with dozens of alternatives over a 40-character class list costs microseconds: remember it.
    seen: dict[str, bool] = {}

    def test(el: Any) -> bool:
        text = value(el)
        found = seen.get(text)
        if found is None:
            if len(seen) >= _MEMO_SIZE:
                seen.clear()
            found = seen[text] = search(text) is not None
        return found

    return test


def _translate_table(source: str, target: str) -> dict[int, str | None]:
    """XPath translate(): the first occurrence of a character decides; no counterpart drops it."""
    table: dict[int, str | None] = {}
    for index, char in enumerate(source):
        table.setdefault(ord(char), target[index] if index < len(target) else None)
    return table


def _first_attribute(el: Any, names: tuple[str, ...]) -> str:
    """The string value of ``@a|@b``: the first of them present, in the element's attribute order."""
    present = [n for n in names if el.get(n) is not None]
    if not present:
        return ""
    if len(present) > 1:
        order = el.keys()
        present.sort(key=order.index)
    return el.get(present[0])


class PruneSelector:
    """A callable that selects what ``original`` selects on an element, without lxml's regex callbacks."""

    def __init__(self, original: etree.XPath, tags: list[str] | None, tests: list[Test]) -> None:
        self.original = original
        self.path = original.path
        self._tags = tags
        self._tests = tests

    def _candidates(self, element: Any) -> Iterator[Any]:
        if self._tags is not None:
            return element.iterdescendants(*self._tags)
        return element.iterdescendants(etree.Element)

    def __call__(self, element: Any, **variables: Any) -> Any:
        if variables or not isinstance(element, etree._Element):  # documents and variables: lxml's way
            return self.original(element, **variables)
        tests = self._tests
        if len(tests) == 1:
            (test,) = tests
            return [el for el in self._candidates(element) if test(el)]
        return [el for el in self._candidates(element) if all(test(el) for test in tests)]

    def __repr__(self) -> str:
        return f"PruneSelector({self.path!r})"


def parse_selector(xpath: etree.XPath) -> PruneSelector:
    """Translate ``xpath`` or raise Unsupported.

    Grammar: ``.//*`` followed by one or more ``[pred]``; a pred is terms joined by ``or``; a
    term is ``self::name``, ``@a``, ``@a='lit'``, ``.//name``, ``not(pred)``, or
    ``contains|starts-with|re:test(S, 'lit')`` where S is ``@a``, ``@a|@b…`` or
    ``translate(@a…, 'lit', 'lit')``.
    """
    parser = _Parser(xpath.path)
    parser.expect(".//*")
    predicates = []
    while parser.eat("["):
        predicates.append(parser.predicate())
        parser.expect("]")
    if not predicates or not parser.at_end():
        raise Unsupported("not a .//*[…] selection")
    tags, first = predicates[0]
    if tags is not None:  # a pure tag filter is done by iterdescendants itself
        return PruneSelector(xpath, tags, [test for _, test in predicates[1:]])
    return PruneSelector(xpath, None, [first] + [test for _, test in predicates[1:]])


class _State:
    """What install() did in this process (one per process: trafilatura's lists are per process)."""

    translated: list[tuple[list[Any], int, PruneSelector]] | None = None  # (list, index, selector)
    active = False
    held_bare = 0  # inside bare_trafilatura(): install() leaves lxml's expressions in place


def _translate_all() -> list[tuple[list[Any], int, PruneSelector]]:
    from trafilatura import xpaths

    found = []
    for list_name in PRUNE_LISTS:
        expressions = getattr(xpaths, list_name, None)
        if not isinstance(expressions, list):
            continue
        for index, expression in enumerate(expressions):
            if not isinstance(expression, etree.XPath):
                continue
            try:
                found.append((expressions, index, parse_selector(expression)))
            except Unsupported as why:
                log.debug("left to lxml: %s[%d] (%s)", list_name, index, why)
    return found


def install() -> int:
    """Put the translated selectors in trafilatura's lists, in place; how many. Idempotent.

    In place because trafilatura's modules imported the list objects themselves.
    """
    if _State.held_bare:
        return 0
    if _State.translated is None:
        _State.translated = _translate_all()
    if not _State.active:
        for expressions, index, selector in _State.translated:
            expressions[index] = selector
        _State.active = True
    return len(_State.translated)


def uninstall() -> None:
    """Put lxml's expressions back (the selectors, and what they remember, are kept for install)."""
    for expressions, index, selector in _State.translated or []:
        expressions[index] = selector.original
    _State.active = False


def installed() -> bool:
    return _State.active


@contextmanager
def bare_trafilatura() -> Iterator[None]:
    """trafilatura exactly as shipped inside the block, extract_article included (benchmarks, tests).

    Neither these selectors nor the readability gate (:mod:`rasad.ingest.extract.readability_gate`).
    """
    from rasad.ingest.extract.readability_gate import without_gate

    was_active = _State.active
    uninstall()
    _State.held_bare += 1
    try:
        with without_gate():
            yield
    finally:
        _State.held_bare -= 1
        if was_active:
            install()
