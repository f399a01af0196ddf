"""One settings module: shipped defaults, then a user file, then Airflow connections, then environment variables.

Every key of ``config/defaults.yaml`` can be overridden by ``RASAD_<KEY>`` (upper-case).
Secrets (``es_password``, ``smtp_password``) come from the environment or an Airflow
connection and are never printed: ``Settings.public()`` masks them and ``repr`` leaves them out.
pydantic-settings layers the sources and checks every value against its field's type.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import YamlConfigSettingsSource as YamlFile

from rasad.core import shipped

# Relative paths in the settings resolve against this folder in a checkout; an installed wheel
# resolves them with shipped.resolve() (shipped data, else the current folder).
PROJECT_ROOT = shipped.CHECKOUT or Path.cwd()
DEFAULTS_FILE = shipped.shipped("config/defaults.yaml")
SECRET_KEYS = {"es_password", "smtp_password"}


class SettingsError(ValueError):
    """A configuration value is missing or malformed (names the key and where it came from)."""


def _blank_is_false(value: Any) -> Any:
    # RASAD_RESPECT_ROBOTS= (set but empty) has always meant "off"; pydantic would refuse "".
    return False if isinstance(value, str) and not value.strip() else value


Flag = Annotated[bool, BeforeValidator(_blank_is_false)]  # true/false, 1/0, yes/no, on/off; empty is false


class Settings(BaseSettings):
    """Every setting, one line each in the order of config/defaults.yaml; build it with ``load_settings()``."""

    # Frozen: one Settings is shared by threads and passed to worker processes. Numbers are
    # accepted for text fields (``es_replicas: 1`` in YAML), unknown keys are errors.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True, coerce_numbers_to_str=True)

    es_url: str | None
    es_user: str | None
    es_password: str | None = Field(repr=False)  # secret
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
    overlap_batches: Flag
    allow_private_networks: Flag
    respect_robots: Flag
    feed_backoff_cap: int
    feed_flag_after: int
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None = Field(repr=False)  # secret
    smtp_starttls: Flag
    smtp_ssl: Flag
    smtp_timeout: float
    smtp_conn_id: str | None
    mail_from: str
    kibana_url: str
    local_es_url: str
    watch_shards: int
    poll_jitter: float
    batch_size: int
    max_batches: int
    claim_lease: int = Field(ge=3)  # seconds; renewed every third of it, so no shorter than three 1 s beats
    queue_retention_days: int
    article_retention_months: int
    operator_email: str | None
    safety_net_cron: str
    task_retries: int
    task_retry_delay: int
    task_max_retry_delay: int

    def path(self, value: str) -> Path:
        """Resolve a configured path (relative: to the checkout, or for a wheel to its shipped data or the cwd)."""
        return shipped.resolve(value)

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

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (not re-validated: callers pass typed values)."""
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}")
        return self.model_copy(update=changes)

    def public(self) -> dict[str, Any]:
        """Settings safe to print: secrets masked."""
        out = self.model_dump()
        for k in SECRET_KEYS:
            if out.get(k):
                out[k] = "***"
        return out


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


class _Values(PydanticBaseSettingsSource):
    """A layer of values computed here (overrides, the environment, Airflow connections), named by its origin."""

    def __init__(self, values: dict[str, Any], origin: str) -> None:
        super().__init__(Settings)
        self.values, self.origin = values, origin

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _environment(env: dict[str, str]) -> list[_Values]:
    """One layer per ``RASAD_<KEY>`` variable that is set, so an error names the variable."""
    return [_Values({name: env[var]}, f"environment {var}")
            for name in Settings.model_fields if (var := f"RASAD_{name.upper()}") in env]  # fmt: skip


def _user_file(env: dict[str, str]) -> YamlFile | None:
    user_file = env.get("RASAD_CONFIG")
    if not user_file:
        return None
    if not Path(user_file).is_file():
        raise SettingsError(f"RASAD_CONFIG names {user_file!r}, which is not a file")
    try:
        layer = YamlFile(Settings, yaml_file=user_file, yaml_file_encoding="utf-8")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"{user_file}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    except (TypeError, ValueError):  # a top level that is a list or a scalar
        raise SettingsError(f"{user_file}: expected a mapping of setting: value") from None
    if not isinstance(layer.yaml_data, dict):
        raise SettingsError(f"{user_file}: expected a mapping of setting: value")
    return layer


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the RASAD_CONFIG file, Airflow connections, the environment and overrides."""
    env = dict(os.environ if env is None else env)
    user = _user_file(env)
    # Highest priority first, as pydantic-settings expects; each layer with the name of its origin.
    layers: list[tuple[PydanticBaseSettingsSource, str]] = [(_Values(overrides, "override"), "override")]
    layers += [(layer, layer.origin) for layer in _environment(env)]
    layers.append((_Values(airflow_connection_values(env), "Airflow connection"), "Airflow connection"))
    if user is not None:
        layers.append((user, str(env["RASAD_CONFIG"])))
    defaults = YamlFile(Settings, yaml_file=DEFAULTS_FILE, yaml_file_encoding="utf-8")
    layers.append((defaults, str(DEFAULTS_FILE)))

    def origin(key: str) -> str:
        return next((name for layer, name in layers if key in _raw(layer)), "override")

    known = set(Settings.model_fields)
    unknown = sorted({k for layer, _ in layers for k in _raw(layer)} - known)
    if unknown:  # YAML layers drop keys that are no field; say so instead of ignoring a typo
        raise SettingsError(f"unknown setting(s) {unknown} in {[origin(k) for k in unknown]}")
    try:
        # _build_sources is BaseSettings.__init__'s documented way to pass prepared sources; mypy
        # only sees the __init__ that pydantic's dataclass_transform synthesises from the fields.
        return Settings(_build_sources=(tuple(layer for layer, _ in layers), {}))  # type: ignore[call-arg]
    except ValidationError as e:
        raise SettingsError(_explain(e, origin)) from None


def _raw(layer: PydanticBaseSettingsSource) -> dict[str, Any]:
    """The keys a layer was given, before it drops the ones that are no field."""
    if isinstance(layer, YamlFile):
        return layer.yaml_data if isinstance(layer.yaml_data, dict) else {}
    return layer()


def _explain(error: ValidationError, origin: Callable[[str], str]) -> str:
    """One line per bad value: where it came from, the key, the value and what was expected."""
    missing = sorted(str(d["loc"][0]) for d in error.errors() if d["type"] == "missing")
    lines = [f"setting(s) {missing} missing from {DEFAULTS_FILE}"] if missing else []
    for d in error.errors():
        if d["type"] == "missing" or not d["loc"]:
            continue
        key = str(d["loc"][0])
        lines.append(f"{origin(key)}: {key} = {d['input']!r} is not valid ({d['msg']})")
    return "; ".join(lines)
