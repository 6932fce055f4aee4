/*
 * route_slots: GET /slots?date=... and GET /slots/{id}, answered from the
 * shared slot table without touching the database.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sys/queue.h>

#include <libpq-fe.h>

#include "slotd.h"


/* One slot's document. */
void
route_slots_emit(struct emit *e, const struct slot *s)
{
	char buf[40];

	emit_map(e, 7);
	emit_key(e, "id");
	emit_int(e, s->id);
	emit_key(e, "calendarId");
	emit_int(e, s->calendar_id);
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

/* The simple form names the calendar when the query named calendars (and
 * stays as it was before calendars when it did not). */
static void
emit_simple_slot(struct emit *e, const struct slot *s, int calendars)
{
	char date[11], hhmm[6];

	tz_format_local(s->start, date, hhmm);
	emit_map(e, 3 + (calendars != 0));
	if (calendars) {
		emit_key(e, "calendarId");
		emit_int(e, s->calendar_id);
	}
	emit_key(e, "date");
	emit_str(e, date);
	emit_key(e, "time");
	emit_str(e, hhmm);
	emit_key(e, "available_slots");
	emit_int(e, s->capacity > s->booked ? s->capacity - s->booked : 0);
	emit_end(e);
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->calendar_id != y->calendar_id)
		return x->calendar_id < y->calendar_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The slots of the query's calendars starting in [from, to), ordered by
 * start time then calendar, into the worker's reusable buffer. */
static size_t
slots_fetch(struct worker_ctx *w, const struct slots_query *sq,
    int64_t from, int64_t to)
{
	static struct slot *one;
	static size_t one_cap;
	size_t n = 0, k;
	int i;

	if (sq->ncalendars == 1)
		n = slot_table_calendar_range_grow(w->table, sq->calendars[0],
		    from, to, &w->slots, &w->slots_cap);
	for (i = 0; sq->ncalendars > 1 && i < sq->ncalendars; i++) {
		k = slot_table_calendar_range_grow(w->table, sq->calendars[i],
		    from, to, &one, &one_cap);
		if (k == (size_t)-1)
			fatalx("%s: out of memory", __func__);
		if (n + k > w->slots_cap) {
			w->slots_cap = n + k;
			w->slots = xreallocarray(w->slots, w->slots_cap,
			    sizeof(*w->slots));
		}
		memcpy(w->slots + n, one, k * sizeof(*one));
		n += k;
	}
	if (n == (size_t)-1)
		fatalx("%s: out of memory", __func__);
	if (sq->ncalendars > 1)
		qsort(w->slots, n, sizeof(*w->slots), slot_cmp);
	return n;
}

/* Whether every calendar of the query exists; the first one's zone is
 * the answer's unless tz= names one.  Answers 404 itself otherwise.
 * Until the syncer has read the calendars, only calendar 1 is known, in
 * the [schedule] zone. */
static int
slots_calendars(struct http_request *req, struct worker_ctx *w,
    struct slots_query *sq)
{
	char zone[128];
	int i;

	for (i = 0; i < sq->ncalendars; i++) {
		if (!caldir_loaded() && sq->calendars[i] == 1)
			snprintf(zone, sizeof(zone), "%s", w->conf->timezone);
		else if (!caldir_loaded()) {
			http_problem(req, 503, "unavailable", "the calendars "
			    "are still loading");
			return -1;
		} else if (!caldir_get(sq->calendars[i], zone, sizeof(zone))) {
			http_problem(req, 404, "calendar-not-found", "no "
			    "calendar %lld", (long long)sq->calendars[i]);
			return -1;
		}
		if (i == 0 && !sq->zone_given) {
			memcpy(sq->zone_buf, zone, sizeof(sq->zone_buf));
			sq->zone = sq->zone_buf;
		}
	}
	return 0;
}

/* The change counters of the answered calendars and days, together: any
 * change of any of them moves the sum. */
static uint64_t
slots_changes(struct worker_ctx *w, const struct slots_query *sq,
    int64_t from, int64_t to)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < sq->ncalendars; i++)
		sum += slot_table_calendar_changes(w->table, sq->calendars[i],
		    from, to);
	return sum;
}

/*
 * Each worker keeps the answers it rendered lately, keyed by their ETag:
 * the table's epoch, the change counters of the answered days (read before
 * the slots, so that an answer is never older than its tag) and the whole
 * key of the query.  A hit compares the whole tag, so equal tags mean equal
 * bytes and a different query can never be answered from another's entry.
 */
