"""Test harness: a private PostgreSQL cluster and real slotd processes.

PostgreSQL is initialised into a temporary folder and started on a free
port (as the `postgres` user when the tests run as root, since initdb
refuses root).  slotd is the binary under test, started with a generated
configuration; every wait polls for a condition with a deadline.
"""
import datetime as dt
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from zoneinfo import ZoneInfo

SG = ZoneInfo("Asia/Singapore")          # the demo schedule's zone

SLOTD_BIN = os.environ.get("SLOTD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "src", "slotd")


def pg_bindir():
    pg_config = os.environ.get("PG_CONFIG") or "pg_config"
    return subprocess.run([pg_config, "--bindir"], check=True,
                          capture_output=True, text=True).stdout.strip()


def weekday_ahead(weekday=1, after=1):
    """A date at least `after` days ahead (Singapore) on the weekday
    (0 = Monday)."""
    d = dt.datetime.now(SG).date() + dt.timedelta(days=after)
    while d.weekday() != weekday:
        d += dt.timedelta(days=1)
    return d


def problem(resp, status, code):
    """Check an answer (status, headers, body) is that problem+json."""
    got, hdrs, doc = resp
    if isinstance(doc, (bytes, str)):
        doc = json.loads(doc)
    assert got == status, doc
    assert hdrs["content-type"] == "application/problem+json"
    assert doc["code"] == code and doc["status"] == status, doc
    assert doc["type"] == f"/problems/{code}" and doc["title"], doc
    assert doc["title"] != "Error", f"{code} has no title of its own"
    assert isinstance(doc["detail"], str), doc
    return doc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.01, what="condition"):
    """Poll predicate until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                         f"(last: {last!r})")


class PgCluster:
    """A throwaway PostgreSQL server."""

    def __init__(self, standby_of=None, settings=""):
        """A new cluster, or a streaming standby of another one; settings
        are more server options ("-c shared_buffers=512MB")."""
        self.settings = settings
        self.bindir = pg_bindir()
        self.root = tempfile.mkdtemp(prefix="slotd-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o755)
        if standby_of is None:
            self._run(["initdb", "-D", self.data, "-U", "postgres",
                       "--auth=trust", "-E", "UTF8", "--locale=C",
                       "--no-sync"])
        else:
            self._run(["pg_basebackup", "-D", self.data, "-R", "-c",
                       "fast", "-X", "stream", "-h", "127.0.0.1", "-p",
                       str(standby_of.port), "-U", "postgres"])
        self.start()

    def promote(self):
        self._run(["pg_ctl", "-D", self.data, "-w", "promote"])

    def _run(self, argv, **kw):
        argv = [os.path.join(self.bindir, argv[0])] + argv[1:]
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        return subprocess.run(argv, check=True, capture_output=True,
                              text=True, **kw)

    def start(self):
        self._run(["pg_ctl", "-D", self.data, "-w", "-t", "60",
                   "-l", os.path.join(self.root, "postgres.log"),
                   "-o", f"-p {self.port} -k {self.root} "
                   "-c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200 " + self.settings, "start"])

    def stop(self, mode="fast"):
        self._run(["pg_ctl", "-D", self.data, "-w", "-m", mode, "stop"])

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def conninfo(self, db, user="postgres"):
        return (f"host=127.0.0.1 port={self.port} user={user} dbname={db} "
                "connect_timeout=5")

    def psql(self, db, sql, check=True):
        """Run SQL; returns the rows as lists of strings."""
        r = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-A", "-t", "-q",
             "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
            capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed: {r.stderr}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def create_db(self, name):
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return name


DEMO_SCHEDULE = {
    "timezone": "Asia/Singapore",
    "days": "mon-fri",
    "hours": "09:00-18:00",
    "slot_minutes": "30",
    "capacity": "3",
    "breaks": "12:00-13:00",
    "horizon_days": "30",
}


class Slotd:
    """One slotd instance (master, syncer, workers) on its own port."""

    counter = 0

    def __init__(self, pg, db, schedule=None, workers=2, extra=None,
                 conninfo=None, migrate=True, wait_ready=True, env=None,
                 listen_host="127.0.0.1"):
        Slotd.counter += 1
        self.dir = tempfile.mkdtemp(prefix="slotd-")
        self.port = free_port()
        self.shm = f"/slotd-test-{os.getpid()}-{Slotd.counter}"
        self.conf = os.path.join(self.dir, "slotd.conf")
        self.log = os.path.join(self.dir, "slotd.log")
        sched = dict(DEMO_SCHEDULE)
        sched.update(schedule or {})
        self.sections = {
            "server": {"listen": f"{listen_host}:{self.port}",
                       "workers": str(workers), "shm_name": self.shm,
                       "max_slots": "65536"},
            "database": {"conninfo": conninfo or pg.conninfo(db)},
            "schedule": sched,
        }
        self.rewrite(extra or {})
        if migrate:
            r = self.command("migrate")
            assert r.returncode == 0, r.stderr
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SLOTD_BIN, "-c", self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     env={**os.environ, **(env or {})})
        if wait_ready:
            self.wait_ready()

    def rewrite(self, changes):
        """Merge {section: {key: value}} into the config file."""
        for sec, kv in changes.items():
            self.sections.setdefault(sec, {}).update(kv)
        with open(self.conf, "w") as f:
            for sec, kv in self.sections.items():
                f.write(f"[{sec}]\n")
                for k, v in kv.items():
                    f.write(f"{k} = {v}\n")

    def children(self):
        pid = self.proc.pid
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(p) for p in f.read().split())

    def command(self, *args):
        return subprocess.run([SLOTD_BIN, "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=60)

    def wait_ready(self, timeout=20):
        """Needs plain HTTP; an HTTPS-only instance is polled by its test."""
        wait_for(lambda: self.proc.poll() is None and
                 self.get("/readyz")[0] == 200, timeout=timeout,
                 what=f"slotd ready (log: {self.log_text()[-2000:]})")

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def request_lines(self, method, path, lines, body=None, timeout=10):
        """A request whose headers are a list of (name, value): a name may
        come more than once."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in lines:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def get(self, path, headers=None):
        status, hdrs, data = self.request("GET", path, headers=headers)
        return status, hdrs, data

    def get_json(self, path, headers=None):
        status, hdrs, data = self.get(path, headers)
        return status, hdrs, json.loads(data) if data else None

    def send_json(self, method, path, doc, headers=None, raw=None,
                  timeout=10):
        """Send doc as JSON (or raw bytes); returns status, headers and the
        decoded body (None when empty)."""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        body = raw if raw is not None else json.dumps(doc).encode()
        status, h, data = self.request(method, path, body=body, headers=hdrs,
                                       timeout=timeout)
        return status, h, json.loads(data) if data else None

    def post(self, path, doc, headers=None, raw=None, timeout=10):
        return self.send_json("POST", path, doc, headers, raw, timeout)

    def delete(self, path, headers=None):
        status, h, data = self.request("DELETE", path, headers=headers)
        return status, h, json.loads(data) if data else None

    def slot(self, sid):
        return self.get_json(f"/slots/{sid}")[2]

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("slotd did not stop on SIGTERM")
        self.logf.close()
        return self.proc.returncode

    def destroy(self):
        code = self.stop()
        log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert code == 0, f"slotd exited with {code}: {log[-3000:]}"
        assert "runtime error" not in log and "Sanitizer" not in log, log


