/*
 * db: non-blocking PostgreSQL for event loops.
 *
 * A db_link is one libpq connection driven by one libevent event (used by
 * the syncer and by the pool).  A db_pool is a worker's set of links with
 * prepared statements and a bounded wait queue: a query runs on an idle
 * link or waits; when no link is up, or the queue is full, it is refused
 * at once so that the caller can answer 503.  Nothing here blocks.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

#define DB_BACKOFF_MIN_MS	100
#define DB_BACKOFF_MAX_MS	5000
#define DB_CONNECT_TIMEOUT	10	/* seconds; PQconnectPoll has none */
#define DB_QUEUE_TIMEOUT	10	/* seconds a write may wait for a
					   connection before it gets 503 */

/* ---- one connection ---- */

/* (Re)arm the link's event for what on its current socket.  While
 * connecting the event is always made anew: libpq may close a socket and
 * open another with the same number, which epoll has forgotten. */
void
db_link_watch(struct db_link *l, short what)
{
	int fd = PQsocket(l->conn);

	if (l->ev != NULL && (l->connecting || event_get_fd(l->ev) != fd ||
	    event_get_events(l->ev) != (what | EV_PERSIST))) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->ev == NULL && fd >= 0) {
		l->ev = event_new(l->base, fd, what | EV_PERSIST, l->cb, l->arg);
		event_add(l->ev, NULL);
	}
}

static void
db_link_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct db_link *l = arg;

	(void)fd;
	(void)what;
	l->cb(-1, EV_TIMEOUT, l->arg);
}

/* Start a connection (PQconnectStartParams) whose notices and warnings go
 * to the log from the first on.  TCP keepalives (and the server options
 * given, if any) are defaults the conninfo may override: keepalives notice
 * a peer that vanished without closing the connection. */
struct pg_conn *
db_connect_start(const char *conninfo, const char *app, const char *options)
{
	const char *keys[] = { "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "tcp_user_timeout", "options", "dbname",
	    "fallback_application_name", NULL };
	const char *values[] = { "30", "10", "3", "60000", options, conninfo,
	    app, NULL };
	PGconn *conn = PQconnectStartParams(keys, values, 1);

	if (conn != NULL)
		PQsetNoticeReceiver(conn, log_libpq, NULL);
	return conn;
}

/* Start connecting the link. */
int
db_link_start(struct db_link *l, const char *conninfo, const char *app,
    const char *options)
{
	struct timeval tv = { DB_CONNECT_TIMEOUT, 0 };

	l->conn = db_connect_start(conninfo, app, options);
	if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD)
		return -1;
	l->connecting = 1;
	if (l->ev_timeout == NULL)
		l->ev_timeout = evtimer_new(l->base, db_link_timeout, l);
	evtimer_add(l->ev_timeout, &tv);
	db_link_watch(l, EV_WRITE);
	return 0;
}

/* Advance a connection attempt on an event: 1 when connected, 0 while
 * pending, -1 on failure or timeout. */
int
db_link_poll(struct db_link *l, short what)
{
	if (what & EV_TIMEOUT) {
		log_warnx("database connection attempt timed out after %d s",
		    DB_CONNECT_TIMEOUT);
		return -1;
	}
	switch (PQconnectPoll(l->conn)) {
	case PGRES_POLLING_READING:
		db_link_watch(l, EV_READ);
		return 0;
	case PGRES_POLLING_WRITING:
		db_link_watch(l, EV_WRITE);
		return 0;
	case PGRES_POLLING_OK:
		l->connecting = 0;
		evtimer_del(l->ev_timeout);
		if (PQsetnonblocking(l->conn, 1) == -1)
			return -1;
		db_link_watch(l, EV_READ);
		return 1;
	default:
		return -1;
	}
}

/* Push buffered output; watch for writability until it is all out. */
int
db_link_flush(struct db_link *l)
{
	int r = PQflush(l->conn);

	if (r == -1)
		return -1;
	db_link_watch(l, r == 1 ? EV_READ | EV_WRITE : EV_READ);
	return 0;
}

/* The first line of the connection's last error.  What the server said
 * before it went (a terminated backend's FATAL, unread while the link was
 * idle) goes to the notice receiver first. */
