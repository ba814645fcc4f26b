"""Voice calls, offline: a two-tone chime written by our own code, then espeak-ng saying
"Mời công dân có số 1023 đến quầy số 5" (and, if configured, "Ticket 1023, please go to desk 5"),
``repeat`` times. Voice off, or espeak-ng missing: the chime alone.

Clips are rendered to WAV files in ``cache_dir`` (kept, so a recall costs nothing) and played
with an injected player command (``aplay -q`` by default) in a worker thread: the UI thread never
waits for a sound.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from .config import VoiceConfig
from .errors import VoiceError
from .model import CallView

log = logging.getLogger(__name__)

RATE = 22050  # espeak-ng's own rate: no resampling in the common case
CACHE_KEEP = 200  # rendered clips kept on disk (oldest pruned)
_DIGITS_VI = "không một hai ba bốn năm sáu bảy tám chín".split()


def chime(rate: int = RATE, volume: float = 0.8) -> np.ndarray:
    """A ding-dong (E5 then C5, bell-like decay), mono float in [-1, 1]."""
    def bell(freq: float, dur: float) -> np.ndarray:
        t = np.arange(int(rate * dur)) / rate
        tone = (np.sin(2 * np.pi * freq * t) + 0.35 * np.sin(2 * np.pi * 2 * freq * t)
                + 0.12 * np.sin(2 * np.pi * 3 * freq * t))
        env = np.exp(-t * 3.2) * np.minimum(1.0, t / 0.006)
        return tone * env

    ding, dong = bell(659.25, 0.75), bell(523.25, 1.1)
    out = np.zeros(int(rate * 0.55) + len(dong))
    out[:len(ding)] += ding
    out[int(rate * 0.55):] += dong
    return volume * out / np.max(np.abs(out))


def spoken_number(ticket: str, style: str) -> str:
    """'digits' spells each digit in Vietnamese (một không hai ba); 'number' leaves it to espeak-ng."""
    if style != "digits":
        return ticket
    return " ".join(_DIGITS_VI[int(ch)] if ch.isdigit() else ch for ch in ticket)


def sentences(call: CallView, cfg: VoiceConfig) -> list[tuple[str, str]]:
    """(espeak voice, text) said once per repeat, Vietnamese first."""
    out = [(cfg.voice_vi, f"Mời công dân có số {spoken_number(call.ticket, cfg.numbers)} "
                          f"đến quầy số {call.desk}")]
    if cfg.english:
        out.append((cfg.voice_en, f"Ticket {call.ticket}, please go to desk {call.desk}"))
    return out


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float samples in [-1, 1] and the sample rate of a 16-bit PCM WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise VoiceError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        rate, n, ch = w.getframerate(), w.getnframes(), w.getnchannels()
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64) / 32768.0
    if ch > 1:
        data = data.reshape(-1, ch).mean(axis=1)
    return data, rate


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    tmp = path.with_suffix(".part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)  # a player never sees half a file


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or len(x) == 0:
        return x
    n = int(round(len(x) * dst / src))
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x)


class Announcer:
    """Renders and plays call announcements in a worker thread.

    >>> a = Announcer(VoiceConfig(cache_dir="/tmp/clips", player=[]))
    >>> a.render(call)            # Path of the WAV: chime + sentence x repeat
    >>> a.start(); a.announce(call)  # rendered and played in the background
    """

    def __init__(self, cfg: VoiceConfig, *, runner: Callable[..., subprocess.CompletedProcess] = subprocess.run):
        self.cfg = cfg
        self.run = runner
        self.cache = Path(cfg.cache_dir)
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fallback = Path(tempfile.gettempdir()) / "motcua-display-clips"
            log.warning("cache_dir %s is not writable (%s); using %s", self.cache, exc, fallback)
            self.cache = fallback
        self.espeak = shutil.which(cfg.espeak) if cfg.enabled else None
        if cfg.enabled and self.espeak is None:
            log.warning("espeak-ng (%r) is not installed: calls get the chime only "
                        "(Không có espeak-ng: chỉ phát chuông). Fix: sudo apt-get install espeak-ng", cfg.espeak)
        self.player: list[str] | None = None
        if cfg.player:
            if shutil.which(cfg.player[0]):
                self.player = list(cfg.player)
            else:
                log.warning("player %r not found: calls are shown but not heard "
                            "(install alsa-utils for aplay)", cfg.player[0])
        self.rendered: list[Path] = []
        self.played = 0
        self.on_rendered: list[Callable[[CallView, Path], None]] = []
        self._q: queue.Queue[CallView | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    @property
    def speaks(self) -> bool:
        """True when calls are spoken, false when they get the chime only."""
        return self.espeak is not None

    # -- rendering -------------------------------------------------------------------------------

    def _speak(self, voice: str, text: str) -> np.ndarray:
        assert self.espeak is not None
        with tempfile.TemporaryDirectory(prefix="motcua-voice-") as tmp:
            out = Path(tmp) / "say.wav"
            cmd = [self.espeak, "-v", voice, "-s", str(self.cfg.speed_wpm), "-w", str(out), text]
            try:
                res = self.run(cmd, capture_output=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise VoiceError(f"espeak-ng failed for {text!r}: {exc}") from exc
            if res.returncode != 0 or not out.exists():
                err = (res.stderr or b"").decode("utf-8", "replace").strip()
                raise VoiceError(f"espeak-ng -v {voice} exited {res.returncode}: {err or 'no output file'}")
            samples, rate = read_wav(out)
        return _resample(samples, rate, RATE)

    def _key(self, parts: list[tuple[str, str]]) -> str:
        c = self.cfg
        raw = repr((parts, c.speed_wpm, c.repeat, c.gap_s, c.volume, RATE, self.speaks))
        return hashlib.sha1(raw.encode()).hexdigest()[:12]

    def render_chime(self) -> Path:
        """The plain chime (voice off), cached."""
        path = self.cache / f"chime-{self._key([])}.wav"
        if not path.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            write_wav(path, chime(volume=self.cfg.volume))
        return path

    def render(self, call: CallView) -> Path:
        """The WAV for one call: chime, then the sentences ``repeat`` times; cached by content."""
        if not self.speaks:
            return self.render_chime()
        parts = sentences(call, self.cfg)
        safe = "".join(ch for ch in call.ticket if ch.isalnum())[:12]
        path = self.cache / f"call-{safe}-{call.desk}-{self._key(parts)}.wav"
        if path.exists():
            return path
        gap = np.zeros(int(RATE * self.cfg.gap_s))
        spoken = [self._speak(voice, text) for voice, text in parts]
        pieces = [chime(volume=self.cfg.volume), gap]
        for _ in range(self.cfg.repeat):
            for s in spoken:
                peak = float(np.max(np.abs(s))) if len(s) else 0.0
                pieces += [s * (self.cfg.volume / peak if peak > 0 else 1.0), gap]
        self.cache.mkdir(parents=True, exist_ok=True)
        write_wav(path, np.concatenate(pieces))
        self._prune()
        return path

    def _prune(self) -> None:
        clips = sorted(self.cache.glob("call-*.wav"), key=lambda p: p.stat().st_mtime)
        for old in clips[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)

    # -- playing ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="display-voice", daemon=True)
            self._thread.start()

    def announce(self, call: CallView) -> None:
        """Queue a call: rendered and played in the worker thread, in order. Never blocks."""
        self.start()
        self._q.put(call)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued call was rendered and played (tests, bench)."""
        done = threading.Event()

        def wait() -> None:
            self._q.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _work(self) -> None:
        while True:
            call = self._q.get()
            try:
                if call is None:
                    return
                self._one(call)
            except Exception:  # noqa: BLE001 - a bad clip must not stop later calls
                log.exception("announcing %s failed", call)
            finally:
                self._q.task_done()

    def _one(self, call: CallView) -> None:
        try:
            path = self.render(call)
        except VoiceError as exc:
            log.warning("voice for ticket %s failed, playing the chime: %s", call.ticket, exc)
            path = self.render_chime()
        self.rendered.append(path)
        for cb in list(self.on_rendered):
            cb(call, path)
        if self.player:
            res = self.run([*self.player, str(path)], capture_output=True, timeout=120)
            if res.returncode != 0:
                log.warning("player %s exited %d: %s", self.player[0], res.returncode,
                            (res.stderr or b"").decode("utf-8", "replace").strip())
            else:
                self.played += 1