class NginxServer:
    """A private nginx (no daemon, its files in a folder of its own) on a
    free port: `server` is the body of its one server block, `http` more
    directives of its http block."""

    def __init__(self, server, http="", workers=1, connections=1024):
        self.dir = tempfile.mkdtemp(prefix="slotd-nginx-")
        os.chmod(self.dir, 0o777)       # workers run as nobody when root
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        temp = "".join(f"{k}_temp_path {self.dir}/{k};\n" for k in (
            "client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w") as f:
            f.write(f"worker_processes {workers};\n"
                    f"pid {self.dir}/nginx.pid;\n"
                    f"error_log {self.dir}/error.log;\n"
                    f"events {{ worker_connections {connections}; }}\n"
                    f"http {{\naccess_log off;\n{temp}{http}\n"
                    f"server {{\nlisten 127.0.0.1:{self.port};\n"
                    f"{server}\n}}\n}}\n")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-g",
                                      "daemon off;"])
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port)),
                 what="nginx")

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def metric(s, name):
    """A metric's value in an instance's /metrics (first sample)."""
    for line in s.get("/metrics")[2].decode().splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


class RowLock:
    """A psql session holding FOR UPDATE on one slot until released."""

    def __init__(self, pg, db, sid):
        self.pg, self.db = pg, db
        self.proc = subprocess.Popen(
            [os.path.join(pg.bindir, "psql"), "-X", "-q", "-h", "127.0.0.1",
             "-p", str(pg.port), "-U", "postgres", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.proc.stdin.write(
            f"BEGIN; SELECT 1 FROM slots WHERE id = {sid} FOR UPDATE;\n")
        self.proc.stdin.flush()
        wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                                 "WHERE state = 'idle in transaction'")
                 == [["1"]], what="the row lock")

    def release(self):
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def queue_behind_lock(pg, db, s, sid, bookings):
    """Hold the only database connection with a booking stuck on a row
    lock, queue `bookings` (bodies) behind it, then let them all go: they
    reach the database together.  Returns (stuck result, their results)."""
    lock = RowLock(pg, db, sid)
    stuck = {}
    t = threading.Thread(target=lambda: stuck.setdefault(
        "r", s.post("/appointments", {"slotId": sid}, timeout=30)))
    t.start()
    wait_for(lambda: pg.psql(db, "SELECT count(*) FROM pg_stat_activity "
                             "WHERE wait_event_type = 'Lock'") == [["1"]],
             what="the booking waiting for the row lock")
    waits = metric(s, "slotd_db_pool_waits_total")
    results = [None] * len(bookings)

    def run(i):
        results[i] = s.post("/appointments", bookings[i], timeout=30)
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(bookings))]
    for th in threads:
        th.start()
    wait_for(lambda: metric(s, "slotd_db_pool_waits_total") ==
             waits + len(bookings), what="every booking queued")
    lock.release()
    t.join()
    for th in threads:
        th.join()
    return stuck["r"], results


def slot_rows(pg, db, where="true"):
    return pg.psql(db, "SELECT id, capacity, booked, version FROM slots "
                   f"WHERE {where} ORDER BY start_at")
