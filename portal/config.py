"""config/portal.toml: the portal process (broker login, site, secret, where it listens)."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from common.config import STRICT, load_config
from mqtt.client import BrokerConfig


class Limits(BaseModel):
    """Rate limits: requests per minute per address and per ticket token; form sizes."""

    model_config = STRICT
    per_address_per_min: int = Field(120, ge=1, le=100_000)
    posts_per_address_per_min: int = Field(10, ge=1, le=10_000)
    posts_per_token_per_min: int = Field(5, ge=1, le=1000)
    streams_per_address: int = Field(20, ge=1, le=10_000, description="open live pages per address")
    comment_chars: int = Field(500, ge=0, le=500)
    feedback_chars: int = Field(2000, ge=10, le=2000)


class PortalConfig(BaseModel):
    model_config = STRICT
    site: str = Field(pattern=r"^[a-z0-9-]{1,32}$", description="site id, e.g. camau-hcc")
    device: str = Field("portal", pattern=r"^[a-z0-9-]{1,32}$", description="this process's device id")
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    secret: str | None = Field(None, min_length=16, description="site secret of ticket tokens (or secret_file)")
    secret_file: str | None = Field(None, description="file holding the secret (first line)")
    listen: str = Field("127.0.0.1", description="address to listen on (a reverse proxy in front)")
    port: int = Field(8070, ge=1, le=65535)
    state_dir: str = Field("/var/lib/motcua/portal", description="outbox and rated tickets live here")
    secure_cookies: bool = Field(False, description="served over TLS (Secure cookies, HSTS)")
    behind_proxy: bool = Field(False, description="take the citizen's address from the proxy's X-Forwarded-For")
    trusted_origins: list[str] = Field(default_factory=list, description="public origin(s) behind a proxy")
    limits: Limits = Field(default_factory=Limits)
    api_token: str | None = Field(None, min_length=24, description="Bearer token of the online-service booking "
                                  "API (/api/v1/bookings, docs/api.md); unset: the API answers 401")

    @model_validator(mode="after")
    def _one_secret(self) -> "PortalConfig":
        if (self.secret is None) == (self.secret_file is None):
            raise ValueError("set exactly one of secret or secret_file (the kiosks' ticket_secret)")
        return self

    def secret_bytes(self) -> bytes:
        if self.secret is not None:
            return self.secret.encode()
        text = Path(self.secret_file or "").read_text().splitlines()
        if not text or len(text[0].strip()) < 16:
            raise ValueError(f"{self.secret_file}: the secret must be at least 16 characters on the first line")
        return text[0].strip().encode()


CONFIG_MODEL = PortalConfig  # ops/roles.py: `motcua check-config portal.toml`


def load(path: str | Path) -> PortalConfig:
    return load_config(path, PortalConfig)
