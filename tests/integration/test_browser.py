"""CORS in a real browser: a page from another origin lists slots and
books one through slotd in headless Chromium; a page from an origin that
is not allowed cannot read anything."""
import datetime as dt
import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from zoneinfo import ZoneInfo

import jwt
import pytest

from harness import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET = b"0123456789abcdef0123456789abcdef-browser"
PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
(async () => {
  const out = document.getElementById('out');
  try {
    const base = 'http://127.0.0.1:%(port)d';
    const r = await fetch(base + '/slots?date=%(day)s');
    const doc = await r.json();
    const b = await fetch(base + '/appointments', {
      method: 'POST',
      headers: {'Content-Type': 'application/json',
                'Authorization': 'Bearer %(token)s',
                'Idempotency-Key': 'browser-1'},
      body: JSON.stringify({slotId: doc.slots[0].id, name: 'From a page'})});
    const appt = await b.json();
    out.textContent = JSON.stringify({slots: doc.slots.length,
      etag: r.headers.get('ETag'), status: b.status,
      location: b.headers.get('Location'), id: appt.id});
  } catch (e) {
    out.textContent = 'ERROR ' + e;
  }
})();
</script></body></html>"""


def serve(directory):
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=directory)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def browse(url):
    profile = tempfile.mkdtemp(prefix="slotd-chromium-")
    try:
        r = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}",
             "--virtual-time-budget=15000", "--dump-dom", url],
            capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="out">(.*?)</pre>', r.stdout, re.S)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    return html.unescape(m.group(1))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_from_another_origin_books(pg, db, start_slotd, tmp_path):
    pages = tmp_path / "site"
    pages.mkdir()
    server, page_port = serve(str(pages))
    try:
        secret = tmp_path / "jwt.secret"
        secret.write_bytes(SECRET)
        s = start_slotd(extra={
            "auth": {"mode": "jwt", "jwt_secret_file": str(secret)},
            "cors": {"allow_origins": f"http://127.0.0.1:{page_port}"}})
        day = dt.datetime.now(ZoneInfo("Asia/Singapore")).date()
        while day.weekday() != 2 or day <= dt.date.today():
            day += dt.timedelta(days=1)
        token = jwt.encode({"sub": "parent-7", "exp": int(time.time()) + 600},
                           SECRET, algorithm="HS256")
        (pages / "book.html").write_text(PAGE % {
            "port": s.port, "day": day, "token": token})
        result = json.loads(browse(
            f"http://127.0.0.1:{page_port}/book.html"))
        assert result["slots"] == 16
        assert result["etag"]                        # exposed to the page
        assert result["status"] == 201
        assert result["location"] == f"/appointments/{result['id']}"
        assert pg.psql(db, "SELECT owner, name FROM appointments") == \
            [["parent-7", "From a page"]]

        # The same page from an origin slotd does not know reads nothing.
        other, other_port = serve(str(pages))
        try:
            assert browse(f"http://127.0.0.1:{other_port}/book.html") \
                .startswith("ERROR")
        finally:
            other.shutdown()
        assert pg.psql(db, "SELECT count(*) FROM appointments") == [["1"]]
    finally:
        server.shutdown()
