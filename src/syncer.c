/*
 * syncer: keeps the shared slot table equal to the slots rows.
 *
 * One non-blocking libpq connection, driven by libevent: LISTEN first, then
 * a full load (rows not seen are dropped), then NOTIFY payloads applied by
 * version.  A few times a second it also reads the change log (changelog.c),
 * so that a change whose announcement was lost (its worker killed after the
 * commit, say) still reaches the table within a second.  It
 * has every calendar's slots made over its rolling horizon (generate.c)
 * and releases expired holds.  Any error closes the connection; it reconnects with
 * backoff and reloads.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

#define SYNCER_CHANNEL		"slotd_slots"
#define SYNCER_CALENDARS	"slotd_calendars"
#define SYNCER_TICK_MS		250	/* also the hold expiry delay */
#define SYNCER_GENERATE_YIELD	8	/* rest: a calendar's time times this */

enum syncer_state {
	SYNCER_DOWN,		/* connecting, or waiting to reconnect */
	SYNCER_LISTENING,	/* LISTEN sent */
	SYNCER_SNAPSHOT,	/* the load's change-log position asked */
	SYNCER_LOADING,		/* full load streaming */
	SYNCER_MIRRORING,	/* [schedule] into calendar 1 */
	SYNCER_FINDING,		/* which calendars are due */
	SYNCER_GENERATING,	/* one calendar's slots being made */
	SYNCER_EXPIRING,	/* expired holds being released */
	SYNCER_CATCHING_UP,	/* change log being read */
	SYNCER_PRUNING,		/* old change-log rows being deleted */
	SYNCER_IDLE		/* applying notifications */
};

struct syncer {
	struct config		*conf;
	struct slot_table	*table;
	struct event_base	*base;
	struct db_link		 link;
	struct event		*ev_tick;
	enum syncer_state	 state;
	struct generation	 generation;
	struct event		*ev_generate;	/* the next calendar, rested */
	struct timeval		 generate_sent;
	int			 generate_pending;
	int			 query_failed;
	int			 reload_wanted;
	size_t			 loaded_rows;
	size_t			 dropped_rows;	/* no room in the table */
	struct changelog	 changes;
};

/* The connection is lost: the table may miss changes until the link is
 * back and has reloaded it. */
static void
syncer_down(void *arg)
{
	struct syncer *s = arg;

	slot_table_set_flag(s->table, SLOT_FLAG_DB_OK, 0);
	s->state = SYNCER_DOWN;
	s->generate_pending = 0;
	evtimer_del(s->ev_generate);
	s->query_failed = 0;
}

/* Send the next statement; the link fails (and reconnects) when it
 * cannot be sent. */
static void
syncer_sent(struct syncer *s, int ok, const char *what)
{
	if (db_link_sent(&s->link, ok) == -1)
		db_link_fail(&s->link, what);
}

static void
syncer_send_listen(struct syncer *s)
{
	s->state = SYNCER_LISTENING;
	syncer_sent(s, PQsendQuery(s->link.conn, "LISTEN " SYNCER_CHANNEL
	    "; LISTEN " SYNCER_CALENDARS), "LISTEN");
}

/* Remember where the change log stands before the load: whatever the load
 * cannot see is read from the log afterwards. */
static void
syncer_send_snapshot(struct syncer *s)
{
	s->state = SYNCER_SNAPSHOT;
	syncer_sent(s, changelog_send_position(s->link.conn) == 0,
	    "snapshot");
}

static void
syncer_send_load(struct syncer *s)
{
	s->state = SYNCER_LOADING;
	s->reload_wanted = 0;
	s->loaded_rows = 0;
	s->dropped_rows = 0;
	slot_table_set_flag(s->table, SLOT_FLAG_RESYNC, 0);
	slot_table_load_begin(s->table);
	syncer_sent(s, PQsendQuery(s->link.conn, "SELECT id, calendar_id, "
	    "floor(extract(epoch FROM start_at))::bigint, "
	    "floor(extract(epoch FROM end_at))::bigint, "
	    "capacity, booked, version FROM slots") &&
	    PQsetSingleRowMode(s->link.conn), "load");
}

static void	syncer_drain_notifies(struct syncer *);

/* Calendar 1 becomes the configuration's [schedule], if it has one. */
static void
syncer_send_mirror(struct syncer *s)
{
	s->state = SYNCER_MIRRORING;
	syncer_sent(s, generate_send_mirror(&s->generation, s->link.conn,
	    s->conf) == 0, "schedule");
}

