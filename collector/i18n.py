"""Every label of the dashboard, Vietnamese first, English second."""
from __future__ import annotations

LANGS = ("vi", "en")

LABELS: dict[str, tuple[str, str]] = {
    "title": ("Bảng điều khiển Bộ phận Một cửa", "One-stop centre dashboard"),
    "login_title": ("Đăng nhập quản lý", "Manager login"),
    "user": ("Tên đăng nhập", "User name"),
    "password": ("Mật khẩu", "Password"),
    "login": ("Đăng nhập", "Log in"),
    "logout": ("Đăng xuất", "Log out"),
    "reports": ("Báo cáo", "Reports"),
    "login_failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."),
    "login_locked": ("Đăng nhập sai quá nhiều lần, vui lòng thử lại sau {m} phút.",
                     "Too many failed logins, try again in {m} minutes."),
    "desks": ("Quầy", "Desks"),
    "desk": ("Quầy", "Desk"),
    "officer": ("Cán bộ", "Officer"),
    "present": ("Có mặt", "Present"),
    "away": ("Vắng", "Away"),
    "unknown": ("Chưa rõ", "Unknown"),
    "citizen": ("Công dân", "Citizen"),
    "no_citizen": ("Không có công dân", "No citizen"),
    "serving": ("Đang phục vụ", "Serving"),
    "idle": ("Đang chờ", "Idle"),
    "closed": ("Đóng quầy", "Closed"),
    "ticket": ("Số phiếu", "Ticket"),
    "online": ("Trực tuyến", "Online"),
    "offline": ("Mất kết nối", "Offline"),
    "queue": ("Hàng chờ", "Queue"),
    "service": ("Lĩnh vực", "Service"),
    "waiting": ("Đang chờ", "Waiting"),
    "longest_wait": ("Chờ lâu nhất", "Longest wait"),
    "issued": ("Đã cấp", "Issued"),
    "ratings_today": ("Đánh giá hôm nay", "Ratings today"),
    "average": ("Trung bình", "Average"),
    "devices": ("Tình trạng thiết bị", "Device health"),
    "device": ("Thiết bị", "Device"),
    "role": ("Vai trò", "Role"),
    "status": ("Trạng thái", "Status"),
    "last_seen": ("Lần cuối", "Last seen"),
    "outbox": ("Hàng đợi gửi", "Outbox"),
    "faults": ("Lỗi đang có", "Open faults"),
    "seq_gaps": ("Sự kiện bị thiếu", "Missing events"),
    "telemetry": ("Thông số", "Telemetry"),
    "clock_unsynced": ("Giờ chưa đồng bộ", "Clock not synced"),
    "clock_unsynced_hint": ("Thiết bị chưa đồng bộ giờ NTP (Pi không có đồng hồ thời gian thực): giờ của các "
                            "sự kiện có thể sai.",
                            "The device's clock is not NTP-synced (a Pi has no real-time clock): its event "
                            "times may be wrong."),
    "none": ("Không", "None"),
    "for": ("trong", "for"),
    "live": ("Trực tiếp", "Live"),
    "reconnecting": ("Đang kết nối lại…", "Reconnecting…"),
    "no_desks": ("Chưa có quầy nào.", "No desks yet."),
    "no_queue": ("Chưa có hàng chờ.", "No queue yet."),
    "no_devices": ("Chưa có thiết bị nào.", "No devices yet."),
    "dead_letters": ("Tin nhắn lỗi", "Dead letters"),
    "dashboard": ("Bảng điều khiển", "Dashboard"),
    "reason": ("Lý do", "Reason"),
    "topic": ("Chủ đề", "Topic"),
    "payload": ("Nội dung", "Payload"),
    "received_at": ("Nhận lúc", "Received at"),
    "error_message": ("Mô tả lỗi", "Error"),
    "all_reasons": ("Tất cả lý do", "All reasons"),
    "filter": ("Lọc", "Filter"),
    "newer": ("← Mới hơn", "← Newer"),
    "older": ("Cũ hơn →", "Older →"),
    "showing": ("Hiển thị {first}–{last} trên tổng số {total}", "Showing {first}–{last} of {total}"),
    "no_dead_letters": ("Không có tin nhắn lỗi nào.", "No dead letters."),
    "show_all": ("Xem toàn bộ ({n} ký tự)", "Show all ({n} characters)"),
    "base64": ("không phải UTF-8, hiển thị dạng base64", "not UTF-8, shown as base64"),
    "bad_query": ("Tham số không hợp lệ", "Bad parameter"),
    "language": ("English", "Tiếng Việt"),
    "updated": ("Cập nhật", "Updated"),
    "unauthorized": ("Cần đăng nhập hoặc mã truy cập (Authorization: Bearer).",
                     "Login or an API token (Authorization: Bearer) is required."),
}


def labels(lang: str) -> dict[str, str]:
    i = 1 if lang == "en" else 0
    return {k: v[i] for k, v in LABELS.items()}


def pick_lang(query: str | None, cookie: str | None) -> str:
    for v in (query, cookie):
        if v in LANGS:
            return v
    return "vi"
