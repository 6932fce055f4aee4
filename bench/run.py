"""slotd's benchmark harness: each scenario runs alternately with its
baseline, measured in the same run on the same machine, and the table
gives medians, p99 latencies and ratios.

    bench/run [--seconds 10] [--rounds 3] [--only 1,3]

Scenarios:
  1  GET /slots?date= (16 slots) vs h2o and nginx serving the same bytes,
     flat out and at a pace all three keep up with (the p99 of each), and
     with the servers and wrk on cores of their own (bench/cores.py)
  2  the same with 1,000 and with 1,000,000 slots in the table
  3  POST /appointments on random free slots vs pgbench running the
     minimal correct booking statement on its own copy of the tables
  4  a flash crowd booking one full slot, vs scenario 1's rate
  5  reads while scenario 3 runs beside them
  6  time to READY=1 with 1,000,000 slots, and memory per process
  7  GET /slots with tz= each of 8 zones in turn vs one zone
  8  calendars at scale: 10,000 calendars and about 1,000,000 slots
     (bench/calendars.py)
  9  live streams: an event's way to 1,000 streams on one worker, and
     GET /slots with and without them open (bench/streams.py)
 10  bookings with their events and a webhook subscribed vs bookings
     without events (bench/events.py)
"""
import argparse
import datetime as dt
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import NginxServer, PgCluster, Slotd, free_port, wait_for  # noqa: E402
import calendars  # noqa: E402
import cores  # noqa: E402
import events  # noqa: E402
import streams  # noqa: E402

WORKERS = 2
PACE_MS = 2            # scenario 1 paced: a connection's wait between requests
PACE_LUA = """
function delay()
  return %(ms)d
end
"""
CONNS = 64
BOOK_CONNS = 16


UNEXPECTED = []        # runs in which slotd or nginx answered with errors


