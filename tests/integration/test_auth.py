"""[auth] mode = jwt: every failure mode of a token, owners and admins,
idempotency keys per subject, and mode = none's loopback-only admin."""
import base64
import hashlib
import hmac
import json
import subprocess
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness import SLOTD_BIN, problem, weekday_ahead

SECRET = b"0123456789abcdef0123456789abcdef-secret"


def claims(**kw):
    now = int(time.time())
    c = {"sub": "alice", "iss": "https://id.example", "aud": "slotd",
         "exp": now + 300, "iat": now}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def hs(key=SECRET, alg="HS256", **kw):
    return jwt.encode(claims(**kw), key, algorithm=alg)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_hs256(head, body, key):
    """head.body.signature for parts already encoded as they are sent."""
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def forge_hs256(payload, key, header=None):
    """An HS256 token keyed with anything (libraries refuse PEM keys)."""
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    return sign_hs256(head, b64(json.dumps(payload).encode()), key)


def dirty_tail(part):
    """part with the unused bits of its last character set: it decodes to
    the same bytes under a lax decoder."""
    assert len(part) % 4 in (2, 3), part
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_")
    return part[:-1] + alphabet[alphabet.index(part[-1]) | 1]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secured(start_slotd, tmp_path):
    path = tmp_path / "jwt.secret"
    path.write_bytes(SECRET + b"\n")
    return start_slotd(extra={"auth": {
        "mode": "jwt", "jwt_secret_file": str(path),
        "issuer": "https://id.example", "audience": "slotd"}})


def slot_ids(s, weekday=1):
    return [x["id"] for x in s.get_json(
        f"/slots?date={weekday_ahead(weekday)}")[2]["slots"]]


def expect_401(resp, invalid=True):
    status, hdrs, doc = resp
    if isinstance(doc, bytes):
        doc = json.loads(doc)
    assert status == 401, doc
    assert doc["code"] == "unauthorized"
    challenge = hdrs["www-authenticate"]
    assert challenge.startswith('Bearer realm="slotd"')
    assert ('error="invalid_token"' in challenge) == invalid


def test_token_failures(secured, pg, db):
    s = secured
    sid = slot_ids(s)[0]
    book = {"slotId": sid}
    now = int(time.time())
    expect_401(s.post("/appointments", book), invalid=False)
    bad = [
        hs(key=b"another-secret-another-secret-1234"),          # signature
        jwt.encode(claims(), None, algorithm="none"),           # alg none
        hs(alg="HS512"),                                        # other alg
        hs(exp=now - 120),                                      # expired
        hs(exp=None),                                           # no expiry
        hs(nbf=now + 120),                                      # not yet
        hs(iss="https://evil.example"),                         # issuer
        hs(iss=None),
        hs(aud="someone-else"),                                 # audience
        hs(aud=["a", "b"]),
        hs(aud=None),
        hs(sub=None),                                           # subject
        hs(sub=""),
        "abc.def",                                              # shape
        "a.b.c.d",
        "!!!.???.***",
        hs() + "x",
    ]
    before = pg.psql(db, "SELECT sum(booked) FROM slots")
    for token in bad:
        expect_401(s.post("/appointments", book, bearer(token)))
        expect_401(s.get(f"/slots/{sid}", bearer(token)))
    status, hdrs, doc = s.post("/appointments", book,
                               {"Authorization": "Basic YWxpY2U6eA=="})
    assert status == 401
    assert pg.psql(db, "SELECT sum(booked) FROM slots") == before
    # Clock skew of up to a minute is forgiven; audience lists work.
    for i, token in enumerate((hs(exp=now - 30), hs(nbf=now + 30),
                               hs(aud=["x", "slotd"]), hs(exp=now + 300.5))):
        assert s.post("/appointments", {"slotId": slot_ids(s)[i + 1]},
                      bearer(token))[0] == 201
    # Reads stay public while public_reads is on.
    assert s.get(f"/slots/{sid}")[0] == 200


