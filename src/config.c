/*
 * config: the INI file.  Every key is declared once in `params` with its
 * type, default and whether a reload may change it; defaults go through the
 * same parsers as the file, so a default can never be invalid unnoticed.
 * What a type means (parsing, keeping, freeing) is config_table.c's.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "slotd.h"

#define P(sec, key, type, def, rel, field, lo, hi, help)		\
	{ sec, key, type, def, rel, CONFIG_FIELD(field), lo, hi, NULL,	\
	    NULL, help }
/* The same for an enum's names or a string's check. */
#define PX(sec, key, type, def, rel, field, lo, hi, names, check, help)	\
	{ sec, key, type, def, rel, CONFIG_FIELD(field), lo, hi, names,	\
	    check, help }

static int	check_listen(const char *, struct config *, char *, size_t);
static int	check_tls_listen(const char *, struct config *, char *,
		    size_t);
static int	check_shm_name(const char *, struct config *, char *, size_t);
static int	check_timezone(const char *, struct config *, char *, size_t);

static const char *const auth_modes[] = { "none", "jwt", NULL };

static const struct config_param params[] = {
	PX("server", "listen", CF_STRING, "127.0.0.1:8080", 0, listen, 0, 255,
	    NULL, check_listen,
	    "address:port to serve HTTP on; empty: HTTPS only"),
	P("server", "workers", CF_INT, "0", 1, workers, 0, 256,
	    "worker processes; 0 means one per CPU"),
	PX("server", "shm_name", CF_STRING, "/slotd", 0, shm_name, 2,
	    NAME_MAX, NULL, check_shm_name,
	    "name of the POSIX shared-memory segment"),
	P("server", "max_slots", CF_INT, "262144", 0, max_slots, 16,
	    1 << 28, "capacity of the shared slot table"),
	PX("server", "log_level", CF_ENUM, "info", 1, log_level, 0, 0,
	    log_level_names, NULL, "error, warn, info or debug"),
	P("server", "access_log", CF_BOOL, "on", 1, access_log, 0, 0,
	    "one log line per request: on or off"),
	P("server", "shutdown_timeout", CF_INT, "10", 1, shutdown_timeout,
	    1, 3600, "seconds in-flight requests get to finish on stop"),
	P("server", "request_timeout", CF_INT, "30", 1, request_timeout, 1,
	    3600, "seconds a client has to send a request, or may stay idle"),
	P("server", "max_uri_bytes", CF_INT, "8192", 1, max_uri_bytes, 256,
	    1 << 20, "longest request URI (414 above)"),
	P("server", "max_header_bytes", CF_INT, "16384", 1,
	    max_header_bytes, 1024, 1 << 20, "largest header block (431 above)"),
	P("server", "max_headers", CF_INT, "100", 1, max_headers, 8, 10000,
	    "most header fields (431 above)"),
	P("server", "max_body_bytes", CF_INT, "16384", 1, max_body_bytes,
	    1024, 1 << 20, "largest request body (413 above)"),
	P("server", "max_streams", CF_INT, "1024", 1, max_streams, 1,
	    1 << 20, "live streams (GET /slots/stream) per worker (503 "
	    "above)"),
	P("database", "conninfo", CF_STRING, "", 0, conninfo, 0, 4096,
	    "libpq connection string; empty uses PG* variables"),
	P("database", "pool_size", CF_INT, "4", 1, pool_size, 1, 64,
	    "database connections per worker"),
	P("database", "queue_size", CF_INT, "128", 1, queue_size, 0,
	    100000, "writes that may wait per worker when all are busy"),
	PX("schedule", "timezone", CF_STRING, "UTC", 1, timezone, 1, 127,
	    NULL, check_timezone, "IANA time zone of the schedule"),
	P("schedule", "days", CF_DAYS, "mon-fri", 1, days, 0, 0,
	    "open weekdays: mon-fri, mon,wed,fri, ..."),
	P("schedule", "hours", CF_WINDOWS, "09:00-18:00", 1, hours, 0, 0,
	    "opening hours HH:MM-HH:MM on the days above, or weekly windows: "
	    "mon-thu 09:00-18:00, fri 09:00-13:00"),
	P("schedule", "slot_minutes", CF_INT, "30", 1, slot_minutes, 5,
	    24 * 60, "length of one slot"),
	P("schedule", "gap_minutes", CF_INT, "0", 1, gap_minutes, 0, 24 * 60,
	    "minutes between one slot's end and the next one's start"),
	P("schedule", "capacity", CF_INT, "1", 1, capacity, 1, 100000,
	    "seats per generated slot"),
	P("schedule", "max_slots_per_appointment", CF_INT, "1", 1,
	    max_slots_per_appointment, 1, 5,
	    "consecutive slots one appointment may book"),
	P("schedule", "breaks", CF_TIME_RANGES, "", 1, breaks, 0, 0,
	    "closed periods, HH:MM-HH:MM, comma separated"),
	P("schedule", "days_off", CF_DATES, "", 1, days_off, 0, 0,
	    "closed dates, YYYY-MM-DD, comma separated"),
	P("schedule", "extra_hours", CF_EXTRAS, "", 1, extra_hours, 0, 0,
	    "windows on single dates, YYYY-MM-DD HH:MM-HH:MM, comma "
	    "separated"),
	P("schedule", "horizon_days", CF_INT, "60", 1, horizon_days, 1,
	    3660, "days ahead for which slots exist"),
	P("schedule", "min_notice_minutes", CF_INT, "0", 1,
	    min_notice_minutes, 0, 527040,
	    "a slot is taken at least this long before it starts (0: any)"),
	P("schedule", "max_advance_days", CF_INT, "0", 1, max_advance_days,
	    0, 3660, "a slot is taken at most this many days ahead (0: any)"),
	P("schedule", "cancel_notice_minutes", CF_INT, "0", 1,
	    cancel_notice_minutes, 0, 527040,
	    "an appointment is cancelled up to this long before (0: any)"),
	P("holds", "ttl_seconds", CF_INT, "300", 1, hold_ttl_seconds, 10,
	    86400, "how long a hold keeps its seats"),
	P("rate_limit", "reads_per_second", CF_INT, "50", 1,
	    reads_per_second, 1, 100000, "GET /slots tokens per second"),
	P("rate_limit", "reads_burst", CF_INT, "100", 1, reads_burst, 1,
	    10000, "GET /slots bucket size"),
	P("rate_limit", "writes_per_second", CF_INT, "5", 1,
	    writes_per_second, 1, 100000, "write tokens per second"),
	P("rate_limit", "writes_burst", CF_INT, "10", 1, writes_burst, 1,
	    10000, "write bucket size"),
	P("rate_limit", "trusted_proxies", CF_CIDRS, "", 1, trusted, 0, 0,
	    "proxies whose X-Forwarded-For is believed (CIDR list)"),
	PX("tls", "listen", CF_STRING, "", 0, tls_listen, 0, 255, NULL,
	    check_tls_listen, "address:port to serve HTTPS on; empty: none"),
	P("tls", "cert_file", CF_STRING, "", 1, tls_cert_file, 0, 4096,
	    "certificate chain, PEM"),
	P("tls", "key_file", CF_STRING, "", 1, tls_key_file, 0, 4096,
	    "private key, PEM"),
	P("cors", "allow_origins", CF_STRING, "", 1, cors_origins, 0, 4096,
	    "origins browsers may call from (comma separated)"),
	P("events", "keep_days", CF_INT, "30", 1, events_keep_days, 0, 3650,
	    "days events (and their deliveries) are kept; 0: for ever"),
	P("webhooks", "retry_schedule", CF_DURATIONS,
	    "5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h", 1, retry_schedule, 0, 0,
	    "delays before each new attempt of a failed delivery"),
	P("webhooks", "timeout", CF_INT, "15", 1, webhook_timeout, 1, 300,
	    "seconds a receiver has to answer a delivery"),
	P("webhooks", "concurrency", CF_INT, "32", 1, webhook_concurrency, 1,
	    1024, "deliveries in flight per instance"),
	P("webhooks", "ca_file", CF_STRING, "", 1, webhook_ca_file, 0, 4096,
	    "CA certificates (PEM) receivers' certificates are checked "
	    "against; empty: the system's"),
	PX("auth", "mode", CF_ENUM, "none", 1, auth_jwt, 0, 0, auth_modes,
	    NULL, "none (development) or jwt"),
	P("auth", "jwt_secret_file", CF_STRING, "", 1, jwt_secret_file, 0,
	    4096, "HS256 shared secret, raw bytes"),
	P("auth", "jwt_public_key_file", CF_STRING, "", 1,
	    jwt_public_key_file, 0, 4096, "RS256 or ES256 public key, PEM"),
	P("auth", "issuer", CF_STRING, "", 1, jwt_issuer, 0, 1024,
	    "required iss claim; empty: not checked"),
	P("auth", "audience", CF_STRING, "", 1, jwt_audience, 0, 1024,
	    "required aud claim; empty: not checked"),
	P("auth", "admin_role", CF_STRING, "admin", 1, admin_role, 1, 255,
	    "role claim that makes a token an admin's"),
	P("auth", "public_reads", CF_BOOL, "true", 1, public_reads, 0, 0,
	    "GET /slots without a token"),
};
#define NPARAMS	(sizeof(params) / sizeof(params[0]))

