"""Operations: reload under load, a bad reload, crashes under load, the
database going away under load, draining on SIGTERM, sd_notify, metrics,
the access log and the systemd unit."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from harness import wait_for, weekday_ahead
from test_booking_concurrency import RowLock


class Load(threading.Thread):
    """Steady traffic on fresh connections: reads, and bookings of the
    given slots when asked.  Every answer and every failure is kept."""

    def __init__(self, s, day, book=()):
        super().__init__(daemon=True)
        self.s, self.day, self.book = s, day, list(book)
        self.statuses, self.errors, self.booked = [], [], []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            i += 1
            try:
                if self.book and i % 3 == 0:
                    sid = self.book[i % len(self.book)]
                    st, _, doc = self.s.post("/appointments",
                                             {"slotId": sid})
                    if st == 201:
                        self.booked.append(doc["id"])
                else:
                    st = self.s.get(f"/slots?date={self.day}")[0]
                self.statuses.append(st)
            except OSError as e:
                self.errors.append(repr(e))

    def stop(self):
        self.halt.set()
        self.join(timeout=20)
        return self


class NotifySocket:
    """A NOTIFY_SOCKET of our own, as systemd would give."""

    def __init__(self):
        self.path = os.path.join(tempfile.mkdtemp(), "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.seen = []

    def poll(self):
        while True:
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.seen

    def wait(self, text, after=0, timeout=15):
        def found():
            return any(text in m for m in self.poll()[after:])
        wait_for(found, timeout=timeout, what=f"notification {text}")
        return next(i for i, m in enumerate(self.seen)
                    if i >= after and text in m)


def test_sd_notify_messages(start_slotd):
    ns = NotifySocket()
    s = start_slotd(wait_ready=False, env={"NOTIFY_SOCKET": ns.path,
                                           "WATCHDOG_USEC": "400000"})
    first = ns.wait("STATUS=loading")
    ready = ns.wait("READY=1", after=first)
    s.wait_ready()
    status = [m for m in ns.seen if "STATUS=" in m and "slots" in m]
    assert status and "2 workers" in status[-1] and "database up" in \
        status[-1]
    ns.wait("WATCHDOG=1", after=ready)
    ns.wait("WATCHDOG=1", after=len(ns.seen))      # again, periodically
    mark = len(ns.poll())
    s.proc.send_signal(signal.SIGHUP)
    reloading = ns.wait("RELOADING=1", after=mark)
    ns.wait("READY=1", after=reloading)
    mark = len(ns.poll())
    s.proc.send_signal(signal.SIGTERM)
    ns.wait("STOPPING=1", after=mark)
    assert s.proc.wait(timeout=20) == 0


def test_reload_under_load_fails_no_request(pg, db, start_slotd):
    s = start_slotd(workers=2, schedule={"capacity": "50"})
    day = weekday_ahead(1)
    slots = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]]
    before = s.children()
    load = Load(s, day, book=slots[:4])
    load.start()
    wait_for(lambda: len(load.statuses) > 50)
    s.rewrite({"server": {"workers": "3", "access_log": "off"}})
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(s.children()) == 5 and
             not set(s.children()) & set(before), timeout=15,
             what="a new generation of children")
    n = len(load.statuses)
    wait_for(lambda: len(load.statuses) > n + 50)
    load.stop()
    assert load.errors == []
    assert set(load.statuses) <= {200, 201}, sorted(set(load.statuses))
    assert "reloaded: 3 workers" in s.log_text()
    # Every 201 is a committed booking.
    assert set(load.booked) <= {int(r[0]) for r in pg.psql(
        db, "SELECT id FROM appointments")}
    assert len(load.booked) == int(pg.psql(
        db, "SELECT count(*) FROM appointments")[0][0])


@pytest.mark.parametrize("change, error", [
    ({"bogus": "1"}, "[server] bogus: unknown key"),
    ({"shm_name": "/a/b"}, "[server] shm_name: '/a/b' is not")])
def test_bad_reload_keeps_the_running_configuration(start_slotd, change,
                                                    error):
    s = start_slotd()
    before = s.children()
    s.rewrite({"server": change})
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in s.log_text(), timeout=10)
    assert f"{s.conf}:" in s.log_text() and error in s.log_text()
    assert s.children() == before
    assert s.get("/readyz")[0] == 200


def test_reload_applies_the_schedule_and_names_restart_keys(pg, db,
                                                           start_slotd):
    s = start_slotd(schedule={"days": "mon-fri"})
    friday = weekday_ahead(4)
    fri = s.get_json(f"/slots?date={friday}")[2]["slots"]
    kept = fri[0]["id"]
    assert s.post("/appointments", {"slotId": kept})[0] == 201
    s.rewrite({"schedule": {"days": "mon-thu,sat", "capacity": "4"},
               "server": {"max_slots": "1024"}})
    s.proc.send_signal(signal.SIGHUP)
    saturday = weekday_ahead(5)
    wait_for(lambda: len(s.get_json(f"/slots?date={saturday}")[2]
                         ["slots"]) == 16, timeout=15)
    # Friday's slots go, but the booked one stays (and is logged).
    wait_for(lambda: [x["id"] for x in s.get_json(
        f"/slots?date={friday}")[2]["slots"]] == [kept], timeout=10)
    log = s.log_text()
    assert "no longer fit the schedule but keep their bookings" in log
    assert "[server] max_slots changed but needs a restart" in log
    # Future slots at the old schedule capacity take the new one.
    monday = weekday_ahead(0)
    wait_for(lambda: {x["capacity"] for x in s.get_json(
        f"/slots?date={monday}")[2]["slots"]} == {4}, timeout=10)


def test_crashes_under_load_lose_no_booking(pg, db, start_slotd):
    s = start_slotd(workers=2, schedule={"capacity": "100"})
    day = weekday_ahead(2)
    slots = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]]
    load = Load(s, day, book=slots[:3])
    load.start()
    wait_for(lambda: len(load.booked) > 5)
    for victim in s.children():
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in s.children() and
                 len(s.children()) == 4, timeout=5, interval=0.005)
        assert time.monotonic() - t0 < 1.0
        n = len(load.statuses)
        wait_for(lambda: len(load.statuses) > n + 10, timeout=10)
    load.stop()
    # A worker killed mid-request drops its connections; nothing else
    # fails, and every confirmed booking is in the database.
    assert all(st in (200, 201, 503) for st in load.statuses)
    committed = {int(r[0]) for r in pg.psql(db, "SELECT id FROM appointments")}
    assert set(load.booked) <= committed
    wait_for(lambda: s.get("/readyz")[0] == 200, timeout=10)
    total = int(pg.psql(db, f"SELECT sum(booked) FROM slots WHERE id IN "
                        f"({slots[0]},{slots[1]},{slots[2]})")[0][0])
    assert total == len(committed)
    wait_for(lambda: sum(s.get_json(f"/slots/{i}")[2]["booked"]
                         for i in slots[:3]) == total, timeout=5)


def test_database_restart_under_load(pg, db, start_slotd):
    s = start_slotd(workers=2)
    day = weekday_ahead(3)
    load = Load(s, day)
    load.start()
    wait_for(lambda: len(load.statuses) > 20)
    pg.stop()
    try:
        wait_for(lambda: s.get("/readyz")[0] == 503, timeout=10)
        n = len(load.statuses)
        wait_for(lambda: len(load.statuses) > n + 50)
        sid = s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
        t0 = time.monotonic()
        assert s.post("/appointments", {"slotId": sid})[0] == 503
        assert time.monotonic() - t0 < 1.0
    finally:
        pg.start()
    wait_for(lambda: s.get("/readyz")[0] == 200, timeout=20)
    load.stop()
    assert load.errors == [] and set(load.statuses) == {200}


def test_sigterm_drains_in_flight_requests(pg, db, start_slotd):
    s = start_slotd(workers=1)
    sid = s.get_json(f"/slots?date={weekday_ahead(4, 8)}")[2]["slots"][0][
        "id"]
    lock = RowLock(pg, db, sid)
    result = []
    t = threading.Thread(target=lambda: result.append(
        s.post("/appointments", {"slotId": sid})))
    t.start()
    wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                             "WHERE wait_event_type = 'Lock'") == [["1"]])
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)               # the stop is under way, the booking waits
    assert s.proc.poll() is None
    lock.release()
    t.join(timeout=10)
    assert result and result[0][0] == 201
    assert result[0][1].get("connection") == "close"
    assert s.proc.wait(timeout=20) == 0
    assert not os.path.exists("/dev/shm" + s.shm)


def test_sigterm_waits_for_writes_whose_client_left(pg, db, start_slotd):
    """A booking still in the database when its client hangs up is finished
    before the worker leaves: its seat reaches this table and, announced,
    every other instance's."""
    a = start_slotd(workers=1)
    b = start_slotd(workers=1)
    sid = a.get_json(f"/slots?date={weekday_ahead(4, 8)}")[2]["slots"][1][
        "id"]
    lock = RowLock(pg, db, sid)
    body = f'{{"slotId": {sid}}}'.encode()
    with socket.create_connection(("127.0.0.1", a.port)) as c:
        c.sendall(b"POST /appointments HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                                 "WHERE wait_event_type = 'Lock'") ==
                 [["1"]])
    a.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)               # the stop is under way, the booking waits
    assert a.proc.poll() is None
    lock.release()
    assert a.proc.wait(timeout=20) == 0
    assert pg.psql(db, f"SELECT booked FROM slots WHERE id = {sid}") == \
        [["1"]]
    wait_for(lambda: b.slot(sid)["booked"] == 1, timeout=2)


