/*
 * courier: delivers the outbox's events to webhooks (API.md, "Events and
 * webhooks"; migration 0012), a child of the master beside the syncer.
 *
 * One non-blocking libpq connection and libcurl's multi interface
 * (delivery.c), both driven by the courier's libevent loop; nothing
 * blocks.  A round claims due deliveries (FOR UPDATE SKIP LOCKED, with a
 * lease: every instance's courier shares the work, and one that dies
 * mid-delivery leaves its claims due again when their lease ends), sends
 * each as a Standard Webhooks POST, and records what the attempts came
 * to, a batch to a statement: a 2xx delivers, 410 disables the webhook,
 * anything else is tried again after the next delay of [webhooks]
 * retry_schedule (or the answer's Retry-After), until the schedule runs
 * out.  Rounds start when
 * the workers announce slot changes (every event comes with one), on a
 * one-second tick (retries, and changes whose announcement was lost), and
 * when a delivery ends.  Hourly it deletes events older than [events]
 * keep_days that no webhook still waits for.  On SIGTERM it claims
 * nothing more, records what is in flight, and leaves.
 */
#include <sys/queue.h>
#include <sys/resource.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"
#include "delivery.h"

#define COURIER_CHANNEL		"slotd_slots"	/* the workers' announcements */
#define COURIER_TICK_MS		1000
#define COURIER_ROUND_MS	50		/* between two claims at least */
#define COURIER_YIELD		8		/* rest: statement time times this */
#define COURIER_QUIET_MS	1000		/* no change heard: no rest */
#define COURIER_NICE		10		/* below the workers for the CPU */
#define COURIER_BACKLOG_TICKS	5		/* the backlog gauge, anew */
#define COURIER_PRUNE_TICKS	3600		/* old events deleted */
#define COURIER_PRUNE_BATCH	10000		/* events a prune deletes */
#define COURIER_LEASE_SLACK	5		/* seconds past the timeout */
#define COURIER_RECORD_BATCH	256		/* records in one statement */

enum courier_stmt {
	STMT_NONE, STMT_LISTEN, STMT_CLAIM, STMT_RECORD, STMT_BACKLOG,
	STMT_PRUNE
};

struct courier {
	struct config		*conf;
	struct event_base	*base;
	struct db_link		 link;
	struct deliveries	 out;
	struct event		*ev_tick;
	struct event		*ev_round;	/* the next claim allowed */
	struct timeval		 claimed;	/* the last claim sent */
	struct timeval		 sent_at;	/* the statement in flight */
	struct timeval		 rest_until;	/* no statement before */
	struct timeval		 heard;		/* the last change announced */
	enum courier_stmt	 stmt;		/* in flight */
	int			 stmt_failed;
	int			 listening;	/* on this connection */
	int			 recording;	/* records in flight */
	int			 backlogged;	/* the last claim got its fill */
	int			 claim_limit;	/* of the claim in flight */
	int			 round_wanted;
	int			 backlog_wanted;
	int			 prune_wanted;
	int			 ticks;
	int			 draining;
};

static void	courier_next(struct courier *);

static void
courier_sent(struct courier *c, enum courier_stmt stmt, int ok)
{
	c->stmt = stmt;
	c->stmt_failed = 0;
	gettimeofday(&c->sent_at, NULL);
	if (db_link_sent(&c->link, ok) == -1)
		db_link_fail(&c->link, "send");
}

/* Send what the finished deliveries came to, at most a batch of them in
 * one statement (migration 0012's slotd_deliveries_done). */
