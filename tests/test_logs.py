import io
import logging
import sys

from common.logs import setup_logging


def test_log_lines_go_to_the_stderr_of_the_moment(monkeypatch):
    """A role's main() run in a test sets logging up; later lines must not go to a stream that
    has been closed since (pytest closes each test's capture)."""
    setup_logging("INFO")
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("motcua.test").info("một")
    assert "một" in first.getvalue()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("motcua.test").warning("hai")  # no "--- Logging error ---"
    assert "WARNING motcua.test: hai" in second.getvalue()
