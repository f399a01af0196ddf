"""Install the index templates (data files in ``indexing/templates/``) and create the indices.

Idempotent and versioned. Each template carries a ``version`` (bumped when a file changes)
and, in ``_meta``, a hash of exactly what we would install on this cluster; a template
whose stored hash matches is left alone, so a second run changes nothing. A newer template
is put, and its new fields are also added to the existing indices with put-mapping (which
only ever adds: a changed type is refused by Elasticsearch and reported, never forced).
A template newer than ours on the cluster (a later release installed it) is not downgraded.

Which analyzer the full-text fields use is decided here: the ``arabic`` analyzer (and
``english``) as ``.arabic``/``.english`` subfields where the cluster has it (the full
distribution), and always the Python-normalised ``*_search`` fields with ``standard``,
which every cluster has (the local integ-test node lacks analysis-common). The choice is
logged, returned in the report (``rasad es setup`` prints it) and stored in each articles
template's and index's ``_meta.analyzers``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError

from rasad.core.es import article_index, configured_replicas, replica_count, single_index
from rasad.core.settings import Settings

log = logging.getLogger(__name__)
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
KINDS = ("articles", "events", "signals", "alerts", "feeds", "deadletter")
LANGUAGE_ANALYZERS = ("arabic", "english")
TEXT_FIELDS = ("title", "text", "summary")  # the article fields that get language subfields


class SetupError(RuntimeError):
    """The cluster refused a template or mapping change (the message names the index and reason)."""


@dataclass
class SetupReport:
    analyzers: dict[str, str] = field(default_factory=dict)
    analyzer_choice: str = ""
    templates_changed: list[str] = field(default_factory=list)
    templates_unchanged: list[str] = field(default_factory=list)
    indices_created: list[str] = field(default_factory=list)
    mappings_updated: list[str] = field(default_factory=list)
    replicas: int = 0
    replicas_updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_template(kind: str, prefix: str) -> dict:
    """A template file with ``{prefix}`` substituted (the ``_comment`` key removed)."""
    raw = (TEMPLATE_DIR / f"{kind}.json").read_text(encoding="utf-8").replace("{prefix}", prefix)
    data = json.loads(raw)
    data.pop("_comment", None)
    return data


def has_analyzer(es: Elasticsearch, name: str) -> bool:
    """Whether the cluster knows a built-in analyzer (the local node lacks 'arabic')."""
    try:
        es.indices.analyze(analyzer=name, text="test")
        return True
    except BadRequestError:
        return False


def describe_analyzers(analyzers: dict[str, str]) -> str:
    """One line saying which analyzers the full-text fields use on this cluster."""
    base = "*_search fields: standard over Python-normalised text (enrich.normalize.search_form)"
    if not analyzers:
        return base + "; no language analyzers on this cluster (analysis-common missing), so no .arabic subfields"
    subs = ", ".join(f"{f}.{lang} ({a})" for lang, a in analyzers.items() for f in ("title", "text"))
    return f"{base}; language subfields: {subs}"


def render_template(kind: str, settings: Settings, analyzers: dict[str, str], replicas: int | None = None) -> dict:
    """The exact template body installed for one kind on a cluster with these analyzers.

    Shards (articles) and replicas (every kind) come from settings; ``replicas`` is the
    count ``replica_count`` chose for this cluster (default: the configured number, or 0).
    """
    tpl = load_template(kind, settings.index_prefix)
    index_settings = tpl["template"].setdefault("settings", {})
    if kind == "articles":
        if settings.es_shards < 1:
            raise SetupError(f"es_shards = {settings.es_shards}: an index needs at least one primary shard")
        index_settings["number_of_shards"] = settings.es_shards
    if replicas is None:
        replicas = configured_replicas(settings) or 0
    index_settings["number_of_replicas"] = replicas
    mappings = tpl["template"]["mappings"]
    if kind == "articles":
        props = mappings["properties"]
        for name in TEXT_FIELDS:
            subfields = props[name].setdefault("fields", {})
            for lang, analyzer in analyzers.items():
                subfields[lang] = {"type": "text", "analyzer": analyzer}
        mappings.setdefault("_meta", {})["analyzers"] = analyzers or {"none": "standard only"}
    digest = hashlib.sha256(json.dumps(tpl, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    meta = {"rasad_kind": kind, "rasad_version": tpl["version"], "rasad_hash": digest}
    if kind == "articles":
        meta["analyzers"] = mappings["_meta"]["analyzers"]
    tpl["_meta"] = meta
    mappings.setdefault("_meta", {})["rasad_hash"] = digest
    return tpl


def _installed_template(es: Elasticsearch, name: str) -> dict | None:
    try:
        found = es.indices.get_index_template(name=name)["index_templates"]
    except NotFoundError:
        return None
    return found[0]["index_template"] if found else None


def _concrete_indices(es: Elasticsearch, pattern: str) -> dict[str, Any]:
    return dict(es.indices.get_mapping(index=pattern, allow_no_indices=True, expand_wildcards="open"))


def _upgrade_index(es: Elasticsearch, index: str, current: dict, tpl: dict) -> bool:
    """Add the template's new fields to an existing index; False when it is already current."""
    want = tpl["template"]["mappings"]
    have_meta = current.get("mappings", {}).get("_meta", {})
    if have_meta.get("rasad_hash") == want["_meta"]["rasad_hash"]:
        return False
    try:
        # The full property set: put-mapping merges, adding fields and subfields; an
        # existing field is only accepted unchanged, so nothing stored is ever reinterpreted.
        es.indices.put_mapping(
            index=index,
            properties=want["properties"],
            dynamic_templates=want.get("dynamic_templates", []),
            meta=want["_meta"],
        )
    except BadRequestError as e:
        raise SetupError(f"{index}: the new mapping conflicts with the stored one: {e.message}") from e
    return True