const char *
db_link_error(struct db_link *l, char *buf, size_t len)
{
	const char *msg;

	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_BAD)
		(void)PQisBusy(l->conn);	/* parses what is buffered */
	msg = l->conn != NULL ? PQerrorMessage(l->conn) : "";
	snprintf(buf, len, "%.*s", (int)strcspn(msg, "\n"),
	    *msg != '\0' ? msg : "connection lost");
	return buf;
}

/* Close the connection; the link may start again. */
void
db_link_close(struct db_link *l)
{
	if (l->ev != NULL)
		event_free(l->ev);
	l->ev = NULL;
	if (l->ev_timeout != NULL)
		evtimer_del(l->ev_timeout);
	if (l->conn != NULL)
		PQfinish(l->conn);
	l->conn = NULL;
	l->connecting = 0;
}

/* Close and release the link for good. */
void
db_link_free(struct db_link *l)
{
	db_link_close(l);
	if (l->ev_timeout != NULL)
		event_free(l->ev_timeout);
	l->ev_timeout = NULL;
}

/* ---- prepared statements ---- */

/*
 * Workers' connections are quiet (migration 0004): the table's triggers
 * neither notify nor log their changes.  So each statement of theirs that
 * changes slots writes, in its own transaction, the ids of the slots it
 * answers for into the change log (migration 0008) that the syncers read:
 * a change is never lost, even when its announcement is.  A refusal's
 * slot is logged too, which costs a needless re-read, no more.
 */
#define DB_LOGGED(call)							\
	"WITH r AS (" call "), l AS (INSERT INTO slot_changes (slot_ids) "\
	"SELECT array_agg(CASE WHEN outcome = 'deleted' THEN ref::bigint "\
	"ELSE id END) FROM r WHERE id IS NOT NULL OR outcome = 'deleted' "\
	"HAVING count(*) > 0) SELECT * FROM r"
#define DB_LOG_UPDATED							\
	"l AS (INSERT INTO slot_changes (slot_ids) SELECT array_agg(id) "\
	"FROM u HAVING count(*) > 0) "

/* A statement with a batch form may run, when several wait, as part of
 * one execution of that form: it takes one array per parameter (the
 * values of each query in turn) and returns one row per query, in order,
 * shaped as the single statement's. */
