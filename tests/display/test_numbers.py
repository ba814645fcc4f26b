"""The Vietnamese number reader, as a table (the hard ones included)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from kiosk.display.numbers import read_digits, read_label, read_number

TABLE = [
    (0, "không"), (1, "một"), (4, "bốn"), (5, "năm"), (9, "chín"),
    (10, "mười"), (11, "mười một"), (14, "mười bốn"), (15, "mười lăm"), (19, "mười chín"),
    (20, "hai mươi"), (21, "hai mươi mốt"), (24, "hai mươi tư"), (25, "hai mươi lăm"), (31, "ba mươi mốt"),
    (55, "năm mươi lăm"), (90, "chín mươi"), (99, "chín mươi chín"),
    (100, "một trăm"), (101, "một trăm linh một"), (104, "một trăm linh bốn"), (105, "một trăm linh năm"),
    (110, "một trăm mười"), (111, "một trăm mười một"), (115, "một trăm mười lăm"), (121, "một trăm hai mươi mốt"),
    (205, "hai trăm linh năm"), (250, "hai trăm năm mươi"), (255, "hai trăm năm mươi lăm"),
    (1000, "một nghìn"), (1001, "một nghìn không trăm linh một"), (1005, "một nghìn không trăm linh năm"),
    (1010, "một nghìn không trăm mười"), (1015, "một nghìn không trăm mười lăm"),
    (1023, "một nghìn không trăm hai mươi ba"), (1100, "một nghìn một trăm"),
    (1105, "một nghìn một trăm linh năm"), (1999, "một nghìn chín trăm chín mươi chín"),
    (2025, "hai nghìn không trăm hai mươi lăm"), (2041, "hai nghìn không trăm bốn mươi mốt"),
    (10000, "mười nghìn"), (15015, "mười lăm nghìn không trăm mười lăm"),
    (21000, "hai mươi mốt nghìn"), (105000, "một trăm linh năm nghìn"),
    (1000001, "một triệu không trăm linh một"), (1005000, "một triệu không trăm linh năm nghìn"),
]


@pytest.mark.parametrize("n,words", TABLE)
def test_number_words(n: int, words: str) -> None:
    assert " ".join(read_number(n)) == words


def test_south_and_no_tu() -> None:
    assert " ".join(read_number(105, "south")) == "một trăm lẻ năm"
    assert " ".join(read_number(2001, "south")) == "hai ngàn không trăm lẻ một"
    assert " ".join(read_number(24, tu=False)) == "hai mươi bốn"


@pytest.mark.parametrize("label,words", [
    ("X26", "ích xì hai sáu"), ("A023", "a không hai ba"), ("026", "không hai sáu"),
    ("HT15", "hát tê một năm"), ("B5", "bê năm"),
])
def test_prefixed_labels_are_read_letter_by_letter(label: str, words: str) -> None:
    assert " ".join(read_label(label)) == words
    assert " ".join(read_digits(label)) == words


def test_site_chooses_digits_or_words() -> None:
    assert " ".join(read_label("1015", "number")) == "một nghìn không trăm mười lăm"
    assert " ".join(read_label("1015", "digits")) == "một không một năm"


def test_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        read_number(-1)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.parametrize("label,must", [("15", "l'a7m"), ("1015", "l'a7m"), ("X26", "s'i2")])
def test_espeak_says_our_words_as_people_do(label: str, must: str) -> None:
    """espeak-ng's own phonemes: from the words it says "lăm" (and "ích xì"), from digits it does not."""
    def phonemes(text: str) -> str:
        return subprocess.run(["espeak-ng", "-v", "vi", "-q", "-x", text], capture_output=True, text=True,
                              timeout=30).stdout

    assert must in phonemes(" ".join(read_label(label)))
    assert must not in phonemes(label)  # the upstream misreading this reader exists for
