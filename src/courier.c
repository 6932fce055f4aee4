/*
 * courier: delivers the outbox's events to webhooks (API.md, "Events and
 * webhooks"; migration 0012), a child of the master beside the syncer.
 *
 * One non-blocking libpq connection and libcurl's multi interface, both
 * driven by the courier's libevent loop; nothing blocks.  A round claims
 * due deliveries (FOR UPDATE SKIP LOCKED, with a lease: every instance's
 * courier shares the work, and one that dies mid-delivery leaves its
 * claims due again when their lease ends), sends each as a Standard
 * Webhooks POST, and records what each attempt came to, one statement at
 * a time: a 2xx delivers it, 410 disables the webhook, anything else is
 * tried again after the next delay of [webhooks] retry_schedule (or the
 * answer's Retry-After), until the schedule runs out.  Rounds start when
 * the workers announce slot changes (every event comes with one), on a
 * one-second tick (retries, and changes whose announcement was lost), and
 * when a delivery ends.  Hourly it deletes events older than [events]
 * keep_days that no webhook still waits for.  On SIGTERM it claims
 * nothing more, records what is in flight, and leaves.
 */
#include "config.h"		/* _GNU_SOURCE, for strptime and timegm */

#include <sys/queue.h>
#include <sys/resource.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

#define COURIER_CHANNEL		"slotd_slots"	/* the workers' announcements */
#define COURIER_TICK_MS		1000
#define COURIER_ROUND_MS	50		/* between two claims at least */
#define COURIER_YIELD		4		/* rest: statement time times this */
#define COURIER_NICE		10		/* below the workers for the CPU */
#define COURIER_BACKLOG_TICKS	5		/* the backlog gauge, anew */
#define COURIER_PRUNE_TICKS	3600		/* old events deleted */
#define COURIER_PRUNE_BATCH	10000		/* events a prune deletes */
#define COURIER_LEASE_SLACK	5		/* seconds past the timeout */
#define COURIER_RETRY_AFTER_MAX	86400
#define COURIER_RECORD_BATCH	256		/* records in one statement */

enum courier_stmt {
	STMT_NONE, STMT_LISTEN, STMT_CLAIM, STMT_RECORD, STMT_BACKLOG,
	STMT_PRUNE
};

struct courier;

