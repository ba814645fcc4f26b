"""The collector's config: the same keys as the command line (broker, db, http, site), plus tuning.

Example ``config/collector.toml``::

    broker = "mqtt://127.0.0.1:1883"
    db = "/var/lib/motcua/collector.db"
    http = "0.0.0.0:8080"
    site = "camau-hcc"          # or "+" for every site on the broker

A province's central collector keeps its store in PostgreSQL (``db`` then only names the folder
of the collector's own outbox file)::

    store = "postgresql://collector:secret@127.0.0.1:5432/motcua"
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from common.config import STRICT, load_config
from mqtt import topics
from mqtt.client import BrokerConfig

from .backend import SQLITE, check_store, kind, sqlite_path
from .errors import BadHttpAddress
from .manager_config import AlertThresholds, MailConfig, ReportMailConfig, WebhookConfig
from .periods import zone
from .staff import Department, Officer, RosterEntry, Staff



def parse_http(value: str) -> tuple[str, int]:
    """'127.0.0.1:8080' -> ('127.0.0.1', 8080); '[::1]:8080' works too."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BadHttpAddress(f"http address {value!r} is not HOST:PORT (for example 127.0.0.1:8080)")
    return host.strip("[]"), int(port)


class ProvinceConfig(BaseModel):
    """``[province]``: a central collector of the province, or a site collector's replay service
    (docs/protocol.md, "Province: central collectors and gap filling")."""

    model_config = STRICT
    central: bool = Field(False, description="one of the province's central collectors: reads every site of "
                          "the central broker through a shared subscription, confirms nothing to devices")
    share_group: str = Field("province", pattern=r"^[a-z0-9-]{1,32}$",
                             description="the MQTT 5 shared-subscription group of the central collectors")
    session_expiry_s: int = Field(120, ge=0, le=7 * 24 * 3600, description="central: how long the broker keeps "
                                  "a dead instance's session (and its share of the stream; gap filling "
                                  "recovers what expires with it)")
    manifest_interval_s: float = Field(30.0, ge=0.2, le=3600, description="site: how often the manifest "
                                       "is recomputed (published when it changed, and every 10 intervals)")
    replay_rate_per_s: float = Field(500.0, ge=1, le=100000, description="site: most replayed events per second")
    replay_max: int = Field(5000, ge=1, le=100000, description="site: most events in one replay answer")
    fill_interval_s: float = Field(10.0, ge=0.1, le=3600, description="central: how often gaps are looked for")
    fill_grace_s: float = Field(30.0, ge=0, le=3600, description="central: a seq the manifest names is asked "
                                "for only when still missing this long after (it may be on its way)")
    fill_retry_s: float = Field(120.0, ge=1, le=86400, description="central: a request with no answer is asked "
                                "again after this long (by any central collector)")
    fill_window: int = Field(100000, ge=100, le=10_000_000, description="central: most seqs of one device "
                             "checked against the store per round")


