"""One settings module: shipped defaults, then a user file, then environment variables.

Every key of ``config/defaults.yaml`` can be overridden by ``RASAD_<KEY>`` (upper-case).
Secrets (``es_password``, ``smtp_password``) come from the environment and are never
printed: ``Settings.public()`` masks them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULTS_FILE = PROJECT_ROOT / "config" / "defaults.yaml"
SECRET_KEYS = {"es_password", "smtp_password"}


class SettingsError(ValueError):
    """A configuration value is missing or malformed (names the key and where it came from)."""


@dataclass(frozen=True)
class Settings:
    es_url: str | None
    es_user: str | None
    es_password: str | None
    es_ca_certs: str | None
    index_prefix: str
    es_version: str
    es_heap: str
    es_shards: int
    es_replicas: str
    cache_dir: str | None
    var_dir: str
    seeds_dir: str
    feeds_file: str
    rules_file: str
    user_agent: str
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_feed_bytes: int
    max_page_bytes: int
    max_redirects: int
    retries: int
    backoff_base: float
    per_host_delay: float
    per_host_concurrency: int
    fetch_workers: int
    extract_workers: str
    extract_timeout: float
    allow_private_networks: bool
    respect_robots: bool
    feed_backoff_cap: int
    feed_flag_after: int
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None
    smtp_starttls: bool
    smtp_ssl: bool
    smtp_timeout: float
    smtp_conn_id: str | None
    mail_from: str
    kibana_url: str
    local_es_url: str
    watch_shards: int
    poll_jitter: float
    batch_size: int
    max_batches: int
    claim_lease: int
    queue_retention_days: int
    article_retention_months: int
    operator_email: str | None
    safety_net_cron: str
    task_retries: int
    task_retry_delay: int
    task_max_retry_delay: int

    def path(self, value: str) -> Path:
        """Resolve a configured path relative to the project root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else PROJECT_ROOT / p

    @property
    def var_path(self) -> Path:
        return self.path(self.var_dir)

    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return self.path(self.cache_dir)
        # As root, Elasticsearch must run as an unprivileged user that cannot enter
        # /root, so the cache (which holds the server) lives somewhere world-readable.
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            return Path("/var/cache/rasad")
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "rasad"

    def index(self, kind: str) -> str:
        """Name of the alias/index for one kind of document (articles, events, ...)."""
        return f"{self.index_prefix}-{kind}"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """Settings safe to print: secrets masked."""
        out = dataclasses.asdict(self)
        for k in SECRET_KEYS:
            if out.get(k):
                out[k] = "***"
        return out


def _coerce(key: str, raw: Any, typ: Any, origin: str) -> Any:
    if raw is None:
        return None
    t = str(typ)
    try:
        if "bool" in t:
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in {"1", "true", "yes", "on"}:
                return True
            if s in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if "int" in t and "float" not in t:
            return int(raw)
        if "float" in t:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{origin}: {key} = {raw!r} is not a valid {t}") from None


ES_CONN_ID = "rasad_elasticsearch"
SMTP_CONN_ID = "rasad_smtp"


def _connection(conn_id: str, env: dict[str, str]) -> Any:
    """An Airflow connection from ``AIRFLOW_CONN_<ID>`` or, inside a running task, from Airflow itself."""
    raw = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw is None and "airflow.sdk" not in sys.modules:
        return None  # outside Airflow: never import it just to look
    try:
        from airflow.sdk import Connection  # noqa: PLC0415

        if raw is not None:
            return Connection.from_json(raw, conn_id=conn_id) if raw.lstrip().startswith("{") else \
                Connection.from_uri(raw, conn_id=conn_id)  # fmt: skip
        return Connection.get(conn_id)
    except Exception as e:  # not defined (the usual case) or not reachable
        if raw is not None:
            raise SettingsError(f"AIRFLOW_CONN_{conn_id.upper()}: not a valid connection: {type(e).__name__}") from None
        return None


def airflow_connection_values(env: dict[str, str]) -> dict[str, Any]:
    """Settings taken from the Airflow connections ``rasad_elasticsearch`` and ``rasad_smtp``."""
    out: dict[str, Any] = {}
    es = _connection(ES_CONN_ID, env)
    if es is not None and es.host:
        scheme = es.schema or (es.conn_type if es.conn_type in ("http", "https") else "http")
        host = es.host if "://" in es.host else f"{scheme}://{es.host}"
        out["es_url"] = f"{host}:{es.port}" if es.port else host
        if es.login:
            out["es_user"] = es.login
        if es.password:
            out["es_password"] = es.password
    if _connection(SMTP_CONN_ID, env) is not None:
        out["smtp_conn_id"] = SMTP_CONN_ID  # the mail code reads host, port and credentials from it
    return out


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the RASAD_CONFIG file, the environment and overrides."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8")) or {}
    origins = {k: str(DEFAULTS_FILE) for k in values}
    user_file = env.get("RASAD_CONFIG")
    if user_file:
        p = Path(user_file)
        if not p.is_file():
            raise SettingsError(f"RASAD_CONFIG names {user_file!r}, which is not a file")
        extra = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise SettingsError(f"{user_file}: expected a mapping of setting: value")
        values.update(extra)
        origins.update({k: user_file for k in extra})
    fields = {f.name: f.type for f in dataclasses.fields(Settings)}
    for name, value in airflow_connection_values(env).items():
        values[name] = value
        origins[name] = "Airflow connection"
    for name in fields:
        ev = env.get(f"RASAD_{name.upper()}")
        if ev is not None:
            values[name] = ev
            origins[name] = f"environment RASAD_{name.upper()}"
    values.update(overrides)
    unknown = set(values) - set(fields)
    if unknown:
        raise SettingsError(f"unknown setting(s) {sorted(unknown)} in {[origins.get(k) for k in unknown]}")
    missing = set(fields) - set(values)
    if missing:
        raise SettingsError(f"setting(s) {sorted(missing)} missing from {DEFAULTS_FILE}")
    coerced = {k: _coerce(k, values[k], fields[k], origins.get(k, "override")) for k in fields}
    return Settings(**coerced)
