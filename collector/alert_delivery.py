"""Where alerts go: e-mail (SMTP) and JSON webhooks. Each channel gets every raise and every clear once.

The webhook body (documented in docs/reports.md, ``v`` = 1)::

    {"v": 1, "event": "raised",                 # or "cleared"
     "text": "🔴 Quầy 7 vắng cán bộ ... / Desk 7 unattended ...",   # ready for a chat bot
     "alert": {"id": 12, "site": "camau-hcc", "kind": "officer_away", "subject": "desk:7",
               "severity": "red", "desk": 7, "message_vi": "...", "message_en": "...",
               "raised_at": "2026-11-23T09:41:00+07:00", "cleared_at": null,
               "acked_at": null, "acked_by": null, "detail": {...}}}
"""
from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any, Protocol

from .manager_config import MailConfig, WebhookConfig

log = logging.getLogger(__name__)


class Channel(Protocol):
    name: str

    def send(self, event: str, alert: dict[str, Any]) -> None:
        """Deliver one raise or clear; raise on failure (the engine records it)."""


def alert_text(event: str, alert: dict[str, Any]) -> str:
    mark = "✅" if event == "cleared" else ("🔴" if alert.get("severity") == "red" else "🟠")
    vi, en = alert["message_vi"], alert["message_en"]
    if event == "cleared":
        return f"{mark} Đã hết / Cleared: {vi} / {en}"
    return f"{mark} {vi} / {en} (từ / since {alert['raised_at']})"


def webhook_body(event: str, alert: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "event": event, "text": alert_text(event, alert), "alert": alert}


class MailChannel:
    """One e-mail per raise or clear, Vietnamese first, to ``mail.to``."""

    def __init__(self, cfg: MailConfig):
        self.cfg = cfg
        self.name = "mail"

    def message(self, subject: str, body: str, to: list[str] | None = None,
                attachments: list[tuple[str, bytes, str]] | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.cfg.sender, ", ".join(to or self.cfg.to), subject
        msg.set_content(body)
        for filename, data, mime in attachments or []:
            main, sub = mime.split("/", 1)
            msg.add_attachment(data, maintype=main, subtype=sub, filename=filename)
        return msg

    def deliver(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s) as smtp:
            if self.cfg.starttls:
                smtp.starttls()
            if self.cfg.username:
                smtp.login(self.cfg.username, self.cfg.password or "")
            smtp.send_message(msg)

    def send(self, event: str, alert: dict[str, Any]) -> None:
        if not self.cfg.to:
            return
        head = "Đã hết cảnh báo / Cleared" if event == "cleared" else "Cảnh báo / Alert"
        subject = f"[motcua {alert['site']}] {head}: {alert['message_vi']}"
        body = (f"{alert_text(event, alert)}\n\nLoại / Kind: {alert['kind']}\nĐối tượng / Subject: {alert['subject']}\n"
                f"Bắt đầu / Raised: {alert['raised_at']}\nKết thúc / Cleared: {alert['cleared_at'] or '-'}\n"
                f"Chi tiết / Detail: {json.dumps(alert['detail'], ensure_ascii=False)}\n")
        self.deliver(self.message(subject, body))


class WebhookChannel:
    """A JSON POST per raise or clear; a non-2xx answer is a failure."""

    def __init__(self, cfg: WebhookConfig):
        self.cfg = cfg
        self.name = f"webhook:{cfg.url}"

    def send(self, event: str, alert: dict[str, Any]) -> None:
        data = json.dumps(webhook_body(event, alert), ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.cfg.url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "motcua-collector"})
        if self.cfg.token:
            req.add_header("Authorization", f"Bearer {self.cfg.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:  # noqa: S310 - configured URL
                if not 200 <= resp.status < 300:
                    raise OSError(f"webhook {self.cfg.url} answered HTTP {resp.status}")
        except urllib.error.HTTPError as exc:
            raise OSError(f"webhook {self.cfg.url} answered HTTP {exc.code}") from None
