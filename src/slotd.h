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
extern const char *const log_level_names[];
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

/* alloc.c */
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);

/* signals.c */
#define SIGNALS_MAX	4
struct signal_watch {
	struct event	*ev[SIGNALS_MAX];
	size_t		 n;
};
void	signals_watch(struct signal_watch *, struct event_base *,
	    const int *sigs, size_t n, void (*)(int, short, void *), void *);
void	signals_unwatch(struct signal_watch *);
void	signals_child(void);

/* tz.c: time zones, each read once from the IANA database and kept */
int	 tz_check_name(const char *, const char **why);
int	 tz_valid_name(const char *);
int	 tz_use(const char *);
int	 tz_local_to_utc(int64_t days, int minute, int64_t t[2]);
int64_t	 tz_day_start(int64_t days);
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
size_t	 tz_format_utc(int64_t t, char *buf, size_t len);

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

struct cidr_list {
	struct cidr	range[32];
	int		n;
};

/* Delays in seconds, as "5s, 5m, 2h". */
#define DURATIONS_MAX		32
struct durations {
	int	seconds[DURATIONS_MAX];
	int	n;
};

struct time_range {
	int	start;				/* minutes after midnight */
	int	end;
};

struct time_ranges {
	struct time_range range[SLOTD_MAX_BREAKS];
	int		 n;
};

struct date_list {
	int64_t	*day;				/* sorted epoch days, owned */
	int	 n;
};

