"""Process life cycle: one segment per instance, clean stop, and crashed
children restarted while the instance keeps serving."""
import os
import signal
import subprocess

from harness import SLOTD_BIN, free_port, wait_for


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_stop_removes_shared_memory(start_slotd):
    s = start_slotd()
    path = "/dev/shm" + s.shm
    assert os.path.exists(path)
    assert s.stop() == 0
    assert not os.path.exists(path)


def test_segment_in_use_is_named(start_slotd, tmp_path):
    s = start_slotd()
    conf = tmp_path / "other.conf"
    text = open(s.conf).read().replace(f":{s.port}", f":{free_port()}")
    conf.write_text(text)
    r = subprocess.run([SLOTD_BIN, "-c", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert f"shared memory {s.shm} is in use by another slotd" in r.stderr
    assert s.get("/readyz")[0] == 200


def test_crashed_children_are_restarted(pg, db, start_slotd):
    s = start_slotd(workers=2)
    master = s.proc.pid
    before = children(master)
    assert len(before) == 4          # syncer, courier and two workers
    for victim in before:
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in children(master) and
                 len(children(master)) == 4, timeout=5,
                 what="a replacement child")
        wait_for(lambda: s.get("/readyz")[0] == 200, timeout=10)
    assert not set(children(master)) & set(before)
    log = s.log_text()
    assert log.count("killed by signal 9") == 4
    # The new syncer still follows the database.
    sid = pg.psql(db, "SELECT min(id) FROM slots")[0][0]
    pg.psql(db, f"UPDATE slots SET capacity = 11 WHERE id = {sid}")
    wait_for(lambda: s.get_json(f"/slots/{sid}")[2]["capacity"] == 11,
             timeout=5)
