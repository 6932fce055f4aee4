"""bench scenario 9: live streams (GET /slots/stream) on one worker, on an
instance of their own:

- fan-out: 1,000 streams of one day; a slot of the day changes (PATCH
  /slots/{id}, through slotd, one at a time); the time from the change's
  request to the event at each client, p50 and p99 over every stream and
  change;
- GET /slots of the same day, p99 and rate, with those 1,000 streams open
  against none; in both runs a slot of the day changes five times a second,
  so that the only difference is the streams (and the events they are
  sent).
"""
import http.client
import json
import threading
import time

from harness import Slotd
from sse import Stream, wait_all

STREAMS = 1000
CHANGE_EVERY = 0.2          # seconds, while reads are measured


class Changer:
    """PATCHes the capacity of a slot of the day, in turn, on one
    keep-alive connection: each call returns once the change is in the
    table."""

    def __init__(self, port, ids):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.ids, self.n = ids, 0
        self.thread, self.running = None, False

    def change(self):
        sid = self.ids[self.n % len(self.ids)]
        self.n += 1
        self.conn.request("PATCH", f"/slots/{sid}", body=json.dumps(
            {"capacity": 50000 + self.n}),
            headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        r.read()
        assert r.status == 200, r.status

    def _run(self):
        while self.running:
            self.change()
            time.sleep(CHANGE_EVERY)

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def stop(self):
        self.running = False
        self.thread.join()


def open_streams(port, day):
    streams = [Stream(port, f"date={day}") for _ in range(STREAMS)]
    assert {s.status for s in streams} == {200}
    assert len(wait_all(streams, lambda s: len(s.queue) > 0,
                        timeout=60)) == STREAMS
    for s in streams:
        s.queue.clear()
    return streams


def fan_out(changer, streams, changes):
    """Milliseconds from each change's request to its event, per stream."""
    lat = []
    for _ in range(changes):
        t0 = time.monotonic()
        changer.change()
        sent = time.monotonic() - t0
        when = wait_all(streams, lambda s: any(
            e.get("event") == "slot" for e in s.queue))
        assert len(when) == len(streams), "a stream saw no event"
        # wait_all's clock starts when the PATCH has returned.
        lat += [(sent + w) * 1000 for w in when.values()]
        for s in streams:
            s.queue.clear()
        time.sleep(0.1)
    return sorted(lat)


def scenario(pg, sched, big, day, sec, rounds, table, notes, wrk,
             median_runs, row):
    db = pg.create_db("slotd_streams")
    extra = {"server": dict(big["server"], max_streams="2000"),
             "database": big["database"]}
    s = Slotd(pg, db, schedule=sched, workers=1, extra=extra)
    try:
        ids = [x["id"] for x in s.get_json(f"/slots?date={day}")[2]["slots"]]
        changer = Changer(s.port, ids)
        url = f"http://127.0.0.1:{s.port}/slots?date={day}"
        none, some = [], []
        for _ in range(rounds):
            changer.start()
            none.append(wrk(url, sec))
            changer.stop()
            streams = open_streams(s.port, day)
            changer.start()
            some.append(wrk(url, sec))
            changer.stop()
            for st in streams:
                st.close()
        streams = open_streams(s.port, day)
        lat = fan_out(changer, streams, 30 if sec >= 5 else 10)
        for st in streams:
            st.close()
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        notes.append(f"scenario 9: {len(lat)} events to {STREAMS} streams "
                     f"on one worker: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                     f"max {lat[-1]:.1f} ms from the change's request")
        table.append(("9 stream event p99 ms, 1,000 streams", p99, None,
                      None, "< 100"))
        (rn, pn), (rs, ps) = median_runs(none), median_runs(some)
        row(table, "9 GET /slots p99 ms, 1,000 streams / none", ps, pn,
            "<= 1.2")
        row(table, "9 GET /slots req/s, 1,000 streams / none", rs, rn, "")
    finally:
        s.stop()
