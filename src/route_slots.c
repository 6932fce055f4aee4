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
struct slots_key {
	char	*buf;
	size_t	 len;
	size_t	 off;
	int	 overflow;
};

struct slots_param {
	const char	*name;
	int		(*parse)(const char *, struct slots_query *,
			    const char **, char *, size_t);
	void		(*key)(const struct slots_query *, struct slots_key *);
};

/* The key and the ETag are written on every read: without printf. */
static void
key_bytes(struct slots_key *k, const char *s, size_t n)
{
	if (k->off + n >= k->len) {
		k->overflow = 1;
		return;
	}
	memcpy(k->buf + k->off, s, n);
	k->off += n;
	k->buf[k->off] = '\0';
}

static void
key_str(struct slots_key *k, const char *s)
{
	key_bytes(k, s, strlen(s));
}

/* v in base (10 or 16), at least width digits. */
static void
key_num(struct slots_key *k, unsigned long long v, unsigned base, int width)
{
	char digits[24];
	int n = 0;

	do {
		digits[sizeof(digits) - ++n] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0 || n < width);
	key_bytes(k, digits + sizeof(digits) - n, (size_t)n);
}

static int
date_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (tz_parse_date(v, strlen(v), &sq->day) == -1)
		return refuse(code, detail, len, "invalid-date",
		    "date must be a real date as YYYY-MM-DD%s", "");
	return 0;
}

static void
date_key(const struct slots_query *sq, struct slots_key *k)
{
	int y, m, d;

	tz_civil_from_days(sq->day, &y, &m, &d);
	key_num(k, (unsigned)y, 10, 4);
	key_str(k, "-");
	key_num(k, (unsigned)m, 10, 2);
	key_str(k, "-");
	key_num(k, (unsigned)d, 10, 2);
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

static void
days_key(const struct slots_query *sq, struct slots_key *k)
{
	key_num(k, (unsigned)sq->days, 10, 1);
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

static void
available_key(const struct slots_query *sq, struct slots_key *k)
{
	key_str(k, sq->available ? "free" : "all");
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
static void
tz_param_key(const struct slots_query *sq, struct slots_key *k)
{
	key_str(k, sq->zone);
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
static void
format_key(const struct slots_query *sq, struct slots_key *k)
{
	key_str(k, sq->simple ? "simple." : "full.");
	key_str(k, sq->msgpack ? "msgpack" : "json");
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

/* The answer's key: every parameter's canonical value, joined by '.',
 * appended to k. */
static void
slots_key_put(const struct slots_query *sq, struct slots_key *k)
{
	size_t i;

	for (i = 0; i < SLOTS_NPARAMS; i++) {
		if (i > 0)
			key_str(k, ".");
		slots_params[i].key(sq, k);
	}
}

/* The ETag: "<epoch>-<changes>-<key>", hexadecimal numbers; -1 when it
 * does not fit in len. */
int
slots_query_etag(const struct slots_query *sq, uint64_t epoch,
    uint64_t changes, char *buf, size_t len)
{
	struct slots_key k = { buf, len, 0, 0 };

	key_str(&k, "\"");
	key_num(&k, epoch & 0xffffffffffULL, 16, 1);
	key_str(&k, "-");
	key_num(&k, changes, 16, 1);
	key_str(&k, "-");
	slots_key_put(sq, &k);
	key_str(&k, "\"");
	return k.overflow ? -1 : 0;
}

/* One slot's document. */
void
route_slots_emit(struct emit *e, const struct slot *s)
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
	if (tz_use(sq.zone) == -1) {
		http_problem(req, 400, "bad-request", "tz cannot be loaded");
		return;
	}
	msgpack = sq.msgpack = http_wants_msgpack(req);
	from = tz_day_start(sq.day);
	to = tz_day_start(sq.day + sq.days);

	/* The tag fits: zone names are shorter than tz_valid_name allows. */
	slot_table_stats(w->table, &st);
	if (slots_query_etag(&sq, st.epoch, slot_table_changes(w->table, from,
	    to), etag, sizeof(etag)) == -1)
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
