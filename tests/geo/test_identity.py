"""Identity numbers: GB 11643 check digit, masking and keyed hashing."""

import datetime as dt

import pytest

from geo import identity


def test_published_sample_is_valid():
    # The GB 11643-1999 sample number; its check character is X.
    assert identity.check_digit("11010519491231002") == "X"
    assert identity.is_valid("11010519491231002X")
    assert identity.is_valid("11010519491231002x")


def test_check_digit_by_hand():
    # 5 1 0 4 1 1 2 0 1 5 0 6 1 5 0 3 1 weighted by 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    digits = "51041120150615031"
    total = sum(int(d) * w for d, w in zip(digits, identity.WEIGHTS, strict=True))
    assert total == 204 and total % 11 == 6
    assert identity.check_digit(digits) == "6"  # "10X98765432"[6]


@pytest.mark.parametrize("bad, reason", [
    ("11010519491231002", "has 17 characters"),
    ("110105194912310021", "wrong check digit"),
    ("110105194902300025", "birth date 19490230 does not exist"),
    ("1101051949123100AX", "must be 17 digits"),
])
def test_problems_are_named(bad, reason):
    assert reason in identity.problem(bad)
    assert not identity.is_valid(bad)


def test_make_id_round_trip():
    born = dt.date(2015, 6, 15)
    idno = identity.make_id("510411", born, 17, "female")
    assert identity.is_valid(idno)
    assert identity.birth_date_of(idno) == born
    assert identity.sex_of(idno) == "female"
    assert identity.sex_of(identity.make_id("510411", born, 17, "male")) == "male"


def test_mask_and_hash():
    assert identity.mask("11010519491231002X") == "110105********002X"
    a = identity.keyed_hash("11010519491231002X", "k1")
    assert a == identity.keyed_hash("11010519491231002x ", "k1")
    assert a != identity.keyed_hash("11010519491231002X", "k2")
    assert len(a) == 64 and "1101051949" not in a
