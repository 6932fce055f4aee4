"""bench scenario 8: calendars at scale.  10,000 calendars with about
1,000,000 slots in all (96 per calendar: 16 a day for 6 days), on their
own database and instance:

- seconds from start to ready;
- GET /slots of one calendar's day (16 slots) against the same read on an
  instance with one calendar (calendar 1, 16 slots a day);
- a 10-calendar merged day against the one-calendar day, same instance;
- bookings over the slots of 1,000 calendars against bookings over the
  slots of one calendar;
- one calendar's day read while every calendar rolls its horizon forward
  by a day (10,000 set-based statements, 160,000 new slots, as at a
  midnight all of them share) against the same read while nothing rolls.
"""
import datetime as dt
import os
import time

from harness import Slotd, wait_for

CALENDARS = 10000
PER_DAY = 16
DAYS = 6
HORIZON = 14            # days; the roll makes the last one

MAKE = """
INSERT INTO calendars (id, name, timezone, schedule, rules, applied_version,
                       applied_through, applied_capacity)
SELECT g, 'bench ' || g, 'UTC',
       '{"hours":["mon-sun 09:00-17:00"],"slotMinutes":30,"gapMinutes":0,
         "capacity":100000,"breaks":[],"daysOff":[],"extraHours":[],
         "horizonDays":%(horizon)d}',
       '{}', 1, date '2100-01-01', 100000
  FROM generate_series(2, %(n)d) g;
SELECT setval(pg_get_serial_sequence('calendars', 'id'), %(n)d);
INSERT INTO slots (calendar_id, start_at, end_at, capacity)
SELECT c, t, t + interval '30 minutes', 100000
  FROM generate_series(2, %(n)d) c,
       generate_series(0, %(days)d - 1) d,
       generate_series(0, %(per_day)d - 1) k,
       LATERAL (SELECT timestamp '%(day)s 09:00' AT TIME ZONE 'UTC'
                       + d * interval '1 day' + k * interval '30 minutes'
                AS t) x;
"""

BOOK_ANY_LUA = """
math.randomseed(os.time())
request = function()
  local id = math.random(%(lo)d, %(hi)d)
  return wrk.format("POST", "/appointments",
    {["Content-Type"] = "application/json"},
    '{"slotId":' .. id .. '}')
end
"""


