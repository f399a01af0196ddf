"""The Elasticsearch connection, shared by every stage that reads or writes the store."""

from __future__ import annotations

from datetime import datetime, timezone

from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout as ESConnectionTimeout
from elasticsearch import Elasticsearch

from rasad.settings import Settings, SettingsError


# Elasticsearch cannot be reached at all (as opposed to rejecting a request): every stage
# that writes keeps its data for a later run instead of failing the batch.
OUTAGE_ERRORS = (ESConnectionError, ESConnectionTimeout)


def make_client(settings: Settings, request_timeout: float = 30.0) -> Elasticsearch:
    """Client for ``settings.es_url`` (credentials and CA from settings; never logged).

    There is no default address: a process that was not told where to write must not
    write to whatever happens to answer on port 9200.
    """
    if not settings.es_url:
        raise SettingsError(
            "no Elasticsearch cluster configured: set RASAD_ES_URL (e.g. the local node of `rasad es start`, "
            f"{settings.local_es_url}) or the Airflow connection 'rasad_elasticsearch'"
        )
    kwargs: dict = {"request_timeout": request_timeout, "retry_on_timeout": True, "max_retries": 2}
    if settings.es_user and settings.es_password:
        kwargs["basic_auth"] = (settings.es_user, settings.es_password)
    if settings.es_ca_certs:
        kwargs["ca_certs"] = settings.es_ca_certs
    urls = [u.strip() for u in settings.es_url.split(",") if u.strip()]
    return Elasticsearch(urls if len(urls) > 1 else urls[0], **kwargs)


def describe_cluster(es: Elasticsearch) -> str:
    """``name (uuid) at host:port`` of the cluster a client writes to, for logs and status.

    Read from the cluster state's metadata (``GET /`` is not available on every build).
    """
    try:
        health = es.cluster.health()
        state = es.cluster.state(metric="metadata", filter_path="metadata.cluster_uuid")
        uuid = state.get("metadata", {}).get("cluster_uuid", "?")
        return f"{health['cluster_name']} ({uuid}, {health['number_of_nodes']} node(s), {health['status']})"
    except Exception as e:  # status lines must not fail on a cluster that is down
        return f"unreachable ({type(e).__name__})"


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