def wrk(url, seconds, conns=CONNS, script=None, refusals=False, threads=2,
        cpu=None):
    """Requests per second and p99 latency (ms) of one wrk run, its threads
    on one CPU if cpu is given; a run with non-2xx answers is remembered,
    unless refusals are what it measures."""
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
            "--latency"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    if script:
        argv += ["-s", script]
    out = subprocess.run(argv + [url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(errors.group(1)) if errors else 0
    if errors and not refusals:
        UNEXPECTED.append(f"{errors} non-2xx answers from {url}")
    return rps, float(m.group(1)) * scale, errors


def pgbench(pg, db, script, seconds, clients=BOOK_CONNS):
    argv = [os.path.join(pg.bindir, "pgbench"), "-n", "-M", "prepared",
            f"-c{clients}", f"-j{2}", f"-T{seconds}", "-f", script, "-r",
            "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", db]
    out = subprocess.run(argv, capture_output=True, text=True,
                         check=True).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return tps, lat


class Nginx(NginxServer):
    """nginx serving body as a static file at every path."""

    def __init__(self, body, workers=WORKERS):
        root = tempfile.mkdtemp(prefix="slotd-static-")
        os.chmod(root, 0o755)
        with open(os.path.join(root, "slots.json"), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(root, "slots.json"), 0o644)
        self.root = root
        super().__init__(f"root {root};\n"
                         "location / { try_files /slots.json =404; }",
                         http="keepalive_requests 1000000;\n"
                         "default_type application/json;",
                         workers=workers, connections=4096)

    def stop(self):
        super().stop()
        shutil.rmtree(self.root, ignore_errors=True)


class H2o:
    """h2o (2 threads) serving body as a static file at /slots.  Started as
    root it serves as nobody, so it writes no pid file here."""

    def __init__(self, body, threads=WORKERS):
        self.dir = tempfile.mkdtemp(prefix="slotd-h2o-")
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "www"))
        with open(os.path.join(self.dir, "www", "slots"), "wb") as f:
            f.write(body)
        conf = os.path.join(self.dir, "h2o.conf")
        with open(conf, "w") as f:
            f.write(textwrap.dedent(f"""\
                listen:
                  host: 127.0.0.1
                  port: {self.port}
                num-threads: {threads}
                error-log: {self.dir}/error.log
                file.mime.setdefaulttype: application/json
                hosts:
                  default:
                    paths:
                      /:
                        file.dir: {self.dir}/www
                """))
        os.chmod(self.dir, 0o755)
        self.proc = subprocess.Popen(["h2o", "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port)),
                 what="h2o")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


def median_runs(runs):
    return statistics.median(r[0] for r in runs), \
        statistics.median(r[1] for r in runs)


def row(table, name, value, base, goal):
    ratio = value / base if base else float("nan")
    table.append((name, value, base, ratio, goal))


def vs_servers(table, what, slotd, h2o, nginx):
    """Scenario 1's rows: slotd's rate and p99 against h2o's and nginx's,
    each given as (req/s, p99 ms); what names the setting."""
    (rs, ps), (rh, ph), (rn, pn) = slotd, h2o, nginx
    row(table, f"1 GET /slots req/s{what} (slotd / h2o)", rs, rh, ">= 1.0")
    row(table, f"1 GET /slots req/s{what} (slotd / nginx)", rs, rn, ">= 1.1")
    row(table, f"1 GET /slots p99 ms{what} (slotd / h2o)", ps, ph, "<= 1.0")
    row(table, f"1 GET /slots p99 ms{what} (slotd / nginx)", ps, pn,
        "<= 1.0")


def next_weekday(weekday=2):
    d = dt.date.today() + dt.timedelta(days=2)
    while d.weekday() != weekday:
        d += dt.timedelta(days=1)
    return d


def fill(pg, db, count):
    """Add slots far in the future until the table holds about count."""
    have = int(pg.psql(db, "SELECT count(*) FROM slots")[0][0])
    if count > have:
        pg.psql(db, "INSERT INTO slots (start_at, end_at, capacity) "
                "SELECT b + n * interval '5 minutes', b + (n + 1) * "
                "interval '5 minutes', 1 FROM (SELECT coalesce(max(end_at), "
                "timestamptz '2031-01-01') AS b FROM slots WHERE start_at >= "
                f"'2031-01-01') x, generate_series(0, {count - have - 1}) n")


BOOK_LUA = """
math.randomseed(os.time())
request = function()
  local id = math.random(%(lo)d, %(hi)d)
  return wrk.format("POST", "/appointments",
    {["Content-Type"] = "application/json"},
    '{"slotId":' .. id .. '}')
end
"""

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo",
         "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata",
         "Africa/Monrovia", "Pacific/Chatham")

ZONES_LUA = """
local zones = {%(zones)s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/slots?date=%(day)s&tz=" .. zones[i %% #zones + 1])
end
"""

FULL_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"slotId":%(id)d}'
"""

PGBENCH_BOOKING = """
\\set id random(1, %(n)d)
WITH s AS (UPDATE slots SET booked = booked + 1
           WHERE id = :id AND booked < capacity RETURNING id)
