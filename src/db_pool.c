/*
 * db_pool: a worker's connections to PostgreSQL, with the statements of
 * db_statements.c prepared on each, and a bounded wait queue: a query runs
 * on an idle connection or waits; when no connection is up, or the queue
 * is full, it is refused at once so that the caller can answer 503.
 *
 * A connection runs one statement at a time.  Queries are sent at the end
 * of the loop turn that made them; when several are waiting then (made in
 * the same turn, or while every connection was busy) and those at the head
 * of the queue have a batch form, up to DB_BATCH_MAX of them run as one
 * execution of it: bookings arriving together share one statement and one
 * commit, and each still gets its own row as its answer.  If the batch
 * fails as a whole, nothing of it was committed, and each query runs again
 * on its own, so that one booking's failure is never another's.  Nothing
 * here blocks.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

#define DB_QUEUE_TIMEOUT	10	/* seconds a write may wait for a
					   connection before it gets 503 */
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
	enum db_conn_state	 state;
	int			 prepared;	/* statements prepared so far */
	int			 prepare_failed;
	enum db_stmt		 stmt;		/* in flight */
	struct db_query		*round[DB_BATCH_MAX];	/* in flight */
	int			 nround;
	PGresult		*result;	/* of the statement in flight */
};

struct db_pool {
	struct event_base	*base;
	char			*conninfo;
	char			*options;
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

static void	db_pool_dispatch(struct db_pool *);

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
		if (db_link_usable(&p->conns[i].link))
			return 1;
	return 0;
}

/* The connection is lost: the round in flight may or may not have
 * committed; queued queries fail only when no connection is left to run
 * them.  The link connects again after a while. */
static void
db_conn_down(void *arg)
{
	struct db_conn *c = arg;
	struct db_pool *p = c->pool;
	struct db_query *q;

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
}

static void
db_conn_prepare_next(struct db_conn *c)
{
	const struct db_statement *st = db_statement(c->prepared);

	if (c->prepared == DB_NSTMTS) {
		c->state = DB_CONN_IDLE;
		db_link_healthy(&c->link);
		db_pool_dispatch(c->pool);
		return;
	}
	c->state = DB_CONN_PREPARING;
	if (db_link_sent(&c->link, PQsendPrepare(c->link.conn, st->name,
	    db_statement_sql(c->prepared), st->nparams, NULL)) == -1)
		db_link_fail(&c->link, "prepare");
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
	enum db_stmt stmt = c->nround > 1 ? db_statement(q->stmt)->batch :
	    q->stmt;
	const struct db_statement *st = db_statement(stmt);
	struct evbuffer *arrays[DB_MAX_PARAMS];
	const char *values[DB_MAX_PARAMS];
	int i, n, ok;

	c->state = DB_CONN_BUSY;
	if (c->nround > 1) {
		COUNT(&c->pool->counters->batches);
		ADD(&c->pool->counters->batched, (uint64_t)c->nround);
		for (i = 0; i < st->nparams; i++) {
			arrays[i] = evbuffer_new();
			values[i] = db_batch_array(arrays[i], c->round,
			    c->nround, i);
		}
	} else
		memcpy(values, q->values, sizeof(values));
	c->stmt = stmt;
	ok = PQsendQueryPrepared(c->link.conn, st->name, st->nparams, values,
	    NULL, NULL, 0);
	if (c->nround > 1)
		for (i = 0; i < st->nparams; i++)
			evbuffer_free(arrays[i]);
	if (db_link_sent(&c->link, ok) == 0)
		return;
	/* Its end (Sync) never reached the server, so nothing of it was
	 * committed: the queries may run on another connection. */
	n = db_conn_take_round(c, round);
	db_pool_requeue(c->pool, round, n);
	db_link_fail(&c->link, "send");
}

