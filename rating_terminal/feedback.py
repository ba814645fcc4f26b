"""What the terminal shows and sounds at once: :class:`Feedback` (Hardware implements it with gpiozero)."""
from __future__ import annotations

from typing import Protocol


class Feedback(Protocol):
    """The LEDs and buzzer: thanks for a rating, an error pattern, busy, the status mode."""

    def thanks(self, score: int) -> None: ...

    def error(self) -> None: ...

    def busy(self) -> None: ...

    def set_status(self, mode: str) -> None: ...


class NoFeedback:
    """A terminal without LEDs or buzzer (tests, a headless run)."""

    def thanks(self, score: int) -> None: ...

    def error(self) -> None: ...

    def busy(self) -> None: ...

    def set_status(self, mode: str) -> None: ...