/* A name every shm_open(3) takes: "/" and then a name without "/" (nor
 * "." or "..", which name directories). */
static int
check_shm_name(const char *v, struct config *c, char *err, size_t errlen)
{
	(void)c;
	if (v[0] != '/' || strchr(v + 1, '/') != NULL ||
	    strcmp(v, "/.") == 0 || strcmp(v, "/..") == 0)
		return config_value_fail(err, errlen, "'%s' is not '/' and a "
		    "name without '/' (nor . or ..)", v);
	return 0;
}

/* address:port into host and port; "" into "" and "". */
static int
split_listen(const char *v, char host[256], char port[8], char *err,
    size_t errlen)
{
	const char *colon = strrchr(v, ':'), *h = v;
	size_t hostlen;
	long n;

	if (*v == '\0') {
		host[0] = port[0] = '\0';
		return 0;
	}
	if (colon == NULL || config_value_long(colon + 1, 1, 65535, &n) == -1)
		return config_value_fail(err, errlen, "'%s' is not "
		    "address:port", v);
	hostlen = (size_t)(colon - v);
	if (hostlen >= 2 && v[0] == '[' && v[hostlen - 1] == ']') {
		h++;
		hostlen -= 2;
	}
	if (hostlen == 0 || hostlen >= 256)
		return config_value_fail(err, errlen, "'%s' has no usable "
		    "address", v);
	memcpy(host, h, hostlen);
	host[hostlen] = '\0';
	snprintf(port, 8, "%ld", n);
	return 0;
}

