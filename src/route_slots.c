/*
 * route_slots: GET /slots?date=..., GET /slots/{id} and GET /slots/stream,
 * answered from the shared slot table without touching the database.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sys/queue.h>

#include <libpq-fe.h>

#include "slotd.h"


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

/*
 * Each worker keeps the answers it rendered lately, keyed by their ETag:
 * the table's epoch, the change counters of the answered days (read before
 * the slots, so that an answer is never older than its tag) and the whole
 * key of the query.  A hit compares the whole tag, so equal tags mean equal
 * bytes and a different query can never be answered from another's entry.
 */
#define SLOTS_CACHE_ENTRIES	64
#define SLOTS_CACHE_MAX		(64 * 1024)	/* larger answers: not kept */

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

/* The window a read or a stream answers: the query checked, its
 * calendars known, its zone in use, [*from, *to) its days.  Answers the
 * problem itself and returns -1 otherwise. */
static int
slots_window(struct http_request *req, struct worker_ctx *w,
    struct slots_query *sq, int64_t *from, int64_t *to)
{
	char detail[160];
	const char *code;

	if (slots_query_check(http_query(req), w->conf->timezone, sq,
	    &code, detail, sizeof(detail)) == -1) {
		http_problem(req, 400, code, "%s", detail);
		return -1;
	}
	if (!slot_table_flag(w->table, SLOT_FLAG_LOADED)) {
		http_problem(req, 503, "unavailable",
		    "the slot table is still loading");
		return -1;
	}
	if (slots_calendars(req, w, sq) == -1)
		return -1;
	if (tz_use(sq->zone) == -1) {
		http_problem(req, 400, "bad-request", "tz cannot be loaded");
		return -1;
	}
	*from = tz_day_start(sq->day);
	*to = tz_day_start(sq->day + sq->days);
	return 0;
}

/* GET /slots?date=... */
void
route_slots_list(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct slots_query sq;
	struct slot_table_stats st;
	struct evbuffer *body;
	int64_t from, to;
	size_t n;
	char etag[SLOTS_ETAG_MAX];
	int msgpack;

	(void)id;
	if (slots_window(req, w, &sq, &from, &to) == -1)
		return;
	msgpack = sq.msgpack = http_wants_msgpack(req);

	/* The tag fits: zone names are shorter than tz_valid_name allows. */
	slot_table_stats(w->table, &st);
	if (slots_query_etag(&sq, st.epoch, slots_doc_changes(w->table, &sq,
	    from, to), etag, sizeof(etag)) == -1)
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
	n = slots_doc_fetch(w->table, &sq, from, to, &w->slots, &w->slots_cap);
	slots_doc_emit(body, &sq, w->slots, n);
	slots_cache_put(etag, body);
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}

/* GET /slots/stream?date=...: the window as GET /slots has it, then its
 * changes as they come (stream.c).  limit and format are refused: a
 * stream's snapshot and events are the full documents of every slot of
 * the window, and a client that asked for less would be misled. */
void
route_slots_stream(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct slots_query sq;
	int64_t from, to;

	(void)id;
	if (slots_window(req, w, &sq, &from, &to) == -1)
		return;
	if (sq.limit != 0 || sq.simple) {
		http_problem(req, 400, "bad-request", "%s does not apply to "
		    "a stream", sq.limit != 0 ? "limit" : "format");
		return;
	}
	stream_open(req, w->conf, w->table, &sq, from, to);
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
	slots_doc_slot(e, &s);
	emit_free(e);
	http_add_header(req, "Cache-Control", "no-cache");
	http_vary(req, "Accept");
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}