def scenario(pg, sched, big, day, sec, rounds, work, table, notes, wrk,
             median_runs, row, workers, book_conns, calendars=CALENDARS):
    """calendars: how many (bench/smoke makes fewer; at least 1,100, for
    the merged read's and the bookings' calendars)."""
    k = f"{calendars // 1000}k"
    db = pg.create_db("slotd_calendars")
    Slotd(pg, db, schedule=sched, workers=workers, extra=big).stop()
    t0 = time.monotonic()
    pg.psql(db, MAKE % {"n": calendars, "days": DAYS, "per_day": PER_DAY,
                        "day": day, "horizon": HORIZON})
    count = int(pg.psql(db, "SELECT count(*) FROM slots")[0][0])
    notes.append(f"scenario 8: {calendars} calendars, {count} slots, made "
                 f"in {time.monotonic() - t0:.0f} s")
    one_db = pg.create_db("slotd_one_calendar")
    t0 = time.monotonic()
    many = Slotd(pg, db, schedule=sched, workers=workers, extra=big,
                 migrate=False, wait_ready=False)
    wait_for(lambda: many.get("/readyz")[0] == 200, timeout=120,
             interval=0.02)
    table.append((f"8 seconds to ready, {k} calendars", time.monotonic() - t0,
                  None, None, "< 3"))
    one = Slotd(pg, one_db, schedule=sched, workers=workers, extra=big)
    try:
        cal = calendars // 2
        wait_for(lambda: many.get(f"/slots?date={day}&calendar={cal}")[0]
                 == 200, timeout=30, what="calendars known")
        merged = ",".join(str(c) for c in range(100, 1100, 100))
        base = f"http://127.0.0.1:{one.port}/slots?date={day}"
        url = f"http://127.0.0.1:{many.port}/slots?date={day}"
        runs_one, runs_many, runs_merged = [], [], []
        for _ in range(rounds):
            runs_many.append(wrk(f"{url}&calendar={cal}", sec))
            runs_one.append(wrk(f"{base}&calendar=1", sec))
            runs_merged.append(wrk(f"{url}&calendar={merged}", sec))
        r_many = median_runs(runs_many)[0]
        row(table, f"8 GET /slots 1 of {k} calendars / 1 calendar", r_many,
            median_runs(runs_one)[0], ">= 0.9")
        row(table, f"8 GET /slots 10 merged / 1 of {k}", median_runs(
            runs_merged)[0], r_many, ">= 0.5")

        # Bookings over 1,000 calendars' slots, and over one calendar's.
        lo, hi = (int(x) for x in pg.psql(
            db, "SELECT min(id), max(id) FROM slots WHERE calendar_id "
            "BETWEEN 2 AND 1001")[0])
        one_lo, one_hi = (int(x) for x in pg.psql(
            db, "SELECT min(id), max(id) FROM slots WHERE calendar_id = 2")[0])
        scripts = {}
        for name, a, b in (("spread", lo, hi), ("one", one_lo, one_hi)):
            scripts[name] = os.path.join(work, f"book_{name}.lua")
            with open(scripts[name], "w") as f:
                f.write(BOOK_ANY_LUA % {"lo": a, "hi": b})
        book = f"http://127.0.0.1:{many.port}/appointments"
        runs = {"spread": [], "one": []}
        for _ in range(rounds):
            for name in runs:
                runs[name].append(wrk(book, sec, conns=book_conns,
                                      script=scripts[name]))
        row(table, "8 bookings/s, 1,000 calendars / 1 calendar",
            median_runs(runs["spread"])[0], median_runs(runs["one"])[0],
            ">= 0.9")
        roll(pg, db, many, f"{url}&calendar={cal}", sec, rounds, table,
             notes, wrk, median_runs, row, k)
    finally:
        many.stop()
        one.stop()


def due(pg, db):
    return int(pg.psql(db, "SELECT count(*) FROM slotd_calendars_due(now()) "
                       "WHERE due")[0][0])


def roll(pg, db, s, url, sec, rounds, table, notes, wrk, median_runs, row,
         many):
    """Reads while every calendar but 1 (many of them, as the table says)
    makes one more day of its horizon (its horizon a day longer each
    round), alternately with reads while nothing rolls."""
    today = dt.datetime.now(dt.timezone.utc).date()
    rolling, still, took, made = [], [], [], []
    for k in range(rounds):
        still.append(wrk(url, sec))
        last = today + dt.timedelta(days=HORIZON + k)
        t0 = time.monotonic()
        pg.psql(db, "UPDATE calendars SET schedule = jsonb_set(schedule, "
                f"'{{horizonDays}}', '{HORIZON + k + 1}'), applied_through "
                f"= '{last}' WHERE id >= 2")
        rolling.append(wrk(url, sec))
        wait_for(lambda: due(pg, db) == 0, timeout=900, interval=0.5,
                 what="the roll done")
        took.append(time.monotonic() - t0)
        made.append(int(pg.psql(db, "SELECT count(*) FROM slots WHERE "
                                f"start_at >= timestamptz '{last} 00:00Z' "
                                f"AND start_at < timestamptz '{last} "
                                "00:00Z' + interval '1 day'")[0][0]))
    row(table, f"8 GET /slots while {many} calendars roll / not",
        median_runs(rolling)[0], median_runs(still)[0], ">= 0.9")
    notes.append("scenario 8: a roll of every horizon made {} slots in "
                 "{:.1f} s (medians; the reads ran {} s from its start)"
                 .format(sorted(made)[len(made) // 2],
                         sorted(took)[len(took) // 2], sec))