def test_critical_header_extensions_are_refused(secured, pg, db):
    s = secured
    sid = slot_ids(s, 2)[1]
    head = {"alg": "HS256", "typ": "JWT"}
    # RFC 7515 4.1.11: slotd understands no extension, so any crit,
    # well-formed or not, is refused like any other bad token.
    for crit in (["exp"], ["x-unknown"], ["b64"], [], "x-unknown", None,
                 {"x": 1}):
        token = forge_hs256(claims(), SECRET, {**head, "crit": crit,
                                               "x-unknown": True, "b64": True})
        status, hdrs, doc = s.post("/appointments", {"slotId": sid},
                                   bearer(token))
        expect_401((status, hdrs, doc))
        assert "crit" in doc["detail"], doc
        expect_401(s.get(f"/slots/{sid}", bearer(token)))
    assert s.slot(sid)["booked"] == 0
    token = forge_hs256(claims(), SECRET, head)
    assert s.post("/appointments", {"slotId": sid}, bearer(token))[0] == 201


def json_part(doc):
    """doc in base64url, its JSON padded with spaces so that the last
    character has four unused bits."""
    text = json.dumps(doc)
    text += " " * ((1 - len(text)) % 3)
    return b64(text.encode())


def test_base64url_is_decoded_strictly(secured, pg, db):
    s = secured
    sid = slot_ids(s, 2)[2]
    head = json_part({"alg": "HS256"})
    body = json_part(claims())
    good = sign_hs256(head, body, SECRET)
    signature = good.rsplit(".", 1)[1]
    bad = [
        good[:-len(signature)] + dirty_tail(signature),
        sign_hs256(dirty_tail(head), body, SECRET),
        sign_hs256(head, dirty_tail(body), SECRET),
        good + "=",                                  # padding
        sign_hs256(head + "==", body, SECRET),
        sign_hs256(head, body + "==", SECRET),
        sign_hs256(head[:-1], body, SECRET),         # length mod 4 = 1
        good[:-1] + "+",                             # base64, not url
    ]
    for token in bad:
        expect_401(s.post("/appointments", {"slotId": sid}, bearer(token)))
    assert s.slot(sid)["booked"] == 0
    assert s.post("/appointments", {"slotId": sid}, bearer(good))[0] == 201


def test_authorization_given_twice(secured, pg, db):
    """Two credentials on one request: refused, whichever is valid."""
    sid = slot_ids(secured)[0]
    body = json.dumps({"slotId": sid}).encode()
    good, other = bearer(hs())["Authorization"], "Bearer x.y.z"
    for lines in ([good, other], [other, good], [good, good]):
        got = secured.request_lines(
            "POST", "/appointments",
            [("Content-Type", "application/json")] +
            [("Authorization", v) for v in lines], body)
        problem(got, 400, "bad-request")
        assert "Authorization" in json.loads(got[2])["detail"]
    assert secured.slot(sid)["booked"] == 0
    assert pg.psql(db, "SELECT count(*) FROM appointments") == [["0"]]
    assert secured.post("/appointments", {"slotId": sid},
                        bearer(hs()))[0] == 201


def test_owners_and_admins(secured, pg, db):
    s = secured
    alice, bob = bearer(hs(sub="alice")), bearer(hs(sub="bob"))
    admin = bearer(hs(sub="ops", role="admin"))
    sid = slot_ids(s, 2)[0]
    status, _, appt = s.post("/appointments", {"slotId": sid}, alice)
    assert status == 201
    path = f"/appointments/{appt['id']}"
    assert s.get(path, alice)[0] == 200
    assert s.get(path, bob)[0] == 404          # no existence leak
    assert s.delete(path, bob)[0] == 404
    assert s.slot(sid)["booked"] == 1
    assert s.get(path, admin)[0] == 200
    assert s.delete(path, admin)[0] == 204
    assert s.slot(sid)["booked"] == 0
    # Holds belong to their taker too.
    _, _, hold = s.post("/holds", {"slotId": sid}, alice)
    assert s.post("/appointments", {"holdId": hold["id"]}, bob)[0] == 410
    assert s.delete(f"/holds/{hold['id']}", bob)[0] == 404
    assert s.post("/appointments", {"holdId": hold["id"]}, alice)[0] == 201
    # Admin calls are the admin's alone.
    one = {"startTime": f"{weekday_ahead(5)}T10:00:00+08:00",
           "endTime": f"{weekday_ahead(5)}T10:30:00+08:00", "capacity": 1}
    status, _, doc = s.post("/slots", one, alice)
    assert status == 403 and doc["code"] == "forbidden"
    expect_401(s.post("/slots", one), invalid=False)
    assert s.post("/slots", one, admin)[0] == 201
    assert pg.psql(db, "SELECT owner FROM appointments ORDER BY id") == \
        [["alice"], ["alice"]]