class CollectorConfig(BaseModel):
    """Everything ``motcua collector`` reads; command-line options override the file."""

    model_config = STRICT
    broker: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    db: str = Field("/var/lib/motcua/collector.db", description="SQLite file (created if missing); with a "
                    "PostgreSQL `store`, the collector's own outbox is kept beside it")
    store: str | None = Field(None, description="where the data is kept: a SQLite file (sqlite:///path or a path; "
                              "default: `db`) or PostgreSQL, postgresql://user:password@host:port/database")
    http: str = Field("127.0.0.1:8080", description="HOST:PORT the dashboard listens on")
    site: str = Field("+", description="one site id, or '+' for every site")
    client_id: str | None = Field(None, description="MQTT client id; stable, so the broker keeps the session")
    session_expiry_s: int = Field(7 * 24 * 3600, ge=60, description="how long the broker queues for us while down")
    batch_max: int = Field(2000, ge=1, le=50000, description="most messages per write transaction")
    batch_wait_ms: float = Field(20.0, ge=0, le=1000, description="longest wait to fill a batch")
    timezone: str = "Asia/Ho_Chi_Minh"
    devices: str | None = Field(None, description="device registry (devices.toml, written by provision-device), "
                                "relative to this file; unset: every device's data is trusted (development only)")
    secure_cookies: bool = Field(False, description="the dashboard is served over TLS (by a reverse proxy): "
                                 "cookies get Secure, HSTS is sent")
    console_device: str | None = Field(None, pattern=r"^[a-z0-9-]{1,32}$",
                                       description="device id (registry role `console`) the officer web console "
                                       "asks ticketing as; unset: no console (needs one site, not '+')")
    releases: str | None = Field("/var/lib/motcua/releases", description="the site server's releases "
                                 "(latest.json: the version the devices page offers); missing: not shown")
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig,
                               description="credentials and TLS; its url is replaced by `broker`")
    departments: list[Department] = Field(default_factory=list, description="provincial departments officers "
                                          "are seconded from (code, name_vi, name_en)")
    officers: list[Officer] = Field(default_factory=list, description="the officer directory (id, name, ...)")
    roster: list[RosterEntry] = Field(default_factory=list, description="who is expected at which desk when")
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)
    province_link: bool = Field(False, description="the site has a bridge to the province (`motcua province-bridge "
                                "join`): follow motcua/link/{site} and alert when it is down (needs one site)")
    province: ProvinceConfig = Field(default_factory=ProvinceConfig)
    alert_interval_s: float = Field(15.0, ge=0.2, le=600, description="how often alerts are re-evaluated")
    mail: MailConfig | None = Field(None, description="SMTP for alerts and the monthly reports")
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    report_mail: ReportMailConfig | None = None

    @model_validator(mode="after")
    def _central(self) -> "CollectorConfig":
        if self.province.central and self.site != "+":
            raise ValueError("[province] central = true đọc mọi điểm / reads every site: set site = '+'")
        return self

    def staff(self) -> Staff:
        return Staff(self.officers, self.roster, self.departments)

    @field_validator("site")
    @classmethod
    def _site(cls, v: str) -> str:
        return v if v == "+" else topics.check_id(v, "site (or '+' for every site / hoặc '+' cho mọi đơn vị)")

    @field_validator("db", "store")
    @classmethod
    def _store(cls, v: str | None) -> str | None:
        return None if v is None else check_store(v)

    @property
    def store_location(self) -> str:
        """The store: ``store`` when set, else the SQLite file ``db``."""
        return self.store or self.db

    def outbox_path(self) -> Path:
        """The collector's own outbox (its storage faults): beside the SQLite store, or beside
        ``db`` when the store is PostgreSQL."""
        loc = self.store_location if kind(self.store_location) == SQLITE else self.db
        if kind(loc) != SQLITE:
            loc = CollectorConfig.model_fields["db"].default
        p = Path(sqlite_path(loc))
        return p.with_name(p.stem + "-outbox.db")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        zone(v)  # a clear error at start-up, not a ZoneInfoNotFoundError from the store
        return v

    @field_validator("departments")
    @classmethod
    def _unique_departments(cls, v: list[Department]) -> list[Department]:
        seen: set[str] = set()
        for d in v:
            if d.code in seen:
                raise ValueError(f"mã phòng ban trùng / department code {d.code!r} appears twice in [[departments]]")
            seen.add(d.code)
        return v

    @field_validator("officers")
    @classmethod
    def _unique_officers(cls, v: list[Officer], info: ValidationInfo) -> list[Officer]:
        seen: set[str] = set()
        codes = {d.code for d in info.data.get("departments") or []}
        errors: list[InitErrorDetails] = []
        for i, o in enumerate(v):
            if o.id in seen:
                raise ValueError(f"mã cán bộ trùng / officer id {o.id!r} appears twice in [[officers]]")
            seen.add(o.id)
            if codes and o.department is not None and o.department not in codes:
                msg = (f"phòng ban không có trong [[departments]] / department {o.department!r} of officer "
                       f"{o.id!r} is not a code of [[departments]] (known: {', '.join(sorted(codes))})")
                errors.append(InitErrorDetails(type=PydanticCustomError("unknown_department",
                                                                        msg.replace("{", "{{").replace("}", "}}")),
                                               loc=(i, "department"), input=o.department))
        if errors:
            raise ValidationError.from_exception_data("officers", errors)
        return v

    @field_validator("http")
    @classmethod
    def _http(cls, v: str) -> str:
        parse_http(v)
        return v

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str) -> str:
        BrokerConfig(url=v).endpoint()
        return v

    def broker_config(self) -> BrokerConfig:
        return self.mqtt.model_copy(update={"url": self.broker})

    def http_address(self) -> tuple[str, int]:
        return parse_http(self.http)

    def mqtt_client_id(self) -> str:
        return self.client_id or f"motcua-collector-{'all' if self.site == '+' else self.site}"

    @property
    def site_or_none(self) -> str | None:
        return None if self.site == "+" else self.site


def build_config(path: str | Path | None, overrides: dict[str, Any]) -> CollectorConfig:
    """Load the TOML file (if any) and apply the command-line values that were given."""
    base = load_config(path, CollectorConfig) if path else CollectorConfig()
    if path and base.devices and not Path(base.devices).is_absolute():
        base.devices = str(Path(path).resolve().parent / base.devices)
    data = base.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    return CollectorConfig.model_validate(data)
