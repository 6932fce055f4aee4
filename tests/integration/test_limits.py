"""Rate limits per client shared by all workers, trusted proxies, and CORS
headers and preflights."""

from harness import wait_for, weekday_ahead


def limited(start_slotd, workers=4, **kw):
    rl = {"reads_per_second": "2", "reads_burst": "6",
          "writes_per_second": "1", "writes_burst": "3"}
    rl.update(kw)
    return start_slotd(workers=workers, extra={"rate_limit": rl})


def test_reads_share_one_budget_across_workers(start_slotd):
    s = limited(start_slotd)
    day = weekday_ahead(1)
    # Fresh connections land on all four workers: one budget still.
    statuses = [s.get(f"/slots?date={day}")[0] for _ in range(10)]
    assert statuses[:6] == [200] * 6 and statuses[6:] == [429] * 4
    status, hdrs, body = s.get(f"/slots?date={day}")
    assert status == 429
    assert hdrs["content-type"] == "application/problem+json"
    assert b'"code":"rate-limited"' in body
    assert int(hdrs["retry-after"]) >= 1
    assert hdrs["ratelimit-policy"] == '"reads";q=6;w=3'
    assert hdrs["ratelimit"].startswith('"reads";r=0;t=')
    # Health checks are never limited; the bucket refills with time.
    assert s.get("/healthz")[0] == 200
    wait_for(lambda: s.get(f"/slots?date={day}")[0] == 200, timeout=3,
             interval=0.1)


def test_writes_have_their_own_budget(pg, db, start_slotd):
    s = limited(start_slotd)
    day = weekday_ahead(2)
    sid = s.get_json(f"/slots?date={day}")[2]["slots"][0]["id"]
    answers = [s.post("/appointments", {"slotId": sid})[0] for _ in range(5)]
    assert answers == [201, 201, 201, 429, 429]
    _, hdrs, doc = s.post("/appointments", {"slotId": sid})
    assert doc["code"] == "rate-limited"
    assert hdrs["ratelimit-policy"] == '"writes";q=3;w=3'
    # Refused writes changed nothing; reads are still allowed.
    assert pg.psql(db, f"SELECT booked FROM slots WHERE id = {sid}") == \
        [["3"]]
    assert s.get(f"/slots/{sid}")[0] == 200


def test_forwarded_for_counts_only_from_trusted_proxies(start_slotd):
    day = weekday_ahead(3)
    untrusted = limited(start_slotd, workers=1, reads_burst="2")
    hops = [untrusted.get(f"/slots?date={day}",
                          {"X-Forwarded-For": f"203.0.113.{i}"})[0]
            for i in range(4)]
    assert hops == [200, 200, 429, 429]      # one client: the peer
    proxied = limited(start_slotd, workers=1, reads_burst="2",
                      trusted_proxies="127.0.0.0/8, 10.0.0.0/8")
    for i in range(3):
        for _ in range(2):
            assert proxied.get(f"/slots?date={day}", {
                "X-Forwarded-For": f"198.51.100.{i}, 10.1.2.3"})[0] == 200
        assert proxied.get(f"/slots?date={day}", {
            "X-Forwarded-For": f"198.51.100.{i}"})[0] == 429


def test_forwarded_for_that_is_no_address_counts_as_the_proxy(start_slotd):
    day = weekday_ahead(3)
    s = limited(start_slotd, workers=1, reads_burst="2",
                trusted_proxies="127.0.0.0/8")
    junk = ["garbage-1", "garbage-2", "unknown", "203.0.113.5:80",
            "[2001:db8::1]", "198.51.100.1, nope", "198.51.100.2 x"]
    # Varying junk escapes nothing: all of it is the proxy's one bucket.
    hops = [s.get(f"/slots?date={day}", {"X-Forwarded-For": xff})[0]
            for xff in junk]
    assert hops == [200, 200] + [429] * (len(junk) - 2)
    assert s.get(f"/slots?date={day}")[0] == 429
    # A client named by an address still has a bucket of its own.
    assert s.get(f"/slots?date={day}",
                 {"X-Forwarded-For": "198.51.100.9"})[0] == 200


def test_forwarded_for_of_several_lines_is_read_from_its_last(start_slotd):
    """A proxy may add its own X-Forwarded-For line after the client's:
    the lines are one list, read from its end, so a client varying the
    first line escapes nothing."""
    day = weekday_ahead(3)
    s = limited(start_slotd, workers=1, reads_burst="2",
                trusted_proxies="127.0.0.0/8")
    got = [s.request_lines("GET", f"/slots?date={day}", [
        ("X-Forwarded-For", f"10.9.9.{i}"),
        ("X-Forwarded-For", "198.51.100.7")])[0] for i in range(5)]
    assert got == [200, 200, 429, 429, 429]
    assert s.get(f"/slots?date={day}",
                 {"X-Forwarded-For": "198.51.100.7"})[0] == 429
    assert s.get(f"/slots?date={day}",
                 {"X-Forwarded-For": "10.9.9.0"})[0] == 200


def test_no_section_no_limits(start_slotd):
    s = start_slotd(workers=1)
    day = weekday_ahead(4)
    assert {s.get(f"/slots?date={day}")[0] for _ in range(150)} == {200}


def test_cors(start_slotd):
    s = start_slotd(extra={"cors": {"allow_origins":
                                    "https://app.example.com, "
                                    "https://admin.example.com"}})
    day = weekday_ahead(1)
    origin = {"Origin": "https://app.example.com"}
    status, hdrs, _ = s.get(f"/slots?date={day}", origin)
    assert status == 200
    assert hdrs["access-control-allow-origin"] == "https://app.example.com"
    expose = {h.strip() for h in
              hdrs["access-control-expose-headers"].split(",")}
    assert {"ETag", "Location", "Retry-After", "RateLimit",
            "RateLimit-Policy"} <= expose
    assert "Origin" in hdrs["vary"]
    status, hdrs, body = s.request("OPTIONS", "/appointments", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, "
                                          "idempotency-key"})
    assert status == 204 and body == b""
    assert hdrs["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in hdrs["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in
               hdrs["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key",
            "if-none-match"} <= allowed
    # Another origin gets no CORS headers at all.
    for method in ("GET", "OPTIONS"):
        status, hdrs, _ = s.request(method, f"/slots?date={day}", headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET"})
        assert not any(h.startswith("access-control-") for h in hdrs)
