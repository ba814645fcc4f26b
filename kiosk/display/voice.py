"""Voice calls, offline: a two-tone chime written by our own code, then the call
"Mời công dân có số một nghìn không trăm hai mươi ba đến quầy số năm" (numbers as words, by
:mod:`kiosk.display.numbers`, so espeak-ng never guesses at digits) and, if configured,
"Ticket 1023, please go to desk 5", ``repeat`` times. Recorded words (``clips_dir``) are joined
instead of espeak-ng when every word of a sentence is recorded. Voice off, or neither espeak-ng
nor recordings: the chime alone.

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
import unicodedata
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from .config import VoiceConfig
from .errors import VoiceError
from .model import CallView
from .numbers import read_label, read_number

log = logging.getLogger(__name__)

RATE = 22050  # espeak-ng's own rate: no resampling in the common case
CACHE_KEEP = 200  # rendered clips kept on disk (oldest pruned)
CLIP_GAP_S = 0.06  # silence between recorded words


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


def spoken_number(ticket: str, style: str, dialect: str = "north") -> str:
    """The ticket label as Vietnamese words (a number, or digit by digit; prefixes letter by letter)."""
    return " ".join(read_label(ticket, "digits" if style == "digits" else "number",
                               "south" if dialect == "south" else "north"))


def sentences(call: CallView, cfg: VoiceConfig) -> list[tuple[str, str]]:
    """(espeak voice, text) said once per repeat, Vietnamese first, every number in words."""
    desk = " ".join(read_number(call.desk, "south" if cfg.dialect == "south" else "north"))
    out = [(cfg.voice_vi, f"Mời công dân có số {spoken_number(call.ticket, cfg.numbers, cfg.dialect)} "
                          f"đến quầy số {desk}")]
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


class Clips:
    """Recorded words of one voice: ``<dir>/<word>.wav``, or a phrase ``<dir>/<w1>_<w2>.wav``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files = {unicodedata.normalize("NFC", p.stem).lower(): p for p in folder.glob("*.wav")} \
            if folder.is_dir() else {}

    def plan(self, text: str) -> list[Path] | None:
        """The recordings that say ``text`` (longest phrases first), or None if a word is missing."""
        words = [w.strip(",.") for w in unicodedata.normalize("NFC", text).lower().split()]
        out: list[Path] = []
        i = 0
        while i < len(words):
            for j in range(min(len(words), i + 6), i, -1):
                hit = self.files.get("_".join(words[i:j]))
                if hit is not None:
                    out.append(hit)
                    i = j
                    break
            else:
                log.info("no recording of %r in %s: using espeak-ng", words[i], self.folder)
                return None
        return out

    def say(self, text: str) -> np.ndarray | None:
        plan = self.plan(text)
        if plan is None or not self.files:
            return None
        gap = np.zeros(int(RATE * CLIP_GAP_S))
        pieces: list[np.ndarray] = []
        for path in plan:
            samples, rate = read_wav(path)
            pieces += [_resample(samples, rate, RATE), gap]
        return np.concatenate(pieces)


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
        self.clips = {v: Clips(Path(cfg.clips_dir) / v) for v in (cfg.voice_vi, cfg.voice_en)} \
            if cfg.enabled and cfg.clips_dir else {}
        if cfg.enabled and self.espeak is None and not any(c.files for c in self.clips.values()):
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
        return self.espeak is not None or any(c.files for c in self.clips.values())

    def say(self, voice: str, text: str) -> np.ndarray:
        """Recorded words when every one is there, else espeak-ng."""
        clips = self.clips.get(voice)
        got = clips.say(text) if clips is not None else None
        if got is not None:
            return got
        if self.espeak is None:
            raise VoiceError(f"no espeak-ng and no recording for every word of {text!r}")
        return self._speak(voice, text)

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
        clips = sorted((v, len(x.files)) for v, x in self.clips.items())
        raw = repr((parts, c.speed_wpm, c.repeat, c.gap_s, c.volume, RATE, self.speaks, clips))
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
        spoken = [self.say(voice, text) for voice, text in parts]
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
