/*
 * route_slots: GET /slots?date=... and GET /slots/{id}, answered from the
 * shared slot table without touching the database.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "slotd.h"

#define SLOTS_MAX_DAYS	31

struct slots_query {
	int64_t		 day;
	int		 days;
	int		 available;
	int		 simple;
	const char	*zone;
};

/* Parse and check every parameter; answers 400 itself and returns -1. */
static int
slots_query_parse(struct evhttp_request *req, struct worker_ctx *w,
    struct evkeyvalq *q, struct slots_query *sq)
{
	const char *names[] = { "date", "days", "available", "tz", "format" };
	unsigned seen = 0;
	struct evkeyval *kv;
	size_t i;
	char *end;
	long n;

	memset(sq, 0, sizeof(*sq));
	sq->days = 1;
	sq->zone = w->conf->timezone;
	if (http_query(req, q) == -1) {
		http_problem(req, 400, "bad-request", "malformed query string");
		return -1;
	}
	TAILQ_FOREACH(kv, q, next) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(kv->key, names[i]) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			http_problem(req, 400, "bad-request",
			    "unknown query parameter '%.64s'", kv->key);
			return -1;
		}
		if (seen & (1u << i)) {
			http_problem(req, 400, "bad-request",
			    "query parameter '%s' given twice", kv->key);
			return -1;
		}
		seen |= 1u << i;
		switch (i) {
		case 0:
			if (tz_parse_date(kv->value, strlen(kv->value),
			    &sq->day) == -1) {
				http_problem(req, 400, "invalid-date",
				    "date must be a real date as YYYY-MM-DD");
				return -1;
			}
			break;
		case 1:
			n = strtol(kv->value, &end, 10);
			if (kv->value[0] < '1' || kv->value[0] > '9' ||
			    *end != '\0' || n > SLOTS_MAX_DAYS) {
				http_problem(req, 400, "bad-request",
				    "days must be an integer in 1..%d",
				    SLOTS_MAX_DAYS);
				return -1;
			}
			sq->days = (int)n;
			break;
		case 2:
			if (strcmp(kv->value, "true") != 0 &&
			    strcmp(kv->value, "false") != 0) {
				http_problem(req, 400, "bad-request",
				    "available must be true or false");
				return -1;
			}
			sq->available = kv->value[0] == 't';
			break;
		case 3:
			if (!tz_valid_name(kv->value)) {
				http_problem(req, 400, "bad-request",
				    "tz must be a known IANA time zone");
				return -1;
			}
			sq->zone = kv->value;
			break;
		case 4:
			if (strcmp(kv->value, "simple") != 0) {
				http_problem(req, 400, "bad-request",
				    "format must be simple");
				return -1;
			}
			sq->simple = 1;
			break;
		}
	}
	if ((seen & 1) == 0) {
		http_problem(req, 400, "invalid-date",
		    "the date parameter (YYYY-MM-DD) is required");
		return -1;
	}
	return 0;
}

static void
emit_slot(struct emit *e, const struct slot *s)
{
	char buf[40];

	emit_map(e, 6);
	emit_key(e, "id");
	emit_int(e, s->id);
	emit_key(e, "startTime");
	emit_strn(e, buf, tz_format_rfc3339(s->start, buf, sizeof(buf)));
	emit_key(e, "endTime");
	emit_strn(e, buf, tz_format_rfc3339(s->end, buf, sizeof(buf)));
	emit_key(e, "capacity");
	emit_int(e, s->capacity);
	emit_key(e, "booked");
	emit_int(e, s->booked);
	emit_key(e, "availability");
	emit_int(e, s->capacity > s->booked ? s->capacity - s->booked : 0);
	emit_end(e);
}

static void
emit_simple_slot(struct emit *e, const struct slot *s)
{
	char date[11], hhmm[6];

	tz_format_local(s->start, date, hhmm);
	emit_map(e, 3);
	emit_key(e, "date");
	emit_str(e, date);
	emit_key(e, "time");
	emit_str(e, hhmm);
	emit_key(e, "available_slots");
	emit_int(e, s->capacity > s->booked ? s->capacity - s->booked : 0);
	emit_end(e);
}

/* The slots starting in [from, to), into the worker's reusable buffer. */
static size_t
slots_fetch(struct worker_ctx *w, int64_t from, int64_t to)
{
	size_t n;

	while ((n = slot_table_range(w->table, from, to, w->slots,
	    w->slots_cap)) > w->slots_cap) {
		w->slots_cap = n + n / 4;
		w->slots = xreallocarray(w->slots, w->slots_cap,
		    sizeof(*w->slots));
	}
	return n;
}