struct delivery {
	TAILQ_ENTRY(delivery)	 entry;
	struct courier		*c;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;
	char			 event[24];	/* its id */
	char			 webhook[24];
	char			 attempt[12];
	long			 status;	/* 0: no answer */
	int			 retry_after;	/* seconds; -1: not said */
	int			 delay;		/* to the next attempt; -1: none */
	char			 error[CURL_ERROR_SIZE];
};
struct courier {
	struct config		*conf;
	struct event_base	*base;
	struct db_link		 link;
	CURLM			*multi;
	struct event		*ev_curl;	/* libcurl's timeout */
	struct event		*ev_tick;
	struct event		*ev_round;	/* the next claim allowed */
	struct timeval		 claimed;	/* the last claim sent */
	struct timeval		 sent_at;	/* the statement in flight */
	struct timeval		 rest_until;	/* no statement before */
	enum courier_stmt	 stmt;		/* in flight */
	int			 stmt_failed;
	int			 listening;	/* on this connection */
	TAILQ_HEAD(delivery_list, delivery) sending;
	struct delivery_list	 finished;	/* to record */
	int			 nsending;
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
static void	delivery_settle(struct courier *, struct delivery *);

static void
delivery_free(struct delivery *d)
{
	if (d->easy != NULL)
		curl_easy_cleanup(d->easy);
	curl_slist_free_all(d->headers);
	free(d->body);
	free(d);
}

/* ---- sending, on libcurl's multi interface ---- */

static size_t
delivery_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* Retry-After in seconds, or as an HTTP date. */
static size_t
delivery_header(char *line, size_t size, size_t n, void *arg)
{
	struct delivery *d = arg;
	size_t len = size * n, name = sizeof("Retry-After:") - 1;
	char value[64], *end;
	struct tm tm;
	long secs;

	if (len <= name || strncasecmp(line, "Retry-After:", name) != 0)
		return len;
	snprintf(value, sizeof(value), "%.*s", (int)(len - name), line + name);
	value[strcspn(value, "\r\n")] = '\0';
	secs = strtol(value, &end, 10);
	if (end != value && *end == '\0' && secs >= 0)
		d->retry_after = secs > COURIER_RETRY_AFTER_MAX ?
		    COURIER_RETRY_AFTER_MAX : (int)secs;
	else if (memset(&tm, 0, sizeof(tm)) != NULL &&
	    strptime(value + strspn(value, " "), "%a, %d %b %Y %H:%M:%S GMT",
	    &tm) != NULL) {
		secs = (long)(timegm(&tm) - time(NULL));
		d->retry_after = secs < 0 ? 0 : secs > COURIER_RETRY_AFTER_MAX ?
		    COURIER_RETRY_AFTER_MAX : (int)secs;
	}
	return len;
}

/* The event of row i of a claim, as a signed POST. */
static int
delivery_start(struct courier *c, const PGresult *res, int i)
{
	struct delivery *d = xcalloc(1, sizeof(*d));
	struct evbuffer *b = evbuffer_new();
	struct emit *e = emit_new(b, 0);
	char header[256], sig[128];
	size_t len;
	int64_t now = time(NULL);

	d->c = c;
	d->retry_after = -1;
	snprintf(d->event, sizeof(d->event), "%s",
	    PQgetvalue(res, i, DB_COL_E_ID));
	snprintf(d->webhook, sizeof(d->webhook), "%s",
	    PQgetvalue(res, i, DB_COL_D_WEBHOOK));
	snprintf(d->attempt, sizeof(d->attempt), "%s",
	    PQgetvalue(res, i, DB_COL_D_ATTEMPT));
	event_emit(e, c->conf, res, i);
	emit_free(e);
	len = evbuffer_get_length(b);
	d->body = xcalloc(1, len + 1);
	evbuffer_remove(b, d->body, len);
	evbuffer_free(b);
	if (webhook_sign(PQgetvalue(res, i, DB_COL_D_SECRET), d->event, now,
	    d->body, len, sig, sizeof(sig)) == -1) {
		snprintf(d->error, sizeof(d->error), "the secret cannot sign");
		delivery_settle(c, d);
		TAILQ_INSERT_TAIL(&c->finished, d, entry);
		return -1;
	}
	d->headers = curl_slist_append(d->headers,
	    "Content-Type: application/json");
	snprintf(header, sizeof(header), "webhook-id: %s", d->event);
	d->headers = curl_slist_append(d->headers, header);
	snprintf(header, sizeof(header), "webhook-timestamp: %lld",
	    (long long)now);
	d->headers = curl_slist_append(d->headers, header);
	snprintf(header, sizeof(header), "webhook-signature: %s", sig);
	d->headers = curl_slist_append(d->headers, header);
	d->headers = curl_slist_append(d->headers, "Expect:");
	if ((d->easy = curl_easy_init()) == NULL)
		fatalx("%s: curl_easy_init failed", __func__);
	curl_easy_setopt(d->easy, CURLOPT_URL, PQgetvalue(res, i,
	    DB_COL_D_URL));
	curl_easy_setopt(d->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(d->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(d->easy, CURLOPT_USERAGENT, "slotd-webhooks/"
	    PACKAGE_VERSION);
	curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS,
	    (long)c->conf->webhook_timeout * 1000);
	curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, delivery_discard);
	curl_easy_setopt(d->easy, CURLOPT_HEADERFUNCTION, delivery_header);
	curl_easy_setopt(d->easy, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, d->error);
	curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
	if (c->conf->webhook_ca_file[0] != '\0')
		curl_easy_setopt(d->easy, CURLOPT_CAINFO,
		    c->conf->webhook_ca_file);
	TAILQ_INSERT_TAIL(&c->sending, d, entry);
	c->nsending++;
	curl_multi_add_handle(c->multi, d->easy);
	return 0;
}

/* What a finished delivery came to: counted, logged unless delivered, and
 * when to try again (the schedule's next delay, or Retry-After). */
static void
delivery_settle(struct courier *c, struct delivery *d)
{
	const struct durations *sched = &c->conf->retry_schedule;
	int attempt = atoi(d->attempt), ok = d->status >= 200 &&
	    d->status <= 299, gone = d->status == 410;
	char status[16];

	d->delay = -1;
	if (!ok && !gone && attempt <= sched->n)
		d->delay = d->retry_after >= 0 ? d->retry_after :
		    sched->seconds[attempt - 1];
	metrics_delivery(ok ? DELIVERY_DELIVERED : gone ? DELIVERY_GONE :
	    d->delay >= 0 ? DELIVERY_RETRY : DELIVERY_FAILED);
	if (ok)
		return;
	snprintf(status, sizeof(status), "HTTP %ld", d->status);
	log_info("webhook %s: event %s, attempt %s: %s%s", d->webhook,
	    d->event, d->attempt, d->status != 0 ? status : d->error,
	    gone ? "; webhook disabled" : d->delay < 0 ? "; no attempt left" :
	    "");
}

/* Move the transfers libcurl has finished to the records to write. */
static void
courier_reap(struct courier *c)
{
	struct delivery *d;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &d);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE,
			    &d->status);
		else if (msg->data.result == CURLE_OPERATION_TIMEDOUT)
			snprintf(d->error, sizeof(d->error), "timeout after %d s",
			    c->conf->webhook_timeout);
		else if (d->error[0] == '\0')
			snprintf(d->error, sizeof(d->error), "%s",
			    curl_easy_strerror(msg->data.result));
		curl_multi_remove_handle(c->multi, d->easy);
		curl_easy_cleanup(d->easy);
		d->easy = NULL;
		delivery_settle(c, d);
		TAILQ_REMOVE(&c->sending, d, entry);
		c->nsending--;
		TAILQ_INSERT_TAIL(&c->finished, d, entry);
		c->round_wanted = 1;
	}
	courier_next(c);
}