static const struct {
	const char	*sql;
	int		 nparams;
	enum db_stmt	 batch;		/* 0: none */
} db_statements[DB_NSTMTS] = {
	[DB_BOOK] = { .nparams = 9, .sql =
	    DB_LOGGED("SELECT * FROM slotd_book($1::bigint, $2::integer, $3, "
	    "$4, $5, $6, $7, $8, $9::uuid)") },
	[DB_CANCEL] = { .nparams = 3, .sql =
	    DB_LOGGED("SELECT * FROM slotd_cancel($1::bigint, $2, "
	    "$3::boolean)") },
	[DB_HOLD] = { .nparams = 4, .sql =
	    DB_LOGGED("SELECT * FROM slotd_hold($1::bigint, $2::integer, $3, "
	    "$4::integer)") },
	[DB_RELEASE] = { .nparams = 2, .sql =
	    DB_LOGGED("SELECT * FROM slotd_release($1::uuid, $2)") },
	[DB_CREATE_SLOTS] = { .nparams = 3, .sql =
	    DB_LOGGED("SELECT * FROM slotd_create_slots($1::bigint[], "
	    "$2::bigint[], $3::integer[])") },
	[DB_SET_CAPACITY] = { .nparams = 2, .sql =
	    DB_LOGGED("SELECT * FROM slotd_set_capacity($1::bigint, "
	    "$2::integer)") },
	[DB_DELETE_SLOT] = { .nparams = 1, .sql =
	    DB_LOGGED("SELECT * FROM slotd_delete_slot($1::bigint)") },
	[DB_GET_APPOINTMENT] = { .nparams = 3, .sql =
	    "SELECT id, slot_ids, "
	    "floor(extract(epoch FROM start_at))::bigint, "
	    "floor(extract(epoch FROM end_at))::bigint, status, name, email, "
	    "note, floor(extract(epoch FROM created_at))::bigint "
	    "FROM appointments WHERE id = $1::bigint "
	    "AND ($2 = owner OR $3::boolean)" },
	[DB_ANNOUNCE] = { .nparams = 1, .sql =
	    "SELECT slotd_announce($1)" },
	[DB_BOOK_ONE] = { .nparams = 7, .sql =
	    DB_LOGGED("SELECT * FROM slotd_book_one($1::bigint, $2, $3, "
	    "$4, $5, $6, $7)") },
	/* One slot, no hold, no idempotency key: one plain statement that
	 * locks the row, books only if the seat is free and the slot ahead,
	 * and answers as slotd_book does. */
	[DB_BOOK_LEAN] = { .nparams = 5, .batch = DB_BOOK_BATCH, .sql =
	    "WITH s AS (SELECT * FROM slots WHERE id = "
	    "$1::bigint FOR UPDATE), "
	    "ok AS (SELECT * FROM s WHERE start_at > now() AND "
	    "booked < capacity), "
	    "a AS (INSERT INTO appointments (slot_ids, start_at, end_at, "
	    "name, email, note, owner) SELECT ARRAY[id], start_at, end_at, $2, "
	    "$3, $4, $5 FROM ok RETURNING id, created_at, slot_ids, start_at, "
	    "end_at), "
	    "u AS (UPDATE slots x SET booked = x.booked + 1, "
	    "version = x.version + 1 FROM ok WHERE x.id = ok.id "
	    "RETURNING x.*), " DB_LOG_UPDATED
	    "SELECT CASE WHEN s.id IS NULL THEN 'slot-not-found' "
	    "WHEN u.id IS NOT NULL THEN 'booked' "
	    "WHEN s.start_at <= now() THEN 'slot-in-past' "
	    "ELSE 'slot-full' END, a.id::text, slotd_epoch(a.created_at), "
	    "coalesce(a.slot_ids, ARRAY[s.id]), slotd_epoch(a.start_at), "
	    "slotd_epoch(a.end_at), coalesce(u.id, s.id), "
	    "coalesce(u.calendar_id, s.calendar_id), "
	    "slotd_epoch(coalesce(u.start_at, s.start_at)), "
	    "slotd_epoch(coalesce(u.end_at, s.end_at)), "
	    "coalesce(u.capacity, s.capacity), coalesce(u.booked, s.booked), "
	    "coalesce(u.version, s.version) "
	    "FROM (SELECT 1) one LEFT JOIN s ON true LEFT JOIN u ON true "
	    "LEFT JOIN a ON true" },
	/* book_lean for several queries in one statement and one commit.
	 * Slot rows are locked in id order, as every writer does; requests
	 * for one slot get its free seats in the order they came; the
	 * appointments' ids are drawn first to tie each to its request. */
	[DB_BOOK_BATCH] = { .nparams = 5, .sql =
	    "WITH req AS (SELECT r.*, row_number() OVER "
	    "(PARTITION BY r.slot_id ORDER BY r.n) AS rank FROM "
	    "unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
	    "$5::text[]) WITH ORDINALITY AS r(slot_id, name, email, note, "
	    "owner, n)), "
	    "want AS (SELECT slot_id, count(*) AS k FROM req GROUP BY slot_id), "
	    "s AS (SELECT * FROM slots WHERE id IN (SELECT slot_id FROM want) "
	    "ORDER BY id FOR UPDATE), "
	    "g AS (SELECT s.*, CASE WHEN s.start_at > now() THEN "
	    "least(want.k, s.capacity - s.booked) ELSE 0 END AS granted "
	    "FROM s JOIN want ON want.slot_id = s.id), "
	    "u AS (UPDATE slots x SET booked = x.booked + g.granted, "
	    "version = x.version + 1 FROM g WHERE x.id = g.id AND "
	    "g.granted > 0 RETURNING x.*), " DB_LOG_UPDATED ", "
	    "ids AS (SELECT req.n, nextval('appointments_id_seq') AS id "
	    "FROM req JOIN g ON g.id = req.slot_id WHERE req.rank <= "
	    "g.granted), "
	    "a AS (INSERT INTO appointments (id, slot_ids, start_at, end_at, "
	    "name, email, note, owner) OVERRIDING SYSTEM VALUE SELECT ids.id, "
	    "ARRAY[g.id], g.start_at, g.end_at, req.name, req.email, req.note, "
	    "req.owner FROM ids JOIN req USING (n) JOIN g ON "
	    "g.id = req.slot_id RETURNING id, created_at, slot_ids, start_at, "
	    "end_at) "
	    "SELECT CASE WHEN g.id IS NULL THEN 'slot-not-found' "
	    "WHEN a.id IS NOT NULL THEN 'booked' "
	    "WHEN g.start_at <= now() THEN 'slot-in-past' "
	    "ELSE 'slot-full' END, a.id::text, slotd_epoch(a.created_at), "
	    "coalesce(a.slot_ids, ARRAY[g.id]), slotd_epoch(a.start_at), "
	    "slotd_epoch(a.end_at), coalesce(u.id, g.id), "
	    "coalesce(u.calendar_id, g.calendar_id), "
	    "slotd_epoch(coalesce(u.start_at, g.start_at)), "
	    "slotd_epoch(coalesce(u.end_at, g.end_at)), "
	    "coalesce(u.capacity, g.capacity), coalesce(u.booked, g.booked), "
	    "coalesce(u.version, g.version) "
	    "FROM req LEFT JOIN g ON g.id = req.slot_id LEFT JOIN u ON "
	    "u.id = req.slot_id LEFT JOIN ids ON ids.n = req.n LEFT JOIN a ON "
	    "a.id = ids.id ORDER BY req.n" },
};

