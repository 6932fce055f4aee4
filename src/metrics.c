/*
 * metrics: counters every process adds to without locks (one block per
 * worker, relaxed atomic adds, in memory the master shares with all its
 * children), summed and printed in Prometheus text format by /metrics.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "slotd.h"

#define ADD(p, n)	__atomic_add_fetch((p), (n), __ATOMIC_RELAXED)
#define GET(p)		__atomic_load_n((p), __ATOMIC_RELAXED)

static const char *const route_names[METRICS_ROUTES] = {
	"slots", "slot", "slots_admin", "appointments", "appointment",
	"holds", "hold", "healthz", "readyz", "metrics", "calendars",
	"calendars_admin", "events", "webhooks", "waitlist", "slots_stream",
	"other"
};

static const int status_codes[] = {
	200, 201, 204, 304, 400, 404, 405, 409, 410, 413, 414, 415, 422, 429,
	431, 499, 500, 503
};
#define NSTATUS	(sizeof(status_codes) / sizeof(status_codes[0]))

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t bucket_us[METRICS_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 10000000
};

static const char *const booking_names[METRICS_BOOKING_OUTCOMES] = {
	"booked", "replayed", "key_reused", "slot_not_found", "slot_full",
	"slot_in_past", "not_consecutive", "hold_expired", "invalid",
	"unavailable", "unknown", "outside_window"
};

static const char *const delivery_names[METRICS_DELIVERY_OUTCOMES] = {
	"delivered", "retry", "failed", "gone"
};

/* The database pool's counters, each a uint64_t of db_pool_counters. */
static const struct {
	const char	*name;
	const char	*help;
	size_t		 offset;
} pool_counters[] = {
	{ "slotd_db_pool_waits_total",
	    "Writes that waited for a free database connection.",
	    offsetof(struct db_pool_counters, waits) },
	{ "slotd_db_pool_errors_total",
	    "Database connections lost or refused.",
	    offsetof(struct db_pool_counters, errors) },
	{ "slotd_db_pool_refused_total",
	    "Writes refused at once (queue full or database unreachable).",
	    offsetof(struct db_pool_counters, refused) },
	{ "slotd_db_batches_total",
	    "Statements sent to book several waiting requests together.",
	    offsetof(struct db_pool_counters, batches) },
	{ "slotd_db_batched_total",
	    "Bookings sent in those statements.",
	    offsetof(struct db_pool_counters, batched) },
	{ "slotd_db_batch_retries_total",
	    "Batches that failed as a whole and ran again one by one.",
	    offsetof(struct db_pool_counters, batch_retries) }
};
#define NPOOL	(sizeof(pool_counters) / sizeof(pool_counters[0]))
#define POOL_COUNTER(c, i) \
	((uint64_t *)((char *)(c) + pool_counters[i].offset))
#define POOL_VALUE(c, i) \
	GET((const uint64_t *)((const char *)(c) + pool_counters[i].offset))

struct metrics_block {
	uint64_t	requests[METRICS_ROUTES][NSTATUS + 1];
	uint64_t	latency[METRICS_ROUTES][METRICS_BUCKETS + 1];
	uint64_t	latency_sum_us[METRICS_ROUTES];
	uint64_t	bookings[METRICS_BOOKING_OUTCOMES];
	struct db_pool_counters pool;
	int64_t		streams;	/* open; added to, as workers of two
					   generations may share a block */
} __attribute__((aligned(64)));

struct metrics {
	uint64_t		notifications;
	uint64_t		log_applied;
	uint64_t		resyncs;
	int64_t			sync_lag_us;
	uint64_t		reloads;
	uint64_t		restarts[3];	/* worker, syncer, courier */
	uint64_t		holds_released;
	uint64_t		deliveries[METRICS_DELIVERY_OUTCOMES];
	int64_t			events_backlog_ms;
	struct metrics_block	block[METRICS_BLOCKS];
};

static struct metrics		*metrics;
static struct metrics_block	*mine;

