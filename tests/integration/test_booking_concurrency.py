"""Concurrency and failure: no oversell across instances, every 201 is a
committed row, a stuck booking never delays reads, a full pool or an
unreachable database answers 503 at once."""
import threading
import time

import pytest

from harness import (RowLock, metric, queue_behind_lock, wait_for,
                     weekday_ahead)

BOOKING = {"max_slots_per_appointment": "2"}


def race(clients):
    """Run every client function at the same moment; their results."""
    results = [None] * len(clients)
    go = threading.Barrier(len(clients))

    def run(i):
        go.wait()
        try:
            results[i] = clients[i]()
        except OSError as e:                   # a dropped connection
            results[i] = (None, {}, repr(e))

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def committed_ids(pg, db):
    return {int(r[0]) for r in pg.psql(
        db, "SELECT id FROM appointments WHERE status = 'booked'")}


@pytest.mark.parametrize("pool", ["4", "1"])
def test_no_oversell_across_two_instances(pg, db, start_slotd, pool):
    """With one connection per worker most bookings wait, and go in
    batches that race each other across the two instances."""
    extra = {"database": {"pool_size": pool}}
    a = start_slotd(schedule=dict(BOOKING, capacity="3"), extra=extra)
    b = start_slotd(schedule=dict(BOOKING, capacity="3"), extra=extra)
    sid = a.get_json(f"/slots?date={weekday_ahead(1)}")[2]["slots"][6]["id"]
    clients = [(lambda s=(a if i % 2 else b), i=i: s.post(
        "/appointments", {"slotId": sid, "name": f"parent {i}"}))
        for i in range(200)]
    results = race(clients)
    statuses = sorted(r[0] for r in results)
    assert statuses.count(201) == 3, statuses
    assert statuses.count(409) == 197, statuses
    assert all(r[2]["code"] == "slot-full" for r in results if r[0] == 409)
    # Every 201 is a committed row, and every committed row had a 201.
    assert {r[2]["id"] for r in results if r[0] == 201} == \
        committed_ids(pg, db)
    assert pg.psql(db, f"SELECT booked FROM slots WHERE id = {sid}") == \
        [["3"]]
    wait_for(lambda: a.slot(sid)["booked"] == b.slot(sid)["booked"] == 3,
             timeout=2)


def test_overlapping_runs_never_oversell(pg, db, start_slotd):
    a = start_slotd(schedule=dict(BOOKING, capacity="1"))
    b = start_slotd(schedule=dict(BOOKING, capacity="1"))
    slots = a.get_json(f"/slots?date={weekday_ahead(2)}")[2]["slots"]
    x, y, z = slots[0]["id"], slots[1]["id"], slots[2]["id"]
    # Runs x+y and y+z share y; single bookings of x and z compete too.
    bodies = [{"slotId": x, "slots": 2}, {"slotId": y, "slots": 2},
              {"slotId": x}, {"slotId": z}]
    clients = [(lambda s=(a if i % 2 else b), body=bodies[i % 4]:
                s.post("/appointments", body)) for i in range(160)]
    results = race(clients)
    ok = [r[2] for r in results if r[0] == 201]
    assert all(r[0] in (201, 409) for r in results), \
        [r for r in results if r[0] not in (201, 409)]
    taken = [sid for doc in ok for sid in doc["slotIds"]]
    assert len(taken) == len(set(taken)), ok      # no seat sold twice
    assert set(taken) <= {x, y, z} and len(ok) >= 1
    rows = dict((int(i), int(n)) for i, n in pg.psql(
        db, f"SELECT id, booked FROM slots WHERE id IN ({x},{y},{z})"))
    assert rows == {sid: taken.count(sid) for sid in (x, y, z)}
    assert {d["id"] for d in ok} == committed_ids(pg, db)
    for s in (a, b):
        wait_for(lambda s=s: {sid: s.slot(sid)["booked"]
                              for sid in (x, y, z)} == rows, timeout=2)