static const char *
db_stmt_name(enum db_stmt s)
{
	static const char *const names[DB_NSTMTS] = { "book", "cancel",
	    "hold", "release", "create_slots", "set_capacity", "delete_slot",
	    "get_appointment", "announce", "book_one", "book_lean",
	    "book_batch" };

	return names[s];
}

/* ---- the pool ----
 *
 * A connection runs one statement at a time.  Queries are sent at the end
 * of the loop turn that made them; when several are waiting then (made in
 * the same turn, or while every connection was busy) and those at the head
 * of the queue have a batch form, up to DB_BATCH_MAX of them run as one
 * execution of it: bookings arriving together share one statement and one
 * commit, and each still gets its own row as its answer.  If the batch
 * fails as a whole, nothing of it was committed, and each query runs again
 * on its own, so that one booking's failure is never another's.
 */

#define DB_BATCH_MAX	32

struct db_query {
	TAILQ_ENTRY(db_query)	 entry;
	time_t			 queued_at;
	enum db_stmt		 stmt;
	int			 alone;		/* its batch failed */
	char			*values[DB_MAX_PARAMS];
	db_callback		 cb;
	void			*arg;
	PGresult		*result;
};
TAILQ_HEAD(db_queue, db_query);

enum db_conn_state {
	DB_CONN_DOWN,
	DB_CONN_CONNECTING,
	DB_CONN_PREPARING,
	DB_CONN_IDLE,
	DB_CONN_BUSY
};

struct db_conn {
	struct db_pool		*pool;
	struct db_link		 link;
	struct event		*ev_retry;
	enum db_conn_state	 state;
	int			 prepared;	/* statements prepared so far */
	int			 backoff_ms;
	struct db_query		*round[DB_BATCH_MAX];	/* in flight */
	int			 nround;
	PGresult		*result;	/* of the statement in flight */
};

struct db_pool {
	struct event_base	*base;
	char			*conninfo;
	int			 size;
	int			 queue_max;
	int			 queued;
	struct db_conn		*conns;
	struct db_queue		 queue;
	struct db_pool_counters	*counters;
	struct event		*ev_expire;
	struct event		*ev_dispatch;	/* at the end of the loop turn */
};

#define ADD(p, n)	__atomic_add_fetch((p), (n), __ATOMIC_RELAXED)
#define COUNT(p)	ADD((p), 1)

static void	db_conn_io(evutil_socket_t, short, void *);
static void	db_conn_connect(struct db_conn *);
static void	db_pool_dispatch(struct db_pool *);
static void	db_array_append_text(struct evbuffer *, const char *);

static void
db_query_free(struct db_query *q)
{
	int i;

	for (i = 0; i < DB_MAX_PARAMS; i++)
		free(q->values[i]);
	if (q->result != NULL)
		PQclear(q->result);
	free(q);
}

static void
db_query_finish(struct db_query *q, enum db_outcome outcome)
{
	q->cb(outcome == DB_DONE ? q->result : NULL, outcome, q->arg);
	db_query_free(q);
}

/* End the round: its queries are no longer in flight. */
static int
db_conn_take_round(struct db_conn *c, struct db_query **round)
{
	int n = c->nround;

	memcpy(round, c->round, (size_t)n * sizeof(*round));
	c->nround = 0;
	if (c->result != NULL)
		PQclear(c->result);
	c->result = NULL;
	return n;
}