/* Map the shared counters; the master calls this once, before forking. */
int
metrics_init(void)
{
	void *p = mmap(NULL, sizeof(struct metrics), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	metrics = p;
	mine = &metrics->block[METRICS_BLOCKS - 1];
	return 0;
}

/* The block this process adds to (a worker's index, or the last). */
void
metrics_use_block(int index)
{
	if (metrics != NULL && index >= 0 && index < METRICS_BLOCKS - 1)
		mine = &metrics->block[index];
}

struct db_pool_counters *
metrics_pool_counters(void)
{
	static struct db_pool_counters local;

	return mine != NULL ? &mine->pool : &local;
}

void
metrics_request(int route, int status, uint64_t us)
{
	size_t s, b;

	if (mine == NULL)
		return;
	for (s = 0; s < NSTATUS && status_codes[s] != status; s++)
		;
	for (b = 0; b < METRICS_BUCKETS && us > bucket_us[b]; b++)
		;
	ADD(&mine->requests[route][s], 1);
	ADD(&mine->latency[route][b], 1);
	ADD(&mine->latency_sum_us[route], us);
}

void
metrics_booking(enum metrics_booking outcome)
{
	if (mine != NULL)
		ADD(&mine->bookings[outcome], 1);
}

void
metrics_sync(uint64_t notifications, int64_t lag_us)
{
	if (metrics == NULL)
		return;
	ADD(&metrics->notifications, notifications);
	if (lag_us >= 0)
		__atomic_store_n(&metrics->sync_lag_us, lag_us,
		    __ATOMIC_RELAXED);
}

/* Slot changes the syncer learned from the change log. */
void
metrics_log_applied(uint64_t changes)
{
	if (metrics != NULL)
		ADD(&metrics->log_applied, changes);
}

void
metrics_event(enum metrics_event ev)
{
	if (metrics == NULL)
		return;
	switch (ev) {
	case METRICS_RESYNC:
		ADD(&metrics->resyncs, 1);
		break;
	case METRICS_RELOAD:
		ADD(&metrics->reloads, 1);
		break;
	case METRICS_WORKER_RESTART:
		ADD(&metrics->restarts[0], 1);
		break;
	case METRICS_SYNCER_RESTART:
		ADD(&metrics->restarts[1], 1);
		break;
	case METRICS_HOLD_RELEASED:
		ADD(&metrics->holds_released, 1);
		break;
	case METRICS_COURIER_RESTART:
		ADD(&metrics->restarts[2], 1);
		break;
	}
}

void
metrics_delivery(enum metrics_delivery outcome)
{
	if (metrics != NULL)
		ADD(&metrics->deliveries[outcome], 1);
}

/* The age of the oldest event some webhook still waits for. */
void
metrics_events_backlog(double seconds)
{
	if (metrics != NULL)
		__atomic_store_n(&metrics->events_backlog_ms,
		    (int64_t)(seconds * 1000), __ATOMIC_RELAXED);
}

/* Streams opened (delta 1) or ended (-1) in this process. */
void
metrics_streams(int delta)
{
	if (mine != NULL)
		ADD(&mine->streams, delta);
}

static void
head(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
one(struct evbuffer *out, const char *name, const char *type,
    const char *help, double v)
{
	head(out, name, type, help);
	evbuffer_add_printf(out, "%s %.17g\n", name, v);
}

/* Everything, summed over the blocks, in Prometheus text format 0.0.4. */
void
metrics_render(struct evbuffer *out, struct slot_table *table)
{
	struct metrics_block sum;
	struct slot_table_stats st;
	uint64_t cum, count;
	size_t i, r, k;

	if (metrics == NULL)
		return;
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < METRICS_BLOCKS; i++) {
		const struct metrics_block *b = &metrics->block[i];

		for (r = 0; r < METRICS_ROUTES; r++) {
			for (k = 0; k <= NSTATUS; k++)
				sum.requests[r][k] += GET(&b->requests[r][k]);
			for (k = 0; k <= METRICS_BUCKETS; k++)
				sum.latency[r][k] += GET(&b->latency[r][k]);
			sum.latency_sum_us[r] += GET(&b->latency_sum_us[r]);
		}
		for (k = 0; k < METRICS_BOOKING_OUTCOMES; k++)
			sum.bookings[k] += GET(&b->bookings[k]);
		for (k = 0; k < NPOOL; k++)
			*POOL_COUNTER(&sum.pool, k) += POOL_VALUE(&b->pool, k);
		sum.streams += GET(&b->streams);
	}

	head(out, "slotd_http_requests_total", "counter",
	    "HTTP requests answered, by route and status (499: client gone).");
	for (r = 0; r < METRICS_ROUTES; r++)
		for (k = 0; k <= NSTATUS; k++)
			if (sum.requests[r][k] != 0)
				evbuffer_add_printf(out,
				    "slotd_http_requests_total{route=\"%s\","
				    "status=\"%s%d\"} %llu\n", route_names[r],
				    k == NSTATUS ? "other" : "",
				    k == NSTATUS ? 0 : status_codes[k],
				    (unsigned long long)sum.requests[r][k]);
	head(out, "slotd_http_request_duration_seconds", "histogram",
	    "Time from a request's dispatch to its answer.");
	for (r = 0; r < METRICS_ROUTES; r++) {
		for (k = count = 0; k <= METRICS_BUCKETS; k++)
			count += sum.latency[r][k];
		if (count == 0)
			continue;
		for (k = cum = 0; k < METRICS_BUCKETS; k++) {
			cum += sum.latency[r][k];
			evbuffer_add_printf(out,
			    "slotd_http_request_duration_seconds_bucket{route="
			    "\"%s\",le=\"%g\"} %llu\n", route_names[r],
			    (double)bucket_us[k] / 1e6, (unsigned long long)cum);
		}
		evbuffer_add_printf(out,
		    "slotd_http_request_duration_seconds_bucket{route=\"%s\","
		    "le=\"+Inf\"} %llu\n"
		    "slotd_http_request_duration_seconds_sum{route=\"%s\"} %g\n"
		    "slotd_http_request_duration_seconds_count{route=\"%s\"} "
		    "%llu\n", route_names[r], (unsigned long long)count,
		    route_names[r], (double)sum.latency_sum_us[r] / 1e6,
		    route_names[r], (unsigned long long)count);
	}
	head(out, "slotd_bookings_total", "counter",
	    "Booking attempts (POST /appointments), by outcome.");
	for (k = 0; k < METRICS_BOOKING_OUTCOMES; k++)
		evbuffer_add_printf(out, "slotd_bookings_total{outcome=\"%s\"} "
		    "%llu\n", booking_names[k],
		    (unsigned long long)sum.bookings[k]);
	for (k = 0; k < NPOOL; k++)
		one(out, pool_counters[k].name, "counter", pool_counters[k].help,
		    (double)POOL_VALUE(&sum.pool, k));
	one(out, "slotd_streams_open", "gauge",
	    "Live availability streams (GET /slots/stream) open.",
	    (double)sum.streams);
	slot_table_stats(table, &st);
	one(out, "slotd_slot_table_slots", "gauge",
	    "Slots in the shared table.", st.live);
	one(out, "slotd_slot_table_capacity", "gauge",
	    "Slots the shared table can hold ([server] max_slots).",
	    st.max_slots);
	one(out, "slotd_slot_table_repairs_total", "counter",
	    "Repairs after a process died holding the table lock.",
	    st.repairs);
	one(out, "slotd_sync_connected", "gauge",
	    "1 while the syncer is connected to the database.",
	    slot_table_flag(table, SLOT_FLAG_DB_OK));
	one(out, "slotd_sync_lag_seconds", "gauge",
	    "Commit to cache delay of the last change notification.",
	    (double)GET(&metrics->sync_lag_us) / 1e6);
	one(out, "slotd_sync_notifications_total", "counter",
	    "Change notifications applied.",
	    (double)GET(&metrics->notifications));
	one(out, "slotd_sync_log_applied_total", "counter",
	    "Slot changes learned from the change log, not (yet) from a "
	    "notification.", (double)GET(&metrics->log_applied));
	one(out, "slotd_sync_resyncs_total", "counter",
	    "Full reloads of the table from the database.",
	    (double)GET(&metrics->resyncs));
	one(out, "slotd_holds_released_total", "counter",
	    "Expiry passes that gave seats of expired holds back.",
	    (double)GET(&metrics->holds_released));
	one(out, "slotd_reloads_total", "counter",
	    "Configuration reloads applied (SIGHUP).",
	    (double)GET(&metrics->reloads));
	head(out, "slotd_process_restarts_total", "counter",
	    "Children restarted after they died.");
	evbuffer_add_printf(out, "slotd_process_restarts_total{role=\"worker\"} "
	    "%llu\nslotd_process_restarts_total{role=\"syncer\"} %llu\n"
	    "slotd_process_restarts_total{role=\"courier\"} %llu\n",
	    (unsigned long long)GET(&metrics->restarts[0]),
	    (unsigned long long)GET(&metrics->restarts[1]),
	    (unsigned long long)GET(&metrics->restarts[2]));
	head(out, "slotd_webhook_deliveries_total", "counter",
	    "Webhook delivery attempts, by outcome (retry: failed, tried again "
	    "later; failed: no attempt left; gone: 410, webhook disabled).");
	for (k = 0; k < METRICS_DELIVERY_OUTCOMES; k++)
		evbuffer_add_printf(out, "slotd_webhook_deliveries_total{"
		    "outcome=\"%s\"} %llu\n", delivery_names[k],
		    (unsigned long long)GET(&metrics->deliveries[k]));
	one(out, "slotd_events_oldest_undelivered_seconds", "gauge",
	    "Age of the oldest event not yet delivered to every webhook that "
	    "wants it (0: none), as this instance's courier last saw it.",
	    (double)GET(&metrics->events_backlog_ms) / 1e3);
	one(out, "slotd_ready", "gauge",
	    "1 when the table is loaded and the database reachable.",
	    slot_table_flag(table, SLOT_FLAG_LOADED) &&
	    slot_table_flag(table, SLOT_FLAG_DB_OK));
}
