"""Login internals: unknown names cost one Argon2 verification like known ones (no
timing is measured: the hasher counts its calls), addresses and the back-off."""

import datetime as dt

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from geo.office import logins, users
from geo.office.users import authenticate, check_password, create_user


class CountingHasher(PasswordHasher):
    """The real hasher, with the same parameters, counting what it is asked to do."""

    def __init__(self, like: PasswordHasher):
        super().__init__(time_cost=like.time_cost, memory_cost=like.memory_cost,
                         parallelism=like.parallelism, hash_len=like.hash_len,
                         salt_len=like.salt_len, type=like.type)
        self.calls = {"verify": 0, "hash": 0}

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        self.calls["verify"] += 1
        return super().verify(hash, password)

    def hash(self, password, *, salt=None):
        self.calls["hash"] += 1
        return super().hash(password, salt=salt)


@pytest.fixture
def counting(monkeypatch):
    users._dummy_hash()  # made once per process, before counting
    hasher = CountingHasher(users.HASHER)
    monkeypatch.setattr(users, "HASHER", hasher)
    return hasher


@pytest.fixture
def someone(conn):
    return create_user(conn, "t_timing", "planner", "510411", "the right passphrase")


def test_unknown_user_costs_one_verification_like_a_known_one(conn, someone, counting):
    cases = [("t_timing", "the right passphrase", True), ("t_timing", "wrong one", False),
             ("t_nobody_here", "the right passphrase", False), ("", "x", False)]
    for name, password, ok in cases:
        counting.calls.update(verify=0, hash=0)
        assert (authenticate(conn, name, password) is not None) is ok
        assert counting.calls == {"verify": 1, "hash": 0}, (name, counting.calls)


def test_dummy_hash_has_the_hashers_parameters():
    assert users._dummy_hash().startswith("$argon2id$")
    assert not users.HASHER.check_needs_rehash(users._dummy_hash())


def test_inactive_account_is_refused_after_one_verification(conn, someone, counting):
    conn.execute(sa.text("UPDATE app_user SET active = false WHERE id = :i"), {"i": someone.id})
    assert check_password(conn, "t_timing", "the right passphrase") == (someone.id, False)
    assert counting.calls == {"verify": 1, "hash": 0}


@pytest.mark.parametrize("ip,bucket", [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("not an address", "unknown"),
    (None, "unknown"),
])
def test_address_bucket(ip, bucket):
    assert logins.address_bucket(ip) == bucket


def test_keys_hide_the_name_and_depend_on_the_secret():
    a = logins.throttle_key("s1", "account", "zhang")
    assert "zhang" not in a and len(a) == 64
    assert a != logins.throttle_key("s2", "account", "zhang")
    assert a != logins.throttle_key("s1", "address", "zhang")


RULE = logins.Rule(failures=3, window_s=900, lock_s=60, max_lock_s=200)


def _shift(conn, key, seconds):
    """Move the counter's times `seconds` into the past (now() is fixed in a test)."""
    conn.execute(sa.text(
        "UPDATE login_throttle SET window_start = window_start - make_interval(secs => :s), "
        "last_at = last_at - make_interval(secs => :s), "
        "locked_until = locked_until - make_interval(secs => :s) WHERE key = :k"),
        {"s": seconds, "k": key})


def test_lock_then_exponential_back_off_capped(conn):
    key = "k" * 64
    assert logins.reserve(conn, key, RULE) == (None, False)
    assert logins.reserve(conn, key, RULE) == (None, False)
    assert logins.reserve(conn, key, RULE) == (None, True)     # third failure locks
    assert logins.reserve(conn, key, RULE) == (60, False)      # nothing counted
    locks = []
    for _ in range(3):
        _shift(conn, key, logins.locked_for(conn, key))
        assert logins.locked_for(conn, key) is None
        assert logins.reserve(conn, key, RULE) == (None, True)
        locks.append(logins.locked_for(conn, key))
    assert locks == [120, 200, 200]


def test_window_forgets_old_failures(conn):
    key = "w" * 64
    logins.reserve(conn, key, RULE)
    logins.reserve(conn, key, RULE)
    _shift(conn, key, 901)
    # A new window: two more failures do not lock.
    assert logins.reserve(conn, key, RULE) == (None, False)
    assert logins.reserve(conn, key, RULE) == (None, False)
    assert logins.reserve(conn, key, RULE) == (None, True)
    # After a lock, a quiet window after its end forgets the back-off as well.
    _shift(conn, key, 60 + 901)
    assert logins.reserve(conn, key, RULE) == (None, False)


def test_release_takes_back_an_attempt_and_its_lock(conn):
    key = "r" * 64
    logins.reserve(conn, key, RULE)
    logins.reserve(conn, key, RULE)
    _, locked = logins.reserve(conn, key, RULE)
    assert locked
    logins.release(conn, key, locked)
    assert logins.locked_for(conn, key) is None
    assert conn.execute(sa.text("SELECT failures FROM login_throttle WHERE key = :k"),
                        {"k": key}).scalar() == 2


def test_issue_and_revoke_kinds(conn, someone):
    session_id = users.issue_token(conn, someone, kind="session")["token"]
    bearer = users.issue_token(conn, someone)["token"]
    assert users.user_for_token(conn, session_id) is None
    assert users.user_for_token(conn, session_id, kind="session") == someone
    assert not users.revoke_token(conn, session_id)          # not a bearer token
    assert users.revoke_token(conn, session_id, kind="session")
    assert users.user_for_token(conn, session_id, kind="session") is None
    assert users.user_for_token(conn, bearer) == someone
    expired = users.issue_token(conn, someone, hours=-1)["token"]
    assert users.user_for_token(conn, expired) is None
    assert dt.datetime.fromisoformat(users.issue_token(conn, someone)["expires_at"])


def test_prune_forgets_only_stale_counters(conn):
    logins.reserve(conn, "old" + "o" * 61, RULE)
    logins.reserve(conn, "new" + "n" * 61, RULE)
    _shift(conn, "old" + "o" * 61, 7200)
    logins._prune(conn, 3600)
    left = conn.execute(sa.text("SELECT key FROM login_throttle WHERE key IN (:a, :b)"),
                        {"a": "old" + "o" * 61, "b": "new" + "n" * 61}).scalars().all()
    assert left == ["new" + "n" * 61]
