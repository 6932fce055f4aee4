/*
 * route_calendar_feed: GET /calendars/{id}/appointments.ics?token=, the
 * iCalendar feed of a calendar's appointments that a teacher's phone
 * subscribes to (API.md, "iCalendar").  The calendar's feed token in the
 * address is the credential (no bearer token is asked for), checked by
 * the statement itself.  Whatever is wrong (no such calendar, no token, a
 * wrong or rotated one) is the same 404, which tells a guesser nothing
 * about which calendars exist.  The ETag is a digest of the feed.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

#define FEED_TOKEN_MAX	256		/* bytes of a token, NUL included */
#define FEED_REFRESH	"PT15M"		/* how often subscribers look again */

struct feed {
	struct http_pending	 pending;
};

static void
feed_not_found(struct http_request *req)
{
	http_problem(req, 404, "calendar-not-found",
	    "no calendar feed at this address");
}

/* The ETag of a feed: FNV-1a (64 bits) of its bytes.  Any change of the
 * feed changes it but for a collision, whose odds are 2^-64 a change. */
static void
feed_etag(struct evbuffer *body, char *etag, size_t len)
{
	const unsigned char *p = evbuffer_pullup(body, -1);
	size_t i, n = evbuffer_get_length(body);
	uint64_t h = 0xcbf29ce484222325ULL;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(etag, len, "\"%016llx\"", (unsigned long long)h);
}

/* The feed of the calendar a feed statement found: its name, how often to
 * look again, and its events. */
static void
feed_send(struct http_request *req, const PGresult *res)
{
	struct evbuffer *body = evbuffer_new();
	char etag[24];
	int i;

	ical_begin(body);
	ical_line(body, "X-WR-CALNAME", PQgetvalue(res, 0,
	    DB_COL_V_CALENDAR_NAME), 1);
	ical_line(body, "REFRESH-INTERVAL;VALUE=DURATION", FEED_REFRESH, 0);
	ical_line(body, "X-PUBLISHED-TTL", FEED_REFRESH, 0);
	for (i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, DB_COL_A_ID))
			appointment_event(body, res, i, 1);
	ical_end(body);
	feed_etag(body, etag, sizeof(etag));
	http_add_header(req, "ETag", etag);
	/* Who booked is in it: for the subscriber only, not shared caches. */
	http_add_header(req, "Cache-Control", "private, no-cache");
	if (http_etag_matches(req, etag))
		http_reply(req, 304, NULL);
	else
		http_send(req, 200, ICAL_CONTENT_TYPE, body);
	evbuffer_free(body);
}

static void
feed_read(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct feed *f = arg;
	struct http_request *req = commit_rows(&f->pending, res, outcome);

	if (req == NULL)
		goto done;
	if (PQntuples(res) == 0)
		feed_not_found(req);
	else
		feed_send(req, res);
done:
	free(f);
}

static int
feed_param(struct http_request *req, const char *key, const char *value,
    void *token)
{
	if (strcmp(key, "token") != 0)
		return http_query_unknown(req, key);
	snprintf(token, FEED_TOKEN_MAX, "%s", value);
	return 0;
}

/* The token of the query in token; -1 once answered (400 for a malformed
 * query or another parameter, 404 without a token). */
static int
feed_query(struct http_request *req, char token[FEED_TOKEN_MAX])
{
	token[0] = '\0';
	if (http_query_walk(req, feed_param, token) == -1)
		return -1;
	if (token[0] == '\0') {
		feed_not_found(req);
		return -1;
	}
	return 0;
}

/* GET /calendars/{id}/appointments.ics?token=<feedToken> */
void
route_calendar_feed(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	char token[FEED_TOKEN_MAX];
	struct db_args args;
	struct feed *f;
	int64_t id;

	if (feed_query(req, token) == -1)
		return;
	if (http_parse_id(idstr, &id) == -1) {
		feed_not_found(req);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_CALENDAR, id);
	db_arg(&args, DB_ARG_TOKEN, token);
	if (commit_submit(w->commit, req, &f->pending, DB_CALENDAR_FEED, &args,
	    feed_read, f) == -1)
		free(f);
}
