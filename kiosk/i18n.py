"""Every string the citizen sees, Vietnamese first, English second."""
from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("Lấy số thứ tự", "Take a number"),
    "choose_service": ("Chạm vào dịch vụ bạn cần", "Touch the service you need"),
    "waiting": ("Đang chờ: {n} người", "Waiting: {n}"),
    "est_wait": ("~{m} phút", "~{m} min"),
    "no_wait": ("Không phải chờ", "No wait"),
    "finished_service": ("Đã hết số hôm nay", "No more numbers today"),
    "language": ("English", "Tiếng Việt"),
    "offline": ("Ngoại tuyến", "Offline"),
    "printer_problem": ("Máy in đang gặp sự cố: tạm thời chưa in được phiếu",
                        "Printer problem: tickets cannot be printed right now"),
    "who": ("Bạn thuộc đối tượng nào?", "Who are you?"),
    "normal": ("Lấy số thường", "Regular number"),
    "elderly": ("Người cao tuổi", "Elderly"),
    "disabled": ("Người khuyết tật", "Disabled"),
    "pregnant": ("Phụ nữ mang thai", "Pregnant"),
    "appointment": ("Tôi có lịch hẹn", "I have an appointment"),
    "enter_code": ("Nhập mã lịch hẹn", "Enter your appointment code"),
    "code_too_short": ("Mã lịch hẹn có {n} đến {m} chữ số", "The code has {n} to {m} digits"),
    "ok": ("Xác nhận", "Confirm"),
    "delete": ("Xoá", "Delete"),
    "back": ("Quay lại", "Back"),
    "your_number": ("Số của bạn", "Your number"),
    "people_ahead": ("Số người chờ trước bạn: {n}", "People ahead of you: {n}"),
    "est_wait_long": ("Thời gian chờ dự kiến: khoảng {m} phút", "Estimated wait: about {m} min"),
    "est_unknown": ("Thời gian chờ dự kiến: chưa rõ", "Estimated wait: not known yet"),
    "nobody_ahead": ("Không có ai chờ trước bạn: bạn là người tiếp theo", "Nobody is waiting ahead of you: you are next"),
    "priority_turn": ("Ưu tiên «{cls}»: bạn được gọi trước người lấy số thường. Trước bạn còn {n} người",
                      "“{cls}” priority: called before regular numbers. {n} ahead of you"),
    "groups": ("Lĩnh vực", "Fields"),
    "all_services": ("Tất cả", "All"),
    "page": ("Trang {i}/{n}", "Page {i}/{n}"),
    "prev": ("‹ Trước", "‹ Previous"),
    "next": ("Tiếp ›", "Next ›"),
    "printing": ("Đang in phiếu, vui lòng nhận phiếu bên dưới", "Printing your ticket, please take it below"),
    "printed": ("Mời bạn nhận phiếu và chờ gọi số", "Please take your ticket and wait for your number"),
    "print_failed": ("{problem}: phiếu chưa in được. Số {number} chỉ được gọi khi đã in: bấm «In lại phiếu», "
                     "hoặc lấy số mới khi máy in hoạt động trở lại (nhờ cán bộ hỗ trợ).",
                     "{problem}: the ticket was not printed. Number {number} is called only once printed: touch "
                     "“Print again”, or take a new number when the printer works again (ask staff)."),
    "reprint": ("In lại phiếu", "Print again"),
    "done": ("Xong", "Done"),
    "closed": ("Ngoài giờ làm việc", "Closed now"),
    "closed_hours": ("Giờ làm việc hôm nay: {hours}", "Opening hours today: {hours}"),
    "closed_today": ("Hôm nay không làm việc", "Closed all day today"),
    "served_from": ("Phục vụ lại lúc {at}", "Served from {at}"),
    "est_wait_from": ("~{m} phút kể từ {at}", "~{m} min from {at}"),
    "est_wait_long_from": ("Thời gian chờ dự kiến: khoảng {m} phút, tính từ {at} (không tính giờ nghỉ)",
                           "Estimated wait: about {m} min from {at} (the break not counted)"),
    "closed_for_today": ("Đã hết giờ làm việc", "Closed for today"),
    "not_open_yet": ("Chưa đến giờ làm việc", "Not open yet"),
    "next_open": ("Mở cửa lại lúc {at} {day}", "Opens again at {at} on {day}"),
    "next_open_today": ("Mở cửa lúc {at} hôm nay", "Opens at {at} today"),
    "closed_no_numbers": ("Đã hết giờ làm việc: không cấp số mới", "Closed for today: no new numbers"),
    "finished": ("Đã hết số thứ tự hôm nay", "All numbers for today have been issued"),
    "finished_hint": ("Xin mời quay lại vào ngày làm việc tiếp theo", "Please come back on the next working day"),
    "no_config": ("Đang tải danh sách dịch vụ…", "Loading the list of services…"),
    "service_finished": ("Dịch vụ «{name}» đã hết số hôm nay", "“{name}” has no more numbers today"),
    "no_numbers_offline": ("Tạm thời không cấp được số. Vui lòng liên hệ cán bộ.",
                           "Cannot issue a number right now. Please ask staff."),
    "error": ("Có lỗi xảy ra, xin vui lòng thử lại", "Something went wrong, please try again"),
    "offline_ticket": ("(cấp ngoại tuyến)", "(issued offline)"),
}


def text(key: str, lang: str = "vi", **fields: object) -> str:
    vi, en = STRINGS[key]
    s = en if lang == "en" else vi
    return s.format(**fields) if fields else s


def minutes(seconds: float | None) -> int | None:
    if seconds is None:
        return None
    return max(1, round(seconds / 60)) if seconds > 0 else 0
