"""Appointments as iCalendar (API.md, "iCalendar"): GET /appointments/{id}
with Accept: text/calendar, and a calendar's subscribable feed at
/calendars/{id}/appointments.ics?token=.  Every answer is read by a real
parser (python3-icalendar) after its lines are checked as RFC 5545 wants
them on the wire: CRLF, folded at 75 octets, never inside a character."""
import datetime as dt
import time
from zoneinfo import ZoneInfo

import jwt
import pytest
from icalendar import Calendar

from harness import problem, wait_for, weekday_ahead

UTC = dt.timezone.utc
ZONE = "Asia/Tokyo"
SECRET = b"0123456789abcdef0123456789abcdef-secret"

# Long, and of 2-, 3- and 4-byte characters, so that folds fall at every
# offset inside a character unless the writer avoids them; with the
# characters TEXT escapes.
NAME = ("Cô Trần Thị Ánh Nguyệt, lớp 1; họp phụ huynh — 日本語の面談 "
        "\\ 😀 ") * 3
NOTE = ("Con tôi bị dị ứng đậu phộng; xin lưu ý, cảm ơn!\n"
        "日本語: 面談の前に連絡帳を確認してください。😀😀\r\n"
        "Back\\slash, comma; semicolon\n") * 4

CAL = {
    "name": NAME.strip(),
    "timezone": ZONE,
    "schedule": {"hours": ["mon-sun 09:00-17:00"], "slotMinutes": 30,
                 "capacity": 2, "horizonDays": 14},
}