def test_metrics_follow_requests(start_slotd):
    s = start_slotd()

    def metric(text, name):
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{") \
                    and line.split(" ")[0] == name:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def scrape():
        status, hdrs, body = s.get("/metrics")
        assert status == 200
        assert hdrs["content-type"].startswith("text/plain; version=0.0.4")
        return body.decode()

    day = weekday_ahead(1, 8)
    key = 'slotd_http_requests_total{route="slots",status="200"}'
    before = scrape()
    for _ in range(5):
        s.get(f"/slots?date={day}")
    sid = s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    s.post("/appointments", {"slotId": sid})
    s.post("/appointments", {"slotId": "x"})
    after = scrape()
    assert metric(after, key) == metric(before, key) + 6
    assert metric(after, 'slotd_bookings_total{outcome="booked"}') == 1
    assert metric(after, 'slotd_bookings_total{outcome="invalid"}') == 1
    assert metric(after, 'slotd_http_request_duration_seconds_count'
                  '{route="slots"}') >= 6
    assert metric(after, "slotd_slot_table_slots") > 0
    assert metric(after, "slotd_slot_table_capacity") == 65536
    assert metric(after, "slotd_ready") == 1
    assert metric(after, "slotd_sync_notifications_total") >= 1
    for name in ("slotd_db_pool_waits_total", "slotd_sync_resyncs_total",
                 "slotd_reloads_total", "slotd_sync_lag_seconds",
                 'slotd_process_restarts_total{role="worker"}'):
        assert f"\n{name} " in after or f"\n{name}" in after, name


def test_access_log_can_be_turned_off(start_slotd):
    s = start_slotd()
    s.get("/healthz")
    wait_for(lambda: 'access 127.0.0.1 "GET /healthz" 200' in s.log_text())
    quiet = start_slotd(extra={"server": {"access_log": "off"}})
    quiet.get("/healthz?x=1")
    quiet.stop()
    assert "access " not in quiet.log_text()
    assert "password" not in s.log_text()


# What log.c starts every line with: level, role, pid.
LOG_LINE = re.compile(r"(error|warn|info|debug) (slotd|master|syncer|"
                      r"courier|worker \d+)\[\d+\]: ")


def test_database_messages_are_log_lines(pg, db, start_slotd):
    """What PostgreSQL says besides answers (a warning at connection, a
    notice of several lines, the FATAL a terminated backend sends) is one
    log line each, with level, role and pid."""
    pg.psql(db, f"UPDATE pg_database SET datcollversion = '0' "
            f"WHERE datname = '{db}'")   # every connection warns
    s = start_slotd(workers=1)
    pg.psql(db, """CREATE FUNCTION noisy() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
        RAISE NOTICE 'booked slot %', NEW.slot_ids[1]
            USING DETAIL = E'one line\nand another';
        RETURN NEW; END $$;
        CREATE TRIGGER noisy AFTER INSERT ON appointments
            FOR EACH ROW EXECUTE FUNCTION noisy()""")
    sid = s.get_json(f"/slots?date={weekday_ahead(2)}")[2]["slots"][0]["id"]
    assert s.post("/appointments", {"slotId": sid})[0] == 201
    wait_for(lambda: re.search(
        r"^info worker 0\[\d+\]: libpq: NOTICE:  booked slot %d; "
        r"DETAIL:  one line; and another$" % sid, s.log_text(), re.M),
        what="the notice in the log")

    def ours():
        return int(pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                           "WHERE application_name IN ('slotd syncer', "
                           "'slotd worker')")[0][0])
    wait_for(lambda: ours() >= 2, what="the syncer and a worker connected")
    pg.psql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name IN ('slotd syncer', 'slotd worker')")
    fatal = r"\[\d+\]: libpq: FATAL:  terminating connection due to " \
        "administrator command$"
    for role in ("syncer", "worker 0"):
        wait_for(lambda: re.search(f"^warn {role}{fatal}", s.log_text(),
                                   re.M), what=f"the {role}'s FATAL")
        assert re.search(f"^warn {role}\\[\\d+\\]: libpq: WARNING:  "
                         "database .* has no actual collation version",
                         s.log_text(), re.M), role
    wait_for(lambda: s.post("/appointments", {"slotId": sid})[0] == 201,
             what="bookings again")
    s.stop()
    lines = s.log_text().splitlines()
    assert [line for line in lines if not LOG_LINE.match(line)] == []


