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

#define SLOTS_MAX_DAYS	31	/* also in the days message */

static int
refuse(const char **code, char *detail, size_t len, const char *c,
    const char *fmt, const char *arg)
{
	*code = c;
	snprintf(detail, len, fmt, arg);
	return -1;
}

/*
 * The parameters of GET /slots, declared once: how each is parsed into a
 * slots_query and how it is written into the answer's key.  The key names
 * every input of the answer's body, so that two queries with equal keys
 * get equal bytes and two different ones never share a key (nor an ETag,
 * which carries it).
 */
struct slots_param {
	const char	*name;
	int		(*parse)(const char *, struct slots_query *,
			    const char **, char *, size_t);
	int		(*key)(const struct slots_query *, char *, size_t);
};

static int
date_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (tz_parse_date(v, strlen(v), &sq->day) == -1)
		return refuse(code, detail, len, "invalid-date",
		    "date must be a real date as YYYY-MM-DD%s", "");
	return 0;
}

static int
date_key(const struct slots_query *sq, char *buf, size_t len)
{
	int y, m, d;

	tz_civil_from_days(sq->day, &y, &m, &d);
	return snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

static int
days_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (v[0] < '1' || v[0] > '9' || *end != '\0' || n > SLOTS_MAX_DAYS)
		return refuse(code, detail, len, "bad-request",
		    "days must be an integer in 1..%s", "31");
	sq->days = (int)n;
	return 0;
}

static int
days_key(const struct slots_query *sq, char *buf, size_t len)
{
	return snprintf(buf, len, "%d", sq->days);
}

static int
available_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
		return refuse(code, detail, len, "bad-request",
		    "available must be true or false%s", "");
	sq->available = v[0] == 't';
	return 0;
}

static int
available_key(const struct slots_query *sq, char *buf, size_t len)
{
	return snprintf(buf, len, "%s", sq->available ? "free" : "all");
}

static int
tz_param_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	const char *why;

	if (tz_check_name(v, &why) == -1)
		return refuse(code, detail, len, "bad-request", "tz: %s", why);
	snprintf(sq->zone_buf, sizeof(sq->zone_buf), "%s", v);
	sq->zone = sq->zone_buf;
	return 0;
}

/* Last: a zone name holds no '.' (nor ',', space or quote). */
static int
tz_param_key(const struct slots_query *sq, char *buf, size_t len)
{
	return snprintf(buf, len, "%s", sq->zone);
}

static int
format_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (strcmp(v, "simple") != 0)
		return refuse(code, detail, len, "bad-request",
		    "format must be simple%s", "");
	sq->simple = 1;
	return 0;
}

/* The body's form and its media type (chosen by Accept) go together. */
static int
format_key(const struct slots_query *sq, char *buf, size_t len)
{
	return snprintf(buf, len, "%s.%s", sq->simple ? "simple" : "full",
	    sq->msgpack ? "msgpack" : "json");
}

static const struct slots_param slots_params[] = {
	{ "date", date_parse, date_key },
	{ "days", days_parse, days_key },
	{ "available", available_parse, available_key },
	{ "format", format_parse, format_key },
	{ "tz", tz_param_parse, tz_param_key },
};
#define SLOTS_NPARAMS	(sizeof(slots_params) / sizeof(slots_params[0]))

/* Parse and check every parameter of query (NULL: none) into sq; -1 with
 * the problem's code and detail when one is wrong.  The strings sq points
 * to live in sq itself. */
int
slots_query_check(const char *query, const char *zone,
    struct slots_query *sq, const char **code, char *detail, size_t len)
{
	char key[32], value[512];
	unsigned seen = 0;
	size_t i;
	int rc;

	memset(sq, 0, sizeof(*sq));
	sq->days = 1;
	sq->zone = zone;
	while (query != NULL && (rc = http_query_next(&query, key, sizeof(key),
	    value, sizeof(value))) != 0) {
		if (rc == -1)
			return refuse(code, detail, len, "bad-request",
			    "malformed query string%s", "");
		for (i = 0; i < SLOTS_NPARAMS; i++)
			if (strcmp(key, slots_params[i].name) == 0)
				break;
		if (i == SLOTS_NPARAMS)
			return refuse(code, detail, len, "bad-request",
			    "unknown query parameter '%.64s'", key);
		if (seen & (1u << i))
			return refuse(code, detail, len, "bad-request",
			    "query parameter '%s' given twice",
			    slots_params[i].name);
		seen |= 1u << i;
		if (slots_params[i].parse(value, sq, code, detail, len) == -1)
			return -1;
	}
	if ((seen & 1) == 0)
		return refuse(code, detail, len, "invalid-date",
		    "the date parameter (YYYY-MM-DD) is required%s", "");
	return 0;
}

