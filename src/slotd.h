/*
 * slotd: the private header, one section per source file.
 */
#ifndef SLOTD_H
#define SLOTD_H

#include "config.h"

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "slot_table.h"

struct evbuffer;
struct http_request;
struct event_base;

#define SLOTD_MAX_BREAKS	16
#define SECONDS_PER_DAY		86400

/* log.c */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG };

void	log_init(const char *role, enum log_level);
void	log_set_role(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_set_level(enum log_level);
int	log_level_parse(const char *, enum log_level *);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
struct log_limit {
	int64_t	last_ms;	/* CLOCK_MONOTONIC, logged last; 0: never */
	int	skipped;	/* calls since, not logged */
};
void	log_warnx_limited(struct log_limit *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_libevent(int, const char *);
struct pg_result;
void	 log_libpq(void *, const struct pg_result *);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);

/* tz.c: time zones, each read once from the IANA database and kept */
int	 tz_check_name(const char *, const char **why);
int	 tz_valid_name(const char *);
int	 tz_use(const char *);
int	 tz_local_to_utc(int64_t days, int minute, int64_t t[2]);
int64_t	 tz_day_start(int64_t days);
int64_t	 tz_today(int64_t now);
size_t	 tz_format_rfc3339(int64_t t, char *buf, size_t len);
void	 tz_format_local(int64_t t, char date[11], char hhmm[6]);

/* tz_calendar.c: days since 1970-01-01, dates and RFC 3339 times */
int64_t	 tz_days_from_civil(int y, int m, int d);
void	 tz_civil_from_days(int64_t days, int *y, int *m, int *d);
int	 tz_days_in_month(int y, int m);
int64_t	 tz_day_of(int64_t t);
int	 tz_weekday(int64_t days);		/* 0 = Sunday */
int	 tz_cmp_days(const void *, const void *);
int	 tz_parse_date(const char *, size_t, int64_t *days);
int	 tz_parse_rfc3339(const char *, int64_t *, const char **why);

/* tzfile.c: compiled zones (TZif, RFC 8536) and POSIX TZ rules in memory */
struct tzfile;
struct tzfile	*tzfile_read(const char *path);
struct tzfile	*tzfile_parse(const unsigned char *, size_t);
struct tzfile	*tzfile_posix(const char *);
long		 tzfile_offset(const struct tzfile *, int64_t t);
void		 tzfile_free(struct tzfile *);

/* config.c */
struct cidr {				/* an address range, for trusted_proxies */
	int		family;
	int		bits;
	unsigned char	addr[16];
};

struct time_range {
	int	start;				/* minutes after midnight */
	int	end;
};

struct config {
	char		*path;
	/* [server] */
	char		*listen;
	char		 listen_host[256];
	char		 listen_port[8];
	int		 workers;
	char		*shm_name;
	int		 max_slots;
	enum log_level	 log_level;
	int		 access_log;
	int		 shutdown_timeout;
	int		 request_timeout;
	int		 max_uri_bytes;
	int		 max_header_bytes;
	int		 max_headers;
	int		 max_body_bytes;
	/* [database] */
	char		*conninfo;
	int		 pool_size;
	int		 queue_size;
	/* [schedule] */
	char		*timezone;
	unsigned	 days;			/* bit n: weekday n, 0 = Sunday */
	struct time_range hours;
	int		 slot_minutes;
	int		 capacity;
	int		 max_slots_per_appointment;
	struct time_range breaks[SLOTD_MAX_BREAKS];
	int		 nbreaks;
	int64_t		*days_off;		/* sorted epoch days */
	int		 ndays_off;
	int		 horizon_days;
	/* [holds] */
	int		 hold_ttl_seconds;
	/* [rate_limit]: limits apply when the section has any key */
	int		 rate_limit;
	int		 reads_per_second;
	int		 reads_burst;
	int		 writes_per_second;
	int		 writes_burst;
	struct cidr	 trusted[32];
	int		 ntrusted;
	/* [cors] */
	char		*cors_origins;
	/* [tls] */
	char		*tls_listen;
	char		 tls_host[256];
	char		 tls_port[8];
	char		*tls_cert_file;
	char		*tls_key_file;
	/* [auth] */
	int		 auth_jwt;
	char		*jwt_secret_file;
	char		*jwt_public_key_file;
	char		*jwt_issuer;
	char		*jwt_audience;
	char		*admin_role;
	int		 public_reads;
	struct auth_key	*auth_key;
};

struct config	*config_load(const char *path, char *err, size_t errlen);
struct config	*config_load_text(const char *name, const char *text,
		    char *err, size_t errlen);
void		 config_free(struct config *);
void		 config_keep_restart_keys(const struct config *,
		    struct config *);
size_t		 config_param_count(void);
void		 config_param_name(size_t, const char **, const char **);

/* ratelimit.c: shared token buckets per client */
#define RL_CLASSES	2
enum { RL_READS, RL_WRITES };
int	 ratelimit_init(uint32_t entries);
int	 ratelimit_take(const char *addr, int class, int rate, int burst,
	    uint64_t now_ms, uint64_t *wait_ms, int *left);
void	 ratelimit_client(const struct config *, const char *peer,
	    const char *xff, char *out, size_t len);
int	 ratelimit_parse_cidr(const char *, size_t, struct cidr *);
uint64_t ratelimit_now_ms(void);

/* tls.c */
struct ssl_ctx_st;
struct ssl_ctx_st *tls_context(const struct config *, char *, size_t);
int	 tls_check(const struct config *, char *, size_t);

/* cors.c */
int	 cors_apply(struct http_request *, const struct config *);

/* auth.c: bearer tokens */
enum { AUTH_OK, AUTH_NONE, AUTH_BAD };
struct principal {
	char	sub[256];		/* owner of what it books; "" if anonymous */
	int	authenticated;
	int	admin;
};
int	auth_load(struct config *, char *err, size_t errlen);
void	auth_free(struct config *);
int	auth_check(const struct config *, const char *header,
	    struct principal *, char *why, size_t whylen);

/* schedule.c: which slots the [schedule] section asks for */
struct slot_span {
	int64_t	start;
	int64_t	end;
};
#define SCHEDULE_DAY_MAX	(26 * 60 / 5)	/* slots of >= 5 minutes in a day
						 * of <= 26 hours (Antarctica/Troll
						 * falls back 2 hours) */
size_t	schedule_day(const struct config *, int64_t day,
	    struct slot_span *out, size_t max);
int	schedule_is_open_day(const struct config *, int64_t day);

/* emit.c: one document writer for JSON and MessagePack */
struct emit;
struct emit	*emit_new(struct evbuffer *, int msgpack);
void		 emit_free(struct emit *);
void		 emit_map(struct emit *, size_t n);
void		 emit_array(struct emit *, size_t n);
void		 emit_end(struct emit *);
void		 emit_key(struct emit *, const char *);
void		 emit_str(struct emit *, const char *);
void		 emit_strn(struct emit *, const char *, size_t);
void		 emit_int(struct emit *, int64_t);
void		 emit_null(struct emit *);
void		 emit_json_string(struct evbuffer *, const char *, size_t);

/* db.c: non-blocking PostgreSQL */
struct pg_conn;
struct pg_result;
struct event;
struct db_link {
	struct event_base	*base;
	struct pg_conn		*conn;
	struct event		*ev;
	struct event		*ev_timeout;	/* connecting too long */
	void			(*cb)(int, short, void *);
	void			*arg;
	int			 connecting;
};
struct pg_conn	*db_connect_start(const char *conninfo, const char *app,
		    const char *options);
int		 db_link_start(struct db_link *, const char *conninfo,
		    const char *app, const char *options);
int		 db_link_poll(struct db_link *, short);
void		 db_link_watch(struct db_link *, short);
int		 db_link_flush(struct db_link *);
const char	*db_link_error(struct db_link *, char *, size_t);
void		 db_link_close(struct db_link *);
void		 db_link_free(struct db_link *);

enum db_stmt {
	DB_BOOK, DB_CANCEL, DB_HOLD, DB_RELEASE, DB_CREATE_SLOTS,
	DB_SET_CAPACITY, DB_DELETE_SLOT, DB_GET_APPOINTMENT, DB_ANNOUNCE,
	DB_BOOK_ONE, DB_BOOK_LEAN, DB_BOOK_BATCH, DB_NSTMTS
};
#define DB_MAX_PARAMS	9
enum db_outcome {
	DB_DONE,		/* result holds the answer (maybe an error) */
	DB_LOST,		/* sent, then the connection broke: unknown */
	DB_UNAVAILABLE		/* never sent */
};
typedef void (*db_callback)(struct pg_result *, enum db_outcome, void *);
struct db_pool_counters {		/* in shared memory, added atomically */
	uint64_t	waits;
	uint64_t	errors;
	uint64_t	refused;
	uint64_t	batches;	/* statements for several queries */
	uint64_t	batched;	/* the queries they ran */
	uint64_t	batch_retries;	/* of which failed, ran singly */
};
struct db_pool;
struct db_pool	*db_pool_new(struct event_base *, const char *conninfo,
		    int size, int queue_max, struct db_pool_counters *);
void		 db_pool_free(struct db_pool *);
int		 db_pool_query(struct db_pool *, enum db_stmt,
		    const char *const *values, db_callback, void *);
int		 db_pool_idle(const struct db_pool *);

#define DB_MAX_RUN	5		/* slots in one appointment or hold */
struct db_row {
	const char	*outcome;
	const char	*ref;		/* appointment id or hold id */
	int64_t		 at;		/* created or expires at */
	int64_t		 slot_ids[DB_MAX_RUN];
	size_t		 nslot_ids;
	int64_t		 span_start;
	int64_t		 span_end;
	int		 has_slot;
	struct slot	 slot;		/* the slot's new state */
};
int		 db_result_row(const struct pg_result *, int, struct db_row *);
size_t		 db_parse_ids(const char *, int64_t *, size_t);
void		 db_array_append(struct evbuffer *, int64_t);
const char	*db_array_finish(struct evbuffer *);
const char	*db_sqlstate(const struct pg_result *);

/* metrics.c: lock-free counters shared by all processes */
enum metrics_route {
	ROUTE_SLOTS, ROUTE_SLOT, ROUTE_SLOTS_ADMIN, ROUTE_APPOINTMENTS,
	ROUTE_APPOINTMENT, ROUTE_HOLDS, ROUTE_HOLD, ROUTE_HEALTHZ,
	ROUTE_READYZ, ROUTE_METRICS, ROUTE_OTHER, METRICS_ROUTES
};
enum metrics_booking {
	BOOKING_BOOKED, BOOKING_REPLAYED, BOOKING_KEY_REUSED,
	BOOKING_SLOT_NOT_FOUND, BOOKING_SLOT_FULL, BOOKING_SLOT_IN_PAST,
	BOOKING_NOT_CONSECUTIVE, BOOKING_HOLD_EXPIRED, BOOKING_INVALID,
	BOOKING_UNAVAILABLE, BOOKING_UNKNOWN, METRICS_BOOKING_OUTCOMES
};
enum metrics_event {
	METRICS_RESYNC, METRICS_RELOAD, METRICS_WORKER_RESTART,
	METRICS_SYNCER_RESTART, METRICS_HOLD_RELEASED
};
#define METRICS_BUCKETS	15
#define METRICS_BLOCKS	258		/* 256 workers, syncer, master */
int	 metrics_init(void);
void	 metrics_use_block(int);
struct db_pool_counters *metrics_pool_counters(void);
void	 metrics_request(int route, int status, uint64_t us);
void	 metrics_booking(enum metrics_booking);
void	 metrics_sync(uint64_t notifications, int64_t lag_us);
void	 metrics_log_applied(uint64_t changes);
void	 metrics_event(enum metrics_event);
void	 metrics_render(struct evbuffer *, struct slot_table *);

/* json.c: strict JSON request bodies */
enum { JSON_OBJECT, JSON_ARRAY, JSON_OTHER };
enum json_field_kind {
	JSON_FIELD_INT,		/* int64_t, an integer in min..max */
	JSON_FIELD_STRING,	/* char *, min..max characters */
	JSON_FIELD_NUMBER,	/* double */
	JSON_FIELD_ANY		/* int: the value's token, for the caller */
};
struct json_field {
	const char		*name;
	enum json_field_kind	 kind;
	int64_t			 min;		/* value, or length in characters */
	int64_t			 max;
	void			*out;		/* as the kind says */
	int			*present;
	int			 nullable;	/* null counts as absent */
	const char		*above_code;	/* code when above max */
	int			(*check)(const char *);
	const char		*check_why;
};
struct json_error {
	const char	*code;
	char		 field[64];
	char		 detail[160];
};
struct json_doc;
int		 json_utf8_valid(const char *, size_t);
struct json_doc	*json_parse(const char *, size_t, char *err, size_t errlen);
void		 json_free(struct json_doc *);
int		 json_root_type(const struct json_doc *);
int		 json_array_items(const struct json_doc *, int tok, int *items,
		    int max);
char		*json_string(const struct json_doc *, int tok);
int		 json_object(const struct json_doc *, int obj,
		    const struct json_field *, size_t, struct json_error *);
int		 json_object_lenient(const struct json_doc *, int obj,
		    const struct json_field *, size_t, struct json_error *);

/* http_conn.c, http_parse.c, http_reply.c: slotd's HTTP/1.1 layer */
struct http_request;
struct http_server;
struct ssl_ctx_st;
typedef void (*http_handler)(struct http_request *, void *);
struct http_server *http_server_new(struct event_base *,
	    const struct config *, int fd, struct ssl_ctx_st *, http_handler,
	    void *);
void	 http_server_drain(struct http_server *);
void	 http_server_close_listener(struct http_server *);
int	 http_server_open(const struct http_server *);
void	 http_server_free(struct http_server *);
int	 http_in_flight(void);
void	 http_set_access_log(int);
void	 http_add_header(struct http_request *, const char *name,
	    const char *value);
void	 http_vary(struct http_request *, const char *);
void	 http_answer(struct http_request *, int status, const char *type,
	    const void *body, size_t len);
void	 http_problem(struct http_request *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 http_send(struct http_request *, int status,
	    const char *content_type, struct evbuffer *);
void	 http_reply(struct http_request *, int status, struct evbuffer *);
void	 http_send_doc(struct http_request *, int status, struct evbuffer *,
	    int msgpack, const char *location);

/* http.c: what routes ask of a request */
enum http_method_bit {
	HTTP_METHOD_GET = 1, HTTP_METHOD_HEAD = 2, HTTP_METHOD_POST = 4,
	HTTP_METHOD_PUT = 8, HTTP_METHOD_DELETE = 16, HTTP_METHOD_PATCH = 32,
	HTTP_METHOD_OPTIONS = 64
};
int	 http_method(struct http_request *);
const char *http_path(struct http_request *);
const char *http_query(struct http_request *);
const char *http_peer(struct http_request *);
const char *http_header(struct http_request *, const char *name);
const char *http_body(struct http_request *, size_t *len);
int	 http_query_next(const char **, char *key, size_t, char *value,
	    size_t);
int	 http_wants_msgpack(struct http_request *);
void	 http_set_route(struct http_request *, int route);
void	 http_method_not_allowed(struct http_request *, int allowed);
int	 http_header_once(struct http_request *, const char *name,
	    const char **value);
const char	*http_header_list(struct http_request *, const char *name,
	    char **joined);
int	 http_etag_matches(struct http_request *, const char *etag);
int	 http_parse_id(const char *, int64_t *);
struct json_doc	*http_json_body(struct http_request *, char **body);
void	 http_field_problem(struct http_request *, const struct json_error *);
struct http_pending {
	struct http_request	*req;	/* NULL once the client left */
};
void	 http_pending_start(struct http_pending *, struct http_request *);
struct http_request *http_pending_finish(struct http_pending *);
void	 http_pending_drop(struct http_pending *);

/* worker.c */
struct worker_ctx {
	struct config		*conf;
	struct slot_table	*table;
	struct db_pool		*db;
	struct principal	 who;		/* of the request dispatched */
	const char		*owner;		/* who.sub */
	int			 index;
	struct slot		*slots;		/* reusable range buffer */
	size_t			 slots_cap;
	struct evbuffer		*announce;	/* changes for other instances */
	struct event		*ev_announce;
	int			 announcing;	/* notifications in flight */
};
int	worker_main(struct config *, struct slot_table *, int listen_fd,
	    int tls_fd, int index);
void	worker_request(struct http_request *, void *worker_ctx);
void	worker_apply_rows(struct worker_ctx *, struct pg_result *, int flags);
void	worker_announce(struct worker_ctx *, int kind, const struct slot *,
	    int64_t deleted);
int	worker_db_submit(struct worker_ctx *, struct http_request *,
	    struct http_pending *, enum db_stmt, const char *const *,
	    db_callback, void *);
struct http_request *worker_db_answer(struct worker_ctx *,
	    struct http_pending *, struct pg_result *, enum db_outcome, int,
	    struct db_row *, const char **failure);

/* route_appointments.c */
void	route_appointments_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_appointment(struct http_request *, struct worker_ctx *,
	    const char *id);
int	appointments_uuid_valid(const char *);
const char *appointments_precheck(struct http_request *,
	    struct worker_ctx *, int64_t slot_id, int64_t count);
int	appointments_refusal(struct http_request *, const struct db_row *,
	    int64_t slot_id, int64_t count);

/* route_holds.c */
void	route_holds_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_hold_release(struct http_request *, struct worker_ctx *,
	    const char *id);

/* route_slots.c */
struct slots_query {
	int64_t		 day;
	int		 days;
	int		 available;
	int		 simple;
	int		 msgpack;	/* from Accept, not the query */
	const char	*zone;
	char		 zone_buf[128];	/* tz, when given */
};
int	slots_query_check(const char *query, const char *zone,
	    struct slots_query *, const char **code, char *detail,
	    size_t len);
void	route_slots_list(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_slot_get(struct http_request *, struct worker_ctx *,
	    const char *id);
struct emit;
void	route_slots_emit(struct emit *, const struct slot *);

/* route_slots_admin.c */
void	route_slots_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_slot_patch(struct http_request *, struct worker_ctx *,
	    const char *id);
void	route_slot_delete(struct http_request *, struct worker_ctx *,
	    const char *id);

/* route_ops.c */
void	route_healthz(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_readyz(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_metrics(struct http_request *, struct worker_ctx *,
	    const char *);

/* route.c: the route table */
typedef void (*route_handler)(struct http_request *, struct worker_ctx *,
	    const char *id);
struct route {
	const char	*pattern;	/* "/slots", "/slots/{id}" */
	int		 methods;	/* HTTP_METHOD_* bits */
	int		 metric;	/* ROUTE_* */
	route_handler	 handler;
};
const struct route *route_find(const char *path, int method,
	    const char **id, int *allowed);

/* changelog.c */
struct changelog {
	char		*seen;		/* snapshot of the last read */
	char		*next_seen;	/* ... of the read under way */
	time_t		 seen_at;
	char		 prune_below[24];	/* an xid all have read past */
	time_t		 prune_at;	/* when it was the oldest running */
	int		 failing;
};
int	changelog_send_position(struct pg_conn *);
void	changelog_loaded_from(struct changelog *, struct pg_result *);
int	changelog_send_read(struct changelog *, struct pg_conn *);
void	changelog_apply(struct changelog *, struct pg_result *,
	    struct slot_table *, int max_slots);
void	changelog_read_done(struct changelog *, int failed);
int	changelog_send_prune(struct changelog *, struct pg_conn *);
void	changelog_pruned(struct changelog *, int failed);
int	changelog_stale(const struct changelog *);
void	changelog_clear(struct changelog *);

/* syncer.c */
int	syncer_main(struct config *, struct slot_table *);

/* notify.c: the service manager's notification protocol */
void	notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t notify_watchdog_usec(void);

/* master.c */
int	master_main(struct config *);
int	master_listen(const char *what, const char *host, const char *port);

/* migrate.c */
struct migration {
	const char	*name;
	const char	*sql;
};
extern const struct migration	migrations[];
extern const size_t		nmigrations;
int	migrate_run(const struct config *);

/* dump.c */
int	dump_table(const struct config *, FILE *);

#endif
