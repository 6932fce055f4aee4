"""`slotd migrate` and `slotd -t`: idempotent, safe when run at once, and
errors that say what is wrong without leaking secrets."""
import os
import re
import shutil
import subprocess
import tempfile

from harness import SLOTD_BIN

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "..", "..",
                              "migrations")
# The numbered files; schema.sql beside them is generated, not applied.
MIGRATIONS = sorted(f[:-4] for f in os.listdir(MIGRATIONS_DIR)
                    if re.fullmatch(r"\d{4}_\w+\.sql", f))


def write_conf(text):
    fd, path = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def migrate(conf, binary=SLOTD_BIN):
    return subprocess.run([binary, "-c", conf, "migrate"],
                          capture_output=True, text=True, timeout=60)


def test_migrate_is_idempotent(pg, db):
    conf = write_conf(f"[database]\nconninfo = {pg.conninfo(db)}\n")
    r = migrate(conf)
    assert r.returncode == 0, r.stderr
    for name in MIGRATIONS:
        assert f"applied {name}" in r.stderr
    assert pg.psql(db, "SELECT version FROM schema_migrations "
                   "ORDER BY 1") == [[m] for m in MIGRATIONS]
    assert pg.psql(db, "SELECT count(*) FROM slots") == [["0"]]
    r = migrate(conf)
    assert r.returncode == 0, r.stderr
    assert "0 applied now" in r.stderr
    assert pg.psql(db, "SELECT count(*) FROM schema_migrations") == \
        [[str(len(MIGRATIONS))]]
    os.unlink(conf)


def test_concurrent_migrations_are_safe(pg):
    dbs = [pg.create_db(f"slotd_mig_{i}") for i in range(3)]
    for db in dbs:
        conf = write_conf(f"[database]\nconninfo = {pg.conninfo(db)}\n")
        procs = [subprocess.Popen([SLOTD_BIN, "-c", conf, "migrate"],
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        assert all(code == 0 for code, _ in results), results
        assert sum("applied 0001_init" in err for _, err in results) == 1
        assert pg.psql(db, "SELECT count(*) FROM schema_migrations") == \
            [[str(len(MIGRATIONS))]]
        os.unlink(conf)


def test_database_messages_are_log_lines(pg, db):
    """A warning the server sends while migrate connects (here: a recorded
    collation version that the C locale does not have) is a log line."""
    pg.psql(db, f"UPDATE pg_database SET datcollversion = '0' "
            f"WHERE datname = '{db}'")
    conf = write_conf(f"[database]\nconninfo = {pg.conninfo(db)}\n")
    r = migrate(conf)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^warn slotd\[\d+\]: libpq: WARNING:  database "
                     r".* has no actual collation version", r.stderr, re.M)
    assert all(re.match(r"(warn|info) slotd\[\d+\]: ", line)
               for line in r.stderr.splitlines()), r.stderr
    os.unlink(conf)


def test_migrate_from_an_installed_location(pg, db):
    """The schema is inside the binary: no source tree is needed."""
    where = tempfile.mkdtemp()
    binary = os.path.join(where, "slotd")
    shutil.copy(SLOTD_BIN, binary)
    conf = write_conf(f"[database]\nconninfo = {pg.conninfo(db)}\n")
    r = subprocess.run([binary, "-c", conf, "migrate"], capture_output=True,
                       text=True, timeout=60, cwd=where)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(where)
    os.unlink(conf)


def test_unreachable_database_fails_without_leaking_password(pg):
    conf = write_conf("[database]\nconninfo = host=127.0.0.1 "
                      f"port={pg.port + 1} user=x password=hunter2 "
                      "dbname=y connect_timeout=2\n")
    r = migrate(conf)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr
    assert "hunter2" not in r.stderr
    os.unlink(conf)


def test_config_check(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("[schedule]\ntimezone = Asia/Singapore\n")
    r = subprocess.run([SLOTD_BIN, "-c", str(good), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "valid" in r.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text("[schedule]\n\ntimezone = Asia/Nowhere\n")
    r = subprocess.run([SLOTD_BIN, "-c", str(bad), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{bad}:3: [schedule] timezone:" in r.stderr
    r = subprocess.run([SLOTD_BIN, "-c", str(tmp_path / "none.conf"), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot open" in r.stderr
    r = subprocess.run([SLOTD_BIN, "-c", str(good), "frobnicate"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_config_check_refuses_a_bad_shared_memory_name(tmp_path):
    """shm_open(3) would refuse it at start; -t says so first."""
    for name in ("/a/b", "slotd", "/"):
        conf = tmp_path / "shm.conf"
        conf.write_text(f"[server]\nworkers = 1\nshm_name = {name}\n")
        r = subprocess.run([SLOTD_BIN, "-c", str(conf), "-t"],
                           capture_output=True, text=True)
        assert r.returncode == 1, (name, r.stdout)
        assert f"{conf}:3: [server] shm_name:" in r.stderr, r.stderr