@pytest.mark.skipif(not os.environ.get("SYSTEMD_ANALYZE") or
                    not os.environ.get("SLOTD_UNIT"),
                    reason="systemd-analyze is not installed")
def test_unit_file_verifies(tmp_path):
    unit = tmp_path / "slotd.service"
    text = open(os.environ["SLOTD_UNIT"]).read()
    # Point the unit at binaries that exist here, as an installed one would.
    binary = os.environ["SLOTD_BIN"]
    for line in text.splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            path = line.split("=", 1)[1].split()[0]
            text = text.replace(path, binary)
    unit.write_text(text)
    r = subprocess.run([os.environ["SYSTEMD_ANALYZE"], "verify",
                        str(unit)], capture_output=True, text=True)
    problems = [line for line in r.stderr.splitlines()
                if "slotd.service" in line]
    assert r.returncode == 0 and not problems, r.stderr


def test_failover_to_a_promoted_standby(tmp_path):
    """Two servers in the conninfo: when the primary dies and the standby
    is promoted, slotd finds the new primary by itself."""
    from harness import PgCluster, Slotd
    primary = PgCluster()
    standby = None
    s = None
    try:
        primary.create_db("slotd")
        standby = PgCluster(standby_of=primary)
        conninfo = (f"host=127.0.0.1,127.0.0.1 port={primary.port},"
                    f"{standby.port} user=postgres dbname=slotd "
                    "target_session_attrs=read-write connect_timeout=2")
        s = Slotd(primary, "slotd", conninfo=conninfo)
        day = weekday_ahead(1)
        slots = s.get_json(f"/slots?date={day}")[2]["slots"]
        first = s.post("/appointments", {"slotId": slots[0]["id"]})
        assert first[0] == 201
        primary.stop("immediate")
        wait_for(lambda: s.get("/readyz")[0] == 503, timeout=15)
        assert s.post("/appointments", {"slotId": slots[1]["id"]})[0] == 503
        assert s.get(f"/slots?date={day}")[0] == 200
        standby.promote()
        wait_for(lambda: s.post("/appointments",
                                {"slotId": slots[1]["id"]})[0] == 201,
                 timeout=30, interval=0.2, what="a booking on the new primary")
        wait_for(lambda: s.get("/readyz")[0] == 200, timeout=15)
        assert standby.psql("slotd", "SELECT count(*) FROM appointments") \
            == [["2"]]
        assert s.slot(slots[0]["id"])["booked"] == 1
    finally:
        if s is not None:
            s.destroy()
        if standby is not None:
            standby.destroy()
        primary.destroy()