def wire_lines(body):
    """The content lines of an iCalendar body as sent, checked: each ends
    with CRLF, holds no other CR or LF, is at most 75 octets and is UTF-8
    on its own (a fold never splits a character)."""
    assert body.endswith(b"\r\n"), body[-20:]
    lines = body[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, line
        assert len(line) <= 75, (len(line), line)
        line.decode("utf-8")
    return lines


def parse(answer):
    """The VCALENDAR of a 200 text/calendar answer, its lines checked."""
    status, headers, body = answer
    assert status == 200, body
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    wire_lines(body)
    cal = Calendar.from_ical(body)
    assert cal.name == "VCALENDAR"
    assert str(cal["VERSION"]) == "2.0" and str(cal["PRODID"])
    assert str(cal["METHOD"]) == "PUBLISH"
    return cal


def events(cal):
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def only_event(answer):
    cal = parse(answer)
    evs = cal.walk("VEVENT")
    assert len(evs) == 1, evs
    return evs[0]


def utc_of(ev, prop):
    """A DTSTART or DTEND: written in UTC (...Z), as an aware datetime."""
    assert ev[prop].to_ical().endswith(b"Z"), ev[prop].to_ical()
    value = ev.decoded(prop)
    assert value.utcoffset() == dt.timedelta(0)
    return value


def rfc3339(text):
    return dt.datetime.fromisoformat(text)


def as_ical(s, aid, headers=None):
    return s.get(f"/appointments/{aid}",
                 {"Accept": "text/calendar", **(headers or {})})


def new_calendar(s, headers=None):
    status, _, cal = s.post("/calendars", CAL, headers)
    assert status == 201, cal
    return cal


def free_slots(s, cid, headers=None, days_ahead=2):
    """The slots of calendar cid on a day ahead, once the instance has
    them (a new calendar's reach it within 2 s)."""
    day = dt.datetime.now(ZoneInfo(ZONE)).date() + dt.timedelta(
        days=days_ahead)

    def ids():
        status, _, doc = s.get_json(f"/slots?date={day}&calendar={cid}",
                                    headers)
        assert status == 200, doc
        return [x["id"] for x in doc["slots"]]
    return wait_for(ids, timeout=5, what=f"calendar {cid}'s slots")


def book(s, sid, headers=None, **doc):
    status, _, a = s.post("/appointments", {"slotId": sid, **doc}, headers)
    assert status == 201, a
    return a


def test_an_appointment_as_icalendar(slotd):
    cal = new_calendar(slotd)
    sid = free_slots(slotd, cal["id"])[0]
    a = book(slotd, sid, name=NAME, note=NOTE, email="ada@example.com")
    answer = as_ical(slotd, a["id"])
    assert "Accept" in answer[1]["vary"]
    ev = only_event(answer)
    # Folding was needed, and happened.
    assert any(line.startswith(b" ") for line in wire_lines(answer[2]))
    assert str(ev["UID"]).startswith(f"appointment-{a['id']}@")
    assert ev.decoded("DTSTAMP").utcoffset() == dt.timedelta(0)
    assert utc_of(ev, "DTSTART") == rfc3339(a["startTime"])
    assert utc_of(ev, "DTEND") == rfc3339(a["endTime"])
    assert str(ev["SUMMARY"]) == CAL["name"]
    assert int(ev["SEQUENCE"]) == 0
    assert str(ev["STATUS"]) == "CONFIRMED"
    # The note comes back exactly, its escapes undone (CRLF as a newline).
    assert NOTE.replace("\r\n", "\n") in str(ev["DESCRIPTION"])
    assert NAME in str(ev["DESCRIPTION"])
    # HEAD: the same headers, no body.
    status, headers, body = slotd.request(
        "HEAD", f"/appointments/{a['id']}",
        headers={"Accept": "text/calendar"})
    assert status == 200 and body == b""
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert int(headers["content-length"]) == len(answer[2])


def test_reschedule_keeps_the_uid_and_bumps_the_sequence(slotd):
    cal = new_calendar(slotd)
    sids = free_slots(slotd, cal["id"])
    a = book(slotd, sids[0], name="Ada")
    first = only_event(as_ical(slotd, a["id"]))
    assert int(first["SEQUENCE"]) == 0

    status, _, moved = slotd.post(
        f"/appointments/{a['id']}/reschedule", {"slotId": sids[3]})
    assert status == 200, moved
    ev = only_event(as_ical(slotd, a["id"]))
    assert str(ev["UID"]) == str(first["UID"])
    assert int(ev["SEQUENCE"]) == 1
    assert utc_of(ev, "DTSTART") == rfc3339(moved["startTime"])
    assert utc_of(ev, "DTEND") == rfc3339(moved["endTime"])
    assert utc_of(ev, "DTSTART") != utc_of(first, "DTSTART")
    assert ev.decoded("DTSTAMP") >= first.decoded("DTSTAMP")

    # A move to the slots it has changes nothing; another move counts.
    status, _, again = slotd.post(
        f"/appointments/{a['id']}/reschedule", {"slotId": sids[5]})
    assert status == 200, again
    assert int(only_event(as_ical(slotd, a["id"]))["SEQUENCE"]) == 2

    status, _, gone = slotd.post(f"/appointments/{a['id']}/cancel",
                                 {"reason": "ill"})
    assert status == 200 and gone["status"] == "cancelled", gone
    ev = only_event(as_ical(slotd, a["id"]))
    assert str(ev["STATUS"]) == "CANCELLED"
    assert str(ev["UID"]) == str(first["UID"])
    assert int(ev["SEQUENCE"]) == 2
    assert utc_of(ev, "DTSTART") == rfc3339(again["startTime"])


@pytest.mark.parametrize("accept,kind", [
    ("text/calendar", "calendar"),
    ("TEXT/Calendar ; charset=utf-8", "calendar"),
    ("application/json;q=0.5, text/calendar", "calendar"),
    ("text/calendar, application/json", "calendar"),
    ("text/calendar;q=0.4, application/json", "json"),
    ("text/calendar;q=0", "json"),
    ("text/*", "json"),
    ("*/*", "json"),
    ("application/msgpack, text/calendar;q=0.5", "msgpack"),
    ("text/html", "json"),
])
def test_negotiation(slotd, accept, kind):
    sid = slotd.get_json(f"/slots?date={weekday_ahead()}")[2]["slots"][0]
    a = book(slotd, sid["id"])
    status, headers, body = slotd.get(f"/appointments/{a['id']}",
                                      {"Accept": accept})
    assert status == 200
    assert "Accept" in headers["vary"]
    want = {"calendar": "text/calendar; charset=utf-8",
            "json": "application/json",
            "msgpack": "application/msgpack"}[kind]
    assert headers["content-type"] == want
    if kind == "calendar":
        assert body.startswith(b"BEGIN:VCALENDAR\r\n")


def test_errors_stay_problem_json(slotd):
    for path in ("/appointments/999999", "/appointments/0",
                 "/appointments/x"):
        answer = slotd.get(path, {"Accept": "text/calendar"})
        problem(answer, 404, "not-found")
        assert "Accept" in answer[1]["vary"]


@pytest.fixture
def secured(start_slotd, tmp_path):
    path = tmp_path / "jwt.secret"
    path.write_bytes(SECRET + b"\n")
    return start_slotd(extra={"auth": {
        "mode": "jwt", "jwt_secret_file": str(path),
        "issuer": "https://id.example", "audience": "slotd"}})


def bearer(sub, **kw):
    now = int(time.time())
    claims = {"sub": sub, "iss": "https://id.example", "aud": "slotd",
              "exp": now + 300, "iat": now, **kw}
    return {"Authorization": "Bearer " + jwt.encode(claims, SECRET,
                                                    algorithm="HS256")}


def test_owner_rules_under_jwt(secured):
    s = secured
    alice, bob = bearer("alice"), bearer("bob")
    admin = bearer("ops", role="admin")
    cal = new_calendar(s, admin)
    a = book(s, free_slots(s, cal["id"], alice)[0], alice, name="Alice")
    assert only_event(as_ical(s, a["id"], alice))
    assert only_event(as_ical(s, a["id"], admin))
    problem(as_ical(s, a["id"], bob), 404, "not-found")
    problem(as_ical(s, a["id"]), 401, "unauthorized")

    # The feed asks for no bearer token: its own token is the credential.
    token = s.get_json(f"/calendars/{cal['id']}", admin)[2]["feedToken"]
    feed = parse(s.get(f"/calendars/{cal['id']}/appointments.ics?"
                       f"token={token}"))
    assert f"appointment-{a['id']}@" in " ".join(events(feed))
    problem(s.get(f"/calendars/{cal['id']}/appointments.ics?token=x",
                  alice), 404, "calendar-not-found")


def feed_path(cid, token):
    return f"/calendars/{cid}/appointments.ics?token={token}"


def test_feed(slotd):
    cal = new_calendar(slotd)
    cid, token = cal["id"], cal["feedToken"]
    empty = slotd.get(feed_path(cid, token))
    got = parse(empty)
    assert str(got["X-WR-CALNAME"]) == CAL["name"]
    assert got.walk("VEVENT") == []
    tag = empty[1]["etag"]
    assert tag.startswith('"') and tag.endswith('"')

    status, headers, body = slotd.get(feed_path(cid, token),
                                      {"If-None-Match": tag})
    assert status == 304 and body == b"" and headers["etag"] == tag
    assert slotd.get(feed_path(cid, token))[1]["etag"] == tag

    sids = free_slots(slotd, cid)
    a = book(slotd, sids[0], name=NAME, note=NOTE)
    b = book(slotd, sids[1], name="Ben")
    answer = slotd.get(feed_path(cid, token), {"If-None-Match": tag})
    feed = parse(answer)
    assert answer[1]["etag"] != tag
    tag = answer[1]["etag"]
    evs = events(feed)
    assert len(evs) == 2
    ev_a = next(e for u, e in evs.items()
                if u.startswith(f"appointment-{a['id']}@"))
    assert utc_of(ev_a, "DTSTART") == rfc3339(a["startTime"])
    assert utc_of(ev_a, "DTEND") == rfc3339(a["endTime"])
    assert str(ev_a["STATUS"]) == "CONFIRMED"
    # The UID is the appointment's own, whichever way it is read.
    assert str(only_event(as_ical(slotd, a["id"]))["UID"]) in evs

    # A cancelled appointment stays, as cancelled.
    assert slotd.delete(f"/appointments/{b['id']}")[0] == 204
    answer = slotd.get(feed_path(cid, token), {"If-None-Match": tag})
    assert answer[1]["etag"] != tag
    statuses = {u.split("@")[0]: str(e["STATUS"])
                for u, e in events(parse(answer)).items()}
    assert statuses == {f"appointment-{a['id']}": "CONFIRMED",
                        f"appointment-{b['id']}": "CANCELLED"}


def test_feed_refuses_what_is_not_its_token(slotd):
    cal = new_calendar(slotd)
    other = new_calendar(slotd)
    cid, token = cal["id"], cal["feedToken"]
    assert slotd.get(feed_path(cid, token))[0] == 200
    for path in (feed_path(cid, "x" * len(token)),
                 feed_path(cid, token[:-1]),
                 feed_path(cid, token + "0"),
                 feed_path(cid, ""),
                 f"/calendars/{cid}/appointments.ics",
                 feed_path(cid, other["feedToken"]),
                 feed_path(99999, token),
                 feed_path(0, token)):
        problem(slotd.get(path), 404, "calendar-not-found")

    # Rotated: the old token is refused, the new one serves.
    status, _, doc = slotd.send_json("PATCH", f"/calendars/{cid}",
                                     {"feedToken": "rotate"})
    assert status == 200 and doc["feedToken"] != token, doc
    problem(slotd.get(feed_path(cid, token)), 404, "calendar-not-found")
    assert slotd.get(feed_path(cid, doc["feedToken"]))[0] == 200

    # The access log keeps the token out; the rest of the query stays.
    slotd.get(feed_path(cid, token) + "&x=1")
    log = slotd.log_text()
    assert token not in log and doc["feedToken"] not in log
    assert f"/calendars/{cid}/appointments.ics?token=-&x=1\" 400" in log

    # A deleted calendar has no feed.
    assert slotd.delete(f"/calendars/{other['id']}")[0] == 204
    problem(slotd.get(feed_path(other["id"], other["feedToken"])), 404,
            "calendar-not-found")


def test_feed_window(pg, db, slotd):
    """From 30 days ago to the end of the horizon: an appointment of 40
    days ago is left out, one of 20 days ago is in."""
    cal = new_calendar(slotd)
    cid = cal["id"]
    ids = {}
    for days in (40, 20):
        ids[days] = pg.psql(db, f"""
            WITH s AS (
                INSERT INTO slots (calendar_id, start_at, end_at, capacity,
                                   booked)
                VALUES ({cid}, now() - interval '{days} days',
                        now() - interval '{days} days' + interval '25 min',
                        1, 1)
                RETURNING id, start_at, end_at)
            INSERT INTO appointments (slot_ids, start_at, end_at, name)
            SELECT ARRAY[id], start_at, end_at, 'past {days}' FROM s
            RETURNING id""")[0][0]
    uids = events(parse(slotd.get(feed_path(cid, cal["feedToken"]))))
    got = {u.split("@")[0] for u in uids}
    assert got == {f"appointment-{ids[20]}"}
