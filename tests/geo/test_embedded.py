"""The embedded cluster: private socket, no TCP, runs as a non-root user."""

import os
import stat

import pytest
import sqlalchemy as sa

from geo.store.db import embedded_cluster


@pytest.fixture
def cluster(cfg, engine):
    if cfg.get("database_url"):
        pytest.fail("these tests need the embedded cluster: unset DATABASE_URL")
    return embedded_cluster(cfg)


def test_running_and_start_is_idempotent(cluster):
    assert cluster.is_running()
    assert cluster.start() is False  # already running: nothing started twice
    status = cluster.status()
    assert status["running"] and status["initialised"]


def test_listens_on_private_socket_only(cluster, engine):
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW listen_addresses")).scalar_one() == ""
        sockets = conn.execute(sa.text("SHOW unix_socket_directories")).scalar_one()
    assert sockets == str(cluster.sockets)
    mode = stat.S_IMODE(os.stat(cluster.sockets).st_mode)
    assert mode == 0o700


def test_server_never_runs_as_root(cluster):
    owner = os.stat(cluster.data).st_uid
    assert owner != 0
    if os.geteuid() == 0:
        import pwd

        assert pwd.getpwuid(owner).pw_name == "postgres"
    else:
        assert owner == os.geteuid()


def test_postgis_enabled(engine):
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT postgis_full_version()")).scalar_one()
    assert "POSTGIS=" in version and "GEOS=" in version and "PROJ=" in version


def test_wal_archiving_is_on_and_waits_for_a_backup(cluster, engine):
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW archive_mode")).scalar_one() == "on"
        command = conn.execute(sa.text("SHOW archive_command")).scalar_one()
    conf = cluster.root / "pgbackrest.conf"
    assert command.startswith(f'test ! -f "{conf}" || pgbackrest --config="{conf}"')


def test_older_clusters_get_archiving_at_their_next_start(tmp_path):
    from geo.store.embedded import EmbeddedCluster

    old = EmbeddedCluster(tmp_path / "var", port=54399)
    old.data.mkdir(parents=True)
    auto = old.data / "postgresql.auto.conf"
    auto.write_text("# old\nport = 54399\nshared_buffers = '1GB'\n", encoding="utf-8")
    old.ensure_archiving()
    old.ensure_archiving()                       # once only
    text = auto.read_text("utf-8")
    assert text.count("archive_command") == 1 and "archive_mode = on" in text
    assert "port = 54399" in text and "shared_buffers = '1GB'" in text
