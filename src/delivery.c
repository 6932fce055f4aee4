/*
 * delivery: the courier's webhook deliveries in flight (API.md, "Events
 * and webhooks").  Each claimed event goes out as a Standard Webhooks POST,
 * signed, through libcurl's multi interface driven by the courier's
 * libevent loop: no redirects followed, TLS verified against the system's
 * CAs or [webhooks] ca_file, [webhooks] timeout.  A finished delivery is
 * settled (delivered, retried after the schedule's next delay or the
 * answer's Retry-After, given up, or gone: 410), counted and kept for the
 * courier to record (courier.c).
 */
#include "config.h"		/* _GNU_SOURCE, for strptime and timegm */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"
#include "delivery.h"

#define DELIVERY_RETRY_AFTER_MAX	86400

static void	delivery_settle(struct deliveries *, struct delivery *);

void
delivery_free(struct delivery *d)
{
	if (d->easy != NULL)
		curl_easy_cleanup(d->easy);
	curl_slist_free_all(d->headers);
	free(d->body);
	free(d);
}

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
		d->retry_after = secs > DELIVERY_RETRY_AFTER_MAX ?
		    DELIVERY_RETRY_AFTER_MAX : (int)secs;
	else if (memset(&tm, 0, sizeof(tm)) != NULL &&
	    strptime(value + strspn(value, " "), "%a, %d %b %Y %H:%M:%S GMT",
	    &tm) != NULL) {
		secs = (long)(timegm(&tm) - time(NULL));
		d->retry_after = secs < 0 ? 0 :
		    secs > DELIVERY_RETRY_AFTER_MAX ?
		    DELIVERY_RETRY_AFTER_MAX : (int)secs;
	}
	return len;
}

/* Send the event of row i of a claim as a signed POST. */
void
deliveries_start(struct deliveries *c, const PGresult *res, int i)
{
	struct delivery *d = xcalloc(1, sizeof(*d));
	struct evbuffer *b = evbuffer_new();
	struct emit *e = emit_new(b, 0);
	char header[256], sig[128];
	size_t len;
	int64_t now = time(NULL);

	d->set = c;
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
		c->done(c->arg);
		return;
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
}

/* What a finished delivery came to: counted, logged unless delivered, and
 * when to try again (the schedule's next delay, or Retry-After). */
static void
delivery_settle(struct deliveries *c, struct delivery *d)
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
deliveries_reap(struct deliveries *c)
{
	struct delivery *d;
	CURLMsg *msg;
	int left, any = 0;

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
		any = 1;
	}
	if (any)
		c->done(c->arg);
}

static void
deliveries_event(evutil_socket_t fd, short what, void *arg)
{
	struct deliveries *c = arg;
	int running;

	curl_multi_socket_action(c->multi, fd, ((what & EV_READ) ?
	    CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0),
	    &running);
	deliveries_reap(c);
}

static void
deliveries_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct deliveries *c = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	deliveries_reap(c);
}

/* libcurl says which sockets to watch, for what. */
static int
deliveries_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *socket_arg)
{
	struct deliveries *c = arg;
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
	ev = event_new(c->base, fd, kind, deliveries_event, c);
	event_add(ev, NULL);
	curl_multi_assign(c->multi, fd, ev);
	return 0;
}

static int
deliveries_timer(CURLM *multi, long ms, void *arg)
{
	struct deliveries *c = arg;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)multi;
	if (ms < 0)
		evtimer_del(c->ev_curl);
	else
		evtimer_add(c->ev_curl, &tv);
	return 0;
}

void
deliveries_init(struct deliveries *c, struct event_base *base,
    const struct config *conf, void (*done)(void *), void *arg)
{
	memset(c, 0, sizeof(*c));
	c->conf = conf;
	c->base = base;
	c->done = done;
	c->arg = arg;
	TAILQ_INIT(&c->sending);
	TAILQ_INIT(&c->finished);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (c->multi = curl_multi_init()) == NULL)
		fatalx("%s: libcurl cannot start", __func__);
	c->ev_curl = evtimer_new(base, deliveries_timeout, c);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION,
	    deliveries_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, deliveries_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
}

void
deliveries_free(struct deliveries *c)
{
	struct delivery *d;

	while ((d = TAILQ_FIRST(&c->sending)) != NULL) {
		TAILQ_REMOVE(&c->sending, d, entry);
		curl_multi_remove_handle(c->multi, d->easy);
		delivery_free(d);
	}
	while ((d = TAILQ_FIRST(&c->finished)) != NULL) {
		TAILQ_REMOVE(&c->finished, d, entry);
		delivery_free(d);
	}
	curl_multi_cleanup(c->multi);
	event_free(c->ev_curl);
	curl_global_cleanup();
}
