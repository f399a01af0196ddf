"""Query strings -> ``rasad search`` on a real Elasticsearch node: no ES error, no match outside the searched fields.

The corpus holds marker words only in fields that are NOT searched (url, source, feed id,
author, entity names, topic ids). A query may be any string, including Lucene or JSON
syntax (``source:zqxsource``, ``*``, ``_id:*``, ``{"match_all":{}}``): since it must never
become query syntax, every hit must contain every analysed token of the query in its title,
summary or text, which the markers never are.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
from datetime import datetime, timezone
from typing import Any

from tests.fuzz.engine import PropertyFailure, Target
from tests.fuzz.mutate import decorate_arabic, mutate_text, random_unicode
from tests.fuzz.seeds import text_seeds

MARKERS = ["zqxurl", "zqxsource", "zqxfeed", "zqxauthor", "zqxentity", "zqxtopic", "zqxlang"]
SYNTAX = ["source:", "url:", "feed_id:", "_id:", "title:", "text_search:", "*", "?", "~2", "^10", "\"", "AND", "OR",
          "NOT", "(", ")", "[* TO *]", "{", "}", "/.*/", "\\", "&&", "||", "!", "+", "-", ":", "=", "<", ">",
          '{"match_all":{}}', '{"query_string":{"query":"*"}}', "_exists_:title", "zqx*", "*:*", "\u0000", "%00",
          "\ud800", "\u202e", "ـ", "ً"]  # fmt: skip
NOW = datetime(2025, 5, 10, 12, tzinfo=timezone.utc)


class SearchTarget(Target):
    name = "search"
    extension = "json"

    def __init__(self, es: Any = None, settings: Any = None) -> None:
        self.es, self.settings = es, settings
        self._own_node: tuple[Any, int, Any] | None = None
        self._pid: int | None = None

    def setup(self) -> None:
        from rasad.core.es import make_client
        from rasad.core.records import Article, EntityTag, TopicTag
        from rasad.core.settings import load_settings
        from rasad.indexing.bulk import index_articles
        from rasad.indexing.setup import setup_indices

        if self.es is None:
            from rasad import esnode
            from tests.conftest import free_port

            os.environ.setdefault("RASAD_INDEX_PREFIX", f"fuzz{os.getpid()}")
            s = load_settings()
            port = free_port()
            home = s.cache_path / "nodes" / f"fuzz-{port}-{os.getpid()}"
            info = esnode.start_node(s, port=port, home=home)
            os.environ["RASAD_ES_URL"] = info.url
            self.settings = load_settings()
            self.es = make_client(self.settings)
            self._own_node = (s, port, home)
            self._pid = info.pid
        setup_indices(self.es, self.settings)
        texts = text_seeds(60)
        self.words: list[str] = sorted({w for t in texts for w in t.split() if 2 < len(w) < 15})[:3000]
        articles = []
        for i, t in enumerate(texts):
            title, _, body = t.partition("\n")
            url = f"https://news.example.org/zqxurl/{i}"
            articles.append(Article(
                url=url, canonical_url=url, feed_id="zqxfeed", source="zqxsource Wire", title=title[:300],
                text=body[:4000], summary=body[:200], language="ar" if i % 3 else "en", author="zqxauthor",
                fetched_at="2025-05-02T10:00:00Z", published=f"2025-05-0{1 + i % 9}T09:00:00Z",
                entities=[EntityTag(id="zqxentity", type="person", name="zqxentity", name_ar="زقكس")],
                topics=[TopicTag(id="zqxtopic.child", label="zqxtopic", score=0.9)],
            ))  # fmt: skip
        rep = index_articles(self.es, self.settings, articles)
        if rep.errors:
            raise RuntimeError(f"could not index the search corpus: {rep.errors[:3]}")
        self.es.indices.refresh(index=self.settings.index("articles"))
        # The alias spans monthly indices; _analyze needs one concrete index with the same mapping.
        self.alias = self.settings.index("articles")
        self.analyzer_index = sorted(self.es.indices.get_alias(name=self.alias).body)[0]

    def teardown(self) -> None:
        if self._own_node:
            from rasad import esnode

            s, port, home = self._own_node
            self._own_node = None
            esnode.stop_node(s, port=port, home=home)
            # The node a long run started was once found alive afterwards: stop it by its own pid too.
            if self._pid:
                with contextlib.suppress(ProcessLookupError):  # already gone
                    os.kill(self._pid, signal.SIGKILL)
            shutil.rmtree(home, ignore_errors=True)

    def generate(self, rng: random.Random) -> dict[str, Any]:
        parts = []
        for _ in range(rng.choice((1, 1, 2, 3, 5))):
            r = rng.random()
            if r < 0.35:
                parts.append(rng.choice(self.words))
            elif r < 0.5:
                parts.append(decorate_arabic(rng, rng.choice(self.words)))
            elif r < 0.7:
                parts.append(rng.choice(SYNTAX) + rng.choice(MARKERS + self.words + [""]))
            elif r < 0.8:
                parts.append(rng.choice(MARKERS))
            else:
                parts.append(random_unicode(rng, rng.randrange(1, 20)))
        text = rng.choice((" ", "", " AND ", " OR ")).join(parts)
        if rng.random() < 0.1:
            text = f'"{text}"'
        if rng.random() < 0.1:
            text = mutate_text(rng, text)[:20000]
        q = {"text": text}
        if rng.random() < 0.2:
            q["topic"] = rng.choice(["zqxtopic", "zqxtopic.child", "*", "zqx*", "", "a\"b", mutate_text(rng, "x")])
        if rng.random() < 0.2:
            q["entity"] = rng.choice(["zqxentity", "ZQXENTITY", "*", "زقكس", random_unicode(rng, 5)])
        if rng.random() < 0.2:
            q["since"] = rng.choice(["24h", "999999999d", "0m", "2025-05-01", "2025-13-01", "yesterday", "-1h",
                                     "9999-12-31T23:59:59Z", "1e9h", random_unicode(rng, 6)])  # fmt: skip
        if rng.random() < 0.1:
            q["lang"] = rng.choice(["ar", "en", "*", "zqxlang", ""])
        if rng.random() < 0.1:
            q["limit"] = rng.choice([0, -1, 1, 10**9])
        return q

    def encode(self, value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=True).encode()

    def decode(self, data: bytes) -> dict[str, Any]:
        return json.loads(data)

    def shrink(self, value: dict[str, Any]) -> list[Any]:
        out = [{**value, "text": t} for t in super().shrink(value["text"])]
        return out + [{k: v for k, v in value.items() if k != extra} for extra in value if extra != "text"]

    def _tokens(self, text: str) -> list[str]:
        from rasad.enrich.normalize import search_form

        res = self.es.indices.analyze(index=self.analyzer_index, field="text_search", text=search_form(text))
        return [t["token"] for t in res["tokens"]]

    def check(self, value: dict[str, Any]) -> None:
        from elasticsearch import ApiError, TransportError

        from rasad.enrich.normalize import search_form
        from rasad.indexing.search import SearchError, SearchQuery, render_json, render_table, search_articles

        q = SearchQuery(**value)
        try:
            result = search_articles(self.es, self.settings, q, now=NOW)
        except SearchError as e:
            if not str(e).startswith("--"):
                raise PropertyFailure(f"SearchError does not name the argument: {e}") from None
            return
        except (ApiError, TransportError) as e:
            raise PropertyFailure(f"Elasticsearch error for query {value!r}: {str(e)[:500]}") from None
        render_json(result)
        render_table(result, bidi=True, width=120)
        if not result.hits or not q.text.strip():
            return
        tokens = self._tokens(q.text.strip('"').encode("utf-8", "replace").decode("utf-8"))
        found = self.es.search(index=self.alias, size=len(result.hits), query={"ids": {"values": [h.id for h in result.hits]}},
                               source=["title", "summary", "text"])  # fmt: skip
        docs = {d["_id"]: d["_source"] for d in found["hits"]["hits"]}
        for h in result.hits:
            src = docs.get(h.id) or {}
            searched = " ".join(search_form(src.get(k) or "") for k in ("title", "summary", "text")).lower()
            missing = [t for t in tokens if t not in searched]
            if missing:
                raise PropertyFailure(f"hit {h.id} for {q.text[:200]!r} lacks {missing[:5]} in the searched fields "
                                      "(matched outside its field?)")  # fmt: skip
