"""pytest fixtures: one PostgreSQL cluster per run, a fresh database per
test, and a factory for slotd instances that are stopped (and must exit
cleanly) when the test ends."""
import itertools
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import PgCluster, Slotd  # noqa: E402

_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def db(pg):
    return pg.create_db(f"slotd_t{next(_dbs)}")


@pytest.fixture
def start_slotd(pg, db):
    started = []

    def start(**kw):
        kw.setdefault("db", db)
        s = Slotd(pg, **kw)
        started.append(s)
        return s

    yield start
    errors = []
    for s in started:
        try:
            s.destroy()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, errors


@pytest.fixture
def slotd(start_slotd):
    return start_slotd()
