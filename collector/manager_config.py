"""What managers configure in ``collector.toml`` besides the directory: alert thresholds, where alerts go
(e-mail over SMTP, JSON webhooks) and the monthly e-mail of the reports.

::

    [alerts]
    officer_away_min = 10        # desk open, officer zone empty this long, its services have people waiting
    wait_over_target = true      # a service's longest wait past its target_wait_min
    low_rating_run = [3, 5]      # k of the last n ratings at a desk at the bottom levels
    low_levels = 2               # the bottom levels (1 and 2 on a 5-level scale)
    device_offline_min = 5
    outbox_growing = 200         # outbox depth above this
    seq_gap_min_missing = 1
    province_link_down_min = 10  # with province_link = true at the top of collector.toml
    retry_first_s = 30           # a failed delivery is tried again after 30 s, 60 s, 120 s, ... (at most
    retry_max_s = 900            # 15 min apart), retry_attempts times in all, until delivered or cleared
    retry_attempts = 12

    [mail]
    host = "127.0.0.1"
    port = 25
    sender = "motcua@camau-hcc.gov.vn"
    to = ["giamdoc@camau-hcc.gov.vn"]
    # username / password / starttls

    [[webhooks]]
    url = "https://chat.example.vn/hooks/abc"

    [report_mail]
    to = ["giamdoc@camau-hcc.gov.vn"]
    day_of_month = 1             # the reports of the month before, sent on this day at 07:00
"""
from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from common.config import STRICT


class AlertThresholds(BaseModel):
    model_config = STRICT
    officer_away_min: float = Field(10.0, gt=0, le=240, description="minutes the officer zone may be empty")
    wait_over_target: bool = Field(True, description="alert when a service's longest wait passes its target")
    wait_target_default_min: float | None = Field(None, gt=0, description="target for services without one")
    low_rating_run: tuple[int, int] = Field((3, 5), description="[k, n]: k of the last n ratings are low")
    low_levels: int = Field(2, ge=1, le=4, description="how many bottom levels count as low")
    device_offline_min: float = Field(5.0, gt=0, description="minutes offline before the alert")
    outbox_growing: int = Field(200, ge=1, description="outbox depth above which a device is behind")
    seq_gap_min_missing: int = Field(1, ge=1, description="missing events before a gap alert")
    province_link_down_min: float = Field(10.0, gt=0, description="minutes without the province bridge")
    forbidden_window_min: float = Field(60.0, gt=0, description="a device sent forbidden messages this recently")
    retry_first_s: float = Field(30.0, gt=0, le=3600, description="first retry of a failed delivery after")
    retry_max_s: float = Field(900.0, gt=0, le=86400, description="longest wait between two retries")
    retry_attempts: int = Field(12, ge=1, le=100, description="deliveries tried per alert event and channel")
    amber_share: float = Field(0.5, gt=0, lt=1, description="share of a threshold at which a desk card turns amber")

    @model_validator(mode="after")
    def _run(self) -> "AlertThresholds":
        k, n = self.low_rating_run
        if not 1 <= k <= n <= 50:
            raise ValueError(f"low_rating_run [k, n] = [{k}, {n}] needs 1 <= k <= n <= 50")
        return self


class MailConfig(BaseModel):
    model_config = STRICT
    host: str = Field("127.0.0.1", description="SMTP server")
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("motcua@localhost", description="From: address")
    to: list[str] = Field(default_factory=list, description="who receives alerts")
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = Field(10.0, gt=0, le=120)


class WebhookConfig(BaseModel):
    model_config = STRICT
    url: str = Field(pattern=r"^https?://", description="receives a JSON POST per alert raised or cleared")
    timeout_s: float = Field(5.0, gt=0, le=60)
    token: str | None = Field(None, description="sent as 'Authorization: Bearer <token>'")


class ReportMailConfig(BaseModel):
    model_config = STRICT
    to: list[str] = Field(default_factory=list)
    day_of_month: int = Field(1, ge=1, le=28)
    hour: int = Field(7, ge=0, le=23)
    satisfaction_levels: int = Field(2, ge=1, le=5)
