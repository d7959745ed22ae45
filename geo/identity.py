"""Resident identity numbers (居民身份证号码, GB 11643-1999): check, mask, keyed hash.

The clear number is never stored: ``mask`` gives the display form and ``keyed_hash``
an HMAC-SHA256 for de-duplication, so a stolen database does not reveal numbers and a
hash cannot be recomputed without the key.

>>> is_valid("11010519491231002X")
True
>>> mask("11010519491231002X")
'110105********002X'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2: index is the weighted sum mod 11


def check_digit(first17: str) -> str:
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need the first 17 digits")
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def birth_date_of(idno: str) -> dt.date:
    return dt.date(int(idno[6:10]), int(idno[10:12]), int(idno[12:14]))


def sex_of(idno: str) -> str:
    return "male" if int(idno[16]) % 2 else "female"


def problem(idno: str) -> str | None:
    """What is wrong with ``idno``, or None when it is a valid 18-character number."""
    idno = idno.strip().upper()
    if len(idno) != 18:
        return f"has {len(idno)} characters, not 18"
    if not idno.isascii() or not idno[:17].isdigit() or \
            not (idno[17].isdigit() or idno[17] == "X"):
        return "must be 17 digits and a digit or X"
    try:
        birth_date_of(idno)
    except ValueError:
        return f"birth date {idno[6:14]} does not exist"
    if check_digit(idno[:17]) != idno[17]:
        return "wrong check digit"
    return None


def is_valid(idno: str) -> bool:
    return problem(idno) is None


def mask(idno: str) -> str:
    """Keep the area code and the last four characters."""
    idno = idno.strip().upper()
    return idno[:6] + "*" * (len(idno) - 10) + idno[-4:]


def keyed_hash(idno: str, key: str) -> str:
    return hmac.new(key.encode(), idno.strip().upper().encode(), hashlib.sha256).hexdigest()


def make_id(area_code: str, birth_date: dt.date, seq: int, sex: str) -> str:
    """A well-formed number (for synthetic data): ``seq`` 0-499 picks the order code."""
    order = seq * 2 + (1 if sex == "male" else 0)
    first17 = f"{area_code}{birth_date:%Y%m%d}{order % 1000:03d}"
    return first17 + check_digit(first17)
