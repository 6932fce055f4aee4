"""bench scenario 10: bookings with their events and a webhook subscribed,
and with their events alone, against bookings without events (the same
statements with slotd.events = off, no webhook), alternately on one
instance, on its own database.  The webhook's
receiver is an nginx answering 204; the courier delivers while the
bookings run.  Events of a round without the webhook are numbered
before the next round, so that each webhook round delivers its own
bookings' events; after each webhook round the backlog drains before the
next round starts.  Also: the share of a webhook round's events delivered
during it, and how long the rest took.
"""
import os
import signal
import time

from harness import NginxServer, Slotd, wait_for

BOOK_LUA = """
math.randomseed(os.time())
request = function()
  local id = math.random(%(lo)d, %(hi)d)
  return wrk.format("POST", "/appointments",
    {["Content-Type"] = "application/json"},
    '{"slotId":' .. id .. '}')
end
"""


def nginx_receiver():
    """nginx answering every request 204, as a webhook receiver would."""
    return NginxServer("location / { return 204; }",
                       http="keepalive_requests 1000000;")


def outbox(pg, db, s, workers, on):
    """Bookings write their events, or not (migration 0015): a database
    setting, which sessions read when they start, so slotd reloads and its
    new workers connect anew.  Every round starts after a reload."""
    pg.psql(db, f'ALTER DATABASE "{db}" ' +
            ("RESET slotd.events" if on else "SET slotd.events = off"))
    before = set(s.children())
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: not set(s.children()) & before and
             len(s.children()) == workers + 2, timeout=60,
             what="a new generation of workers")
    s.wait_ready()


def scenario(pg, sched, big, sec, rounds, work, table, notes, wrk,
             median_runs, row, workers, book_conns):
    db = pg.create_db("slotd_events")
    s = Slotd(pg, db, schedule=sched, workers=workers, extra=big)
    lo, hi = (int(x) for x in pg.psql(
        db, "WITH ins AS (INSERT INTO slots (start_at, end_at, capacity) "
        "SELECT t, t + interval '1 minute', 100000 FROM generate_series("
        "timestamptz '2045-01-01', timestamptz '2045-01-01' + 9999 * "
        "interval '1 minute', interval '1 minute') t RETURNING id) "
        "SELECT min(id), max(id) FROM ins")[0])
    wait_for(lambda: s.get(f"/slots/{hi}")[0] == 200, timeout=60)
    script = os.path.join(work, "book_events.lua")
    with open(script, "w") as f:
        f.write(BOOK_LUA % {"lo": lo, "hi": hi})
    receiver = nginx_receiver()
    status, _, hook = s.post("/webhooks", {
        "url": f"http://127.0.0.1:{receiver.port}/hooks",
        "events": ["appointment.booked"]})
    assert status == 201, hook
    url = f"http://127.0.0.1:{s.port}/appointments"
    runs = {"none": [], "events": [], "webhook": []}
    live, drains = [], []
    try:
        for _ in range(rounds):
            for kind in runs:
                outbox(pg, db, s, workers, kind != "none")
                s.send_json("PATCH", f"/webhooks/{hook['id']}",
                            {"enabled": kind == "webhook"})
                before = delivered(pg, db)
                written = outbox_and_booked(pg, db)
                runs[kind].append(wrk(url, sec, conns=book_conns,
                                      script=script))
                events, booked = (b - a for a, b in zip(
                    written, outbox_and_booked(pg, db)))
                assert events == (0 if kind == "none" else booked), \
                    (kind, events, booked)
                if kind == "events":
                    # Numbered now, with the webhook disabled: the next
                    # webhook round delivers its own bookings' events only.
                    pg.psql(db, "SELECT slotd_events_number()")
                if kind == "webhook":
                    live.append((delivered(pg, db) - before) /
                                max(1, runs[kind][-1][0] * sec))
                    t0 = time.monotonic()
                    wait_for(lambda: drained(pg, db), timeout=600,
                             interval=0.2, what="the backlog drained")
                    drains.append(time.monotonic() - t0)
    finally:
        receiver.stop()
        s.stop()
    none = median_runs(runs["none"])[0]
    row(table, "10 bookings/s, events / none", median_runs(runs["events"])[0],
        none, "")
    row(table, "10 bookings/s, events + webhook / none",
        median_runs(runs["webhook"])[0], none, ">= 0.9")
    notes.append("scenario 10: deliveries made during the webhook rounds, "
                 "per booking: {}; the backlog left after each drained in "
                 "{} s".format(", ".join(f"{x:.2f}" for x in live),
                               ", ".join(f"{x:.1f}" for x in drains)))


def outbox_and_booked(pg, db):
    """How many events and appointments there are."""
    return [int(x) for x in pg.psql(
        db, "SELECT (SELECT count(*) FROM slotd_events), "
        "(SELECT count(*) FROM appointments)")[0]]


def delivered(pg, db):
    return int(pg.psql(db, "SELECT count(*) FROM slotd_deliveries WHERE "
                       "state = 'delivered'")[0][0])


def drained(pg, db):
    return pg.psql(db, "SELECT (SELECT count(*) FROM slotd_deliveries WHERE "
                   "state = 'pending') + (SELECT count(*) FROM slotd_events "
                   "WHERE id IS NULL)")[0][0] == "0"