static int
check_listen(const char *v, struct config *c, char *err, size_t errlen)
{
	return split_listen(v, c->listen_host, c->listen_port, err, errlen);
}

static int
check_tls_listen(const char *v, struct config *c, char *err, size_t errlen)
{
	return split_listen(v, c->tls_host, c->tls_port, err, errlen);
}

static int
check_timezone(const char *v, struct config *c, char *err, size_t errlen)
{
	const char *why;

	(void)c;
	if (tz_check_name(v, &why) == -1)
		return config_value_fail(err, errlen, "'%s': %s", v, why);
	return 0;
}

/* ---- loading ---- */

struct load_state {
	struct config	*conf;
	unsigned char	 seen[NPARAMS];
	char		 err[512];
};

static const struct config_param *
param_find(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].section, section) == 0 &&
		    strcmp(params[i].key, key) == 0)
			return &params[i];
	return NULL;
}

static int
config_ini_line(void *user, const char *section, const char *key,
    const char *value)
{
	struct load_state *st = user;
	const struct config_param *p;
	char why[384];

	if (st->err[0] != '\0')
		return 1;	/* report the first error only */
	if ((p = param_find(section, key)) == NULL) {
		snprintf(st->err, sizeof(st->err), "[%s] %s: unknown key",
		    section, key);
		return 0;
	}
	if (strcmp(section, "rate_limit") == 0)
		st->conf->rate_limit = 1;
	if (strcmp(section, "schedule") == 0)
		st->conf->schedule_given = 1;
	if (st->seen[p - params]++) {
		snprintf(st->err, sizeof(st->err), "[%s] %s: set twice",
		    section, key);
		return 0;
	}
	if (config_table_set(p, value, st->conf, why, sizeof(why)) == -1) {
		snprintf(st->err, sizeof(st->err), "[%s] %s: %s", section, key,
		    why);
		return 0;
	}
	return 1;
}

