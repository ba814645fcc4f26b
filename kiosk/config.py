"""The kiosk's config: ``[mqtt]``, ``[kiosk]`` and ``[printer]`` (see config/kiosk.toml)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from common.config import STRICT, load_config
from mqtt.client import BrokerConfig

QR_FIELDS = ("site", "day", "ticket", "number", "service", "device")


class KioskSection(BaseModel):
    model_config = STRICT
    site: str = Field(pattern=r"^[a-z0-9-]{1,32}$", description="site id, e.g. camau-hcc")
    device: str = Field(pattern=r"^[a-z0-9-]{1,32}$", description="this kiosk's device id, e.g. kiosk-1")
    state_dir: str = Field("/var/lib/motcua/kiosk", description="outbox and lease store live here")
    idle_timeout_s: float = Field(20.0, ge=3, le=600, description="back to the home screen after this")
    lease_size: int = Field(50, ge=1, le=1000, description="numbers asked for per lease")
    lease_low: int = Field(10, ge=0, le=1000, description="top up when fewer than this remain")
    request_timeout_s: float = Field(2.0, gt=0, le=30)
    qr_template: str = Field("https://dichvucong.example.vn/ve/{site}/{day}/{ticket}",
                             description="QR content; fields: " + ", ".join(QR_FIELDS))
    language: Literal["vi", "en"] = "vi"
    fullscreen: bool = True
    width: int = Field(1024, ge=320, le=4096, description="window size when not fullscreen")
    height: int = Field(600, ge=240, le=4096)
    printer_poll_s: float = Field(10.0, ge=1, le=600, description="status poll while a printer fault is active")

    @model_validator(mode="after")
    def _check(self) -> "KioskSection":
        if self.lease_low >= self.lease_size:
            raise ValueError(f"lease_low ({self.lease_low}) must be below lease_size ({self.lease_size})")
        try:
            self.qr_template.format(**{k: "x" for k in QR_FIELDS})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"qr_template {self.qr_template!r} uses an unknown field {exc}; "
                             f"known: {', '.join('{' + f + '}' for f in QR_FIELDS)}") from None
        return self


class PrinterConfig(BaseModel):
    model_config = STRICT
    kind: Literal["serial", "usb", "network", "file", "dummy"] = "serial"
    port: str | None = Field(None, description="serial device, e.g. /dev/ttyUSB0 (or a pyserial URL like loop://)")
    baudrate: int = Field(19200, ge=1200, le=921600)
    dsrdtr: bool = Field(False, description="serial DSR/DTR hardware flow control")
    vendor: int | None = Field(None, description="USB vendor id, e.g. 0x04b8")
    product: int | None = Field(None, description="USB product id")
    host: str | None = None
    tcp_port: int = Field(9100, ge=1, le=65535)
    path: str | None = Field(None, description="file printer: e.g. /dev/usb/lp0")
    width_mm: Literal[58, 80] = 80
    status_timeout_s: float = Field(0.5, gt=0, le=10, description="wait for a DLE EOT status answer")
    query_status: bool = Field(True, description="ask the printer's status before printing (serial only)")
    cut: bool = True
    profile: str | None = Field(None, description="python-escpos capability profile, e.g. TM-T20II, POS-5890 "
                                "(None: python-escpos's generic 'default')")
    mode: Literal["auto", "raster"] = Field(
        "auto", description="auto: built-in fonts and QR where the profile has them; raster: every line as an image")

    @property
    def width_px(self) -> int:
        return 384 if self.width_mm == 58 else 576

    @model_validator(mode="after")
    def _check(self) -> "PrinterConfig":
        need = {"serial": ("port",), "usb": ("vendor", "product"), "network": ("host",), "file": ("path",)}
        missing = [k for k in need.get(self.kind, ()) if getattr(self, k) is None]
        if missing:
            raise ValueError(f"printer kind {self.kind!r} needs {', '.join(missing)}")
        if self.profile is not None:
            from escpos.capabilities import get_profile

            try:
                get_profile(self.profile)
            except Exception:  # noqa: BLE001 - python-escpos raises its own NotSupported/KeyError
                raise ValueError(f"printer profile {self.profile!r} is not a python-escpos profile "
                                 "(e.g. default, simple, TM-T20II, TM-T88V, POS-5890)") from None
        return self


class KioskConfig(BaseModel):
    model_config = STRICT
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    kiosk: KioskSection
    printer: PrinterConfig = Field(default_factory=PrinterConfig)

    @property
    def state_dir(self) -> Path:
        return Path(self.kiosk.state_dir)


def load(path: str | Path) -> KioskConfig:
    return load_config(path, KioskConfig)
