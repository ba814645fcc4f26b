"""Vietnamese first, English second: label tables, the language choice and the labels every web
role shares (errors, login, CSRF refusals)."""
from __future__ import annotations

from typing import Mapping

from starlette.requests import HTTPConnection
from starlette.responses import Response

LANGS = ("vi", "en")
LANG_COOKIE = "motcua_lang"
LANG_MAX_AGE_S = 365 * 86400

Table = Mapping[str, tuple[str, str]]

COMMON: dict[str, tuple[str, str]] = {
    "language": ("English", "Tiếng Việt"),
    "logout": ("Đăng xuất", "Log out"),
    "skip": ("Bỏ qua, tới nội dung", "Skip to content"),
    "error_title": ("Có lỗi", "Something went wrong"),
    "back_home": ("Về trang chính", "Back to the start page"),
    "err_400": ("Yêu cầu không hợp lệ.", "The request is not valid."),
    "err_401": ("Cần đăng nhập hoặc mã truy cập (Authorization: Bearer).",
                "Login or an API token (Authorization: Bearer) is required."),
    "err_403": ("Tài khoản của bạn không có quyền xem trang này.", "Your account may not open this page."),
    "err_403_csrf": ("Biểu mẫu đã hết hạn hoặc được gửi từ trang khác. Hãy tải lại trang rồi thử lại.",
                     "The form has expired or was sent from another site. Reload the page and try again."),
    "err_404": ("Không tìm thấy trang.", "Page not found."),
    "err_405": ("Phương thức không được phép.", "Method not allowed."),
    "err_413": ("Dữ liệu gửi lên quá lớn.", "The request body is too large."),
    "err_429": ("Quá nhiều yêu cầu, vui lòng thử lại sau.", "Too many requests, try again later."),
    "err_500": ("Lỗi máy chủ. Sự cố đã được ghi lại.", "Server error. It has been logged."),
}


def pick(table: Table, lang: str) -> dict[str, str]:
    """One language's column of a ``{key: (vi, en)}`` table."""
    i = 1 if lang == "en" else 0
    return {k: v[i] for k, v in table.items()}


def both(table: Table, key: str) -> str:
    """``"vi / en"``: for texts shown to both at once (API messages, CSV headers, logs)."""
    vi, en = table[key]
    return f"{vi} / {en}"


def pick_lang(query: str | None, cookie: str | None) -> str:
    for v in (query, cookie):
        if v in LANGS:
            return str(v)
    return "vi"


def other_lang(lang: str) -> str:
    return "en" if lang == "vi" else "vi"


def request_lang(conn: HTTPConnection) -> str:
    """``?lang=vi|en``, else the language cookie, else Vietnamese."""
    return pick_lang(conn.query_params.get("lang"), conn.cookies.get(LANG_COOKIE))


def remember_lang(conn: HTTPConnection, response: Response) -> Response:
    """Keep a ``?lang=`` choice in a cookie so the next page speaks it too."""
    lang = conn.query_params.get("lang")
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, str(lang), max_age=LANG_MAX_AGE_S, samesite="lax")
    return response
