/*
 * stream: live availability, GET /slots/stream (API.md, "Live
 * availability").
 *
 * A stream watches a window: the calendars, days and filters of a GET
 * /slots query.  A worker's streams of the same window form a group, which
 * keeps what its members were last sent (the window's slots, by id) and
 * the change counters that tagged it.  Every STREAM_TICK_MS a timer looks
 * at the table: if anything changed, each group compares its window's
 * counters with those it last sent; a group whose counters moved reads its
 * window again, and every slot that differs from what was sent becomes an
 * event, made once for the group and copied into each member's output.
 * So a thousand streams of one day cost one read of it, and an event costs
 * no allocation per stream beyond its connection's output buffer.  The
 * copies are written STREAM_BATCH at a time, the loop turning in between,
 * so that the requests that arrive meanwhile wait for a batch, not for a
 * thousand writes.
 *
 * The events keep a client's copy of the window equal to GET /slots': a
 * slot that changes or enters the window comes as its document, one that
 * goes away or leaves the window (moved to another time, or no longer free
 * under available=true) as {"id":N,"deleted":true}.  Every event's id is
 * the window's ETag after it, as GET /slots would answer it then.
 * Changes made on other instances reach the table through the syncer's
 * NOTIFY like any other, so no other channel is needed.
 */
#include <sys/queue.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "slotd.h"

#define STREAM_TICK_MS		50
#define STREAM_HEARTBEAT_S	15
#define STREAM_BATCH		32	/* writes in a turn of the loop */
#define STREAM_RETRY		"retry: 2000\n"

struct stream_group;

struct stream {
	TAILQ_ENTRY(stream)	 entry;
	struct stream_group	*group;
	struct http_request	*req;
};

struct stream_group {
	TAILQ_ENTRY(stream_group) entry;
	TAILQ_HEAD(, stream)	 members;
	struct slots_query	 sq;
	int64_t			 from;
	int64_t			 to;
	char			 key[SLOTS_ETAG_MAX];	/* the window */
	char			 etag[SLOTS_ETAG_MAX];	/* last sent */
	uint64_t		 changes;	/* the counters under it */
	struct slot		*sent;		/* the window, by id */
	size_t			 nsent;
	size_t			 sent_cap;
	struct evbuffer		*pending;	/* events on their way */
	struct stream		*cursor;	/* the next member to get them;
						   NULL: all have */
};

static struct {
	struct event_base	*base;
	struct slot_table	*table;
	uint64_t		 epoch;
	struct event		*ev_tick;
	struct event		*ev_heartbeat;
	struct event		*ev_fanout;	/* writes the next batch */
	TAILQ_HEAD(, stream_group) groups;
	int			 open;
	uint64_t		 seen;		/* the table's changes, last tick */
	struct slot		*now;		/* a window as read, by start */
	size_t			 now_cap;
	struct slot		*next;		/* ... and by id */
	size_t			 next_cap;
	struct evbuffer		*out;		/* the events being made */
} streams;

static void	stream_tick(evutil_socket_t, short, void *);
static void	stream_heartbeat(evutil_socket_t, short, void *);
static void	stream_fanout(evutil_socket_t, short, void *);

/* Streams are served on base, from table. */
void
stream_init(struct event_base *base, struct slot_table *table)
{
	struct slot_table_stats st;

	slot_table_stats(table, &st);
	streams.base = base;
	streams.table = table;
	streams.epoch = st.epoch;
	TAILQ_INIT(&streams.groups);
	streams.ev_tick = event_new(base, -1, EV_PERSIST, stream_tick, NULL);
	streams.ev_heartbeat = event_new(base, -1, EV_PERSIST,
	    stream_heartbeat, NULL);
	streams.ev_fanout = evtimer_new(base, stream_fanout, NULL);
	streams.out = evbuffer_new();
}

/* A number that moves whenever anything in the table changes: its change
 * count, and its resets (an empty range's tag moves on those alone). */
static uint64_t
stream_table_changes(void)
{
	struct slot_table_stats st;

	slot_table_stats(streams.table, &st);
	return st.changes + slot_table_changes(streams.table, 0, 0);
}

static int
slot_id_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* What a client sees of a slot is the same. */
static int
slot_same(const struct slot *a, const struct slot *b)
{
	return a->calendar_id == b->calendar_id && a->start == b->start &&
	    a->end == b->end && a->capacity == b->capacity &&
	    a->booked == b->booked;
}

/* An event about slot s (NULL: slot id is gone from the window). */
static void
stream_event(struct stream_group *g, const struct slot *s, int64_t id)
{
	struct emit *e;

	evbuffer_add_printf(streams.out, "id: %s\nevent: slot\ndata: ",
	    g->etag);
	if (s != NULL) {
		e = emit_new(streams.out, 0);
		slots_doc_slot(e, s);
		emit_free(e);
	} else
		evbuffer_add_printf(streams.out, "{\"id\":%lld,"
		    "\"deleted\":true}", (long long)id);
	evbuffer_add(streams.out, "\n\n", 2);
}

/* Write g's pending events to at most *budget more members; 1 when every
 * member has them. */