static void
courier_curl_event(evutil_socket_t fd, short what, void *arg)
{
	struct courier *c = arg;
	int running;

	curl_multi_socket_action(c->multi, fd, ((what & EV_READ) ?
	    CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0),
	    &running);
	courier_reap(c);
}

static void
courier_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct courier *c = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	courier_reap(c);
}

/* libcurl says which sockets to watch, for what. */
static int
courier_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *socket_arg)
{
	struct courier *c = arg;
	struct event *ev = socket_arg;
	short kind = EV_PERSIST;

	(void)easy;
	if (ev != NULL)
		event_free(ev);
	if (what == CURL_POLL_REMOVE) {
		curl_multi_assign(c->multi, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	ev = event_new(c->base, fd, kind, courier_curl_event, c);
	event_add(ev, NULL);
	curl_multi_assign(c->multi, fd, ev);
	return 0;
}

static int
courier_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct courier *c = arg;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)multi;
	if (ms < 0)
		evtimer_del(c->ev_curl);
	else
		evtimer_add(c->ev_curl, &tv);
	return 0;
}

/* ---- the database ---- */

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
	TAILQ_FOREACH(d, &c->finished, entry) {
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

/* Whether the courier rests now; the round timer ends the rest. */
static int
courier_resting(struct courier *c)
{
	struct timeval now, left;

	gettimeofday(&now, NULL);
	if (!timercmp(&now, &c->rest_until, <))
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
	c->claim_limit = c->conf->webhook_concurrency - c->nsending;
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
	if (c->draining && c->nsending == 0 && TAILQ_EMPTY(&c->finished) &&
	    c->stmt == STMT_NONE) {
		event_base_loopbreak(c->base);
		return;
	}
	if (c->link.conn == NULL || c->link.connecting || c->link.busy ||
	    courier_resting(c))
		return;
	if (!c->listening)
		courier_sent(c, STMT_LISTEN, PQsendQuery(c->link.conn,
		    "LISTEN " COURIER_CHANNEL));
	else if (!TAILQ_EMPTY(&c->finished))
		courier_send_records(c);
	else if (c->backlog_wanted) {
		c->backlog_wanted = 0;
		courier_sent(c, STMT_BACKLOG, PQsendQuery(c->link.conn,
		    "SELECT slotd_events_backlog()"));
	} else if (c->prune_wanted && !c->draining)
		courier_send_prune(c);
	else if (c->round_wanted && !c->draining &&
	    c->nsending < c->conf->webhook_concurrency && courier_may_claim(c))
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
				(void)delivery_start(c, res, i);
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
 * of it (a fifth of one connection at most) while its backlog waits. */
static void
courier_rest(struct courier *c)
{
	struct timeval now, took;
	int64_t us;

	if (c->stmt != STMT_CLAIM && c->stmt != STMT_RECORD)
		return;
	gettimeofday(&now, NULL);
	timersub(&now, &c->sent_at, &took);
	us = ((int64_t)took.tv_sec * 1000000 + took.tv_usec) * COURIER_YIELD;
	took.tv_sec = (time_t)(us / 1000000);
	took.tv_usec = (suseconds_t)(us % 1000000);
	timeradd(&now, &took, &c->rest_until);
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
		d = TAILQ_FIRST(&c->finished);
		TAILQ_REMOVE(&c->finished, d, entry);
		delivery_free(d);
	}
	if (!c->stmt_failed)
		db_link_healthy(&c->link);
	courier_rest(c);
	c->stmt = STMT_NONE;
	courier_next(c);
}

/* Notifications: slots changed somewhere, so events may be new. */
static void
courier_idle(void *arg)
{
	struct courier *c = arg;
	PGnotify *n;
	int any = 0;

	while ((n = PQnotifies(c->link.conn)) != NULL) {
		PQfreemem(n);
		any = 1;
	}
	if (any) {
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
	if (c->draining && c->nsending == 0)
		event_base_loopbreak(c->base);
}

static const struct db_link_ops courier_link_ops = {
	courier_up, courier_result, courier_done, courier_idle, courier_down
};

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
	log_debug("draining: %d deliveries in flight", c->nsending);
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
	struct delivery *d;

	log_set_role("courier");
	/* Deliveries wait; bookings do not: the workers come first. */
	if (setpriority(PRIO_PROCESS, 0, COURIER_NICE) == -1)
		log_warn("%s: setpriority", __func__);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&c, 0, sizeof(c));
	c.conf = conf;
	TAILQ_INIT(&c.sending);
	TAILQ_INIT(&c.finished);
	if ((c.base = event_base_new()) == NULL ||
	    (c.multi = curl_multi_init()) == NULL)
		fatalx("%s: out of memory", __func__);
	c.ev_curl = evtimer_new(c.base, courier_curl_timeout, &c);
	c.ev_round = evtimer_new(c.base, courier_round, &c);
	curl_multi_setopt(c.multi, CURLMOPT_SOCKETFUNCTION,
	    courier_curl_socket);
	curl_multi_setopt(c.multi, CURLMOPT_SOCKETDATA, &c);
	curl_multi_setopt(c.multi, CURLMOPT_TIMERFUNCTION, courier_curl_timer);
	curl_multi_setopt(c.multi, CURLMOPT_TIMERDATA, &c);
	db_link_init(&c.link, c.base, "database", &params, &courier_link_ops,
	    &c);
	c.ev_tick = event_new(c.base, -1, EV_PERSIST, courier_tick, &c);
	event_add(c.ev_tick, &tick);
	signals_watch(&signals, c.base, sigs, 2, courier_signal, &c);

	db_link_connect(&c.link);
	event_base_dispatch(c.base);

	while ((d = TAILQ_FIRST(&c.sending)) != NULL) {
		TAILQ_REMOVE(&c.sending, d, entry);
		curl_multi_remove_handle(c.multi, d->easy);
		delivery_free(d);
	}
	while ((d = TAILQ_FIRST(&c.finished)) != NULL) {
		TAILQ_REMOVE(&c.finished, d, entry);
		delivery_free(d);
	}
	db_link_free(&c.link);
	curl_multi_cleanup(c.multi);
	event_free(c.ev_curl);
	event_free(c.ev_round);
	event_free(c.ev_tick);
	signals_unwatch(&signals);
	event_base_free(c.base);
	curl_global_cleanup();
	return 0;
}
