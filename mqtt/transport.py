"""How the client reaches the broker: the ``[mqtt]`` config table, TLS, and the socket options."""
from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
from pydantic import BaseModel, Field

from common.config import STRICT


class BrokerConfig(BaseModel):
    """The ``[mqtt]`` table of every role's config."""

    model_config = STRICT
    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    username: str | None = None
    password: str | None = None
    ca_file: str | None = Field(None, description="CA certificate for mqtts://")
    cert_file: str | None = Field(None, description="client certificate (optional)")
    key_file: str | None = Field(None, description="client key (optional)")
    keepalive_s: int = Field(30, ge=5, le=600)

    def endpoint(self) -> tuple[str, int, bool]:
        u = urlparse(self.url)
        if u.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker url {self.url!r}: scheme must be mqtt:// or mqtts://")
        if not u.hostname:
            raise ValueError(f"broker url {self.url!r} has no host")
        tls = u.scheme == "mqtts"
        return u.hostname, u.port or (8883 if tls else 1883), tls

    def apply(self, client: paho.Client) -> None:
        """Set these credentials and, for mqtts://, TLS on a paho client."""
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.endpoint()[2]:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file)
            client.tls_set_context(ctx)


def on_socket_open(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Requests, answers and acks are small: send them at once. Without TCP_NODELAY, Nagle's
    algorithm and delayed ACKs add about 40 ms to every round trip."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
