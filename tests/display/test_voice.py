"""Voice files: chime + Vietnamese sentence x repeat, longer than a second and not silence."""
from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from kiosk.display.config import VoiceConfig
from kiosk.display.model import CallView
from kiosk.display.voice import RATE, Announcer, chime, sentences

CALL = CallView("1023", 5, "HT", "Hộ tịch", "Civil status", datetime.fromisoformat("2026-11-23T09:15:00+07:00"))
SILENCE_RMS = 0.01  # -40 dBFS
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (sudo apt-get install espeak-ng)")


def stats(path: Path) -> tuple[float, float, np.ndarray]:
    """(duration s, RMS in [0, 1], samples) read with the wave module."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
        return len(x) / w.getframerate(), float(np.sqrt(np.mean(x ** 2))), x


def voice(tmp_path: Path, **kw) -> VoiceConfig:
    kw.setdefault("player", [])
    return VoiceConfig(cache_dir=str(tmp_path / "clips"), **kw)


def test_sentence_is_vietnamese_first() -> None:
    cfg = VoiceConfig(english=True)
    assert sentences(CALL, cfg) == [("vi", "Mời công dân có số một nghìn không trăm hai mươi ba đến quầy số năm"),
                                    ("en", "Ticket 1023, please go to desk 5")]
    assert sentences(CALL, VoiceConfig(numbers="digits"))[0][1] == \
        "Mời công dân có số một không hai ba đến quầy số năm"
    x26 = CALL._replace(ticket="X26", desk=15)
    assert sentences(x26, VoiceConfig(dialect="south"))[0][1] == "Mời công dân có số ích xì hai sáu đến quầy số mười lăm"


def tone(freq: float, seconds: float = 0.2) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return 0.5 * np.sin(2 * np.pi * freq * t)


def test_recorded_words_are_joined_instead_of_espeak(tmp_path: Path) -> None:
    """A folder of WAV words per voice; a phrase file wins over its words; no espeak-ng needed."""
    from kiosk.display.voice import write_wav

    folder = tmp_path / "words" / "vi"
    folder.mkdir(parents=True)
    words = "mời_công_dân_có_số một nghìn không trăm hai mươi ba đến quầy số năm".split()
    for i, w in enumerate(words):
        write_wav(folder / f"{w}.wav", tone(300 + 40 * i))
    calls: list[list[str]] = []

    def runner(cmd, **_kw):  # noqa: ANN001, ANN202 - espeak-ng must not be needed
        calls.append(cmd)
        raise AssertionError("espeak-ng called although every word is recorded")

    a = Announcer(voice(tmp_path, repeat=1, espeak="no-such-espeak", clips_dir=str(tmp_path / "words")),
                  runner=runner)
    assert a.speaks
    dur, rms, _x = stats(a.render(CALL))
    assert calls == [] and rms > SILENCE_RMS
    n = len(words)  # one phrase file + 12 words, each 0.2 s, gaps 0.06 s, after the chime and gap
    expect = len(chime()) / RATE + 0.5 + n * (0.2 + 0.06) + 0.5
    assert abs(dur - expect) < 0.05, (dur, expect)
    # a word missing (desk 7): espeak-ng is asked; without it the chime alone
    seven = CALL._replace(desk=7)
    assert a.clips["vi"].plan(sentences(seven, a.cfg)[0][1]) is None
    a._one(seven)  # what the worker does: the voice fails, the chime still plays
    assert a.rendered[-1] == a.render_chime()


@needs_espeak
def test_call_clip_is_long_and_not_silent(tmp_path: Path) -> None:
    a = Announcer(voice(tmp_path, repeat=2))
    path = a.render(CALL)
    dur, rms, x = stats(path)
    chime_len = len(chime())
    assert dur > 1.0 and rms > SILENCE_RMS, (dur, rms)
    speech = x[chime_len:]
    assert len(speech) / RATE > 2.0  # the sentence, twice, after the chime
    assert float(np.sqrt(np.mean(speech ** 2))) > SILENCE_RMS
    # repeat 1 is shorter by about one sentence; English adds a sentence per repeat
    once, _, _ = stats(Announcer(voice(tmp_path, repeat=1)).render(CALL))
    both, _, _ = stats(Announcer(voice(tmp_path, repeat=1, english=True)).render(CALL))
    assert 1.0 < once < dur and both > once + 1.0


@needs_espeak
def test_clips_are_cached_and_distinct_per_call(tmp_path: Path) -> None:
    a = Announcer(voice(tmp_path))
    p1 = a.render(CALL)
    mtime = p1.stat().st_mtime_ns
    assert a.render(CALL) == p1 and p1.stat().st_mtime_ns == mtime
    p2 = a.render(CALL._replace(ticket="1024"))
    assert p2 != p1 and p2.exists()


def test_voice_off_is_a_plain_chime(tmp_path: Path) -> None:
    a = Announcer(voice(tmp_path, enabled=False))
    assert not a.speaks
    dur, rms, _ = stats(a.render(CALL))
    assert 1.0 < dur < 2.5 and rms > SILENCE_RMS


def test_missing_espeak_falls_back_to_chime(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = Announcer(voice(tmp_path, espeak="no-such-espeak-ng"))
    assert not a.speaks and "espeak-ng" in caplog.text
    dur, _, _ = stats(a.render(CALL))
    assert dur < 2.5


@needs_espeak
def test_worker_renders_and_plays_with_the_injected_player(tmp_path: Path) -> None:
    # the "player" is a real program that copies the WAV it is given, so we can check what it got
    got = tmp_path / "played.wav"
    player = [sys.executable, "-c", f"import shutil,sys; shutil.copy(sys.argv[1], {str(got)!r})"]
    a = Announcer(voice(tmp_path, player=player))
    seen: list[str] = []
    a.on_rendered.append(lambda call, path: seen.append(call.ticket))
    a.announce(CALL)
    assert a.wait_idle(20)
    a.close()
    assert seen == ["1023"] and a.played == 1
    dur, rms, _ = stats(got)
    assert dur > 1.0 and rms > SILENCE_RMS


def test_espeak_failure_plays_the_chime(tmp_path: Path) -> None:
    def broken(cmd, **kw):  # the espeak-ng step fails as a real failing program would
        return subprocess.run([sys.executable, "-c", "import sys; sys.exit('no voice vi')"], **kw)

    a = Announcer(voice(tmp_path, espeak=sys.executable), runner=broken)
    a.announce(CALL)
    assert a.wait_idle(20)
    a.close()
    assert len(a.rendered) == 1 and a.rendered[0].name.startswith("chime-")


def test_unwritable_cache_dir_falls_back_to_temp(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    a = Announcer(VoiceConfig(cache_dir=str(blocker / "clips"), player=[], enabled=False))
    assert a.render(CALL).exists() and not str(a.cache).startswith(str(blocker))