def test_idempotency_keys_are_per_subject(secured, pg, db):
    s = secured
    sid = slot_ids(s, 3)[0]
    key = {"Idempotency-Key": "same"}
    a = s.post("/appointments", {"slotId": sid},
               {**key, **bearer(hs(sub="alice"))})
    b = s.post("/appointments", {"slotId": sid},
               {**key, **bearer(hs(sub="bob"))})
    assert a[0] == b[0] == 201 and a[2]["id"] != b[2]["id"]
    again = s.post("/appointments", {"slotId": sid},
                   {**key, **bearer(hs(sub="bob"))})
    assert again[2]["id"] == b[2]["id"]
    assert s.slot(sid)["booked"] == 2


def test_private_reads(start_slotd, tmp_path):
    path = tmp_path / "jwt.secret"
    path.write_bytes(SECRET)
    s = start_slotd(extra={"auth": {"mode": "jwt",
                                    "jwt_secret_file": str(path),
                                    "public_reads": "false"}})
    day = weekday_ahead(1)
    expect_401(s.get(f"/slots?date={day}"), invalid=False)
    assert s.get(f"/slots?date={day}", bearer(hs()))[0] == 200
    assert s.get("/healthz")[0] == 200 and s.get("/readyz")[0] == 200


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_public_keys_and_algorithm_confusion(start_slotd, tmp_path, kind):
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        alg = "RS256"
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        alg = "ES256"
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "key.pem").write_bytes(pem)
    s = start_slotd(extra={"auth": {"mode": "jwt", "jwt_public_key_file":
                                    str(tmp_path / "key.pem")}})
    sid = slot_ids(s, 4)[0]
    good = jwt.encode(claims(), key, algorithm=alg)
    assert s.post("/appointments", {"slotId": sid}, bearer(good))[0] == 201
    # HS256 "signed" with the public key itself must not pass.
    forged = forge_hs256(claims(), pem)
    expect_401(s.post("/appointments", {"slotId": sid}, bearer(forged)))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048) \
        if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    expect_401(s.post("/appointments", {"slotId": sid},
                      bearer(jwt.encode(claims(), other, algorithm=alg))))


def test_bad_auth_configuration_is_refused(tmp_path):
    weak = tmp_path / "weak.secret"
    weak.write_bytes(b"short")
    for text, needle in [
            ("[auth]\nmode = jwt\n", "exactly one of"),
            (f"[auth]\nmode = jwt\njwt_secret_file = {weak}\n",
             "at least 32 bytes"),
            (f"[auth]\nmode = jwt\njwt_public_key_file = {weak}\n",
             "not a PEM"),
            ("[auth]\nmode = maybe\n", "[auth] mode")]:
        conf = tmp_path / "c.conf"
        conf.write_text(text)
        r = subprocess.run([SLOTD_BIN, "-c", str(conf), "-t"],
                           capture_output=True, text=True)
        assert r.returncode == 1 and needle in r.stderr, r.stderr


def outside_address():
    """An address of this machine that is not loopback, if it has one."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True,
                             text=True).stdout.split()
    except OSError:
        return None
    return next((a for a in out if "." in a and not a.startswith("127.")),
                None)


def test_mode_none_takes_admin_calls_from_this_host_only(start_slotd):
    addr = outside_address()
    if addr is None:
        pytest.skip("this machine has no address but loopback")
    s = start_slotd(listen_host="0.0.0.0")
    assert "mode = none" in s.log_text()
    one = {"startTime": f"{weekday_ahead(5)}T11:00:00+08:00",
           "endTime": f"{weekday_ahead(5)}T11:30:00+08:00", "capacity": 1}
    conn = __import__("http.client").client.HTTPConnection(addr, s.port,
                                                           timeout=5)
    conn.request("POST", "/slots", body=json.dumps(one),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    doc = json.loads(r.read())
    assert r.status == 403 and doc["code"] == "forbidden"
    assert s.post("/slots", one)[0] == 201                  # from loopback