static uint32_t
fnv1a(uint32_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void
slots_list(struct evhttp_request *req, struct worker_ctx *w)
{
	struct evkeyvalq q;
	struct slots_query sq;
	struct slot_table_stats st;
	struct evbuffer *body;
	struct emit *e;
	int64_t from, to;
	size_t n, i, shown;
	uint32_t variant;
	char etag[64], date[11];
	int msgpack, y, m, d;

	if (slots_query_parse(req, w, &q, &sq) == -1)
		goto done;
	if (!slot_table_flag(w->table, SLOT_FLAG_LOADED)) {
		http_problem(req, 503, "unavailable",
		    "the slot table is still loading");
		goto done;
	}
	if (tz_use(sq.zone) == -1) {
		http_problem(req, 400, "bad-request", "tz cannot be loaded");
		goto done;
	}
	msgpack = http_wants_msgpack(req);
	from = tz_day_start(sq.day);
	to = tz_day_start(sq.day + sq.days);

	slot_table_stats(w->table, &st);
	variant = fnv1a(2166136261u, &sq.day, sizeof(sq.day));
	variant = fnv1a(variant, sq.zone, strlen(sq.zone));
	variant = fnv1a(variant, &sq.days, sizeof(sq.days));
	i = (size_t)sq.available | (size_t)sq.simple << 1 |
	    (size_t)msgpack << 2;
	variant = fnv1a(variant, &i, sizeof(i));
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%x\"",
	    (unsigned long long)st.epoch & 0xffffffffffULL,
	    (unsigned long long)slot_table_changes(w->table, from, to),
	    variant);
	evhttp_add_header(evhttp_request_get_output_headers(req), "ETag", etag);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-cache");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Vary",
	    "Accept");
	if (http_etag_matches(req, etag)) {
		evhttp_send_reply(req, 304, NULL, NULL);
		goto done;
	}

	n = slots_fetch(w, from, to);
	shown = n;
	if (sq.available) {
		for (i = shown = 0; i < n; i++)
			if (w->slots[i].booked < w->slots[i].capacity)
				w->slots[shown++] = w->slots[i];
	}
	body = evbuffer_new();
	e = emit_new(body, msgpack);
	if (!sq.simple) {
		tz_civil_from_days(sq.day, &y, &m, &d);
		snprintf(date, sizeof(date), "%04d-%02d-%02d", y, m, d);
		emit_map(e, 3);
		emit_key(e, "date");
		emit_str(e, date);
		emit_key(e, "timezone");
		emit_str(e, sq.zone);
		emit_key(e, "slots");
	}
	emit_array(e, shown);
	for (i = 0; i < shown; i++) {
		if (sq.simple)
			emit_simple_slot(e, &w->slots[i]);
		else
			emit_slot(e, &w->slots[i]);
	}
	emit_end(e);
	if (!sq.simple)
		emit_end(e);
	emit_free(e);
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
done:
	evhttp_clear_headers(&q);
}

static void
slot_one(struct evhttp_request *req, struct worker_ctx *w, const char *idstr)
{
	struct evbuffer *body;
	struct emit *e;
	struct slot s;
	int64_t id;
	int msgpack;

	if (evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) != NULL) {
		http_problem(req, 400, "bad-request",
		    "this resource takes no query parameters");
		return;
	}
	if (http_parse_id(idstr, &id) == -1 ||
	    slot_table_get(w->table, id, &s) == -1) {
		http_problem(req, 404, "slot-not-found", "no slot with id %.32s",
		    idstr);
		return;
	}
	tz_use(w->conf->timezone);
	msgpack = http_wants_msgpack(req);
	body = evbuffer_new();
	e = emit_new(body, msgpack);
	emit_slot(e, &s);
	emit_free(e);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-cache");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Vary",
	    "Accept");
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}

/* rest is what follows "/slots" in the path: "" or "/{id}". */
void
route_slots(struct evhttp_request *req, struct worker_ctx *w,
    const char *rest)
{
	int method = http_method(req);

	if (rest[0] == '\0') {
		if (method != HTTP_GET && method != HTTP_HEAD)
			http_method_not_allowed(req, HTTP_GET | HTTP_HEAD);
		else
			slots_list(req, w);
		return;
	}
	if (rest[0] != '/' || rest[1] == '\0' || strchr(rest + 1, '/')) {
		http_problem(req, 404, "not-found", "no such resource");
		return;
	}
	if (method != HTTP_GET && method != HTTP_HEAD)
		http_method_not_allowed(req, HTTP_GET | HTTP_HEAD);
	else
		slot_one(req, w, rest + 1);
}