/* The connection is gone: whether its round committed is unknown. */
static void
db_conn_lose_round(struct db_conn *c)
{
	struct db_query *round[DB_BATCH_MAX];
	int i, n = db_conn_take_round(c, round);

	for (i = 0; i < n; i++)
		db_query_finish(round[i], DB_LOST);
}

/* Give the queue back queries that were never run, first to run next. */
static void
db_pool_requeue(struct db_pool *p, struct db_query **qs, int n)
{
	while (n-- > 0) {
		TAILQ_INSERT_HEAD(&p->queue, qs[n], entry);
		p->queued++;
	}
}

static int
db_pool_reachable(const struct db_pool *p)
{
	int i;

	for (i = 0; i < p->size; i++)
		if (p->conns[i].state >= DB_CONN_PREPARING ||
		    (p->conns[i].state == DB_CONN_CONNECTING &&
		    p->conns[i].backoff_ms <= DB_BACKOFF_MIN_MS))
			return 1;
	return 0;
}

/* Lose the connection: the round in flight may or may not have committed;
 * queued queries fail only when no connection is left to run them. */
static void
db_conn_fail(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	struct db_query *q;
	struct timeval tv;
	char why[256];
	int ms;

	/* Log going down, and a first failed attempt; not every retry. */
	if (c->state >= DB_CONN_PREPARING || c->backoff_ms == DB_BACKOFF_MIN_MS)
		log_warnx("database connection %d: %s", (int)(c - p->conns),
		    db_link_error(&c->link, why, sizeof(why)));
	db_link_close(&c->link);
	c->state = DB_CONN_DOWN;
	COUNT(&p->counters->errors);
	db_conn_lose_round(c);
	if (!db_pool_reachable(p)) {
		while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, q, entry);
			p->queued--;
			db_query_finish(q, DB_UNAVAILABLE);
		}
	}
	ms = c->backoff_ms / 2 + rand() % (c->backoff_ms / 2 + 1);
	c->backoff_ms = c->backoff_ms * 2 > DB_BACKOFF_MAX_MS ?
	    DB_BACKOFF_MAX_MS : c->backoff_ms * 2;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->ev_retry, &tv);
}

static void
db_conn_prepare_next(struct db_conn *c)
{
	if (c->prepared == DB_NSTMTS) {
		c->state = DB_CONN_IDLE;
		c->backoff_ms = DB_BACKOFF_MIN_MS;
		db_pool_dispatch(c->pool);
		return;
	}
	c->state = DB_CONN_PREPARING;
	if (!PQsendPrepare(c->link.conn, db_stmt_name(c->prepared),
	    db_statements[c->prepared].sql, db_statements[c->prepared].nparams,
	    NULL) || db_link_flush(&c->link) == -1)
		db_conn_fail(c);
}

/* One array literal of the round's values of parameter i, each quoted as
 * text (which every element type reads). */
static const char *
db_batch_array(struct evbuffer *b, struct db_query **round, int n, int i)
{
	int k;

	for (k = 0; k < n; k++)
		db_array_append_text(b, round[k]->values[i]);
	return db_array_finish(b);
}

/* Send the round: its one query, or its batch as one statement. */
static void
db_conn_send(struct db_conn *c)
{
	struct db_query *q = c->round[0], *round[DB_BATCH_MAX];
	enum db_stmt stmt = c->nround > 1 ? db_statements[q->stmt].batch :
	    q->stmt;
	struct evbuffer *arrays[DB_MAX_PARAMS];
	const char *values[DB_MAX_PARAMS];
	int i, n, ok;

	c->state = DB_CONN_BUSY;
	if (c->nround > 1) {
		COUNT(&c->pool->counters->batches);
		ADD(&c->pool->counters->batched, (uint64_t)c->nround);
		for (i = 0; i < db_statements[stmt].nparams; i++) {
			arrays[i] = evbuffer_new();
			values[i] = db_batch_array(arrays[i], c->round,
			    c->nround, i);
		}
	} else
		memcpy(values, q->values, sizeof(values));
	ok = PQsendQueryPrepared(c->link.conn, db_stmt_name(stmt),
	    db_statements[stmt].nparams, values, NULL, NULL, 0) &&
	    db_link_flush(&c->link) == 0;
	if (c->nround > 1)
		for (i = 0; i < db_statements[stmt].nparams; i++)
			evbuffer_free(arrays[i]);
	if (!ok) {
		/* Nothing reached the server: the queries may run elsewhere. */
		n = db_conn_take_round(c, round);
		db_pool_requeue(c->pool, round, n);
		db_conn_fail(c);
	}
}