/* The answer's key: every parameter's canonical value, joined by '.';
 * -1 if it does not fit in len. */
int
slots_query_key(const struct slots_query *sq, char *buf, size_t len)
{
	size_t i, off = 0;
	int n;

	for (i = 0; i < SLOTS_NPARAMS; i++) {
		if (i > 0) {
			if (off + 1 >= len)
				return -1;
			buf[off++] = '.';
		}
		n = slots_params[i].key(sq, buf + off, len - off);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
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
	size_t n = slot_table_range_grow(w->table, from, to, &w->slots,
	    &w->slots_cap);

	if (n == (size_t)-1)
		fatalx("out of memory");
	return n;
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

static void
slots_list(struct http_request *req, struct worker_ctx *w)
{
	struct slots_query sq;
	struct slot_table_stats st;
	struct evbuffer *body;
	struct emit *e;
	int64_t from, to;
	size_t n, i, shown;
	char etag[SLOTS_ETAG_MAX], key[SLOTS_ETAG_MAX - 48], date[11],
	    detail[160];
	const char *code;
	int msgpack, y, m, d;

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
	if (tz_use(sq.zone) == -1) {
		http_problem(req, 400, "bad-request", "tz cannot be loaded");
		return;
	}
	msgpack = sq.msgpack = http_wants_msgpack(req);
	from = tz_day_start(sq.day);
	to = tz_day_start(sq.day + sq.days);

	/* The key fits: zone names are shorter than tz_valid_name allows. */
	if (slots_query_key(&sq, key, sizeof(key)) == -1)
		fatalx("%s: the query's key does not fit", __func__);
	slot_table_stats(w->table, &st);
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%s\"",
	    (unsigned long long)st.epoch & 0xffffffffffULL,
	    (unsigned long long)slot_table_changes(w->table, from, to), key);
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
	n = slots_fetch(w, from, to);
	shown = n;
	if (sq.available) {
		for (i = shown = 0; i < n; i++)
			if (w->slots[i].booked < w->slots[i].capacity)
				w->slots[shown++] = w->slots[i];
	}
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
	slots_cache_put(etag, body);
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}

static void
slot_one(struct http_request *req, struct worker_ctx *w, const char *idstr)
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
	emit_slot(e, &s);
	emit_free(e);
	http_add_header(req, "Cache-Control", "no-cache");
	http_vary(req, "Accept");
	http_send(req, 200, msgpack ? "application/msgpack" :
	    "application/json", body);
	evbuffer_free(body);
}

/* ---- admin: POST /slots, PATCH and DELETE /slots/{id} ---- */

#define SLOTS_MAX_CREATE	1000

struct slot_change {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int			 array;		/* POST answered with an array */
	int			 apply;		/* slot_table_apply() flags */
};

static void
send_slots(struct http_request *req, struct worker_ctx *w,
    const struct slot *slots, size_t n, int array, int status)
{
	struct evbuffer *body = evbuffer_new();
	int msgpack = http_wants_msgpack(req);
	struct emit *e = emit_new(body, msgpack);
	char location[48];
	size_t i;

	tz_use(w->conf->timezone);
	if (array)
		emit_array(e, n);
	for (i = 0; i < n; i++)
		emit_slot(e, &slots[i]);
	if (array)
		emit_end(e);
	emit_free(e);
	snprintf(location, sizeof(location), "/slots/%lld",
	    (long long)slots[0].id);
	http_send_doc(req, status, body, msgpack, status == 201 && !array ?
	    location : NULL);
	evbuffer_free(body);
}

