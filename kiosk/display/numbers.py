"""Vietnamese numbers as people say them, for the hall's voice (espeak-ng misreads digits:
"năm"/"lăm", "mươi"/"mười", long digit strings), so the call is built from words.

Rules (Nguyễn Đình Hoà's grammar, the way a call centre speaks):

- units after a ten: 1 is "mốt" from twenty on (hai mươi mốt; but mười một), 4 may be "tư" from
  twenty on (hai mươi tư; but mười bốn), 5 is "lăm" after any ten (mười lăm, hai mươi lăm) and
  "năm" otherwise (một trăm linh năm);
- ten is "mười", tens from twenty "mươi" (hai mươi, ba mươi);
- a zero ten between hundreds and units is "linh" (north) or "lẻ" (south): một trăm linh một;
- inside a larger number an empty hundreds place is said: một nghìn không trăm hai mươi ba;
- thousands "nghìn" (north) or "ngàn" (south), then "triệu", "tỷ".

A label with letters (a prefix such as "X26", or a leading zero "026") is read letter by letter
and digit by digit: "ích xì hai sáu".
"""
from __future__ import annotations

from typing import Literal

Dialect = Literal["north", "south"]
DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
LETTERS = {
    "A": "a", "Ă": "á", "Â": "ớ", "B": "bê", "C": "xê", "D": "dê", "Đ": "đê", "E": "e", "Ê": "ê", "F": "ép",
    "G": "giê", "H": "hát", "I": "i", "J": "gi", "K": "ca", "L": "e lờ", "M": "em mờ", "N": "en nờ", "O": "o",
    "Ô": "ô", "Ơ": "ơ", "P": "pê", "Q": "quy", "R": "e rờ", "S": "ét xì", "T": "tê", "U": "u", "Ư": "ư",
    "V": "vê", "W": "vê kép", "X": "ích xì", "Y": "i dài", "Z": "dét",
}


def _below_hundred(n: int, tu: bool) -> list[str]:
    """1..99 (no leading zero)."""
    tens, units = divmod(n, 10)
    if tens == 0:
        return [DIGITS[units]]
    out = ["mười"] if tens == 1 else [DIGITS[tens], "mươi"]
    if units == 1 and tens >= 2:
        out.append("mốt")
    elif units == 4 and tens >= 2 and tu:
        out.append("tư")
    elif units == 5:
        out.append("lăm")
    elif units:
        out.append(DIGITS[units])
    return out


def _below_thousand(n: int, full: bool, dialect: Dialect, tu: bool) -> list[str]:
    """0..999; ``full`` when a larger group precedes (its hundreds place is then always said)."""
    hundreds, rest = divmod(n, 100)
    out: list[str] = []
    if hundreds or full:
        out += [DIGITS[hundreds], "trăm"]
    if rest == 0:
        return out
    if rest < 10 and out:
        out += ["linh" if dialect == "north" else "lẻ", DIGITS[rest]]  # một trăm linh năm
        return out
    return out + _below_hundred(rest, tu)


def read_number(n: int, dialect: Dialect = "north", tu: bool = True) -> list[str]:
    """The words for a whole number, e.g. 1023 -> một nghìn không trăm hai mươi ba."""
    if n < 0:
        raise ValueError(f"no words for a negative ticket number {n}")
    if n == 0:
        return ["không"]
    scales = ["", "nghìn" if dialect == "north" else "ngàn", "triệu", "tỷ"]
    groups: list[int] = []
    while n:
        n, g = divmod(n, 1000)
        groups.append(g)
    if len(groups) > len(scales):
        raise ValueError("number too large to read")
    out: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        out += _below_thousand(g, full=bool(out), dialect=dialect, tu=tu)
        if scales[i]:
            out.append(scales[i])
    return out


def read_digits(label: str) -> list[str]:
    """Letter by letter, digit by digit: "X26" -> ích xì hai sáu."""
    out: list[str] = []
    for ch in label.upper():
        if ch.isdigit():
            out.append(DIGITS[int(ch)])
        elif ch in LETTERS:
            out += LETTERS[ch].split()
    return out


def read_label(label: str, style: Literal["number", "digits"] = "number", dialect: Dialect = "north",
               tu: bool = True) -> list[str]:
    """A ticket label as words: a plain number as a number (``style="number"``) or digit by digit;
    a label with a prefix or a leading zero always letter by letter and digit by digit."""
    plain = label.isdigit() and (label == "0" or not label.startswith("0"))
    if style == "number" and plain:
        return read_number(int(label), dialect, tu)
    return read_digits(label)