static int
stream_group_write(struct stream_group *g, int *budget)
{
	struct stream *s;
	size_t len = evbuffer_get_length(g->pending);
	const void *data = evbuffer_pullup(g->pending, -1);

	/* A member let go (too slow) moves the cursor past itself. */
	while ((s = g->cursor) != NULL && *budget > 0) {
		g->cursor = TAILQ_NEXT(s, entry);
		http_stream_send(s->req, data, len);
		(*budget)--;
	}
	if (g->cursor != NULL)
		return 0;
	evbuffer_drain(g->pending, len);
	return 1;
}

/* Every member of g gets its pending events now. */
static void
stream_group_finish(struct stream_group *g)
{
	int all = INT_MAX;

	if (g->cursor != NULL)
		stream_group_write(g, &all);
}

/* What was made in streams.out goes to every member of g, in batches
 * from the next turn of the loop on (what g still had on its way goes
 * first, now). */
static void
stream_group_send(struct stream_group *g)
{
	struct timeval now = { 0, 0 };

	if (evbuffer_get_length(streams.out) == 0)
		return;
	stream_group_finish(g);
	evbuffer_add_buffer(g->pending, streams.out);
	g->cursor = TAILQ_FIRST(&g->members);
	if (g->cursor == NULL)
		evbuffer_drain(g->pending, evbuffer_get_length(g->pending));
	else if (!evtimer_pending(streams.ev_fanout, NULL))
		evtimer_add(streams.ev_fanout, &now);
}

/* The next batch of writes, after the loop has had its turn. */
static void
stream_fanout(evutil_socket_t fd, short what, void *arg)
{
	struct timeval now = { 0, 0 };
	struct stream_group *g;
	int budget = STREAM_BATCH, done = 1;

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_FOREACH(g, &streams.groups, entry)
		if (g->cursor != NULL && !stream_group_write(g, &budget))
			done = 0;
	if (!done)
		evtimer_add(streams.ev_fanout, &now);
}

/*
 * Read g's window again, under its counters `changes` (read before it),
 * and send g's members an event for every slot that differs from what
 * they were sent.  The window stays in streams.now, by start: the return
 * value says how many slots.
 */
static size_t
stream_group_refresh(struct stream_group *g, uint64_t changes)
{
	struct slot *was = g->sent, *now, *swap;
	size_t n, i = 0, j = 0, cap;
	int tell = !TAILQ_EMPTY(&g->members);

	tz_use(g->sq.zone);
	n = slots_doc_fetch(streams.table, &g->sq, g->from, g->to,
	    &streams.now, &streams.now_cap);
	if (n > streams.next_cap) {
		streams.next_cap = n;
		streams.next = xreallocarray(streams.next, n, sizeof(*now));
	}
	now = streams.next;
	if (n > 0) {
		memcpy(now, streams.now, n * sizeof(*now));
		qsort(now, n, sizeof(*now), slot_id_cmp);
	}
	g->changes = changes;
	if (slots_query_etag(&g->sq, streams.epoch, changes, g->etag,
	    sizeof(g->etag)) == -1)
		fatalx("%s: the window's tag does not fit", __func__);
	while (tell && (i < g->nsent || j < n)) {
		if (j == n || (i < g->nsent && was[i].id < now[j].id))
			stream_event(g, NULL, was[i++].id);
		else if (i == g->nsent || now[j].id < was[i].id)
			stream_event(g, &now[j++], 0);
		else {
			if (!slot_same(&was[i], &now[j]))
				stream_event(g, &now[j], 0);
			i++;
			j++;
		}
	}
	stream_group_send(g);
	/* What was read is what was sent: the buffers change places. */
	swap = g->sent;
	cap = g->sent_cap;
	g->sent = streams.next;
	g->sent_cap = streams.next_cap;
	g->nsent = n;
	streams.next = swap;
	streams.next_cap = cap;
	return n;
}

static void
stream_group_free(struct stream_group *g)
{
	TAILQ_REMOVE(&streams.groups, g, entry);
	evbuffer_free(g->pending);
	free(g->sent);
	free(g);
}

/* The group of the window, made if there is none yet (it has read
 * nothing, so its first refresh reads the whole window). */
static struct stream_group *
stream_group_get(const struct slots_query *sq, int64_t from, int64_t to)
{
	struct stream_group *g;
	struct slots_query q = *sq;
	char key[SLOTS_ETAG_MAX];

	q.msgpack = 0;
	if (sq->zone == sq->zone_buf)
		q.zone = q.zone_buf;
	if (slots_query_etag(&q, 0, 0, key, sizeof(key)) == -1)
		fatalx("%s: the window's key does not fit", __func__);
	TAILQ_FOREACH(g, &streams.groups, entry)
		if (strcmp(g->key, key) == 0)
			return g;
	g = xcalloc(1, sizeof(*g));
	TAILQ_INIT(&g->members);
	g->pending = evbuffer_new();
	g->sq = q;
	if (q.zone == q.zone_buf)
		g->sq.zone = g->sq.zone_buf;
	g->from = from;
	g->to = to;
	memcpy(g->key, key, sizeof(key));
	TAILQ_INSERT_TAIL(&streams.groups, g, entry);
	return g;
}