/* Every answer of the admin calls: created, updated, deleted or refused. */
static void
slot_changed(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct slot_change *c = arg;
	struct http_request *req;
	struct slot *slots = NULL;
	const char *failure;
	struct db_row r;
	int i, n;

	if (outcome == DB_DONE && (strcmp(db_sqlstate(res), "23P01") == 0 ||
	    strcmp(db_sqlstate(res), "23505") == 0)) {
		if ((req = http_pending_finish(&c->pending)) != NULL)
			http_problem(req, 409, "slot-overlap",
			    "a slot overlaps another slot of the calendar");
		goto done;
	}
	if ((req = worker_db_answer(c->w, &c->pending, res, outcome, c->apply,
	    &r, &failure)) == NULL)
		goto done;
	if (strcmp(r.outcome, "deleted") == 0) {
		slot_table_remove(c->w->table, strtoll(r.ref, NULL, 10));
		slot_table_publish(c->w->table);
		worker_announce(c->w, 'd', NULL, strtoll(r.ref, NULL, 10));
		http_reply(req, 204, NULL);
	} else if (strcmp(r.outcome, "created") == 0 ||
	    strcmp(r.outcome, "updated") == 0) {
		n = PQntuples(res);
		slots = xcalloc((size_t)n, sizeof(*slots));
		for (i = 0; i < n && db_result_row(res, i, &r) == 0; i++)
			slots[i] = r.slot;
		send_slots(req, c->w, slots, (size_t)n, c->array,
		    strcmp(r.outcome, "created") == 0 ? 201 : 200);
	} else if (strcmp(r.outcome, "slot-not-found") == 0)
		http_problem(req, 404, "slot-not-found", "no such slot");
	else if (strcmp(r.outcome, "capacity-below-booked") == 0)
		http_problem(req, 409, "capacity-below-booked", "slot %lld has "
		    "%d seats taken", (long long)r.slot.id, r.slot.booked);
	else if (strcmp(r.outcome, "slot-has-bookings") == 0)
		http_problem(req, 409, "slot-has-bookings", "slot %lld has %d "
		    "seats booked or held", (long long)r.slot.id,
		    r.slot.booked);
	else
		http_problem(req, 503, "unavailable", "unexpected outcome");
done:
	free(slots);
	free(c);
}

/* Only a creation may add slots to the table: the state a capacity change
 * or a refused deletion returns must not bring back a slot that another
 * worker deleted meanwhile. */
static void
slot_change_send(struct http_request *req, struct slot_change *c,
    enum db_stmt stmt, const char *const *values)
{
	c->apply = stmt == DB_CREATE_SLOTS ? 0 : SLOT_APPLY_UPDATE_ONLY;
	if (worker_db_submit(c->w, req, &c->pending, stmt, values,
	    slot_changed, c) == -1)
		free(c);
}

/* The UTC second of the RFC 3339 time v of field, or -1 once answered. */
static int
slot_time(struct http_request *req, const char *field, const char *v,
    int64_t *t)
{
	const char *why;

	if (tz_parse_rfc3339(v, t, &why) == -1) {
		http_problem(req, 400, "invalid-field", "%s: %s", field, why);
		return -1;
	}
	return 0;
}

/* One {"startTime","endTime","capacity"} into the three arrays. */
static int
slot_spec(struct http_request *req, struct json_doc *doc, int tok,
    struct evbuffer *starts, struct evbuffer *ends, struct evbuffer *caps)
{
	char *start = NULL, *end = NULL;
	int64_t capacity = 0, s, e;
	int has_cap = 0, rc = -1;
	struct json_field fields[] = {
		{ "startTime", JSON_FIELD_STRING, 1, 64, &start, NULL, 0,
		    NULL, NULL, NULL },
		{ "endTime", JSON_FIELD_STRING, 1, 64, &end, NULL, 0, NULL,
		    NULL, NULL },
		{ "capacity", JSON_FIELD_INT, 1, 100000, &capacity, &has_cap,
		    0, NULL, NULL, NULL },
	};
	struct json_error err;

	if (json_object(doc, tok, fields, 3, &err) == -1) {
		http_field_problem(req, &err);
		goto out;
	}
	if (start == NULL || end == NULL || !has_cap) {
		http_problem(req, 400, "invalid-field", "%s: required",
		    start == NULL ? "startTime" : end == NULL ? "endTime" :
		    "capacity");
		goto out;
	}
	if (slot_time(req, "startTime", start, &s) == -1 ||
	    slot_time(req, "endTime", end, &e) == -1)
		goto out;
	if (e <= s) {
		http_problem(req, 400, "invalid-field",
		    "endTime: must be after startTime");
		goto out;
	}
	db_array_append(starts, s);
	db_array_append(ends, e);
	db_array_append(caps, capacity);
	rc = 0;
out:
	free(start);
	free(end);
	return rc;
}

