"""The shared table follows PostgreSQL: SQL changes reach every worker of
every instance, and the syncer resyncs after losing its connection or the
server (changes made meanwhile, deletions included, are picked up)."""
import os
import signal
import subprocess
import threading
import time

from harness import metric, queue_behind_lock, wait_for, weekday_ahead


def day_view(s, day):
    _, _, doc = s.get_json(f"/slots?date={day}")
    return [(x["id"], x["capacity"], x["booked"]) for x in doc["slots"]]


def db_view(pg, db, day):
    rows = pg.psql(db, "SELECT id, capacity, booked FROM slots WHERE "
                   f"start_at >= '{day} 00:00+08' AND "
                   f"start_at < '{day} 00:00+08'::timestamptz + "
                   "interval '1 day' ORDER BY start_at, id")
    return [tuple(int(v) for v in r) for r in rows]


def seen_everywhere(instances, check, tries=16):
    """check() true on `tries` fresh connections of every instance, so that
    every worker has most likely answered at least once."""
    return all(check(s) for s in instances for _ in range(tries))


def test_sql_changes_reach_every_worker(pg, db, start_slotd):
    s = start_slotd(workers=4)
    day = weekday_ahead()
    first = day_view(s, day)[0][0]

    t0 = time.monotonic()
    pg.psql(db, f"UPDATE slots SET capacity = 9 WHERE id = {first}")
    wait_for(lambda: seen_everywhere(
        [s], lambda i: i.get_json(f"/slots/{first}")[2]["capacity"] == 9),
        timeout=5, interval=0.001)
    print(f"update visible on all workers after "
          f"{(time.monotonic() - t0) * 1000:.1f} ms")

    new = pg.psql(db, "INSERT INTO slots (start_at, end_at, capacity) "
                  f"VALUES ('{day} 20:00+08', '{day} 20:30+08', 2) "
                  "RETURNING id")[0][0]
    wait_for(lambda: seen_everywhere(
        [s], lambda i: i.get(f"/slots/{new}")[0] == 200), timeout=5)
    assert day_view(s, day)[-1] == (int(new), 2, 0)

    pg.psql(db, f"DELETE FROM slots WHERE id = {first}")
    wait_for(lambda: seen_everywhere(
        [s], lambda i: i.get(f"/slots/{first}")[0] == 404), timeout=5)
    assert day_view(s, day) == db_view(pg, db, day)


def test_two_instances_see_each_sql_change(pg, db, start_slotd):
    a = start_slotd()
    b = start_slotd()
    day = weekday_ahead(3)
    sid = day_view(a, day)[2][0]
    pg.psql(db, f"UPDATE slots SET booked = 2 WHERE id = {sid}")
    wait_for(lambda: seen_everywhere(
        [a, b], lambda i: i.get_json(f"/slots/{sid}")[2]["booked"] == 2),
        timeout=5)
    assert day_view(a, day) == day_view(b, day) == db_view(pg, db, day)


def test_resync_after_connection_killed(pg, db, start_slotd):
    s = start_slotd()
    day = weekday_ahead(2)
    killed = pg.psql(db, "SELECT count(pg_terminate_backend(pid)) FROM "
                     "pg_stat_activity WHERE application_name = "
                     f"'slotd syncer' AND datname = '{db}'")
    assert killed == [["1"]]
    sid = day_view(s, day)[0][0]
    pg.psql(db, f"UPDATE slots SET capacity = 8 WHERE id = {sid}")
    wait_for(lambda: "resynced" in s.log_text(), timeout=10,
             what="a resync in the log")
    wait_for(lambda: day_view(s, day) == db_view(pg, db, day), timeout=5)
    wait_for(lambda: s.get("/readyz")[0] == 200, timeout=5)