def test_cancel_is_seen_by_every_instance(pg, db, start_slotd):
    a = start_slotd(schedule=BOOKING)
    b = start_slotd(schedule=BOOKING)
    sid = a.get_json(f"/slots?date={weekday_ahead(3)}")[2]["slots"][1]["id"]
    _, _, appt = a.post("/appointments", {"slotId": sid})
    wait_for(lambda: b.slot(sid)["booked"] == 1, timeout=2, interval=0.001)
    t0 = time.monotonic()
    assert b.delete(f"/appointments/{appt['id']}")[0] == 204
    assert b.slot(sid)["booked"] == 0
    wait_for(lambda: a.slot(sid)["booked"] == 0, timeout=2, interval=0.001)
    print(f"cancel seen by the other instance after "
          f"{(time.monotonic() - t0) * 1000:.1f} ms")


def test_stuck_booking_does_not_delay_reads(pg, db, start_slotd):
    s = start_slotd(schedule=BOOKING, workers=1)
    day = weekday_ahead(4)
    sid = s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    lock = RowLock(pg, db, sid)
    try:
        result = []
        t = threading.Thread(target=lambda: result.append(
            s.post("/appointments", {"slotId": sid})))
        t.start()
        wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                                 "WHERE wait_event_type = 'Lock'") == [["1"]],
                 what="the booking to wait on the lock")
        # The only worker still answers reads at once.
        for _ in range(20):
            t0 = time.monotonic()
            status, _, _ = s.get(f"/slots?date={day}")
            assert status == 200
            assert time.monotonic() - t0 < 0.5
        assert s.get("/healthz")[0] == 200
        assert not result
    finally:
        lock.release()
    t.join(timeout=10)
    assert result and result[0][0] == 201


def test_full_queue_answers_503_at_once(pg, db, start_slotd):
    s = start_slotd(schedule=BOOKING, workers=1,
                    extra={"database": {"pool_size": "1",
                                        "queue_size": "2"}})
    slots = s.get_json(f"/slots?date={weekday_ahead(1, 8)}")[2]["slots"]
    lock = RowLock(pg, db, slots[0]["id"])
    result = []
    try:
        # One booking holds the only connection...
        t = threading.Thread(target=lambda: result.append(
            s.post("/appointments", {"slotId": slots[0]["id"]})))
        t.start()
        wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                                 "WHERE wait_event_type = 'Lock'") == [["1"]])
        # ...the next ones wait in the queue until it is full...
        refused = None
        for _ in range(10):
            try:
                r = s.post("/appointments", {"slotId": slots[1]["id"]},
                           timeout=0.3)
            except OSError:
                continue               # queued: its client gave up
            refused = r
            break
        assert refused is not None and refused[0] == 503
        # ...and from then on writes are refused at once; reads go on.
        t0 = time.monotonic()
        status, hdrs, doc = s.post("/appointments",
                                   {"slotId": slots[2]["id"]})
        assert status == 503 and doc["code"] == "unavailable"
        assert hdrs["retry-after"] == "1"
        assert time.monotonic() - t0 < 0.5
        assert s.get(f"/slots/{slots[2]['id']}")[0] == 200
    finally:
        lock.release()
    t.join(timeout=10)
    assert result and result[0][0] == 201
    # The two queued bookings ran once the lock went; their clients had
    # gone, which is the one case a committed row gets no 201.
    wait_for(lambda: s.slot(slots[1]["id"])["booked"] == 2, timeout=5)
    assert pg.psql(db, f"SELECT booked FROM slots WHERE id = "
                   f"{slots[2]['id']}") == [["0"]]


def test_database_down_writes_503_reads_served(pg, db, start_slotd):
    s = start_slotd(schedule=BOOKING)
    day = weekday_ahead(2, 8)
    sid = s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    assert s.post("/appointments", {"slotId": sid})[0] == 201
    pg.stop()
    try:
        wait_for(lambda: s.get("/readyz")[0] == 503, timeout=10)
        for _ in range(10):
            t0 = time.monotonic()
            status, hdrs, doc = s.post("/appointments", {"slotId": sid})
            assert status == 503 and doc["code"] == "unavailable", doc
            assert hdrs["retry-after"] == "1"
            assert time.monotonic() - t0 < 1.0
            assert s.get(f"/slots?date={day}")[0] == 200
    finally:
        pg.start()
    wait_for(lambda: s.post("/appointments", {"slotId": sid})[0] == 201,
             timeout=20, interval=0.2, what="bookings after recovery")
    wait_for(lambda: s.slot(sid)["booked"] == 2, timeout=5)


