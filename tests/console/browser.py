"""What the console's Chromium tests share: launching Chromium, logging the officer in at a desk,
polling the page (its CSP forbids wait_for_function's eval) and reading ticketing's desk."""
from __future__ import annotations

from typing import Any

from tests.collector.test_browser import CHROMIUM_ARGS
from tests.support.wait import wait_for

from .conftest import OFFICER, PASSWORD


def launch(p: Any) -> Any:
    return p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)


def log_in(page: Any, url: str) -> None:
    page.goto(url + "/login?next=/console")
    page.fill("#user", OFFICER)
    page.fill("#password", PASSWORD)
    page.click("#login")


def take_desk(page: Any, url: str, desk: int = 1) -> None:
    """Log in and bind this login to ``desk`` (sign-in at ticketing); the console is shown."""
    log_in(page, url)
    page.goto(url + "/console")
    page.wait_for_selector("#desk-select")
    page.select_option("#desk-select", str(desk))
    page.click("#desk-start")
    page.wait_for_selector("#console")


def serving(tk: Any, desk: int = 1) -> str | None:
    st = tk.queue.desk_state(desk)
    return st.ticket if st.status == "serving" else None


def page_wait(page: Any, expr: str, timeout: float = 20.0) -> None:
    """Poll a JS expression with evaluate until it is truthy."""
    assert wait_for(lambda: page.evaluate(f"() => !!({expr})"), timeout), f"timed out waiting for {expr}"


def message(page: Any) -> str:
    page_wait(page, "document.getElementById('message').textContent.length > 0")
    return str(page.locator("#message").inner_text())


def clear_message(page: Any) -> None:
    page.evaluate("document.getElementById('message').textContent = ''")