def test_changes_missed_while_disconnected_are_resynced(pg, db, start_slotd):
    """The syncer's role cannot log in for a while; changes made meanwhile
    (their notifications are lost) must appear after it reconnects."""
    start_slotd()                       # migrates and generates as owner
    pg.psql(db, "DO $$ BEGIN CREATE ROLE slotd_app LOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
            "ALTER ROLE slotd_app LOGIN; "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON slots, slot_changes, "
            "calendars TO slotd_app")
    s = start_slotd(conninfo=pg.conninfo(db, user="slotd_app"),
                    migrate=False)
    day = weekday_ahead(4)
    before = day_view(s, day)
    pg.psql(db, "ALTER ROLE slotd_app NOLOGIN")
    pg.psql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = 'slotd_app'")
    wait_for(lambda: s.get("/readyz")[0] == 503, timeout=10)
    # Reads go on from the table while the database is out of reach.
    assert day_view(s, day) == before
    gone, changed = before[0][0], before[1][0]
    pg.psql(db, f"DELETE FROM slots WHERE id = {gone}; "
            f"UPDATE slots SET capacity = 6 WHERE id = {changed}; "
            "INSERT INTO slots (start_at, end_at, capacity) VALUES "
            f"('{day} 19:00+08', '{day} 19:30+08', 4)")
    pg.psql(db, "ALTER ROLE slotd_app LOGIN")
    wait_for(lambda: s.get("/readyz")[0] == 200, timeout=15)
    after = day_view(s, day)
    assert after == db_view(pg, db, day)
    assert gone not in [x[0] for x in after]
    assert (changed, 6, 0) in after
    assert s.get(f"/slots/{gone}")[0] == 404


def test_resync_after_postgres_restart(pg, db, start_slotd):
    s = start_slotd()
    day = weekday_ahead(1)
    before = day_view(s, day)
    pg.stop()
    try:
        wait_for(lambda: s.get("/readyz")[0] == 503, timeout=10)
        assert day_view(s, day) == before
        assert s.get("/healthz")[0] == 200
    finally:
        pg.start()
    wait_for(lambda: s.get("/readyz")[0] == 200, timeout=15)
    sid = before[5][0]
    pg.psql(db, f"UPDATE slots SET capacity = 7 WHERE id = {sid}")
    wait_for(lambda: s.get_json(f"/slots/{sid}")[2]["capacity"] == 7,
             timeout=5)


def test_truncate_reloads(pg, db, slotd):
    day = weekday_ahead(1)
    old = [x[0] for x in day_view(slotd, day)]
    pg.psql(db, "TRUNCATE slots")
    wait_for(lambda: slotd.get(f"/slots/{old[0]}")[0] == 404, timeout=5)
    # The schedule is materialised again with new rows.
    wait_for(lambda: len(day_view(slotd, day)) == 16, timeout=5)
    assert day_view(slotd, day) == db_view(pg, db, day)