static void
syncer_send_due(struct syncer *s)
{
	s->generate_pending = 0;
	evtimer_del(s->ev_generate);
	s->state = SYNCER_FINDING;
	syncer_sent(s, generate_send_due(&s->generation, s->link.conn) == 0,
	    "calendars");
}

/* The next due calendar's slots, or the end of the round: the table is
 * loaded and the slots made. */
static void
syncer_send_next(struct syncer *s)
{
	switch (generate_send_next(&s->generation, s->link.conn)) {
	case 1:
		s->state = SYNCER_GENERATING;
		gettimeofday(&s->generate_sent, NULL);
		syncer_sent(s, 1, "calendar");
		return;
	case -1:
		syncer_sent(s, 0, "calendar");
		return;
	}
	/* Our own inserts were notified before the results came. */
	s->state = SYNCER_IDLE;
	db_link_healthy(&s->link);
	syncer_drain_notifies(s);
	slot_table_set_flag(s->table, SLOT_FLAG_LOADED, 1);
	slot_table_set_flag(s->table, SLOT_FLAG_DB_OK, 1);
	if (s->reload_wanted)
		syncer_send_snapshot(s);
}

static int
parse_i64(char **p, int64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoll(*p, &end, 10);
	if (errno != 0 || end == *p || (*end != ',' && *end != '\0'))
		return -1;
	*p = *end == ',' ? end + 1 : end;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Payloads: "u,id,calendar,start,end,capacity,booked,version[,sent_ms]"
 * (from the trigger), the same with 'n' (a slot a worker created) or 'a'
 * (a worker's change to an existing slot: never inserted, so that a late
 * one cannot bring back a deleted slot), "d,id,version[,sent_ms]" and "r"
 * (reload everything, after TRUNCATE). */
static int
syncer_apply_payload(struct syncer *s, char *payload)
{
	int64_t v[8];
	struct slot sl;
	char *p = payload + 2;
	int i, want;

	if (strcmp(payload, "r") == 0) {
		s->reload_wanted = 1;
		return 0;
	}
	if (strchr("unad", payload[0]) == NULL || payload[0] == '\0' ||
	    payload[1] != ',')
		return -1;
	want = payload[0] == 'd' ? 2 : 7;
	for (i = 0; i < want + 1 && *p != '\0'; i++)
		if (parse_i64(&p, &v[i]) == -1)
			return -1;
	if (*p != '\0' || i < want)
		return -1;
	metrics_sync(1, i > want ? (now_ms() - v[want]) * 1000 : -1);
	if (payload[0] == 'd') {
		slot_table_remove(s->table, v[0]);
		return 1;
	}
	sl.id = v[0];
	sl.calendar_id = v[1];
	sl.start = v[2];
	sl.end = v[3];
	sl.capacity = (int32_t)v[4];
	sl.booked = (int32_t)v[5];
	sl.version = v[6];
	if (slot_table_apply(s->table, &sl, payload[0] == 'a' ?
	    SLOT_APPLY_UPDATE_ONLY : 0) == SLOT_TABLE_FULL)
		log_warnx("slot table full (max_slots = %d): slot %lld not "
		    "cached", s->conf->max_slots, (long long)sl.id);
	return 1;
}

static void
syncer_drain_notifies(struct syncer *s)
{
	PGnotify *n;
	int changed = 0;

	char *one, *next;

	/* A notification may carry several payloads joined by ';'. */
	while ((n = PQnotifies(s->link.conn)) != NULL) {
		if (strcmp(n->relname, SYNCER_CALENDARS) == 0) {
			s->generation.wanted = 1;	/* at the next tick */
			PQfreemem(n);
			continue;
		}
		for (one = n->extra; one != NULL; one = next) {
			if ((next = strchr(one, ';')) != NULL)
				*next++ = '\0';
			switch (syncer_apply_payload(s, one)) {
			case -1:
				log_warnx("ignoring malformed notification "
				    "'%.80s'", one);
				break;
			case 1:
				changed = 1;
				break;
			}
		}
		PQfreemem(n);
	}
	if (changed)
		slot_table_publish(s->table);
}

static void
syncer_apply_row(struct syncer *s, PGresult *res)
{
	struct slot sl;

	sl.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	sl.calendar_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	sl.start = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	sl.end = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	sl.capacity = (int32_t)strtol(PQgetvalue(res, 0, 4), NULL, 10);
	sl.booked = (int32_t)strtol(PQgetvalue(res, 0, 5), NULL, 10);
	sl.version = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	s->loaded_rows++;
	if (slot_table_apply(s->table, &sl, SLOT_APPLY_LOAD) == SLOT_TABLE_FULL)
		s->dropped_rows++;
}

/* Once the table is loaded, the calendars of a round are made one at a
 * time with a rest between them, SYNCER_GENERATE_YIELD times as long as
 * the last took: a midnight at which thousands of horizons roll forward
 * spreads over minutes instead of taking the database and the table's
 * readers at once.  Meanwhile the syncer is idle: holds expire and the
 * change log is read as usual. */
static void
syncer_generate_later(struct syncer *s)
{
	struct timeval rest;

	db_link_rest(&s->generate_sent, SYNCER_GENERATE_YIELD, &rest);
	s->state = SYNCER_IDLE;
	s->generate_pending = 1;
	evtimer_add(s->ev_generate, &rest);
}

static void
syncer_generate_resume(evutil_socket_t fd, short what, void *arg)
{
	struct syncer *s = arg;
	struct timeval soon = { 0, 10000 };

	(void)fd;
	(void)what;
	if (!s->generate_pending)
		return;
	if (s->state != SYNCER_IDLE) {
		evtimer_add(s->ev_generate, &soon);	/* after the tick's */
		return;
	}
	s->generate_pending = 0;
	syncer_send_next(s);
}

/* The current query finished; start whatever comes next. */
static void
syncer_query_done(struct syncer *s)
{
	int failed = s->query_failed;
	size_t removed;

	s->query_failed = 0;
	if (failed && s->state != SYNCER_GENERATING &&
	    s->state != SYNCER_MIRRORING && s->state != SYNCER_FINDING &&
	    s->state != SYNCER_EXPIRING && s->state != SYNCER_CATCHING_UP &&
	    s->state != SYNCER_PRUNING) {
		db_link_fail(&s->link, "query");
		return;
	}
	switch (s->state) {
	case SYNCER_LISTENING:
		syncer_send_snapshot(s);
		break;
	case SYNCER_SNAPSHOT:
		syncer_send_load(s);
		break;
	case SYNCER_LOADING:
		removed = slot_table_load_sweep(s->table);
		if (s->dropped_rows > 0)
			log_warnx("slot table full (max_slots = %d): %zu slots "
			    "not cached; raise max_slots", s->conf->max_slots,
			    s->dropped_rows);
		log_info("%s %zu slots, %zu removed",
		    slot_table_flag(s->table, SLOT_FLAG_LOADED) ? "resynced" :
		    "loaded", s->loaded_rows, removed);
		if (slot_table_flag(s->table, SLOT_FLAG_LOADED))
			metrics_event(METRICS_RESYNC);
		slot_table_set_flag(s->table, SLOT_FLAG_DB_OK, 1);
		syncer_drain_notifies(s);
		syncer_send_mirror(s);
		break;
	case SYNCER_MIRRORING:
		/* A schedule that could not be mirrored leaves calendar 1 as
		 * it was; the next reload tries again. */
		if (failed)
			log_warnx("[schedule] could not be made calendar 1's");
		syncer_send_due(s);
		break;
	case SYNCER_FINDING:
		if (failed)
			generate_due_result(&s->generation, NULL);
		syncer_send_next(s);
		break;
	case SYNCER_EXPIRING:
		syncer_drain_notifies(s);
		s->state = SYNCER_CATCHING_UP;
		syncer_sent(s, changelog_send_read(&s->changes,
		    s->link.conn) == 0, "change log");
		break;
	case SYNCER_CATCHING_UP:
		changelog_read_done(&s->changes, failed);
		syncer_drain_notifies(s);
		s->state = SYNCER_PRUNING;
		switch (failed ? 0 : changelog_send_prune(&s->changes,
		    s->link.conn)) {
		case 0:
			s->state = SYNCER_IDLE;
			break;
		default:
			syncer_sent(s, 0, "change log pruning");
			break;
		case 1:
			syncer_sent(s, 1, "change log pruning");
			break;
		}
		break;
	case SYNCER_PRUNING:
		changelog_pruned(&s->changes, failed);
		s->state = SYNCER_IDLE;
		syncer_drain_notifies(s);
		break;
	case SYNCER_GENERATING:
		/* A failed calendar keeps the slots it has; the next look
		 * finds it due again. */
		if (failed)
			generate_failed(&s->generation);
		syncer_drain_notifies(s);
		if (slot_table_flag(s->table, SLOT_FLAG_LOADED))
			syncer_generate_later(s);
		else
			syncer_send_next(s);	/* ready first */
		break;
	default:
		break;
	}
}

static int
syncer_handle_result(struct syncer *s, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	switch (st) {
	case PGRES_SINGLE_TUPLE:
		syncer_apply_row(s, res);
		return 0;
	case PGRES_TUPLES_OK:
		if (s->state == SYNCER_SNAPSHOT)
			changelog_loaded_from(&s->changes, res);
		if (s->state == SYNCER_CATCHING_UP)
			changelog_apply(&s->changes, res, s->table,
			    s->conf->max_slots);
		if (s->state == SYNCER_FINDING)
			generate_due_result(&s->generation, res);
		if (s->state == SYNCER_GENERATING)
			generate_applied(&s->generation, res);
		if (s->state == SYNCER_EXPIRING && PQntuples(res) > 0 &&
		    strcmp(PQgetvalue(res, 0, 0), "released") == 0)
			metrics_event(METRICS_HOLD_RELEASED);
		return 0;
	case PGRES_COMMAND_OK:
		return 0;
	default:
		log_warnx("%s: query failed: %s", __func__,
		    PQresultErrorMessage(res));
		return -1;
	}
}

static void
syncer_result(struct pg_result *res, void *arg)
{
	struct syncer *s = arg;

	if (syncer_handle_result(s, res) == -1)
		s->query_failed = 1;
	PQclear(res);
}

static void
syncer_done(void *arg)
{
	syncer_query_done(arg);
}

/* Input while no statement runs: notifications. */
static void
syncer_idle(void *arg)
{
	struct syncer *s = arg;

	if (s->state == SYNCER_IDLE)
		syncer_drain_notifies(s);
}

static void
syncer_up(void *arg)
{
	log_info("connected to the database");
	syncer_send_listen(arg);
}

static const struct db_link_ops syncer_link_ops = {
	syncer_up, syncer_result, syncer_done, syncer_idle, syncer_down
};

/* Every tick: reload when asked to, roll the horizon at midnight, else
 * release expired holds. */
static void
syncer_tick(evutil_socket_t fd, short what, void *arg)
{
	struct syncer *s = arg;

	(void)fd;
	(void)what;
	if (s->state != SYNCER_IDLE)
		return;
	if (slot_table_flag(s->table, SLOT_FLAG_RESYNC) || s->reload_wanted ||
	    changelog_stale(&s->changes)) {
		syncer_send_snapshot(s);
		return;
	}
	/* A calendar created or changed is looked at even in the rest
	 * between two calendars of a round. */
	if ((!s->generate_pending || s->generation.wanted) &&
	    generate_time(&s->generation)) {
		syncer_send_due(s);
		return;
	}
	/* Expired holds give their seats back (the rows' notifications
	 * bring the new counts to every instance), then the change log. */
	s->state = SYNCER_EXPIRING;
	syncer_sent(s, PQsendQuery(s->link.conn,
	    "SELECT outcome FROM slotd_release(NULL, '')"), "hold expiry");
}

static void
syncer_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
syncer_main(struct config *conf, struct slot_table *table)
{
	struct timeval tick = { SYNCER_TICK_MS / 1000,
	    (SYNCER_TICK_MS % 1000) * 1000 };
	static const int sigs[] = { SIGTERM, SIGINT };
	struct signal_watch signals;
	struct db_link_params params = { conf->conninfo, "slotd syncer", NULL };
	struct syncer s;
	char options[64];

	log_set_role("syncer");
	if (tz_use(conf->timezone) == -1)
		fatalx("time zone %s cannot be loaded", conf->timezone);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&s, 0, sizeof(s));
	s.conf = conf;
	s.table = table;
	if ((s.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/* Expired holds and changed capacities free seats that waitlist
	 * entries are offered, for this long (migration 0012). */
	snprintf(options, sizeof(options), "-c slotd.offer_ttl=%d",
	    conf->hold_ttl_seconds);
	params.options = options;
	db_link_init(&s.link, s.base, "database", &params, &syncer_link_ops,
	    &s);
	s.ev_tick = event_new(s.base, -1, EV_PERSIST, syncer_tick, &s);
	s.ev_generate = evtimer_new(s.base, syncer_generate_resume, &s);
	event_add(s.ev_tick, &tick);
	signals_watch(&signals, s.base, sigs, 2, syncer_signal, s.base);

	db_link_connect(&s.link);
	event_base_dispatch(s.base);

	db_link_free(&s.link);
	changelog_clear(&s.changes);
	generate_clear(&s.generation);
	event_free(s.ev_tick);
	event_free(s.ev_generate);
	signals_unwatch(&signals);
	event_base_free(s.base);
	return 0;
}