static int
db_query_batchable(const struct db_query *q)
{
	return q != NULL && db_statements[q->stmt].batch != 0 && !q->alone;
}

/* Hand waiting queries to idle connections. */
static void
db_pool_dispatch(struct db_pool *p)
{
	struct db_query *q;
	int i;

	for (i = 0; i < p->size && !TAILQ_EMPTY(&p->queue); i++) {
		struct db_conn *c = &p->conns[i];

		if (c->state != DB_CONN_IDLE)
			continue;
		do {
			q = TAILQ_FIRST(&p->queue);
			TAILQ_REMOVE(&p->queue, q, entry);
			p->queued--;
			c->round[c->nround++] = q;
		} while (db_query_batchable(q) && c->nround < DB_BATCH_MAX &&
		    db_query_batchable(TAILQ_FIRST(&p->queue)) &&
		    TAILQ_FIRST(&p->queue)->stmt == q->stmt);
		db_conn_send(c);
	}
}

static void
db_pool_dispatch_queued(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_pool_dispatch(arg);
}

/* Row i of a batch's result, as the result of its query alone. */
static PGresult *
db_batch_row(const PGresult *res, int i)
{
	PGresult *one = PQcopyResult(res, PG_COPYRES_ATTRS);
	int col;

	if (one == NULL)
		return NULL;
	for (col = 0; col < PQnfields(res); col++)
		if (!PQsetvalue(one, 0, col, PQgetisnull(res, i, col) ? NULL :
		    PQgetvalue(res, i, col), PQgetisnull(res, i, col) ? -1 :
		    PQgetlength(res, i, col))) {
			PQclear(one);
			return NULL;
		}
	return one;
}

/* Answer a batch's queries from its result.  A batch that failed
 * committed nothing: its queries run again, each alone.  One that
 * committed but cannot be split into one row per query (which the
 * statement never gives, short of memory) leaves each outcome unknown. */
static void
db_batch_done(struct db_pool *p, struct db_query **round, int n,
    const PGresult *res)
{
	int i, split = PQntuples(res) == n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("a batch of %d bookings failed (%s): running them one "
		    "by one", n, PQresultErrorMessage(res));
		COUNT(&p->counters->batch_retries);
		for (i = 0; i < n; i++)
			round[i]->alone = 1;
		db_pool_requeue(p, round, n);
		return;
	}
	for (i = 0; split && i < n; i++)
		split = (round[i]->result = db_batch_row(res, i)) != NULL;
	if (!split)
		log_warnx("a batch of %d bookings committed, but its %d rows "
		    "cannot be told apart: each outcome is unknown", n,
		    PQntuples(res));
	for (i = 0; i < n; i++)
		db_query_finish(round[i], split ? DB_DONE : DB_LOST);
}

/* The round's statement is over: answer its queries. */
static void
db_conn_done(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	struct db_query *round[DB_BATCH_MAX];
	PGresult *res = c->result;
	int n;

	if (c->state == DB_CONN_PREPARING) {
		c->prepared++;
		db_conn_prepare_next(c);
		return;
	}
	c->result = NULL;
	n = db_conn_take_round(c, round);
	c->state = DB_CONN_IDLE;
	if (n == 1) {
		round[0]->result = res;
		db_query_finish(round[0], DB_DONE);
	} else {
		db_batch_done(p, round, n, res);
		PQclear(res);
	}
	db_pool_dispatch(p);
}