static void
courier_send_records(struct courier *c)
{
	struct evbuffer *a[7];
	const char *values[7];
	struct delivery *d;
	char n[12];
	int i;

	for (i = 0; i < 7; i++)
		a[i] = evbuffer_new();
	c->recording = 0;
	TAILQ_FOREACH(d, &c->out.finished, entry) {
		if (c->recording == COURIER_RECORD_BATCH)
			break;
		c->recording++;
		db_array_append_text(a[0], d->webhook);
		db_array_append_text(a[1], d->event);
		db_array_append_text(a[2], d->attempt);
		snprintf(n, sizeof(n), "%ld", d->status);
		db_array_append_text(a[3], d->status != 0 ? n : NULL);
		db_array_append_text(a[4], d->status != 0 ? NULL : d->error);
		snprintf(n, sizeof(n), "%d", d->delay);
		db_array_append_text(a[5], d->delay >= 0 ? n : NULL);
		db_array_append_text(a[6], d->status == 410 ? "t" : "f");
	}
	for (i = 0; i < 7; i++)
		values[i] = db_array_finish(a[i]);
	courier_sent(c, STMT_RECORD, PQsendQueryParams(c->link.conn,
	    "SELECT slotd_deliveries_done($1::bigint[], $2::bigint[], "
	    "$3::integer[], $4::integer[], $5::text[], $6::integer[], "
	    "$7::boolean[])", 7, NULL, values, NULL, NULL, 0));
	for (i = 0; i < 7; i++)
		evbuffer_free(a[i]);
}

/* Whether the workers announced changes since the last look: slots
 * changed somewhere, so events may be new, and bookings are being made. */
static int
courier_heard(struct courier *c)
{
	PGnotify *n;
	int any = 0;

	while ((n = PQnotifies(c->link.conn)) != NULL) {
		PQfreemem(n);
		any = 1;
	}
	if (any)
		gettimeofday(&c->heard, NULL);
	return any;
}

/* Whether no change has been announced for COURIER_QUIET_MS: nobody
 * books, and there is nobody to yield to. */
static int
courier_quiet(struct courier *c, const struct timeval *now)
{
	struct timeval quiet = { COURIER_QUIET_MS / 1000,
	    (COURIER_QUIET_MS % 1000) * 1000 }, since;

	timersub(now, &c->heard, &since);
	return !timercmp(&since, &quiet, <);
}

/* Whether the courier rests now; the round timer ends the rest, and so
 * does the quiet after the last booking (noticed on the next tick). */
static int
courier_resting(struct courier *c)
{
	struct timeval now, left;

	gettimeofday(&now, NULL);
	if (!timercmp(&now, &c->rest_until, <) || courier_quiet(c, &now))
		return 0;
	timersub(&c->rest_until, &now, &left);
	if (!evtimer_pending(c->ev_round, NULL))
		evtimer_add(c->ev_round, &left);
	return 1;
}

/* While deliveries are due, each claim follows the last.  Otherwise claims
 * are at least COURIER_ROUND_MS apart, however often the workers announce
 * changes: fewer, larger rounds.  1 when one may be sent now; else the
 * round timer is set. */
static int
courier_may_claim(struct courier *c)
{
	struct timeval now, since, wait;

	if (c->backlogged)
		return 1;
	event_base_gettimeofday_cached(c->base, &now);
	timersub(&now, &c->claimed, &since);
	if (since.tv_sec > 0 || since.tv_usec >= COURIER_ROUND_MS * 1000)
		return 1;
	if (!evtimer_pending(c->ev_round, NULL)) {
		wait.tv_sec = 0;
		wait.tv_usec = COURIER_ROUND_MS * 1000 - since.tv_usec;
		evtimer_add(c->ev_round, &wait);
	}
	return 0;
}

static void
courier_round(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	courier_next(arg);
}

static void
courier_send_claim(struct courier *c)
{
	char limit[12], lease[12];
	const char *values[2] = { limit, lease };

	c->round_wanted = 0;
	event_base_gettimeofday_cached(c->base, &c->claimed);
	c->claim_limit = c->conf->webhook_concurrency - c->out.nsending;
	snprintf(limit, sizeof(limit), "%d", c->claim_limit);
	snprintf(lease, sizeof(lease), "%d",
	    c->conf->webhook_timeout + COURIER_LEASE_SLACK);
	courier_sent(c, STMT_CLAIM, PQsendQueryParams(c->link.conn,
	    "SELECT * FROM slotd_deliveries_claim($1::integer, $2::integer)",
	    2, NULL, values, NULL, NULL, 0));
}

