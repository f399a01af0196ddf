"""The Elasticsearch connection, shared by every stage that reads or writes the store."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout as ESConnectionTimeout

from rasad.core.settings import Settings, SettingsError

# Elasticsearch cannot be reached at all (as opposed to rejecting a request): every stage
# that writes keeps its data for a later run instead of failing the batch.
OUTAGE_ERRORS = (ESConnectionError, ESConnectionTimeout)


def es_hosts(settings: Settings) -> list[str]:
    """The node URLs in ``settings.es_url`` (one, or several comma-separated for a cluster)."""
    hosts = [u.strip() for u in (settings.es_url or "").split(",") if u.strip()]
    if not hosts:
        raise SettingsError(f"es_url = {settings.es_url!r} names no Elasticsearch node")
    return hosts


def make_client(settings: Settings, request_timeout: float = 30.0) -> Elasticsearch:
    """Client for ``settings.es_url`` (credentials and CA from settings; never logged).

    There is no default address: a process that was not told where to write must not
    write to whatever happens to answer on port 9200.

    With several node URLs the client spreads requests over them and, when a node stops
    answering, marks it dead and sends the request to the next one: ``max_retries`` is at
    least the node count so one request can try every node before the caller sees an outage.
    """
    if not settings.es_url:
        raise SettingsError(
            "no Elasticsearch cluster configured: set RASAD_ES_URL (e.g. the local node of `rasad es start`, "
            f"{settings.local_es_url}) or the Airflow connection 'rasad_elasticsearch'"
        )
    hosts = es_hosts(settings)
    kwargs: dict = {"request_timeout": request_timeout, "retry_on_timeout": True, "max_retries": max(2, len(hosts))}
    if settings.es_user and settings.es_password:
        kwargs["basic_auth"] = (settings.es_user, settings.es_password)
    if settings.es_ca_certs:
        kwargs["ca_certs"] = settings.es_ca_certs
    return Elasticsearch(hosts, **kwargs)


def describe_cluster(es: Elasticsearch) -> str:
    """One log line naming the cluster: name, uuid, health, nodes, master and shards (never raises)."""
    try:
        h = es.cluster.health()
        meta = es.cluster.state(metric="metadata,master_node", filter_path="metadata.cluster_uuid,master_node")
        master_id = meta.get("master_node")
        master = "none"
        if master_id:
            nodes = es.nodes.info(node_id=master_id, metric="_none", filter_path="nodes.*.name")
            first: dict[str, Any] = next(iter((nodes.get("nodes") or {}).values()), {})
            master = first.get("name", master_id)
    except (*OUTAGE_ERRORS, ApiError) as e:
        # Logged at task start: an unreachable cluster is reported by the step that needs it.
        return f"Elasticsearch cluster unreachable ({type(e).__name__}: {e})"
    uuid = (meta.get("metadata") or {}).get("cluster_uuid", "?")
    return (f"Elasticsearch cluster {h['cluster_name']} (uuid {uuid}): {h['status']}, {h['number_of_nodes']} node(s) "
            f"({h['number_of_data_nodes']} data), master {master}, {h['active_shards']} active shard(s), "
            f"{h['unassigned_shards']} unassigned")  # fmt: skip


def configured_replicas(settings: Settings) -> int | None:
    """``es_replicas`` as a number, or None for ``auto`` (decided from the cluster's data nodes)."""
    raw = str(settings.es_replicas).strip().lower()
    if raw == "auto":
        return None
    if raw.isdigit():
        return int(raw)
    raise SettingsError(f"es_replicas = {settings.es_replicas!r}: expected 'auto' or a whole number >= 0")


def replica_count(es: Elasticsearch, settings: Settings) -> int:
    """Replicas per shard for new indices: the configured number, or with ``auto`` 0 on a
    single data node (a replica could never be placed: the cluster would stay yellow) and 1
    on a cluster (every shard survives the loss of one node)."""
    fixed = configured_replicas(settings)
    if fixed is not None:
        return fixed
    return 1 if int(es.cluster.health()["number_of_data_nodes"]) > 1 else 0


# Kinds kept in one index each; articles go to monthly indices (see article_index()).
SINGLE_INDEX_SUFFIX = "v1"


def article_index(settings: Settings, first_seen: str | None) -> str:
    """Concrete monthly index of an article, from the month it was first seen (stable per doc).

    Writes go to the concrete index (so an ``_id`` always lands in the same place and a
    re-run overwrites instead of duplicating); reads go through the alias over all months.
    """
    month = (first_seen or datetime.now(timezone.utc).strftime("%Y-%m"))[:7].replace("-", ".")
    return f"{settings.index('articles')}-{month}"


def single_index(settings: Settings, kind: str) -> str:
    """Concrete index of a kind kept in one index (events, alerts, feeds, deadletter)."""
    return f"{settings.index(kind)}-{SINGLE_INDEX_SUFFIX}"