static void
db_conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	PGresult *res;
	int failed = 0;

	(void)fd;
	if (c->state == DB_CONN_CONNECTING) {
		switch (db_link_poll(&c->link, what)) {
		case 1:
			c->prepared = 0;
			db_conn_prepare_next(c);
			break;
		case -1:
			db_conn_fail(c);
			break;
		}
		return;
	}
	if ((what & EV_WRITE) && db_link_flush(&c->link) == -1) {
		db_conn_fail(c);
		return;
	}
	if (!(what & EV_READ))
		return;
	if (!PQconsumeInput(c->link.conn)) {
		db_conn_fail(c);
		return;
	}
	while (c->state == DB_CONN_PREPARING || c->state == DB_CONN_BUSY) {
		if (PQisBusy(c->link.conn))
			break;
		if ((res = PQgetResult(c->link.conn)) == NULL) {
			if (failed) {
				db_conn_fail(c);
				return;
			}
			db_conn_done(c);
			continue;
		}
		if (c->state == DB_CONN_PREPARING &&
		    PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_warnx("preparing %s: %s", db_stmt_name(c->prepared),
			    PQresultErrorMessage(res));
			failed = 1;
		}
		/* Rows may be followed by an error (a commit that failed):
		 * the error is the answer then, and the rows never were. */
		if (c->state == DB_CONN_BUSY && (c->result == NULL ||
		    (PQresultStatus(res) != PGRES_TUPLES_OK &&
		    PQresultStatus(res) != PGRES_COMMAND_OK))) {
			if (c->result != NULL)
				PQclear(c->result);
			c->result = res;
		} else
			PQclear(res);
	}
	if (c->link.conn != NULL && PQstatus(c->link.conn) == CONNECTION_BAD)
		db_conn_fail(c);
}

static void
db_conn_connect(struct db_conn *c)
{
	c->state = DB_CONN_CONNECTING;
	/* A write waits for a row lock or runs at most this long; an admin's
	 * forgotten transaction must not hold a worker's pool for good. */
	if (db_link_start(&c->link, c->pool->conninfo, "slotd worker",
	    "-c lock_timeout=5s -c statement_timeout=10s -c slotd.quiet=on "
	    "-c plan_cache_mode=force_generic_plan") ==
	    -1)
		db_conn_fail(c);
}

static void
db_conn_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_conn_connect(arg);
}

/* Once a second: writes that waited too long are refused (never sent). */
static void
db_pool_expire(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;
	struct db_query *q;
	time_t limit = time(NULL) - DB_QUEUE_TIMEOUT;

	(void)fd;
	(void)what;
	while ((q = TAILQ_FIRST(&p->queue)) != NULL && q->queued_at < limit) {
		TAILQ_REMOVE(&p->queue, q, entry);
		p->queued--;
		COUNT(&p->counters->refused);
		db_query_finish(q, DB_UNAVAILABLE);
	}
}

struct db_pool *
db_pool_new(struct event_base *base, const char *conninfo, int size,
    int queue_max, struct db_pool_counters *counters)
{
	struct db_pool *p = xcalloc(1, sizeof(*p));
	struct timeval second = { 1, 0 };
	int i;

	p->base = base;
	p->counters = counters;
	p->ev_expire = event_new(base, -1, EV_PERSIST, db_pool_expire, p);
	event_add(p->ev_expire, &second);
	p->ev_dispatch = event_new(base, -1, 0, db_pool_dispatch_queued, p);
	p->conninfo = xstrdup(conninfo);
	p->size = size;
	p->queue_max = queue_max;
	TAILQ_INIT(&p->queue);
	p->conns = xcalloc((size_t)size, sizeof(*p->conns));
	for (i = 0; i < size; i++) {
		struct db_conn *c = &p->conns[i];

		c->pool = p;
		c->backoff_ms = DB_BACKOFF_MIN_MS;
		c->link.base = base;
		c->link.cb = db_conn_io;
		c->link.arg = c;
		c->ev_retry = evtimer_new(base, db_conn_retry, c);
		db_conn_connect(c);
	}
	return p;
}

void
db_pool_free(struct db_pool *p)
{
	struct db_query *q;
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->size; i++) {
		struct db_conn *c = &p->conns[i];

		db_conn_lose_round(c);
		db_link_free(&c->link);
		event_free(c->ev_retry);
	}
	while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
		TAILQ_REMOVE(&p->queue, q, entry);
		db_query_finish(q, DB_UNAVAILABLE);
	}
	event_free(p->ev_expire);
	event_free(p->ev_dispatch);
	free(p->conns);
	free(p->conninfo);
	free(p);
}

/* Nothing waits and nothing is in flight. */
int
db_pool_idle(const struct db_pool *p)
{
	int i;

	if (!TAILQ_EMPTY(&p->queue))
		return 0;
	for (i = 0; i < p->size; i++)
		if (p->conns[i].nround > 0)
			return 0;
	return 1;
}