def setup_indices(es: Elasticsearch, settings: Settings, now: datetime | None = None) -> SetupReport:
    """Install/upgrade templates and create missing indices; safe to run any number of times."""
    report = SetupReport()
    analyzers = {lang: lang for lang in LANGUAGE_ANALYZERS if has_analyzer(es, lang)}
    report.analyzers = analyzers
    report.analyzer_choice = describe_analyzers(analyzers)
    log.info("full-text analyzers: %s", report.analyzer_choice)
    report.replicas = replicas = replica_count(es, settings)
    month = (now or datetime.now(timezone.utc)).strftime("%Y-%m")
    # The kinds are independent: each waits on the master for its template and index (~0.2 s an
    # index on one node), so they go at once, and the report keeps the kinds' order.
    with ThreadPoolExecutor(len(KINDS), thread_name_prefix="setup") as pool:
        parts = list(pool.map(lambda kind: _setup_kind(es, settings, kind, analyzers, replicas, month), KINDS))
    for part in parts:
        for name in ("templates_changed", "templates_unchanged", "indices_created", "mappings_updated",
                     "replicas_updated", "warnings"):  # fmt: skip
            getattr(report, name).extend(getattr(part, name))
    return report


def _setup_kind(es: Elasticsearch, settings: Settings, kind: str, analyzers: dict[str, str], replicas: int,
                month: str) -> SetupReport:  # fmt: skip
    """One kind's template, the upgrade of its existing indices, and its index (what setup_indices does per kind)."""
    report = SetupReport()
    tpl = render_template(kind, settings, analyzers, replicas)
    name = settings.index(kind)
    installed = _installed_template(es, name)
    installed_version = (installed or {}).get("version") or 0
    if installed is not None and installed_version > tpl["version"]:
        msg = f"template {name} is version {installed_version}, newer than ours ({tpl['version']}): left alone"
        log.warning(msg)
        report.warnings.append(msg)
        return report
    if installed is not None and (installed.get("_meta") or {}).get("rasad_hash") == tpl["_meta"]["rasad_hash"]:
        report.templates_unchanged.append(name)
    else:
        try:
            es.indices.put_index_template(name=name, **tpl)
        except BadRequestError as e:
            raise SetupError(f"template {name} refused: {e.message}") from e
        report.templates_changed.append(name)
        log.info("installed template %s version %s", name, tpl["version"])
    for index, current in _concrete_indices(es, f"{name}-*").items():
        if _upgrade_index(es, index, current, tpl):
            report.mappings_updated.append(index)
    # With 'auto' a node that is down for a moment must not strip the replicas of
    # every index: auto only ever adds copies; a configured number is applied as is.
    report.replicas_updated += _set_replicas(es, f"{name}-*", replicas,
                                             only_raise=configured_replicas(settings) is None)  # fmt: skip
    # Articles: the current month's index, so the read alias exists before the first
    # write (Kibana's data view and `rasad search` work on an empty store).
    index = article_index(settings, month) if kind == "articles" else single_index(settings, kind)
    if _create_index(es, index):
        report.indices_created.append(index)
    return report


def _set_replicas(es: Elasticsearch, pattern: str, replicas: int, only_raise: bool) -> list[str]:
    """Give existing indices the replica count of their template (the cluster grew, or the setting changed)."""
    found = es.indices.get_settings(index=pattern, name="index.number_of_replicas", allow_no_indices=True,
                                    expand_wildcards="open", flat_settings=True)  # fmt: skip
    have = {ix: int(body["settings"].get("index.number_of_replicas", 0)) for ix, body in found.items()}
    changed = sorted(ix for ix, n in have.items() if n < replicas or (n > replicas and not only_raise))
    if changed:
        es.indices.put_settings(index=",".join(changed), settings={"index.number_of_replicas": replicas})
        log.info("number_of_replicas set to %d on %s", replicas, ", ".join(changed))
    return changed


def _create_index(es: Elasticsearch, index: str) -> bool:
    if es.indices.exists(index=index):
        return False
    try:
        es.indices.create(index=index)  # settings, mappings and aliases come from the template
    except BadRequestError as e:
        if "resource_already_exists" in str(e):
            return False  # created concurrently by another run: fine
        raise
    return True


def installed_analyzers(es: Elasticsearch, settings: Settings) -> dict[str, str]:
    """The language analyzers recorded in the installed articles template (empty if none)."""
    try:
        tpl = _installed_template(es, settings.index("articles"))
    except ApiError:
        return {}
    analyzers = ((tpl or {}).get("_meta") or {}).get("analyzers") or {}
    return {k: v for k, v in analyzers.items() if k in LANGUAGE_ANALYZERS}

