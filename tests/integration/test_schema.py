"""migrations/schema.sql is the schema the migrations build: a database
migrated by the real slotd, dumped by build-aux/schema-dump.sh, matches it
line for line.  When it does not, `./dev schema` writes it anew."""
import difflib
import os
import subprocess

import pytest

from test_migrate import MIGRATIONS, MIGRATIONS_DIR, migrate, write_conf

SCHEMA = os.path.join(MIGRATIONS_DIR, "schema.sql")
SCHEMA_DUMP = os.path.join(MIGRATIONS_DIR, "..", "build-aux",
                           "schema-dump.sh")


def dump_schema(pg, db):
    """The database's schema as schema-dump.sh prints it."""
    r = subprocess.run(
        ["sh", SCHEMA_DUMP, "-h", "127.0.0.1", "-p", str(pg.port),
         "-U", "postgres", db], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PG_DUMP": os.path.join(pg.bindir, "pg_dump")})
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_schema(pg, db):
    """Fail with a unified diff when db's schema is not schema.sql."""
    got = dump_schema(pg, db)
    with open(SCHEMA) as f:
        want = f.read()
    if got != want:
        diff = "".join(difflib.unified_diff(
            want.splitlines(True), got.splitlines(True),
            "migrations/schema.sql", f"schema of {db}"))
        pytest.fail("migrations/schema.sql is not the schema the migrations "
                    "build; after changing them run ./dev schema\n" + diff,
                    pytrace=False)


def run_migrate(pg, db):
    conf = write_conf(f"[database]\nconninfo = {pg.conninfo(db)}\n")
    r = migrate(conf)
    os.unlink(conf)
    assert r.returncode == 0, r.stderr
    return r.stderr


def test_schema_file_is_what_the_migrations_build(pg, db):
    run_migrate(pg, db)
    check_schema(pg, db)


def test_schema_after_upgrading_from_the_previous_release(pg, db):
    """A database that the previous release migrated (every migration but
    the newest, each in one transaction and recorded, as slotd migrate
    does), then migrated by this slotd, gets the same schema."""
    pg.psql(db, "CREATE TABLE schema_migrations (version text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())")
    for name in MIGRATIONS[:-1]:
        with open(os.path.join(MIGRATIONS_DIR, name + ".sql")) as f:
            sql = f.read()
        # psql -c sends it as one query: one transaction, as PQexec does.
        pg.psql(db, f"{sql};\nINSERT INTO schema_migrations (version) "
                f"VALUES ('{name}')")
    log = run_migrate(pg, db)
    assert f"applied {MIGRATIONS[-1]}" in log and "1 applied now" in log, log
    check_schema(pg, db)
