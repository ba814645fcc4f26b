"""The monthly e-mail of the reports: on ``report_mail.day_of_month`` at ``report_mail.hour`` (local), the
previous month's reports go to ``report_mail.to``: the report by service, desk and officer (XLSX), the
QĐ 766 satisfaction summary (XLSX) and every officer's evaluation sheet (PDF). Sent once per month: the
month sent is kept in the database (``meta`` key ``report_mail:YYYY-MM``), so a restart does not resend.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from common.clock import iso

from .alert_delivery import MailChannel
from .db import connect
from .evaluation import evaluation_sheets, satisfaction_summary
from .exports import report_xlsx, satisfaction_xlsx, sheet_pdf
from .manager_config import MailConfig, ReportMailConfig
from .periods import Period, zone
from .reports import build_report
from .staff import Staff

log = logging.getLogger(__name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportMailer:
    def __init__(self, db: str | Path, cfg: ReportMailConfig, mail: MailConfig, *, staff: Staff | None = None,
                 tz: str = "Asia/Ho_Chi_Minh", site: str | None = None):
        self.db, self.cfg, self.channel = str(db), cfg, MailChannel(mail)
        self.staff, self.tz, self.site = staff or Staff(), tz, site

    def due(self, now: datetime) -> Period | None:
        """The month to send at ``now``, or None (not the day/hour yet, or already sent)."""
        local = now.astimezone(zone(self.tz))
        if local.day < self.cfg.day_of_month or (local.day == self.cfg.day_of_month and local.hour < self.cfg.hour):
            return None
        month = Period("month", local.date()).previous()
        conn = connect(self.db, readonly=True)
        try:
            sent = conn.execute("SELECT 1 FROM meta WHERE key=?", (f"report_mail:{month.label}",)).fetchone()
        finally:
            conn.close()
        return None if sent else month

    def attachments(self, month: Period, now: datetime) -> list[tuple[str, bytes, str]]:
        conn = connect(self.db, readonly=True)
        try:
            kw: dict[str, Any] = {"tz": self.tz, "site": self.site, "now": now.timestamp()}
            out = [(f"bao-cao-{by}-{month.label}.xlsx",
                    report_xlsx(build_report(conn, month, by, self.cfg.satisfaction_levels, staff=self.staff, **kw),
                                self.staff), XLSX) for by in ("service", "desk", "officer")]
            out.append((f"hai-long-qd766-{month.label}.xlsx",
                        satisfaction_xlsx(satisfaction_summary(conn, month, levels=self.cfg.satisfaction_levels, **kw)),
                        XLSX))
            for s in evaluation_sheets(conn, month, self.staff, levels=self.cfg.satisfaction_levels, **kw):
                out.append((f"phieu-danh-gia-{s.officer}-{month.label}.pdf", sheet_pdf(s), "application/pdf"))
            return out
        finally:
            conn.close()

    def send(self, month: Period, now: datetime) -> None:
        files = self.attachments(month, now)
        first: date = month.first_day
        msg = self.channel.message(
            f"[motcua] Báo cáo tháng {first.month:02d}/{first.year} / Monthly reports {month.label}",
            f"Kính gửi lãnh đạo,\n\nĐính kèm báo cáo tháng {first.month:02d}/{first.year}: theo lĩnh vực, quầy, cán bộ; "
            f"tổng hợp mức độ hài lòng (QĐ 766/QĐ-TTg) và phiếu đánh giá từng cán bộ ({len(files) - 4} phiếu).\n\n"
            f"Attached: the {month.label} reports by service, desk and officer, the satisfaction summary and one "
            "evaluation sheet per officer.\n", to=self.cfg.to, attachments=files)
        self.channel.deliver(msg)
        conn = connect(self.db)
        try:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                         (f"report_mail:{month.label}", iso(now)))
        finally:
            conn.close()
        log.info("monthly reports %s mailed to %s", month.label, ", ".join(self.cfg.to))

    def tick(self, now: datetime) -> None:
        month = self.due(now)
        if month is not None and self.cfg.to:
            self.send(month, now)