/* The stream's connection closed, or the worker drains. */
static void
stream_gone(void *arg)
{
	struct stream *s = arg;

	if (s->group->cursor == s)
		s->group->cursor = TAILQ_NEXT(s, entry);
	TAILQ_REMOVE(&s->group->members, s, entry);
	streams.open--;
	metrics_streams(-1);
	free(s);
}

/* Every STREAM_TICK_MS while streams are open: the groups whose windows
 * changed tell their members.  Groups left empty go; with no stream left,
 * the timers stop. */
static void
stream_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream_group *g, *next;
	uint64_t seen = stream_table_changes(), changes;
	int moved = seen != streams.seen;

	(void)fd;
	(void)what;
	(void)arg;
	streams.seen = seen;
	for (g = TAILQ_FIRST(&streams.groups); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (TAILQ_EMPTY(&g->members)) {
			stream_group_free(g);
			continue;
		}
		if (!moved)
			continue;
		changes = slots_doc_changes(streams.table, &g->sq, g->from,
		    g->to);
		if (changes != g->changes)
			stream_group_refresh(g, changes);
	}
	if (streams.open == 0) {
		event_del(streams.ev_tick);
		event_del(streams.ev_heartbeat);
	}
}

/* Every STREAM_HEARTBEAT_S: a comment line on every stream, so that
 * proxies and clients see it alive. */
static void
stream_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct stream_group *g;

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_FOREACH(g, &streams.groups, entry) {
		evbuffer_add(streams.out, ":\n", 2);
		stream_group_send(g);
	}
}

/*
 * Answer req with a stream of the window (sq over [from, to), checked by
 * the route, its zone in use): the snapshot, the GET /slots document of
 * the window, unless Last-Event-ID names the window's current tag; then
 * its changes.  Over [server] max_streams, or while the worker drains,
 * 503 (the client comes back, to this worker or the next generation).
 */
void
stream_open(struct http_request *req, const struct config *conf,
    struct slot_table *table, const struct slots_query *sq, int64_t from,
    int64_t to)
{
	struct timeval tick = { 0, STREAM_TICK_MS * 1000 };
	struct timeval beat = { STREAM_HEARTBEAT_S, 0 };
	struct stream_group *g;
	struct stream *s;
	const char *last = http_header(req, "Last-Event-ID");
	size_t n;
	int rc, resumed;

	if (streams.table != table) {
		http_problem(req, 503, "unavailable", "no streams here");
		return;
	}
	if (streams.open >= conf->max_streams) {
		http_problem(req, 503, "unavailable", "this worker serves as "
		    "many streams as it may (%d); connect again",
		    conf->max_streams);
		return;
	}
	g = stream_group_get(sq, from, to);
	/* The members have what changed until now: the newcomer's snapshot
	 * is the window they all have. */
	n = stream_group_refresh(g, slots_doc_changes(table, &g->sq, from,
	    to));
	resumed = last != NULL && strcmp(last, g->etag) == 0;
	http_add_header(req, "Cache-Control", "no-cache");
	http_add_header(req, "X-Accel-Buffering", "no");
	s = xcalloc(1, sizeof(*s));
	if ((rc = http_stream_start(req, "text/event-stream", stream_gone,
	    s)) != 1) {
		free(s);
		if (TAILQ_EMPTY(&g->members))
			stream_group_free(g);
		if (rc == -1)
			http_problem(req, 503, "unavailable", "this worker is "
			    "stopping; connect again");
		return;
	}
	s->group = g;
	s->req = req;
	/* Ahead of the cursor: the events on their way are in its snapshot. */
	TAILQ_INSERT_HEAD(&g->members, s, entry);
	if (streams.open++ == 0) {
		streams.seen = stream_table_changes();
		event_add(streams.ev_tick, &tick);
		event_add(streams.ev_heartbeat, &beat);
	}
	metrics_streams(1);
	evbuffer_add(streams.out, STREAM_RETRY, strlen(STREAM_RETRY));
	if (!resumed) {
		evbuffer_add_printf(streams.out, "id: %s\nevent: snapshot\n"
		    "data: ", g->etag);
		slots_doc_emit(streams.out, &g->sq, streams.now, n);
		evbuffer_add(streams.out, "\n", 1);
	}
	evbuffer_add(streams.out, "\n", 1);
	http_stream_send(req, evbuffer_pullup(streams.out, -1),
	    evbuffer_get_length(streams.out));
	evbuffer_drain(streams.out, evbuffer_get_length(streams.out));
}

/* At the worker's end, once its connections are closed. */
void
stream_free(void)
{
	if (streams.base == NULL)
		return;
	while (!TAILQ_EMPTY(&streams.groups))
		stream_group_free(TAILQ_FIRST(&streams.groups));
	event_free(streams.ev_tick);
	event_free(streams.ev_heartbeat);
	event_free(streams.ev_fanout);
	evbuffer_free(streams.out);
	free(streams.now);
	free(streams.next);
	memset(&streams, 0, sizeof(streams));
}