static int
db_query_batchable(const struct db_query *q)
{
	return q != NULL && db_statement(q->stmt)->batch != 0 && !q->alone;
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

/* The round's statement is over: answer its queries.  Rows whose columns
 * are not the statement's (a schema this binary does not know) answer
 * nothing: each query is refused as unavailable. */
static void
db_conn_done(void *arg)
{
	struct db_conn *c = arg;
	struct db_pool *p = c->pool;
	struct db_query *round[DB_BATCH_MAX];
	PGresult *res = c->result;
	int i, n;

	if (c->state == DB_CONN_PREPARING) {
		if (c->prepare_failed) {
			db_link_fail(&c->link, "prepare");
			return;
		}
		c->prepared++;
		db_conn_prepare_next(c);
		return;
	}
	c->result = NULL;
	n = db_conn_take_round(c, round);
	c->state = DB_CONN_IDLE;
	if (PQresultStatus(res) == PGRES_TUPLES_OK &&
	    db_result_check(res, c->stmt) == -1) {
		for (i = 0; i < n; i++)
			db_query_finish(round[i], DB_UNAVAILABLE);
		PQclear(res);
	} else if (n == 1) {
		round[0]->result = res;
		db_query_finish(round[0], DB_DONE);
	} else {
		db_batch_done(p, round, n, res);
		PQclear(res);
	}
	db_pool_dispatch(p);
}

/* One result of the statement in flight.  Rows may be followed by an
 * error (a commit that failed): the error is the answer then, and the
 * rows never were. */
static void
db_conn_result(struct pg_result *res, void *arg)
{
	struct db_conn *c = arg;

	if (c->state == DB_CONN_PREPARING &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_warnx("preparing %s: %s", db_statement(c->prepared)->name,
		    PQresultErrorMessage(res));
		c->prepare_failed = 1;
	}
	if (c->state == DB_CONN_BUSY && (c->result == NULL ||
	    (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK))) {
		if (c->result != NULL)
			PQclear(c->result);
		c->result = res;
	} else
		PQclear(res);
}

static void
db_conn_up(void *arg)
{
	struct db_conn *c = arg;

	c->prepared = 0;
	c->prepare_failed = 0;
	db_conn_prepare_next(c);
}

static const struct db_link_ops db_conn_ops = {
	db_conn_up, db_conn_result, db_conn_done, NULL, db_conn_down
};

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
    int queue_max, int offer_ttl, struct db_pool_counters *counters)
{
	struct db_pool *p = xcalloc(1, sizeof(*p));
	struct timeval second = { 1, 0 };
	struct db_link_params params = { NULL, "slotd worker", NULL };
	char options[256];
	int i;

	/* A write waits for a row lock or runs at most this long; an admin's
	 * forgotten transaction must not hold a worker's pool for good.  A
	 * waitlist offer's hold lasts offer_ttl (migration 0012).  The
	 * booking statements write their own events (migration 0015). */
	snprintf(options, sizeof(options), "-c lock_timeout=5s "
	    "-c statement_timeout=10s -c slotd.quiet=on "
	    "-c slotd.own_events=on "
	    "-c plan_cache_mode=force_generic_plan -c slotd.offer_ttl=%d",
	    offer_ttl);
	p->options = xstrdup(options);
	params.options = p->options;

	db_statements_init();
	p->base = base;
	p->counters = counters;
	p->ev_expire = event_new(base, -1, EV_PERSIST, db_pool_expire, p);
	event_add(p->ev_expire, &second);
	p->ev_dispatch = event_new(base, -1, 0, db_pool_dispatch_queued, p);
	p->conninfo = xstrdup(conninfo);
	params.conninfo = p->conninfo;
	p->size = size;
	p->queue_max = queue_max;
	TAILQ_INIT(&p->queue);
	p->conns = xcalloc((size_t)size, sizeof(*p->conns));
	for (i = 0; i < size; i++) {
		struct db_conn *c = &p->conns[i];
		char name[32];

		c->pool = p;
		c->state = DB_CONN_CONNECTING;
		snprintf(name, sizeof(name), "database connection %d", i);
		db_link_init(&c->link, base, name, &params, &db_conn_ops, c);
		db_link_connect(&c->link);
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
	}
	while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
		TAILQ_REMOVE(&p->queue, q, entry);
		db_query_finish(q, DB_UNAVAILABLE);
	}
	event_free(p->ev_expire);
	event_free(p->ev_dispatch);
	free(p->conns);
	free(p->conninfo);
	free(p->options);
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

/* Run stmt with the arguments it takes from args (copied).  Returns -1,
 * without calling cb, when the database is out of reach or the queue is
 * full. */
int
db_pool_query(struct db_pool *p, enum db_stmt stmt,
    const struct db_args *args, db_callback cb, void *arg)
{
	const char *values[DB_MAX_PARAMS];
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
	db_args_values(args, stmt, values);
	for (i = 0; i < db_statement(stmt)->nparams; i++)
		q->values[i] = values[i] != NULL ? xstrdup(values[i]) : NULL;
	TAILQ_INSERT_TAIL(&p->queue, q, entry);
	p->queued++;
	/* Queries made in the same turn of the loop (requests that arrived
	 * together) go out together. */
	event_active(p->ev_dispatch, EV_TIMEOUT, 0);
	return 0;
}