#define SLOTS_CACHE_ENTRIES	64
#define SLOTS_CACHE_MAX		(64 * 1024)	/* larger answers: not kept */
#define SLOTS_ETAG_MAX		256

static struct {
	char		 etag[SLOTS_ETAG_MAX];
	char		*body;
	size_t		 len;
} slots_cache[SLOTS_CACHE_ENTRIES];

static size_t
slots_cache_slot(const char *etag)
{
	uint32_t h = 2166136261u;
	const unsigned char *p;

	for (p = (const unsigned char *)etag; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h % SLOTS_CACHE_ENTRIES;
}

/* Answer from the cache, if it holds the answer of that tag: the bytes
 * are copied straight into the connection's output. */
static int
slots_cache_send(struct http_request *req, const char *etag, int msgpack)
{
	size_t i = slots_cache_slot(etag);

	if (slots_cache[i].body == NULL ||
	    strcmp(slots_cache[i].etag, etag) != 0)
		return -1;
	http_answer(req, 200, msgpack ? "application/msgpack" :
	    "application/json", slots_cache[i].body, slots_cache[i].len);
	return 0;
}

static void
slots_cache_put(const char *etag, struct evbuffer *body)
{
	size_t i = slots_cache_slot(etag), len = evbuffer_get_length(body);

	if (len > SLOTS_CACHE_MAX)
		return;
	free(slots_cache[i].body);
	slots_cache[i].body = xcalloc(1, len ? len : 1);
	evbuffer_copyout(body, slots_cache[i].body, len);
	slots_cache[i].len = len;
	memcpy(slots_cache[i].etag, etag, strlen(etag) + 1);
}

/* GET /slots?date=... */
void
route_slots_list(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct slots_query sq;
	struct slot_table_stats st;
	struct evbuffer *body;
	struct emit *e;
	int64_t from, to;
	size_t n, i, shown;
	char etag[SLOTS_ETAG_MAX], date[11], detail[160];
	const char *code;
	int msgpack, y, m, d;

	(void)id;
	if (slots_query_check(http_query(req), w->conf->timezone, &sq,
	    &code, detail, sizeof(detail)) == -1) {
		http_problem(req, 400, code, "%s", detail);
		return;
	}
	if (!slot_table_flag(w->table, SLOT_FLAG_LOADED)) {
		http_problem(req, 503, "unavailable",
		    "the slot table is still loading");
		return;
	}
	if (slots_calendars(req, w, &sq) == -1)
		return;
	if (tz_use(sq.zone) == -1) {
		http_problem(req, 400, "bad-request", "tz cannot be loaded");
		return;
	}
	msgpack = sq.msgpack = http_wants_msgpack(req);
	from = tz_day_start(sq.day);
	to = tz_day_start(sq.day + sq.days);

	/* The tag fits: zone names are shorter than tz_valid_name allows. */
	slot_table_stats(w->table, &st);
	if (slots_query_etag(&sq, st.epoch, slots_changes(w, &sq, from, to),
	    etag, sizeof(etag)) == -1)
		fatalx("%s: the answer's tag does not fit", __func__);
	http_add_header(req, "ETag", etag);
	http_add_header(req, "Cache-Control", "no-cache");
	http_vary(req, "Accept");
	if (http_etag_matches(req, etag)) {
		http_reply(req, 304, NULL);
		return;
	}
	if (slots_cache_send(req, etag, msgpack) == 0)
		return;
	body = evbuffer_new();
	n = slots_fetch(w, &sq, from, to);
	shown = n;
	if (sq.available) {
		for (i = shown = 0; i < n; i++)
			if (w->slots[i].booked < w->slots[i].capacity)
				w->slots[shown++] = w->slots[i];
	}
	if (sq.limit > 0 && shown > (size_t)sq.limit)
		shown = (size_t)sq.limit;
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
			emit_simple_slot(e, &w->slots[i], sq.calendar_given);
		else
			route_slots_emit(e, &w->slots[i]);
	}
	emit_end(e);
	if (!sq.simple)
		emit_end(e);
	emit_free(e);
	slots_cache_put(etag, body);
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}

/* GET /slots/{id} */
void
route_slot_get(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct evbuffer *body;
	struct emit *e;
	struct slot s;
	int64_t id;
	int msgpack;

	if (http_query(req) != NULL) {
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
	route_slots_emit(e, &s);
	emit_free(e);
	http_add_header(req, "Cache-Control", "no-cache");
	http_vary(req, "Accept");
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}