/* Events older than [events] keep_days go, a batch at a time. */
static void
courier_send_prune(struct courier *c)
{
	char days[12];
	const char *values[1] = { days };

	c->prune_wanted = 0;
	snprintf(days, sizeof(days), "%d", c->conf->events_keep_days);
	courier_sent(c, STMT_PRUNE, PQsendQueryParams(c->link.conn,
	    "SELECT slotd_events_prune($1::integer)", 1, NULL, values, NULL,
	    NULL, 0));
}

/* The next statement, if none is in flight: LISTEN on a new connection,
 * then records of finished deliveries first, the backlog gauge and the
 * pruning when their time has come, a round;
 * a draining courier leaves once nothing is in flight or unrecorded. */
static void
courier_next(struct courier *c)
{
	if (c->draining && c->out.nsending == 0 &&
	    TAILQ_EMPTY(&c->out.finished) && c->stmt == STMT_NONE) {
		event_base_loopbreak(c->base);
		return;
	}
	if (c->link.conn == NULL || c->link.connecting || c->link.busy ||
	    courier_resting(c))
		return;
	if (!c->listening)
		courier_sent(c, STMT_LISTEN, PQsendQuery(c->link.conn,
		    "LISTEN " COURIER_CHANNEL));
	else if (!TAILQ_EMPTY(&c->out.finished))
		courier_send_records(c);
	else if (c->backlog_wanted) {
		c->backlog_wanted = 0;
		courier_sent(c, STMT_BACKLOG, PQsendQuery(c->link.conn,
		    "SELECT slotd_events_backlog()"));
	} else if (c->prune_wanted && !c->draining)
		courier_send_prune(c);
	else if (c->round_wanted && !c->draining &&
	    c->out.nsending < c->conf->webhook_concurrency &&
	    courier_may_claim(c))
		courier_send_claim(c);
}

static void
courier_up(void *arg)
{
	struct courier *c = arg;

	c->listening = 0;
	c->round_wanted = 1;
	courier_next(c);
}

static void
courier_result(PGresult *res, void *arg)
{
	struct courier *c = arg;
	int i, ok = PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok) {
		c->stmt_failed = 1;
		log_warnx("%s: %s", __func__, PQresultErrorMessage(res));
	} else if (c->stmt == STMT_CLAIM) {
		if (PQnfields(res) != DB_DELIVERY_NCOLS)
			log_warnx("%s: a claim has %d columns, not %d",
			    __func__, PQnfields(res), DB_DELIVERY_NCOLS);
		else
			for (i = 0; i < PQntuples(res); i++)
				deliveries_start(&c->out, res, i);
		/* A full claim may have left more due. */
		c->backlogged = PQntuples(res) > 0 &&
		    PQntuples(res) == c->claim_limit;
		if (c->backlogged)
			c->round_wanted = 1;
	} else if (c->stmt == STMT_BACKLOG && PQntuples(res) == 1)
		metrics_events_backlog(strtod(PQgetvalue(res, 0, 0), NULL));
	else if (c->stmt == STMT_PRUNE && PQntuples(res) == 1 &&
	    atoi(PQgetvalue(res, 0, 0)) == COURIER_PRUNE_BATCH)
		c->prune_wanted = 1;	/* more are left */
	PQclear(res);
}

/* The courier yields the database to the bookings: after a statement it
 * rests COURIER_YIELD times as long as the statement took.  A quiet
 * database answers in a fraction of a millisecond, and the rest is as
 * short; a busy one answers slowly, and the courier takes a smaller share
 * of it (a ninth of one connection at most) while its backlog waits.
 * The rest counts only while changes are announced (courier_quiet): with
 * nobody booking, a backlog drains at full speed. */
static void
courier_rest(struct courier *c)
{
	struct timeval now, rest;

	if (c->stmt != STMT_CLAIM && c->stmt != STMT_RECORD)
		return;
	if (courier_heard(c))
		c->round_wanted = 1;
	db_link_rest(&c->sent_at, COURIER_YIELD, &rest);
	gettimeofday(&now, NULL);
	timeradd(&now, &rest, &c->rest_until);
}