def test_late_announcements_never_bring_back_deleted_slots(pg, db,
                                                           start_slotd):
    """Workers announce their changes to other instances a few milliseconds
    late, so a capacity change or a refused deletion made by one worker can
    reach a syncer after another worker's deletion of the same slot: it
    must not bring the slot back, in this instance's table or another's."""
    a = start_slotd(workers=4)
    b = start_slotd(workers=4)
    day = weekday_ahead(5, after=8)                  # a Saturday: no slots
    status, _, made = a.post("/slots", [
        {"startTime": f"{day}T{8 + i // 4:02d}:{i % 4 * 15:02d}:00+08:00",
         "endTime": f"{day}T{8 + i // 4:02d}:{i % 4 * 15 + 10:02d}:00+08:00",
         "capacity": 1} for i in range(32)])
    assert status == 201, made
    failures = []

    def churn(sid):
        steps = [("PATCH", f"/slots/{sid}", {"capacity": 3}, 200),
                 ("POST", "/appointments", {"slotId": sid}, 201),
                 ("DELETE", f"/slots/{sid}", None, 409),
                 ("DELETE", "/appointments/{}", None, 204),
                 ("PATCH", f"/slots/{sid}", {"capacity": 2}, 200),
                 ("DELETE", f"/slots/{sid}", None, 204)]
        appointment = None
        for method, path, body, want in steps:
            path = path.format(appointment)
            got = a.send_json(method, path, body) if body is not None \
                else a.request(method, path)
            if got[0] != want:
                failures.append((method, path, got))
                return
            if method == "POST":
                appointment = got[2]["id"]

    threads = [threading.Thread(target=churn, args=(d["id"],)) for d in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert db_view(pg, db, day) == []
    wait_for(lambda: seen_everywhere((a, b),
                                     lambda s: day_view(s, day) == []),
             timeout=5)
    time.sleep(0.2)        # far longer than any announcement takes
    assert seen_everywhere((a, b), lambda s: day_view(s, day) == [])
    for s in (a, b):
        assert all(s.get(f"/slots/{d['id']}")[0] == 404 for d in made)


# Workers announce their changes after the commit.  Whatever happens between
# the two, every other instance must show the committed state within 1 s.
STALL_ANNOUNCE = ("CREATE OR REPLACE FUNCTION "
                  "slotd_announce(p_payloads text) RETURNS void "
                  "LANGUAGE plpgsql AS "
                  "$$ BEGIN PERFORM pg_sleep(3600); END $$")
DROP_ANNOUNCE = ("CREATE OR REPLACE FUNCTION "
                 "slotd_announce(p_payloads text) RETURNS void "
                 "LANGUAGE plpgsql AS $$ BEGIN END $$")
STALLED = ("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND "
           "query LIKE '%slotd_announce%' AND pid <> pg_backend_pid()")


def booked(s, sid):
    return s.get_json(f"/slots/{sid}")[2]["booked"]


def within_a_second(instances, check, since, what):
    wait_for(lambda: seen_everywhere(instances, check, tries=4),
             timeout=1.0 - (time.monotonic() - since), interval=0.005,
             what=what)
    print(f"{what}: {(time.monotonic() - since) * 1000:.0f} ms")


def test_change_survives_workers_killed_after_commit(pg, db, start_slotd):
    a = start_slotd()
    b = start_slotd()
    sid = day_view(a, weekday_ahead(2))[0][0]
    status, _, appt = a.post("/appointments", {"slotId": sid})
    assert status == 201
    wait_for(lambda: booked(b, sid) == 1, timeout=5)
    pg.psql(db, STALL_ANNOUNCE)
    try:
        assert a.delete(f"/appointments/{appt['id']}")[0] == 204
        t0 = time.monotonic()
        for pid in a.children():
            os.kill(pid, signal.SIGKILL)
        within_a_second([b], lambda s: booked(s, sid) == 0, t0,
                        "cancel seen by the other instance")
    finally:
        pg.psql(db, f"SELECT pg_terminate_backend(pid) FROM ({STALLED}) x")
    a.wait_ready()
    assert booked(a, sid) == 0
    assert metric(b, "slotd_sync_log_applied_total") >= 1


def test_change_survives_connection_dropped_before_announcement(
        pg, db, start_slotd):
    a = start_slotd()
    b = start_slotd()
    sid = day_view(a, weekday_ahead(3))[1][0]
    pg.psql(db, STALL_ANNOUNCE)
    status, _, appt = a.post("/appointments", {"slotId": sid})
    assert status == 201
    t0 = time.monotonic()
    stalled = wait_for(lambda: pg.psql(db, STALLED), timeout=5,
                       what="the announcement under way")
    pg.psql(db, "SELECT pg_terminate_backend(pid) FROM "
            f"({STALLED}) x WHERE pid IN ({stalled[0][0]})")
    within_a_second([a, b], lambda s: booked(s, sid) == 1, t0,
                    "booking seen by every instance")
    wait_for(lambda: "announcing slot changes failed" in a.log_text(),
             timeout=5)


def test_lost_notifications_are_made_up(pg, db, start_slotd):
    """Announcements that never arrive: whichever statement made the change
    (a booking alone, with a key, of two slots, in a batch; a hold, its
    release, a cancel; an admin's creation, capacity change or deletion),
    the other instance shows it within a second."""
    sched = {"max_slots_per_appointment": "2"}
    a = start_slotd(schedule=sched, workers=1,
                    extra={"database": {"pool_size": "1"}})
    b = start_slotd(schedule=sched)
    day = weekday_ahead(4)
    ids = [x[0] for x in day_view(a, day)]
    status, _, held = a.post("/holds", {"slotId": ids[7]})
    assert status == 201
    status, _, appt = a.post("/appointments", {"slotId": ids[8]})
    assert status == 201
    wait_for(lambda: booked(b, ids[7]) == booked(b, ids[8]) == 1, timeout=5)
    pg.psql(db, DROP_ANNOUNCE)
    batches = metric(a, "slotd_db_batches_total")

    assert a.post("/appointments", {"slotId": ids[0]})[0] == 201
    assert a.post("/appointments", {"slotId": ids[1]},
                  {"Idempotency-Key": "once"})[0] == 201
    assert a.post("/appointments", {"slotId": ids[2], "slots": 2})[0] == 201
    assert a.post("/holds", {"slotId": ids[4]})[0] == 201
    assert a.request("DELETE", f"/holds/{held['id']}")[0] == 204
    assert a.request("DELETE", f"/appointments/{appt['id']}")[0] == 204
    assert a.send_json("PATCH", f"/slots/{ids[5]}", {"capacity": 9})[0] \
        == 200
    assert a.request("DELETE", f"/slots/{ids[6]}")[0] == 204
    status, _, made = a.post("/slots", {"startTime": f"{day}T20:00:00+08:00",
                                        "endTime": f"{day}T20:30:00+08:00",
                                        "capacity": 2})
    assert status == 201
    stuck, queued = queue_behind_lock(pg, db, a, ids[9], [
        {"slotId": ids[10]}, {"slotId": ids[11]}])
    assert [stuck[0]] + [r[0] for r in queued] == [201] * 3
    assert metric(a, "slotd_db_batches_total") == batches + 1
    t0 = time.monotonic()
    within_a_second([b], lambda s: day_view(s, day) == db_view(pg, db, day),
                    t0, "every change seen by the other instance")
    view = day_view(b, day)
    assert [(x[0], x[2]) for x in view[:5]] == [
        (ids[0], 1), (ids[1], 1), (ids[2], 1), (ids[3], 1), (ids[4], 1)]
    assert (ids[5], 9, 0) in view and ids[6] not in [x[0] for x in view]
    assert (ids[7], 3, 0) in view and (ids[8], 3, 0) in view
    assert [x for x in view if x[0] in ids[9:12]] == [
        (sid, 3, 1) for sid in ids[9:12]]
    assert (made["id"], 2, 0) in view


def test_change_committed_after_a_later_one_is_not_skipped(pg, db,
                                                           start_slotd):
    """Two silent writers that log their changes as slotd's workers do (no
    notification, no trigger: the statement writes the change log): the
    first takes its transaction id, the second commits and is seen, then
    the first commits.  A log read by "ids after the last one seen" would
    skip the first for good."""
    a = start_slotd()
    day = weekday_ahead(1)
    first, second = [x[0] for x in day_view(a, day)[:2]]
    quiet = "SET slotd.quiet = on; "

    def change(sid, capacity):
        return (f"UPDATE slots SET capacity = {capacity} WHERE id = {sid}; "
                f"INSERT INTO slot_changes (slot_ids) VALUES (ARRAY[{sid}]);")
    slow = subprocess.Popen(
        [os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
         "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", db],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        slow.stdin.write(f"{quiet} BEGIN; {change(first, 5)}\n")
        slow.stdin.flush()
        wait_for(lambda: pg.psql(db, "SELECT 1 FROM pg_stat_activity WHERE "
                                 "state = 'idle in transaction' AND "
                                 "backend_xid IS NOT NULL"), timeout=5)
        pg.psql(db, f"{quiet} BEGIN; {change(second, 6)} COMMIT")
        wait_for(lambda: a.slot(second)["capacity"] == 6, timeout=2)
        time.sleep(0.6)        # a few more reads of the log go by
        assert a.slot(first)["capacity"] == 3
        slow.stdin.write("COMMIT;\n")
        slow.stdin.close()
        assert slow.wait(timeout=10) == 0
        t0 = time.monotonic()
        within_a_second([a], lambda s: s.slot(first)["capacity"] == 5, t0,
                        "the earlier transaction's change")
    finally:
        slow.kill()