/* Opening hours: weekly windows, and windows on single dates. */
#define SCHEDULE_MAX_WINDOWS	16
#define SCHEDULE_MAX_DATES	366	/* days off, extra hours */
struct cal_window {
	unsigned		days;	/* bit n for weekday n, 0 = Sunday;
					   0 in the config: the days key's */
	struct time_range	r;
};
struct cal_extra {
	int64_t			day;	/* days since 1970-01-01 */
	struct time_range	r;
};
struct schedule_windows {
	struct cal_window	w[SCHEDULE_MAX_WINDOWS];
	int			n;
};
struct schedule_extras {
	struct cal_extra	x[SCHEDULE_MAX_DATES];
	int			n;
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
	int		 max_streams;
	/* [database] */
	char		*conninfo;
	int		 pool_size;
	int		 queue_size;
	/* [schedule] */
	char		*timezone;
	unsigned	 days;			/* bit n: weekday n, 0 = Sunday */
	struct schedule_windows hours;
	int		 slot_minutes;
	int		 gap_minutes;
	int		 capacity;
	int		 max_slots_per_appointment;
	struct time_ranges breaks;
	struct date_list days_off;
	struct schedule_extras extra_hours;
	int		 horizon_days;
	int		 min_notice_minutes;
	int		 max_advance_days;
	int		 cancel_notice_minutes;
	/* [holds] */
	int		 hold_ttl_seconds;
	/* [rate_limit]: limits apply when the section has any key */
	int		 rate_limit;
	/* [schedule] is calendar 1's when the section has any key */
	int		 schedule_given;
	int		 reads_per_second;
	int		 reads_burst;
	int		 writes_per_second;
	int		 writes_burst;
	struct cidr_list trusted;
	/* [cors] */
	char		*cors_origins;
	/* [tls] */
	char		*tls_listen;
	char		 tls_host[256];
	char		 tls_port[8];
	char		*tls_cert_file;
	char		*tls_key_file;
	/* [events] */
	int		 events_keep_days;
	/* [webhooks] */
	struct durations retry_schedule;
	int		 webhook_timeout;
	int		 webhook_concurrency;
	char		*webhook_ca_file;
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
const struct config_param *config_params(size_t *);

/* config_table.c: the operations on keys, by type */

/* What a key's field holds.  The generic operations (parse, keep over a
 * reload, free) switch on it. */
enum config_type {
	CF_INT,			/* int in min..max */
	CF_BOOL,		/* int, 0 or 1 */
	CF_ENUM,		/* int-sized enum: index of a name in names */
	CF_STRING,		/* char *, owned: length in min..max */
	CF_DAYS,		/* unsigned: bit n for weekday n, 0 = Sunday */
	CF_WINDOWS,		/* struct schedule_windows */
	CF_EXTRAS,		/* struct schedule_extras */
	CF_TIME_RANGES,		/* struct time_ranges */
	CF_DATES,		/* struct date_list, its array owned */
	CF_CIDRS,		/* struct cidr_list */
	CF_DURATIONS		/* struct durations */
};

/* One key, declared once in config.c's table. */
struct config_param {
	const char	*section;
	const char	*key;
	enum config_type type;
	const char	*defval;	/* parsed as if it stood in the file */
	int		 reloadable;
	size_t		 offset;	/* of the field in struct config */
	size_t		 size;		/* of the field: must be the type's */
	long		 min;		/* CF_INT: value; CF_STRING: length */
	long		 max;
	const char *const *names;	/* CF_ENUM, ending with NULL */
	/* CF_STRING, optional: refuses a value, or sets fields derived from
	 * it; before the length is checked */
	int		(*check)(const char *, struct config *, char *, size_t);
	const char	*help;
};
#define CONFIG_FIELD(f)	offsetof(struct config, f), \
			sizeof(((struct config *)0)->f)

int		 config_table_set(const struct config_param *, const char *,
		    struct config *, char *, size_t);
int		 config_table_check(const struct config_param *, size_t,
		    char *, size_t);
void		 config_table_keep(const struct config_param *, size_t,
		    const struct config *, struct config *);
void		 config_table_free(const struct config_param *, size_t,
		    struct config *);

/* config_value.c: pieces that values of several keys share */
int	config_value_each(const char *,
	    int (*)(const char *, size_t, void *), void *);
int	config_value_long(const char *, long, long, long *);
int	config_value_fail(char *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* balance.c: connections per worker, shared, to spread new ones */
#define BALANCE_WORKERS	256		/* [server] workers at most */
int	 balance_init(void);
void	 balance_join(int index);
void	 balance_gone(pid_t);
void	 balance_add(int delta);
int	 balance_crowded(int workers);

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
int	 cors_apply(struct http_request *, const struct config *, int allowed);

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

/* schedule_config.c: the values of [schedule] and the rules between them */
int	schedule_window(const char *, unsigned *days, struct time_range *);
int	schedule_time_range(const char *, struct time_range *);
int	schedule_date_range(const char *, int64_t *day, struct time_range *);
int	schedule_config_days(const char *, unsigned *, char *, size_t);
int	schedule_config_windows(const char *, struct schedule_windows *,
	    char *, size_t);
int	schedule_config_extras(const char *, struct schedule_extras *,
	    char *, size_t);
int	schedule_config_ranges(const char *, struct time_ranges *, char *,
	    size_t);
int	schedule_config_dates(const char *, struct date_list *, char *,
	    size_t);
int	schedule_config_check(const struct config *, char *, size_t);

/* emit.c: one document writer for JSON and MessagePack */
struct emit;
struct emit	*emit_new(struct evbuffer *, int msgpack);
void		 emit_free(struct emit *);
void		 emit_map(struct emit *, size_t n);
void		 emit_array(struct emit *, size_t n);
void		 emit_end(struct emit *);
void		 emit_key(struct emit *, const char *);
void		 emit_str(struct emit *, const char *);
void		 emit_str_or_null(struct emit *, const char *);
void		 emit_strn(struct emit *, const char *, size_t);
void		 emit_int(struct emit *, int64_t);
void		 emit_null(struct emit *);
void		 emit_bool(struct emit *, int);
#define EMIT_ESCAPE_MAX	6		/* \\u00XX */
size_t		 emit_json_escape(unsigned char, char *);
void		 emit_json_string(struct evbuffer *, const char *, size_t);

/* ical.c: the iCalendar writer (RFC 5545) */
#define ICAL_UTC_LEN	17		/* 20261124T010000Z and its NUL */
#define ICAL_CONTENT_TYPE	"text/calendar; charset=utf-8"
struct ical_event {
	const char	*uid;		/* the same for every version of it */
	int64_t		 sequence;	/* counts its revisions */
	int64_t		 created;
	int64_t		 changed;	/* DTSTAMP and LAST-MODIFIED */
	int64_t		 start;
	int64_t		 end;
	int		 cancelled;
	const char	*summary;
	const char	*description;	/* NULL: none */
};
void	ical_begin(struct evbuffer *);
void	ical_event(struct evbuffer *, const struct ical_event *);
void	ical_end(struct evbuffer *);
void	ical_line(struct evbuffer *, const char *name, const char *value,
	    int text);
void	ical_utc(int64_t, char[ICAL_UTC_LEN]);

/* db_link.c: one non-blocking libpq connection on an event loop */
struct pg_conn;
struct pg_result;
struct event;
struct db_link_params {
	const char	*conninfo;
	const char	*app;		/* fallback_application_name */
	const char	*options;	/* server options, or NULL */
};
struct db_link_ops {
	void	(*up)(void *);		/* connected: start talking */
	void	(*result)(struct pg_result *, void *);	/* to clear */
	void	(*done)(void *);	/* the statement in flight is over */
	void	(*idle)(void *);	/* input while none is (or NULL) */
	void	(*down)(void *);	/* lost; connecting again later */
};
struct db_link {
	struct event_base	*base;
	struct pg_conn		*conn;
	struct event		*ev;
	struct event		*ev_timeout;	/* connecting too long */
	struct event		*ev_retry;
	const char		*conninfo;
	const char		*app;
	const char		*options;
	const struct db_link_ops *ops;
	void			*arg;
	char			 name[32];	/* in log lines */
	int			 connecting;
	int			 busy;		/* a statement in flight */
	int			 backoff_ms;
};
struct pg_conn	*db_connect_start(const char *conninfo, const char *app,
		    const char *options);
void		 db_link_init(struct db_link *, struct event_base *,
		    const char *name, const struct db_link_params *,
		    const struct db_link_ops *, void *);
void		 db_link_connect(struct db_link *);
int		 db_link_sent(struct db_link *, int ok);
void		 db_link_fail(struct db_link *, const char *what);
void		 db_link_healthy(struct db_link *);
int		 db_link_usable(const struct db_link *);
void		 db_link_free(struct db_link *);
struct timeval;
void		 db_link_rest(const struct timeval *sent, int times,
		    struct timeval *rest);

/* db_statements.c: the workers' statements, their parameters and columns */
enum db_stmt {
	DB_BOOK, DB_CANCEL, DB_HOLD, DB_RELEASE, DB_CREATE_SLOTS,
	DB_SET_CAPACITY, DB_DELETE_SLOT, DB_GET_APPOINTMENT, DB_ANNOUNCE,
	DB_BOOK_ONE, DB_BOOK_LEAN, DB_BOOK_BATCH, DB_CALENDAR_GET,
	DB_CALENDAR_PAGE, DB_CALENDAR_CREATE, DB_CALENDAR_UPDATE,
	DB_CALENDAR_DELETE, DB_APPOINTMENT_PAGE, DB_MOVE, DB_EVENTS_PAGE,
	DB_WEBHOOK_CREATE, DB_WEBHOOK_GET, DB_WEBHOOK_UPDATE,
	DB_WEBHOOK_DELETE, DB_WEBHOOK_ATTEMPTS, DB_APPOINTMENT_VEVENT,
	DB_CALENDAR_FEED, DB_WAITLIST_JOIN, DB_WAITLIST_GET, DB_WAITLIST_LEAVE,
	DB_NSTMTS
};
/* Every parameter a statement may take, by name; each statement lists
 * those it takes in the order of its $n. */
enum db_arg {
	DB_ARG_SLOT, DB_ARG_COUNT, DB_ARG_NAME, DB_ARG_EMAIL, DB_ARG_NOTE,
	DB_ARG_OWNER, DB_ARG_KEY, DB_ARG_REQUEST, DB_ARG_HOLD,
	DB_ARG_APPOINTMENT, DB_ARG_ADMIN, DB_ARG_TTL, DB_ARG_STARTS,
	DB_ARG_ENDS, DB_ARG_CAPACITIES, DB_ARG_CAPACITY, DB_ARG_PAYLOAD,
	DB_ARG_CALENDAR, DB_ARG_CURSOR, DB_ARG_LIMIT, DB_ARG_TIMEZONE,
	DB_ARG_SCHEDULE, DB_ARG_RULES, DB_ARG_REVISION, DB_ARG_ROTATE,
	DB_ARG_FROM, DB_ARG_TO, DB_ARG_STATUS, DB_ARG_REASON, DB_ARG_AFTER,
	DB_ARG_WEBHOOK, DB_ARG_URL, DB_ARG_EVENTS, DB_ARG_DESCRIPTION,
	DB_ARG_SET_DESCRIPTION, DB_ARG_SECRET, DB_ARG_ENABLED, DB_ARG_TOKEN,
	DB_ARG_ENTRY, DB_NARGS
};
#define DB_MAX_PARAMS	10		/* of one statement */
struct db_args {			/* filled by db_arg, db_arg_int */
	const char	*value[DB_NARGS];	/* NULL: SQL NULL */
	char		 num[DB_NARGS][24];
	uint64_t	 given;			/* a bit per argument */
};
/* The columns of a statement's rows. */
enum db_shape {
	DB_SHAPE_RESULT,	/* type slotd_result (migration 0002) */
	DB_SHAPE_APPOINTMENT,	/* an appointments row: DB_COL_A_* */
	DB_SHAPE_ANNOUNCE,
	DB_SHAPE_CALENDAR,	/* type slotd_calendar_result (0010) */
	DB_SHAPE_EVENT,		/* type slotd_event_result (0012) */
	DB_SHAPE_WEBHOOK,	/* type slotd_webhook_result (0012) */
	DB_SHAPE_ATTEMPT,	/* type slotd_attempt_result (0012) */
	DB_SHAPE_VEVENT,	/* an appointment's, then DB_COL_V_* (0011) */
	DB_SHAPE_ENTRY		/* type slotd_entry_result (0012) */
};
enum db_result_col {
	DB_COL_OUTCOME, DB_COL_REF, DB_COL_AT, DB_COL_SLOT_IDS,
	DB_COL_SPAN_START, DB_COL_SPAN_END, DB_COL_ID, DB_COL_CALENDAR,
	DB_COL_START, DB_COL_END, DB_COL_CAPACITY, DB_COL_BOOKED,
	DB_COL_VERSION, DB_RESULT_NCOLS
};
enum db_appointment_col {
	DB_COL_A_ID, DB_COL_A_SLOT_IDS, DB_COL_A_START, DB_COL_A_END,
	DB_COL_A_STATUS, DB_COL_A_NAME, DB_COL_A_EMAIL, DB_COL_A_NOTE,
	DB_COL_A_CREATED, DB_COL_A_CALENDAR, DB_COL_A_UPDATED,
	DB_COL_A_CANCELLED, DB_COL_A_CANCEL_REASON, DB_COL_A_CURSOR,
	DB_APPOINTMENT_NCOLS
};
/* An appointment as an iCalendar VEVENT: its columns, then these. */
enum db_vevent_col {
	DB_COL_V_SEQUENCE = DB_APPOINTMENT_NCOLS, DB_COL_V_UID,
	DB_COL_V_CALENDAR_NAME, DB_VEVENT_NCOLS
};
enum db_calendar_col {
	DB_COL_C_OUTCOME, DB_COL_C_ID, DB_COL_C_NAME, DB_COL_C_TIMEZONE,
	DB_COL_C_SCHEDULE, DB_COL_C_RULES, DB_COL_C_FEED_TOKEN,
	DB_COL_C_CREATED, DB_COL_C_UPDATED, DB_COL_C_REVISION, DB_COL_C_KEPT,
	DB_COL_C_CURSOR, DB_COL_C_MANAGED, DB_CALENDAR_NCOLS
};
/* An event's row: its appointment's columns, then these (and a
 * courier's delivery, those after them). */
enum db_event_col {
	DB_COL_E_ID = DB_APPOINTMENT_NCOLS, DB_COL_E_TYPE, DB_COL_E_AT,
	DB_COL_E_ENTRY, DB_COL_E_HOLD, DB_COL_E_OFFER_EXPIRES,
	DB_COL_D_WEBHOOK, DB_COL_D_URL, DB_COL_D_SECRET, DB_COL_D_ATTEMPT,
	DB_DELIVERY_NCOLS
};
/* A waitlist entry's row (type slotd_entry_result, 0012). */
enum db_entry_col {
	DB_COL_L_OUTCOME, DB_COL_L_ID, DB_COL_L_SLOT_IDS, DB_COL_L_STATUS,
	DB_COL_L_POSITION, DB_COL_L_HOLD, DB_COL_L_OFFER_EXPIRES,
	DB_COL_L_CREATED, DB_COL_L_CALENDAR, DB_ENTRY_NCOLS
};
enum db_webhook_col {
	DB_COL_W_ID, DB_COL_W_URL, DB_COL_W_EVENTS, DB_COL_W_DESCRIPTION,
	DB_COL_W_ENABLED, DB_COL_W_CREATED, DB_COL_W_UPDATED, DB_COL_W_SECRET,
	DB_WEBHOOK_NCOLS
};
enum db_attempt_col {
	DB_COL_T_EVENT, DB_COL_T_ATTEMPT, DB_COL_T_AT, DB_COL_T_STATUS,
	DB_COL_T_ERROR, DB_COL_T_NEXT, DB_ATTEMPT_NCOLS
};
struct db_statement {
	const char	*name;		/* prepared as; src/sql/<name>.sql */
	int		 logged;	/* logs its slots itself (0008) */
	enum db_stmt	 batch;		/* its batch form; 0: none */
	enum db_shape	 shape;
	int		 nparams;
	enum db_arg	 params[DB_MAX_PARAMS];	/* $1, $2, ... */
};
void		 db_statements_init(void);
const struct db_statement *db_statement(enum db_stmt);
const char	*db_statement_sql(enum db_stmt);
void		 db_args_values(const struct db_args *, enum db_stmt,
		    const char **values);
int		 db_result_check(const struct pg_result *, enum db_stmt);
void		 db_arg(struct db_args *, enum db_arg, const char *);
void		 db_arg_int(struct db_args *, enum db_arg, int64_t);

/* db_pool.c: a worker's connections, queue and batching */
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
		    int size, int queue_max, int offer_ttl,
		    struct db_pool_counters *);
void		 db_pool_free(struct db_pool *);
int		 db_pool_query(struct db_pool *, enum db_stmt,
		    const struct db_args *, db_callback, void *);
int		 db_pool_idle(const struct db_pool *);

/* db_codec.c: rows and arrays to and from PostgreSQL's text forms */
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
struct db_appointment {
	int64_t		 id;
	int64_t		 calendar_id;
	int64_t		 slot_ids[DB_MAX_RUN];
	size_t		 nslot_ids;
	int64_t		 start;
	int64_t		 end;
	int64_t		 created;
	int64_t		 updated;
	int64_t		 cancelled;	/* 0: not cancelled */
	const char	*status;
	const char	*name;		/* NULL when not given */
	const char	*email;
	const char	*note;
	const char	*cancel_reason;
	const char	*cursor;	/* after it, in a listing */
};
/* A waitlist entry (DB_SHAPE_ENTRY, or an event's). */
struct db_entry {
	const char	*id;
	int64_t		 slot_ids[DB_MAX_RUN];
	size_t		 nslot_ids;
	const char	*status;
	int		 position;	/* 0: waits no more */
	const char	*hold_id;	/* NULL: no offer */
	int64_t		 offer_expires;	/* 0: no offer */
	int64_t		 created;
	int64_t		 calendar_id;
};
int		 db_result_row(const struct pg_result *, int, struct db_row *);
void		 db_entry_row(const struct pg_result *, int, struct db_entry *);
void		 db_appointment_row(const struct pg_result *, int,
		    struct db_appointment *);
size_t		 db_parse_ids(const char *, int64_t *, size_t);
void		 db_array_append(struct evbuffer *, int64_t);
void		 db_array_append_text(struct evbuffer *, const char *);
const char	*db_array_finish(struct evbuffer *);
const char	*db_sqlstate(const struct pg_result *);

/* metrics.c: lock-free counters shared by all processes */
enum metrics_route {
	ROUTE_SLOTS, ROUTE_SLOT, ROUTE_SLOTS_ADMIN, ROUTE_APPOINTMENTS,
	ROUTE_APPOINTMENT, ROUTE_HOLDS, ROUTE_HOLD, ROUTE_HEALTHZ,
	ROUTE_READYZ, ROUTE_METRICS, ROUTE_CALENDARS, ROUTE_CALENDARS_ADMIN,
	ROUTE_EVENTS, ROUTE_WEBHOOKS, ROUTE_WAITLIST, ROUTE_SLOTS_STREAM,
	ROUTE_OTHER, METRICS_ROUTES
};
enum metrics_booking {
	BOOKING_BOOKED, BOOKING_REPLAYED, BOOKING_KEY_REUSED,
	BOOKING_SLOT_NOT_FOUND, BOOKING_SLOT_FULL, BOOKING_SLOT_IN_PAST,
	BOOKING_NOT_CONSECUTIVE, BOOKING_HOLD_EXPIRED, BOOKING_INVALID,
	BOOKING_UNAVAILABLE, BOOKING_UNKNOWN, BOOKING_OUTSIDE_WINDOW,
	METRICS_BOOKING_OUTCOMES
};
enum metrics_event {
	METRICS_RESYNC, METRICS_RELOAD, METRICS_WORKER_RESTART,
	METRICS_SYNCER_RESTART, METRICS_HOLD_RELEASED, METRICS_COURIER_RESTART
};
enum metrics_delivery {		/* what a delivery attempt came to */
	DELIVERY_DELIVERED, DELIVERY_RETRY, DELIVERY_FAILED, DELIVERY_GONE,
	METRICS_DELIVERY_OUTCOMES
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
void	 metrics_delivery(enum metrics_delivery);
void	 metrics_events_backlog(double seconds);
void	 metrics_streams(int delta);
void	 metrics_render(struct evbuffer *, struct slot_table *);

/* utf8.c: strict UTF-8 */
int		 utf8_valid(const char *, size_t);
size_t		 utf8_char(const char *);
size_t		 utf8_length(const char *);

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
struct json_doc	*json_parse(const char *, size_t, char *err, size_t errlen);
void		 json_free(struct json_doc *);
int		 json_root_type(const struct json_doc *);
int		 json_array_items(const struct json_doc *, int tok, int *items,
		    int max);
char		*json_string(const struct json_doc *, int tok);
int		 json_is_null(const struct json_doc *, int tok);
int		 json_bool(const struct json_doc *, int tok, int *);
int		 json_fail(struct json_error *, const char *code,
		    const char *field, const char *why);
int		 json_int(const struct json_doc *, int tok, int64_t min,
		    int64_t max, int64_t *);
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
typedef void (*http_gone)(void *);
int	 http_stream_start(struct http_request *, const char *type,
	    http_gone, void *);
void	 http_stream_send(struct http_request *, const void *, size_t);

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
int	 http_peer_loopback(struct http_request *);
struct principal *http_principal(struct http_request *);
const char *http_header(struct http_request *, const char *name);
const char *http_body(struct http_request *, size_t *len);
int	 http_query_next(const char **, char *key, size_t, char *value,
	    size_t);
int	 http_query_walk(struct http_request *, int (*)(struct http_request *,
	    const char *, const char *, void *), void *);
int	 http_query_unknown(struct http_request *, const char *key);
int	 http_query_count(struct http_request *, const char *name,
	    const char *value, int max, int *);
/* The formats of answers: JSON, and those a route may offer besides. */
enum http_format {
	HTTP_FORMAT_JSON, HTTP_FORMAT_MSGPACK, HTTP_FORMAT_CALENDAR,
	HTTP_FORMATS
};
#define HTTP_OFFER(f)	(1u << (f))
enum http_format http_accept(struct http_request *, unsigned offered);
int	 http_wants_msgpack(struct http_request *);
void	 http_set_route(struct http_request *, int route);
void	 http_method_not_allowed(struct http_request *, int allowed);
void	 http_allow_list(int allowed, char *out, size_t len);
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

/* commit.c: the write path below the routes */
struct commit;
struct commit	*commit_new(struct event_base *, const struct config *,
		    struct slot_table *);
void		 commit_free(struct commit *);
int		 commit_submit(struct commit *, struct http_request *,
		    struct http_pending *, enum db_stmt, const struct db_args *,
		    db_callback, void *);
struct http_request *commit_answer(struct commit *, struct http_pending *,
		    struct pg_result *, enum db_outcome, int flags,
		    struct db_row *, const char **failure);
struct http_request *commit_rows(struct http_pending *,
		    const struct pg_result *, enum db_outcome);
void		 commit_deleted(struct commit *, int64_t slot_id);
int		 commit_settled(const struct commit *);

/* worker.c */
struct worker_ctx {
	struct config		*conf;
	struct slot_table	*table;
	struct commit		*commit;
	int			 index;
	struct slot		*slots;		/* reusable range buffer */
	size_t			 slots_cap;
};
int	worker_main(struct config *, struct slot_table *, int listen_fd,
	    int tls_fd, int index);
void	worker_request(struct http_request *, void *worker_ctx);

/* route_appointments.c */
void	route_appointments_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_appointment(struct http_request *, struct worker_ctx *,
	    const char *id);

/* appointment.c: the appointment's and the waitlist entry's documents */
void	calendar_zone_use(const struct config *, int64_t calendar_id);
void	appointment_emit(struct emit *, const struct db_appointment *);
void	appointment_send(struct http_request *, const struct config *,
	    const struct db_appointment *, int status);
void	appointment_answer(struct http_request *, const struct config *,
	    const struct pg_result *, enum db_outcome);
void	appointment_event(struct evbuffer *, const struct pg_result *, int,
	    int feed);
void	appointment_answer_event(struct http_request *,
	    const struct pg_result *, enum db_outcome);
void	appointment_page(struct http_request *, const char *name,
	    const struct pg_result *, int limit, int cursor_col,
	    void (*)(struct emit *, const struct pg_result *, int, void *),
	    void *);
void	waitlist_emit(struct emit *, const struct config *,
	    const struct db_entry *);

/* route_appointment_changes.c */
void	route_appointments_list(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_appointment_reschedule(struct http_request *,
	    struct worker_ctx *, const char *id);
void	route_appointment_cancel(struct http_request *, struct worker_ctx *,
	    const char *id);

/* event.c: the event document */
void	event_emit(struct emit *, const struct config *,
	    const struct pg_result *, int);

/* route_events.c */
void	route_events_list(struct http_request *, struct worker_ctx *,
	    const char *);

/* route_webhooks.c */
void	route_webhooks_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_webhooks_list(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_webhook(struct http_request *, struct worker_ctx *,
	    const char *id);
void	route_webhook_patch(struct http_request *, struct worker_ctx *,
	    const char *id);
void	route_webhook_deliveries(struct http_request *, struct worker_ctx *,
	    const char *id);

/* route_waitlist.c: the waitlist */
void	route_waitlist_join(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_waitlist_entry(struct http_request *, struct worker_ctx *,
	    const char *id);

/* webhook.c: Standard Webhooks secrets and signatures */
int	webhook_base64(const unsigned char *, size_t, const char *prefix,
	    char *, size_t);
int	webhook_sign(const char *secret, const char *id, int64_t timestamp,
	    const char *body, size_t, char *sig, size_t);

/* courier.c: the webhooks' deliveries */
int	courier_main(struct config *);

/* rules.c: booking rules shared by appointments and holds */
int	rules_uuid_valid(const char *);
const char *rules_precheck(struct http_request *, struct slot_table *,
	    int64_t slot_id, int64_t count);
int	rules_refusal(struct http_request *, const struct db_row *,
	    int64_t slot_id, int64_t count);
int	rules_idempotency_key(struct http_request *, const char **);
int	rules_email_plausible(const char *);
int	rules_single_line(const char *);

/* route_calendars.c */
void	route_calendars_list(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_calendars_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_calendar_get(struct http_request *, struct worker_ctx *,
	    const char *id);
void	route_calendar_patch(struct http_request *, struct worker_ctx *,
	    const char *id);
void	route_calendar_delete(struct http_request *, struct worker_ctx *,
	    const char *id);

/* route_calendar_feed.c */
void	route_calendar_feed(struct http_request *, struct worker_ctx *,
	    const char *id);

/* route_holds.c */
void	route_holds_create(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_hold_release(struct http_request *, struct worker_ctx *,
	    const char *id);

/* slots_query.c: the parameters of GET /slots */
#define SLOTS_MAX_CALENDARS	50
struct slots_query {
	int64_t		 day;
	int		 days;
	int		 available;
	int		 simple;
	int		 msgpack;	/* from Accept, not the query */
	int64_t		 calendars[SLOTS_MAX_CALENDARS];
	int		 ncalendars;
	int		 calendar_given;	/* calendar= */
	int		 limit;		/* 0: every slot */
	const char	*zone;
	int		 zone_given;	/* tz= */
	char		 zone_buf[128];	/* tz, or the first calendar's */
};
int	slots_query_check(const char *query, const char *zone,
	    struct slots_query *, const char **code, char *detail,
	    size_t len);
int	slots_query_etag(const struct slots_query *, uint64_t epoch,
	    uint64_t changes, char *, size_t);

/* slots_doc.c: the GET /slots document of a window */
#define SLOTS_ETAG_MAX	256
struct emit;
void	 slots_doc_slot(struct emit *, const struct slot *);
size_t	 slots_doc_fetch(struct slot_table *, const struct slots_query *,
	    int64_t from, int64_t to, struct slot **, size_t *);
uint64_t slots_doc_changes(struct slot_table *, const struct slots_query *,
	    int64_t from, int64_t to);
void	 slots_doc_emit(struct evbuffer *, const struct slots_query *,
	    const struct slot *, size_t);

/* stream.c: live streams of windows (GET /slots/stream) */
void	stream_init(struct event_base *, struct slot_table *);
void	stream_open(struct http_request *, const struct config *,
	    struct slot_table *, const struct slots_query *, int64_t from,
	    int64_t to);
void	stream_free(void);

/* route_slots.c */
void	route_slots_list(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_slots_stream(struct http_request *, struct worker_ctx *,
	    const char *);
void	route_slot_get(struct http_request *, struct worker_ctx *,
	    const char *id);

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
/* Who may call a route, and which rate limit it counts against. */
enum route_access {
	ACCESS_OPEN,		/* probes and metrics: no token, no limit */
	ACCESS_READ,		/* a token unless [auth] public_reads; reads */
	ACCESS_USER,		/* a token; writes */
	ACCESS_ADMIN,		/* an admin's token (loopback in mode none) */
	ACCESS_FEED		/* the address carries its credential (a feed
				   token): no bearer token; reads */
};
struct route {
	const char		*pattern;	/* "/slots", "/slots/{id}" */
	int			 methods;	/* HTTP_METHOD_* bits */
	int			 metric;	/* ROUTE_* */
	enum route_access	 access;
	route_handler		 handler;
};
#define ROUTE_ID_MAX	64		/* an {id} segment, NUL included */
const struct route *route_find(const char *path, int method,
	    char id[ROUTE_ID_MAX], int *allowed);

/* calendar.c: a calendar's schedule and rules, read from and written as
 * the calendars API's JSON */
struct cal_schedule {
	struct cal_window	hours[SCHEDULE_MAX_WINDOWS];
	int			nhours;
	int			slot_minutes;
	int			gap_minutes;
	int			capacity;
	int			horizon_days;
	struct time_ranges	breaks;
	int64_t			days_off[SCHEDULE_MAX_DATES];
	int			ndays_off;
	struct cal_extra	extra[SCHEDULE_MAX_DATES];
	int			nextra;
};
struct cal_rules {
	int	min_notice_minutes;
	int	max_advance_days;
	int	cancel_notice_minutes;
	int	max_slots_per_appointment;
};
struct calendar {
	int64_t			id;
	char			name[801];	/* 200 characters of UTF-8 */
	char			timezone[128];
	struct cal_schedule	schedule;
	struct cal_rules	rules;
	char			feed_token[80];
	int64_t			created;
	int64_t			updated;
	int64_t			revision;	/* of the row, for updates */
};
struct emit;
struct json_doc;
struct json_error;
void	calendar_defaults(struct calendar *);
void	calendar_schedule_defaults(struct cal_schedule *);
int	calendar_read(const struct json_doc *, int obj, struct calendar *,
	    int patch, int *rotate, struct json_error *);
int	calendar_read_stored(struct calendar *, const char *schedule,
	    const char *rules, struct json_error *);
void	calendar_emit(struct emit *, const struct calendar *, int admin,
	    int kept);
void	calendar_emit_schedule(struct emit *, const struct cal_schedule *);
void	calendar_emit_rules(struct emit *, const struct cal_rules *);
char	*calendar_json(const struct calendar *, int rules);

/* calendar_config.c: [schedule] as calendar 1's schedule and rules */
void	calendar_config_json(const struct config *, char **schedule,
	    char **rules);

/* calendar_dir.c: the calendars an instance knows, in shared memory */
int	caldir_init(void);
int	caldir_put(int64_t id, const char *zone, int deleted);
int	caldir_get(int64_t id, char *zone, size_t len);
void	caldir_set_loaded(void);
int	caldir_loaded(void);

/* generate.c: the syncer's making of every calendar's slots */
struct generation {
	int64_t		*due;		/* calendars to apply, in id order */
	size_t		 ndue;
	size_t		 next;
	int		 wanted;	/* a calendar changed: look again */
	time_t		 looked_at;
	time_t		 next_day;	/* a local day begins; 0: unknown */
};
int	generate_send_mirror(struct generation *, struct pg_conn *,
	    const struct config *);
int	generate_send_due(struct generation *, struct pg_conn *);
void	generate_due_result(struct generation *, struct pg_result *);
int	generate_send_next(struct generation *, struct pg_conn *);
void	generate_applied(struct generation *, struct pg_result *);
void	generate_failed(struct generation *);
int	generate_time(const struct generation *);
void	generate_clear(struct generation *);

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

/* SQL files embedded at build time (build-aux/embed-sql.sh) */
struct sql_text {
	const char	*name;		/* the file's, without .sql */
	const char	*sql;
};
extern const struct sql_text	migrations[];	/* migrations/ */
extern const size_t		n_migrations;
extern const struct sql_text	statement_texts[];	/* src/sql/ */
extern const size_t		n_statement_texts;

/* migrate.c */
int	migrate_run(const struct config *);

/* dump.c */
int	dump_table(const struct config *, FILE *);

#endif