static void
courier_done(void *arg)
{
	struct courier *c = arg;
	struct delivery *d;

	if (c->stmt == STMT_LISTEN && !c->stmt_failed)
		c->listening = 1;
	/* Records that failed are dropped (logged): their leases run out
	 * and the deliveries are made again, at least once as promised. */
	for (; c->stmt == STMT_RECORD && c->recording > 0; c->recording--) {
		d = TAILQ_FIRST(&c->out.finished);
		TAILQ_REMOVE(&c->out.finished, d, entry);
		delivery_free(d);
	}
	if (!c->stmt_failed)
		db_link_healthy(&c->link);
	courier_rest(c);
	c->stmt = STMT_NONE;
	courier_next(c);
}

/* Input while no statement is in flight: announcements. */
static void
courier_idle(void *arg)
{
	struct courier *c = arg;

	if (courier_heard(c)) {
		c->round_wanted = 1;
		courier_next(c);
	}
}

/* The statement in flight is lost; a record in flight is sent again on
 * the next connection (recording twice changes nothing). */
static void
courier_down(void *arg)
{
	struct courier *c = arg;

	c->stmt = STMT_NONE;
	c->listening = 0;
	c->recording = 0;
	if (c->draining && c->out.nsending == 0)
		event_base_loopbreak(c->base);
}

static const struct db_link_ops courier_link_ops = {
	courier_up, courier_result, courier_done, courier_idle, courier_down
};

/* Deliveries finished: record them, and claim more. */
static void
courier_delivered(void *arg)
{
	struct courier *c = arg;

	c->round_wanted = 1;
	courier_next(c);
}

static void
courier_tick(evutil_socket_t fd, short what, void *arg)
{
	struct courier *c = arg;

	(void)fd;
	(void)what;
	c->round_wanted = 1;
	if (++c->ticks % COURIER_BACKLOG_TICKS == 1)
		c->backlog_wanted = 1;
	/* A minute after start, then hourly. */
	if (c->ticks % COURIER_PRUNE_TICKS == 60 &&
	    c->conf->events_keep_days > 0)
		c->prune_wanted = 1;
	courier_next(c);
}

static void
courier_signal(evutil_socket_t sig, short what, void *arg)
{
	struct courier *c = arg;

	(void)what;
	if (sig != SIGTERM && sig != SIGINT)
		return;
	log_debug("draining: %d deliveries in flight", c->out.nsending);
	c->draining = 1;
	courier_next(c);
}

int
courier_main(struct config *conf)
{
	struct timeval tick = { COURIER_TICK_MS / 1000,
	    (COURIER_TICK_MS % 1000) * 1000 };
	static const int sigs[] = { SIGTERM, SIGINT };
	struct signal_watch signals;
	struct db_link_params params = { conf->conninfo, "slotd courier",
	    NULL };
	struct courier c;

	log_set_role("courier");
	/* Deliveries wait; bookings do not: the workers come first. */
	if (setpriority(PRIO_PROCESS, 0, COURIER_NICE) == -1)
		log_warn("%s: setpriority", __func__);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&c, 0, sizeof(c));
	c.conf = conf;
	if ((c.base = event_base_new()) == NULL)
		fatalx("%s: out of memory", __func__);
	deliveries_init(&c.out, c.base, conf, courier_delivered, &c);
	c.ev_round = evtimer_new(c.base, courier_round, &c);
	db_link_init(&c.link, c.base, "database", &params, &courier_link_ops,
	    &c);
	c.ev_tick = event_new(c.base, -1, EV_PERSIST, courier_tick, &c);
	event_add(c.ev_tick, &tick);
	signals_watch(&signals, c.base, sigs, 2, courier_signal, &c);

	db_link_connect(&c.link);
	event_base_dispatch(c.base);

	deliveries_free(&c.out);
	db_link_free(&c.link);
	event_free(c.ev_round);
	event_free(c.ev_tick);
	signals_unwatch(&signals);
	event_base_free(c.base);
	return 0;
}