static void
slots_create(struct http_request *req, struct worker_ctx *w)
{
	struct evbuffer *arr[3];
	struct slot_change *c;
	struct json_doc *doc;
	const char *values[3];
	int items[SLOTS_MAX_CREATE], n, i, ok = 1;
	char *body;

	if ((doc = http_json_body(req, &body)) == NULL)
		return;
	for (i = 0; i < 3; i++)
		arr[i] = evbuffer_new();
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->array = json_root_type(doc) == JSON_ARRAY;
	if (c->array) {
		n = json_array_items(doc, 0, items, SLOTS_MAX_CREATE);
		if (n < 1 || n > SLOTS_MAX_CREATE) {
			http_problem(req, 400, "invalid-field", "an array of "
			    "1..%d slots is expected", SLOTS_MAX_CREATE);
			ok = 0;
		}
	} else {
		n = 1;
		items[0] = 0;
	}
	for (i = 0; ok && i < n; i++)
		if (slot_spec(req, doc, items[i], arr[0], arr[1], arr[2]) == -1)
			ok = 0;
	json_free(doc);
	free(body);
	for (i = 0; i < 3; i++)
		values[i] = db_array_finish(arr[i]);
	if (ok)
		slot_change_send(req, c, DB_CREATE_SLOTS, values);
	else
		free(c);
	for (i = 0; i < 3; i++)
		evbuffer_free(arr[i]);
}

static void
slot_patch(struct http_request *req, struct worker_ctx *w, const char *id)
{
	int64_t capacity = 0;
	int has_cap = 0, rc;
	struct json_field fields[] = {
		{ "capacity", JSON_FIELD_INT, 1, 100000, &capacity, &has_cap,
		    0, NULL, NULL, NULL },
	};
	struct slot_change *c;
	struct json_error e;
	struct json_doc *doc;
	const char *values[2];
	char cap[24], *body;

	if ((doc = http_json_body(req, &body)) == NULL)
		return;
	rc = json_object(doc, 0, fields, 1, &e);
	json_free(doc);
	free(body);
	if (rc == -1 || !has_cap) {
		if (rc == -1)
			http_field_problem(req, &e);
		else
			http_problem(req, 400, "invalid-field",
			    "capacity: required");
		return;
	}
	snprintf(cap, sizeof(cap), "%lld", (long long)capacity);
	values[0] = id;
	values[1] = cap;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	slot_change_send(req, c, DB_SET_CAPACITY, values);
}

static void
slot_delete(struct http_request *req, struct worker_ctx *w, const char *id)
{
	struct slot_change *c = xcalloc(1, sizeof(*c));
	const char *values[1] = { id };

	c->w = w;
	slot_change_send(req, c, DB_DELETE_SLOT, values);
}

/* rest is what follows "/slots" in the path: "" or "/{id}". */
void
route_slots(struct http_request *req, struct worker_ctx *w,
    const char *rest)
{
	int method = http_method(req), item;
	int64_t id;

	if ((item = http_item(req, rest)) == 0) {
		if (method == HTTP_METHOD_GET || method == HTTP_METHOD_HEAD)
			slots_list(req, w);
		else if (method == HTTP_METHOD_POST)
			slots_create(req, w);
		else
			http_method_not_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_HEAD |
			    HTTP_METHOD_POST);
		return;
	}
	if (item == -1)
		return;
	if (method == HTTP_METHOD_GET || method == HTTP_METHOD_HEAD)
		slot_one(req, w, rest + 1);
	else if (method != HTTP_METHOD_PATCH && method != HTTP_METHOD_DELETE)
		http_method_not_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_HEAD |
		    HTTP_METHOD_PATCH | HTTP_METHOD_DELETE);
	else if (http_parse_id(rest + 1, &id) == -1)
		http_problem(req, 404, "slot-not-found", "no slot with id %.32s",
		    rest + 1);
	else if (method == HTTP_METHOD_PATCH)
		slot_patch(req, w, rest + 1);
	else
		slot_delete(req, w, rest + 1);
}