/* Rules that tie several keys together. */
static int
config_check(struct config *c, char *err, size_t errlen)
{
	if (auth_load(c, err, errlen) == -1 ||
	    tls_check(c, err, errlen) == -1 ||
	    schedule_config_check(c, err, errlen) == -1)
		return -1;
	return 0;
}

static struct config *
config_defaults(struct load_state *st)
{
	struct config *c;
	char why[384];
	size_t i;

	if (config_table_check(params, NPARAMS, why, sizeof(why)) == -1)
		fatalx("parameter table: %s", why);
	c = xcalloc(1, sizeof(*c));
	for (i = 0; i < NPARAMS; i++) {
		if (config_table_set(&params[i], params[i].defval, c, why,
		    sizeof(why)) == -1)
			fatalx("default of [%s] %s: %s", params[i].section,
			    params[i].key, why);
	}
	memset(st, 0, sizeof(*st));
	st->conf = c;
	return c;
}

/* After ini_parse*() returned line: the checks across keys, or NULL with
 * err set ("NAME:LINE: [s] key: why"). */
static struct config *
config_finish(struct load_state *st, int line, const char *name, char *err,
    size_t errlen)
{
	struct config *c = st->conf;
	char why[384];

	c->path = xstrdup(name);
	if (line == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", name,
		    strerror(errno));
		goto bad;
	}
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto bad;
	}
	if (line > 0) {
		snprintf(err, errlen, "%s:%d: %s", name, line,
		    st->err[0] != '\0' ? st->err : "syntax error");
		goto bad;
	}
	if (config_check(c, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", name, why);
		goto bad;
	}
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->workers = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
	}
	return c;
bad:
	config_free(c);
	return NULL;
}

/* Parse path into a new config; NULL with err set ("FILE:LINE: [s] key:
 * why") on any problem. */
struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct load_state st;

	config_defaults(&st);
	return config_finish(&st, ini_parse(path, config_ini_line, &st), path,
	    err, errlen);
}

/* The same from text in memory; name stands for the file in errors. */
struct config *
config_load_text(const char *name, const char *text, char *err,
    size_t errlen)
{
	struct load_state st;

	config_defaults(&st);
	return config_finish(&st, ini_parse_string(text, config_ini_line, &st),
	    name, err, errlen);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	config_table_free(params, NPARAMS, c);
	auth_free(c);
	free(c->path);
	free(c);
}

/* After a reload: keys that need a restart keep their running values, and
 * each one that changed is logged. */
void
config_keep_restart_keys(const struct config *old, struct config *new)
{
	config_table_keep(params, NPARAMS, old, new);
}

/* The declared keys, for documentation checks and tests. */
const struct config_param *
config_params(size_t *n)
{
	*n = NPARAMS;
	return params;
}