INSERT INTO appointments (slot_id) SELECT id FROM s;
"""


def cpu_seconds(pids):
    """User and system time the processes have used so far."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])    # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def private_memory_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        text = f.read()
    return sum(int(m) for m in re.findall(
        r"^Private_(?:Clean|Dirty):\s+(\d+) kB", text, re.M))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--smoke", action="store_true",
                    help="a smaller scenario 8 (1,100 calendars), so that a "
                    "run only checks that the harness works")
    args = ap.parse_args()
    only = {int(x) for x in args.only.split(",")}
    sec, rounds = args.seconds, args.rounds
    table, notes = [], []
    # A buffer pool that holds scenarios 2 and 8's million slots, as a
    # production server's would.
    pg = PgCluster(settings="-c shared_buffers=1GB")
    work = tempfile.mkdtemp(prefix="slotd-bench-")
    try:
        db = pg.create_db("slotd")
        big = {"server": {"access_log": "off", "max_slots": "1200000"},
               "database": {"pool_size": "2", "queue_size": "4096"}}
        sched = {"capacity": "100000", "horizon_days": "14",
                 "timezone": "UTC", "days": "mon-fri", "breaks": "12:00-13:00",
                 "hours": "09:00-18:00", "slot_minutes": "30"}
        s = Slotd(pg, db, schedule=sched, workers=WORKERS, extra=big)
        day = next_weekday()
        url = f"http://127.0.0.1:{s.port}/slots?date={day}"
        body = s.get(f"/slots?date={day}")[2]
        notes.append(f"GET /slots answer: {len(body)} bytes")

        if only & {1, 4, 2}:
            ng, h2 = Nginx(body), H2o(body)
            # slotd, h2o and nginx in turn, flat out, then at a pace all
            # three keep up with: each connection waits PACE_MS after every
            # answer.  Below saturation the tail is the server's, not the
            # run queue's.
            paced = os.path.join(work, "paced.lua")
            with open(paced, "w") as f:
                f.write(PACE_LUA % {"ms": PACE_MS})
            targets = (url, f"http://127.0.0.1:{h2.port}/slots?date={day}",
                       f"http://127.0.0.1:{ng.port}/slots?date={day}")
            runs = {script: [[] for _ in targets] for script in (None, paced)}
            for script in runs:
                for _ in range(rounds):     # alternately
                    for out, target in zip(runs[script], targets):
                        out.append(wrk(target, sec, script=script))
            (runs_s, runs_h, runs_n), (pace_s, pace_h, pace_n) = \
                runs[None], runs[paced]
            ng.stop()
            h2.stop()
            (rs, ps), (rn, pn) = median_runs(runs_s), median_runs(runs_n)
            rh, ph = median_runs(runs_h)
            (qs, pqs), (qh, pqh) = median_runs(pace_s), median_runs(pace_h)
            pqn = median_runs(pace_n)[1]
            notes.append(f"scenario 1 paced: {PACE_MS} ms between a "
                         f"connection's requests, {qs:.0f} req/s from "
                         f"slotd, {qh:.0f} from h2o")
            vs_servers(table, "", (rs, ps), (rh, ph), (rn, pn))
            row(table, "1 GET /slots p99 ms paced (slotd / h2o)", pqs, pqh,
                "<= 1.0")
            row(table, "1 GET /slots p99 ms paced (slotd / nginx)", pqs, pqn,
                "<= 1.0")
            if 1 in only:
                cores.scenario(pg, db, sched, big, body, day, sec, rounds,
                               table, notes, wrk, median_runs, vs_servers,
                               cpu_seconds, H2o, Nginx)

        if 7 in only:
            # The zone changes at each read; each was read once before.
            script = os.path.join(work, "zones.lua")
            with open(script, "w") as f:
                f.write(ZONES_LUA % {"day": day, "zones": ", ".join(
                    f'"{z}"' for z in ZONES)})
            for zone in ZONES:
                s.get(f"/slots?date={day}&tz={zone}")
            one, eight = [], []
            cpu = {"one": [0.0, 0.0], "eight": [0.0, 0.0]}  # seconds, requests

            def measured(runs, key, *args, **kw):
                before = cpu_seconds(s.children())
                runs.append(wrk(*args, **kw))
                cpu[key][0] += cpu_seconds(s.children()) - before
                cpu[key][1] += runs[-1][0] * sec
            for _ in range(rounds):
                measured(eight, "eight", url, sec, script=script)
                measured(one, "one", f"{url}&tz={ZONES[0]}", sec)
            (r8, p8), (r1, p1) = median_runs(eight), median_runs(one)
            notes.append("scenario 7: CPU per read (all processes but the "
                         "master): {:.1f} us in 8 zones in turn, {:.1f} us "
                         "in one".format(*(1e6 * cpu[k][0] / cpu[k][1]
                                           for k in ("eight", "one"))))
            row(table, "7 GET /slots req/s, 8 zones in turn / one", r8, r1,
                ">= 0.9")
            row(table, "7 GET /slots p99 ms, 8 zones in turn / one", p8, p1,
                "<= 1.1")

        if 4 in only:
            lo = int(s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"])
            pg.psql(db, f"UPDATE slots SET capacity = 1, booked = 1 "
                    f"WHERE id = {lo}")
            wait_for(lambda: s.slot(lo)["booked"] == 1)
            script = os.path.join(work, "full.lua")
            with open(script, "w") as f:
                f.write(FULL_LUA % {"id": lo})
            # Alternately with scenario 1's reads (ABBA), so that both see
            # the same machine.
            runs, reads = [], []

            def flash():
                runs.append(wrk(url.replace(f"/slots?date={day}",
                                            "/appointments"),
                                sec, script=script, refusals=True))

            def read():
                reads.append(wrk(url, sec))
            for i in range(rounds):
                for measure in (flash, read) if i % 2 == 0 else (read, flash):
                    measure()
            r4, read_rate = median_runs(runs)[0], median_runs(reads)[0]
            row(table, "4 flash crowd 409/s (vs scenario 1, alternately)",
                r4, read_rate, ">= 1.0")

        if 2 in only:
            # One instance per table size, each on its own database, run
            # alternately (the idle one costs nothing meanwhile).
            sized = {}
            for count in (1000, 1000000):
                sdb = pg.create_db(f"slotd_{count}")
                Slotd(pg, sdb, schedule=sched, workers=WORKERS,
                      extra=big).stop()          # migrate and schedule
                fill(pg, sdb, count)
                sized[count] = Slotd(pg, sdb, schedule=sched,
                                     workers=WORKERS, extra=big)
            runs = {count: [] for count in sized}
            for _ in range(rounds):
                for count, inst in sized.items():
                    runs[count].append(wrk(f"http://127.0.0.1:{inst.port}"
                                           f"/slots?date={day}", sec))
            for inst in sized.values():
                inst.stop()
            row(table, "2 GET /slots req/s, 1M slots / 1k slots",
                median_runs(runs[1000000])[0], median_runs(runs[1000])[0],
                ">= 0.9")

        if 6 in only:
            fill(pg, db, 1000000)
            s.stop()
            t0 = time.monotonic()
            s = Slotd(pg, db, schedule=sched, workers=WORKERS, extra=big,
                      migrate=False, wait_ready=False)
            wait_for(lambda: s.get("/readyz")[0] == 200, timeout=120,
                     interval=0.02)
            ready = time.monotonic() - t0
            table.append(("6 seconds to ready, 1M slots", ready, None, None,
                          "< 2"))
            for pid in s.children():
                notes.append(f"pid {pid}: {private_memory_kb(pid) / 1024:.1f}"
                             " MB private")
            notes.append(f"master: {private_memory_kb(s.proc.pid) / 1024:.1f}"
                         " MB private")
            url = f"http://127.0.0.1:{s.port}/slots?date={day}"

        if only & {3, 5}:
            # 10,000 bookable slots, as many as pgbench's copy has.
            ids = [int(x) for x in pg.psql(
                db, "WITH ins AS (INSERT INTO slots (start_at, end_at, "
                "capacity) SELECT t, t + interval '1 minute', 100000 FROM "
                "generate_series(timestamptz '2045-01-01', timestamptz "
                "'2045-01-01' + 9999 * interval '1 minute', interval "
                "'1 minute') t RETURNING id) SELECT min(id), max(id) "
                "FROM ins")[0]]
            wait_for(lambda: s.get(f"/slots/{ids[1]}")[0] == 200,
                     timeout=60)
            script = os.path.join(work, "book.lua")
            with open(script, "w") as f:
                f.write(BOOK_LUA % {"lo": ids[0], "hi": ids[1]})
            pdb = pg.create_db("pgbench_booking")
            pg.psql(pdb, "CREATE TABLE slots (id bigint PRIMARY KEY, "
                    "capacity int NOT NULL, booked int NOT NULL DEFAULT 0, "
                    "CHECK (booked <= capacity)); "
                    "CREATE TABLE appointments (id bigint GENERATED ALWAYS "
                    "AS IDENTITY PRIMARY KEY, slot_id bigint NOT NULL); "
                    "INSERT INTO slots SELECT g, 1000000, 0 FROM "
                    "generate_series(1, 10000) g")
            pgscript = os.path.join(work, "booking.sql")
            with open(pgscript, "w") as f:
                f.write(PGBENCH_BOOKING % {"n": 10000})
            book_url = url.replace(f"/slots?date={day}", "/appointments")
            runs_s, runs_p = [], []
            for _ in range(rounds):
                runs_s.append(wrk(book_url, sec, conns=BOOK_CONNS,
                                  script=script))
                runs_p.append(pgbench(pg, pdb, pgscript, sec))
            bs, bp = median_runs(runs_s), median_runs(runs_p)
            row(table, "3 bookings/s (slotd / pgbench)", bs[0], bp[0],
                ">= 0.9")
            metrics = s.get("/metrics")[2].decode()
            counts = {line.split(" ")[0]: float(line.split(" ")[1])
                      for line in metrics.splitlines()
                      if line.startswith("slotd_db_batch")}
            if counts.get("slotd_db_batches_total"):
                notes.append("scenario 3: {:.0f} batches of {:.1f} bookings "
                             "on average".format(
                                 counts["slotd_db_batches_total"],
                                 counts["slotd_db_batched_total"] /
                                 counts["slotd_db_batches_total"]))
            notes.append("scenario 3 outcomes: " + ", ".join(
                line.split("{")[1] for line in metrics.splitlines()
                if line.startswith("slotd_bookings_total{") and
                not line.endswith(" 0")))
            if 5 in only:
                reads = []
                for _ in range(rounds):
                    bg = subprocess.Popen(
                        ["wrk", "-t1", f"-c{BOOK_CONNS}", f"-d{sec + 2}s",
                         "-s", script, book_url], stdout=subprocess.DEVNULL)
                    time.sleep(1)
                    reads.append(wrk(url, sec))
                    bg.wait()
                r5, p5 = median_runs(reads)
                table.append(("5 GET /slots req/s while booking", r5, None,
                              None, ""))
                table.append(("5 GET /slots p99 ms while booking", p5, None,
                              None, ""))
        s.stop()
        if 8 in only:
            calendars.scenario(pg, sched, big, day, sec, rounds, work, table,
                               notes, wrk, median_runs, row, WORKERS,
                               BOOK_CONNS,
                               1100 if args.smoke else calendars.CALENDARS)
        if 9 in only:
            streams.scenario(pg, sched, big, day, sec, rounds, table, notes,
                             wrk, median_runs, row)
        if 10 in only:
            events.scenario(pg, sched, big, sec, rounds, work, table, notes,
                            wrk, median_runs, row, WORKERS, BOOK_CONNS)
    finally:
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'scenario':46} {'slotd':>12} {'baseline':>12} {'ratio':>7}"
          f"  goal")
    for name, value, base, ratio, goal in table:
        b = f"{base:12.1f}" if base is not None else f"{'':>12}"
        r = f"{ratio:7.2f}" if ratio is not None else f"{'':>7}"
        print(f"{name:46} {value:12.1f} {b} {r}  {goal}")
    print(f"\n{os.cpu_count()} CPUs; {rounds} alternating rounds of {sec} s; "
          "medians")
    for n in notes:
        print("  " + n)
    for u in UNEXPECTED:
        print("  error: " + u)
    return 1 if UNEXPECTED else 0


if __name__ == "__main__":
    sys.exit(main())