def test_waiting_bookings_share_one_statement(pg, db, start_slotd):
    """Bookings that wait for a connection run as one batch, each with its
    own answer: seats go to as many as fit, the rest are slot-full, and
    every 201 is the committed appointment of that very request."""
    s = start_slotd(schedule=dict(BOOKING, capacity="3"), workers=1,
                    extra={"database": {"pool_size": "1"}})
    slots = s.get_json(f"/slots?date={weekday_ahead(2)}")[2]["slots"]
    stuck_sid, full_sid = slots[0]["id"], slots[1]["id"]
    bookings = [{"slotId": full_sid, "name": f"crowd {i}"} for i in range(5)]
    bookings += [{"slotId": slots[2 + i]["id"], "name": f"single \"{i}\"\\",
                  "email": f"p{i}@example.com", "note": None if i else "n"}
                 for i in range(6)]
    batches = metric(s, "slotd_db_batches_total")
    batched = metric(s, "slotd_db_batched_total")
    stuck, results = queue_behind_lock(pg, db, s, stuck_sid, bookings)
    assert stuck[0] == 201, stuck
    assert metric(s, "slotd_db_batches_total") == batches + 1
    assert metric(s, "slotd_db_batched_total") == batched + len(bookings)
    crowd = [r[0] for r in results[:5]]
    assert sorted(crowd) == [201, 201, 201, 409, 409], results[:5]
    assert all(r[2]["code"] == "slot-full" for r in results[:5]
               if r[0] == 409)
    for body, (status, _, doc) in zip(bookings, results):
        if status != 201:
            continue
        assert doc["slotIds"] == [body["slotId"]], doc
        got = s.get_json(f"/appointments/{doc['id']}")[2]
        assert got["name"] == body["name"], got
        assert got.get("email") == body.get("email"), got
        assert got.get("note") == body.get("note"), got
    assert all(r[0] == 201 for r in results[5:]), results[5:]
    assert {r[2]["id"] for r in results + [stuck] if r[0] == 201} == \
        committed_ids(pg, db)
    assert pg.psql(db, f"SELECT booked FROM slots WHERE id = {full_sid}") \
        == [["3"]]
    assert s.slot(full_sid)["booked"] == 3


def test_failed_batch_fails_only_its_culprit(pg, db, start_slotd):
    """A batch that fails as a whole committed nothing; its bookings run
    again one by one, so only the one that cannot be booked fails."""
    s = start_slotd(schedule=dict(BOOKING, capacity="3"), workers=1,
                    extra={"database": {"pool_size": "1"}})
    pg.psql(db, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql "
            "AS $$BEGIN RAISE EXCEPTION 'refused'; END$$; "
            "CREATE TRIGGER refuse BEFORE INSERT ON appointments FOR EACH "
            "ROW WHEN (NEW.name = 'refuse me') EXECUTE FUNCTION refuse()")
    slots = s.get_json(f"/slots?date={weekday_ahead(2)}")[2]["slots"]
    bookings = [{"slotId": slots[1 + i % 3]["id"],
                 "name": "refuse me" if i == 4 else f"parent {i}"}
                for i in range(8)]
    retries = metric(s, "slotd_db_batch_retries_total")
    stuck, results = queue_behind_lock(pg, db, s, slots[0]["id"], bookings)
    assert stuck[0] == 201, stuck
    assert metric(s, "slotd_db_batch_retries_total") == retries + 1
    assert results[4][0] == 503 and results[4][2]["code"] == "unavailable"
    assert [r[0] for i, r in enumerate(results) if i != 4] == [201] * 7
    assert {r[2]["id"] for r in results + [stuck] if r[0] == 201} == \
        committed_ids(pg, db)
    for sid in (slots[1]["id"], slots[2]["id"], slots[3]["id"]):
        booked = int(pg.psql(db, f"SELECT booked FROM slots WHERE id = "
                             f"{sid}")[0][0])
        assert booked == sum(1 for b, r in zip(bookings, results)
                             if b["slotId"] == sid and r[0] == 201)
        assert s.slot(sid)["booked"] == booked
    assert "running them one by one" in s.log_text()