/* Run stmt with values (NULL for SQL NULL; copied).  Returns -1, without
 * calling cb, when the database is out of reach or the queue is full. */
int
db_pool_query(struct db_pool *p, enum db_stmt stmt,
    const char *const *values, db_callback cb, void *arg)
{
	struct db_query *q;
	int i, idle = 0;

	if (!db_pool_reachable(p) || p->queued >= p->queue_max) {
		COUNT(&p->counters->refused);
		return -1;
	}
	for (i = 0; i < p->size; i++)
		idle += p->conns[i].state == DB_CONN_IDLE;
	if (idle == 0)
		COUNT(&p->counters->waits);
	q = xcalloc(1, sizeof(*q));
	q->queued_at = time(NULL);
	q->stmt = stmt;
	q->cb = cb;
	q->arg = arg;
	for (i = 0; i < db_statements[stmt].nparams; i++)
		q->values[i] = values[i] != NULL ? xstrdup(values[i]) : NULL;
	TAILQ_INSERT_TAIL(&p->queue, q, entry);
	p->queued++;
	/* Queries made in the same turn of the loop (requests that arrived
	 * together) go out together. */
	event_active(p->ev_dispatch, EV_TIMEOUT, 0);
	return 0;
}

/* ---- results of the slotd_* functions (type slotd_result) ---- */

static int64_t
db_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 :
	    strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Row i of a slotd_result set; 0, or -1 when the shape is wrong. */
int
db_result_row(const PGresult *res, int i, struct db_row *r)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 13 ||
	    i >= PQntuples(res))
		return -1;
	r->outcome = PQgetvalue(res, i, 0);
	r->ref = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
	r->at = db_int(res, i, 2);
	r->nslot_ids = db_parse_ids(PQgetvalue(res, i, 3), r->slot_ids,
	    DB_MAX_RUN);
	r->span_start = db_int(res, i, 4);
	r->span_end = db_int(res, i, 5);
	r->has_slot = !PQgetisnull(res, i, 6);
	r->slot.id = db_int(res, i, 6);
	r->slot.calendar_id = db_int(res, i, 7);
	r->slot.start = db_int(res, i, 8);
	r->slot.end = db_int(res, i, 9);
	r->slot.capacity = (int32_t)db_int(res, i, 10);
	r->slot.booked = (int32_t)db_int(res, i, 11);
	r->slot.version = db_int(res, i, 12);
	return 0;
}

/* Parse a PostgreSQL array literal of integers ("{1,2}"); returns how many
 * there were (only the first max are stored). */
size_t
db_parse_ids(const char *s, int64_t *out, size_t max)
{
	size_t n = 0;
	char *end;

	if (*s++ != '{')
		return 0;
	while (*s != '\0' && *s != '}') {
		int64_t v = strtoll(s, &end, 10);

		if (end == s)
			break;
		if (n < max)
			out[n] = v;
		n++;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Build a PostgreSQL array literal in b, an element at a time: integers
 * ("{1,2}"), or text quoted and escaped, NULL for SQL NULL ("{"a",NULL}"). */
static void
db_array_next(struct evbuffer *b)
{
	evbuffer_add(b, evbuffer_get_length(b) > 0 ? "," : "{", 1);
}

void
db_array_append(struct evbuffer *b, int64_t v)
{
	db_array_next(b);
	evbuffer_add_printf(b, "%lld", (long long)v);
}

static void
db_array_append_text(struct evbuffer *b, const char *v)
{
	size_t plain;

	db_array_next(b);
	if (v == NULL) {
		evbuffer_add(b, "NULL", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	while (v[plain = strcspn(v, "\"\\")] != '\0') {
		evbuffer_add(b, v, plain);
		evbuffer_add(b, "\\", 1);
		evbuffer_add(b, v + plain, 1);
		v += plain + 1;
	}
	evbuffer_add(b, v, plain);
	evbuffer_add(b, "\"", 1);
}

/* The finished literal, NUL-terminated ("{}" when nothing was added). */
const char *
db_array_finish(struct evbuffer *b)
{
	if (evbuffer_get_length(b) == 0)
		evbuffer_add(b, "{", 1);
	evbuffer_add(b, "}", 2);
	return (const char *)evbuffer_pullup(b, -1);
}

/* The SQLSTATE of an error result, or "". */
const char *
db_sqlstate(const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return st != NULL ? st : "";
}
