"""HTTPS beside plain HTTP with a private CA, modern protocol versions,
HTTPS only, certificates renewed by a reload, and the HTTP layer's own TLS
path (pipelining, answers larger than a record)."""
import datetime as dt
import http.client
import json
import signal
import socket
import ssl
import subprocess
from zoneinfo import ZoneInfo

from harness import SLOTD_BIN, free_port, wait_for, weekday_ahead
from test_http_core import Reader

SG = ZoneInfo("Asia/Singapore")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


def make_ca(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=slotd test CA",
            cwd=d)


def make_cert(d, name):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
            "-extfile", f"{name}.ext", cwd=d)
    return str(d / f"{name}.pem"), str(d / f"{name}.key")


def https_get(port, path, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        version, cipher = sock.version(), sock.cipher()[0]
        cn = dict(x[0] for x in sock.getpeercert()["subject"])["commonName"]
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status, version, cipher, cn
    finally:
        conn.close()


def test_https_beside_http_and_renewal(start_slotd, tmp_path):
    make_ca(tmp_path)
    cert, key = make_cert(tmp_path, "first")
    port = free_port()
    s = start_slotd(extra={"tls": {"listen": f"127.0.0.1:{port}",
                                   "cert_file": cert, "key_file": key}})
    ca = str(tmp_path / "ca.pem")
    day = dt.datetime.now(SG).date()
    status, version, cipher, cn = https_get(port, f"/slots?date={day}", ca)
    assert status == 200 and cn == "first"
    assert version in ("TLSv1.2", "TLSv1.3")
    assert "GCM" in cipher or "CHACHA20" in cipher
    assert s.get("/healthz")[0] == 200          # plain HTTP too
    # An untrusting client refuses the connection.
    try:
        https_get(port, "/healthz", None)
        assert False, "a certificate from an unknown CA was accepted"
    except ssl.SSLCertVerificationError:
        pass
    # TLS 1.1 is refused by the server.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    try:
        c = http.client.HTTPSConnection("127.0.0.1", port, context=old,
                                        timeout=5)
        c.request("GET", "/healthz")
        assert False, "TLS 1.1 was accepted"
    except (ssl.SSLError, ConnectionError):
        pass
    # A renewed certificate is served after a reload.
    cert2, key2 = make_cert(tmp_path, "second")
    s.rewrite({"tls": {"cert_file": cert2, "key_file": key2}})
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: https_get(port, "/healthz", ca)[3] == "second",
             timeout=10)


def test_https_only_and_bad_tls_config(start_slotd, tmp_path):
    make_ca(tmp_path)
    cert, key = make_cert(tmp_path, "only")
    port = free_port()
    start_slotd(wait_ready=False,
                extra={"server": {"listen": ""},
                       "tls": {"listen": f"127.0.0.1:{port}",
                               "cert_file": cert, "key_file": key}})
    ca = str(tmp_path / "ca.pem")
    wait_for(lambda: https_get(port, "/readyz", ca)[0] == 200, timeout=20)
    other_cert, _ = make_cert(tmp_path, "other")
    for tls, needle in [({"cert_file": cert}, "needs cert_file and key_file"),
                        ({"cert_file": other_cert, "key_file": key},
                         "[tls] key_file"),
                        ({"cert_file": str(tmp_path / "nope.pem"),
                          "key_file": key}, "cert_file")]:
        conf = tmp_path / "bad.conf"
        conf.write_text(f"[tls]\nlisten = 127.0.0.1:{free_port()}\n" +
                        "".join(f"{k} = {v}\n" for k, v in tls.items()))
        r = subprocess.run([SLOTD_BIN, "-c", str(conf), "-t"],
                           capture_output=True, text=True)
        assert r.returncode == 1 and needle in r.stderr, r.stderr


def test_https_pipelining_large_answers_and_bodies(start_slotd, tmp_path):
    """The HTTP layer's own TLS path: pipelined requests answered in order,
    an answer larger than a TLS record, a booking's body, keep-alive."""
    make_ca(tmp_path)
    cert, key = make_cert(tmp_path, "pipe")
    port = free_port()
    s = start_slotd(extra={"tls": {"listen": f"127.0.0.1:{port}",
                                   "cert_file": cert, "key_file": key}},
                    schedule={"days": "mon-sun", "slot_minutes": "5",
                              "breaks": ""})
    day = weekday_ahead(2)
    sid = s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    body = json.dumps({"slotId": sid}).encode()
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as c:
        c.sendall(
            f"GET /slots?date={day}&days=7 HTTP/1.1\r\nHost: t\r\n\r\n"
            .encode() +
            b"POST /appointments HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n\r\n" + body +
            f"GET /slots/{sid} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r = Reader(c)
        week, booked, one = r.answer(), r.answer(), r.answer()
        assert week[0] == 200 and len(week[2]) > 40000
        assert len(json.loads(week[2])["slots"]) == 7 * 108
        assert booked[0] == 201 and json.loads(booked[2])["slotId"] == sid
        assert one[0] == 200 and json.loads(one[2])["booked"] == 1
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        last = r.answer()
        assert last[0] == 200 and last[1]["connection"] == "close"
