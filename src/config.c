/*
 * config: the INI file.  Every key is declared once in `params` with its
 * type, default and whether a reload may change it; defaults go through the
 * same parsers as the file, so a default can never be invalid unnoticed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "slotd.h"

struct param;
typedef int (*param_parser)(const struct param *, const char *,
    struct config *, char *, size_t);

struct param {
	const char	*section;
	const char	*key;
	param_parser	 parse;
	const char	*defval;
	int		 reloadable;
	size_t		 offset;
	long		 min;
	long		 max;
	const char	*help;
};

#define FIELD(p, c, type)	((type *)((char *)(c) + (p)->offset))

static int	parse_string(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_int(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_shm_name(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_listen(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_log_level(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_bool(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_auth_mode(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_proxies(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_timezone(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_days(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_hours(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_breaks(const struct param *, const char *,
		    struct config *, char *, size_t);
static int	parse_days_off(const struct param *, const char *,
		    struct config *, char *, size_t);

#define P(sec, key, fn, def, rel, field, lo, hi, help)			\
	{ sec, key, fn, def, rel, offsetof(struct config, field), lo, hi, help }

static const struct param params[] = {
	P("server", "listen", parse_listen, "127.0.0.1:8080", 0, listen, 0, 255,
	    "address:port to serve HTTP on; empty: HTTPS only"),
	P("server", "workers", parse_int, "0", 1, workers, 0, 256,
	    "worker processes; 0 means one per CPU"),
	P("server", "shm_name", parse_shm_name, "/slotd", 0, shm_name, 2,
	    NAME_MAX, "name of the POSIX shared-memory segment"),
	P("server", "max_slots", parse_int, "262144", 0, max_slots, 16,
	    1 << 28, "capacity of the shared slot table"),
	P("server", "log_level", parse_log_level, "info", 1, log_level, 0, 0,
	    "error, warn, info or debug"),
	P("server", "access_log", parse_bool, "on", 1, access_log, 0, 0,
	    "one log line per request: on or off"),
	P("server", "shutdown_timeout", parse_int, "10", 1, shutdown_timeout,
	    1, 3600, "seconds in-flight requests get to finish on stop"),
	P("server", "request_timeout", parse_int, "30", 1, request_timeout, 1,
	    3600, "seconds a client has to send a request, or may stay idle"),
	P("server", "max_uri_bytes", parse_int, "8192", 1, max_uri_bytes, 256,
	    1 << 20, "longest request URI (414 above)"),
	P("server", "max_header_bytes", parse_int, "16384", 1,
	    max_header_bytes, 1024, 1 << 20, "largest header block (431 above)"),
	P("server", "max_headers", parse_int, "100", 1, max_headers, 8, 10000,
	    "most header fields (431 above)"),
	P("server", "max_body_bytes", parse_int, "16384", 1, max_body_bytes,
	    1024, 1 << 20, "largest request body (413 above)"),
	P("database", "conninfo", parse_string, "", 0, conninfo, 0, 4096,
	    "libpq connection string; empty uses PG* variables"),
	P("database", "pool_size", parse_int, "4", 1, pool_size, 1, 64,
	    "database connections per worker"),
	P("database", "queue_size", parse_int, "128", 1, queue_size, 0,
	    100000, "writes that may wait per worker when all are busy"),
	P("schedule", "timezone", parse_timezone, "UTC", 1, timezone, 1, 127,
	    "IANA time zone of the schedule"),
	P("schedule", "days", parse_days, "mon-fri", 1, days, 0, 0,
	    "open weekdays: mon-fri, mon,wed,fri, ..."),
	P("schedule", "hours", parse_hours, "09:00-18:00", 1, hours, 0, 0,
	    "opening hours HH:MM-HH:MM"),
	P("schedule", "slot_minutes", parse_int, "30", 1, slot_minutes, 5,
	    24 * 60, "length of one slot"),
	P("schedule", "capacity", parse_int, "1", 1, capacity, 1, 100000,
	    "seats per generated slot"),
	P("schedule", "max_slots_per_appointment", parse_int, "1", 1,
	    max_slots_per_appointment, 1, 5,
	    "consecutive slots one appointment may book"),
	P("schedule", "breaks", parse_breaks, "", 1, breaks, 0, 0,
	    "closed periods, HH:MM-HH:MM, comma separated"),
	P("schedule", "days_off", parse_days_off, "", 1, days_off, 0, 0,
	    "closed dates, YYYY-MM-DD, comma separated"),
	P("schedule", "horizon_days", parse_int, "60", 1, horizon_days, 1,
	    3660, "days ahead for which slots exist"),
	P("holds", "ttl_seconds", parse_int, "300", 1, hold_ttl_seconds, 10,
	    86400, "how long a hold keeps its seats"),
	P("rate_limit", "reads_per_second", parse_int, "50", 1,
	    reads_per_second, 1, 100000, "GET /slots tokens per second"),
	P("rate_limit", "reads_burst", parse_int, "100", 1, reads_burst, 1,
	    10000, "GET /slots bucket size"),
	P("rate_limit", "writes_per_second", parse_int, "5", 1,
	    writes_per_second, 1, 100000, "write tokens per second"),
	P("rate_limit", "writes_burst", parse_int, "10", 1, writes_burst, 1,
	    10000, "write bucket size"),
	P("rate_limit", "trusted_proxies", parse_proxies, "", 1, trusted, 0, 0,
	    "proxies whose X-Forwarded-For is believed (CIDR list)"),
	P("tls", "listen", parse_listen, "", 0, tls_listen, 0, 255,
	    "address:port to serve HTTPS on; empty: none"),
	P("tls", "cert_file", parse_string, "", 1, tls_cert_file, 0, 4096,
	    "certificate chain, PEM"),
	P("tls", "key_file", parse_string, "", 1, tls_key_file, 0, 4096,
	    "private key, PEM"),
	P("cors", "allow_origins", parse_string, "", 1, cors_origins, 0, 4096,
	    "origins browsers may call from (comma separated)"),
	P("auth", "mode", parse_auth_mode, "none", 1, auth_jwt, 0, 0,
	    "none (development) or jwt"),
	P("auth", "jwt_secret_file", parse_string, "", 1, jwt_secret_file, 0,
	    4096, "HS256 shared secret, raw bytes"),
	P("auth", "jwt_public_key_file", parse_string, "", 1,
	    jwt_public_key_file, 0, 4096, "RS256 or ES256 public key, PEM"),
	P("auth", "issuer", parse_string, "", 1, jwt_issuer, 0, 1024,
	    "required iss claim; empty: not checked"),
	P("auth", "audience", parse_string, "", 1, jwt_audience, 0, 1024,
	    "required aud claim; empty: not checked"),
	P("auth", "admin_role", parse_string, "admin", 1, admin_role, 1, 255,
	    "role claim that makes a token an admin's"),
	P("auth", "public_reads", parse_bool, "true", 1, public_reads, 0, 0,
	    "GET /slots without a token"),
};
#define NPARAMS	(sizeof(params) / sizeof(params[0]))

static int
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
parse_string(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	char **field = FIELD(p, c, char *);
	size_t len = strlen(v);

	if ((long)len < p->min || (long)len > p->max)
		return fail(err, errlen, "length must be %ld..%ld", p->min,
		    p->max);
	free(*field);
	*field = xstrdup(v);
	return 0;
}

static int
parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	if (*v == '\0' || (!isdigit((unsigned char)*v) && *v != '-'))
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int
parse_int(const struct param *p, const char *v, struct config *c, char *err,
    size_t errlen)
{
	long n;

	if (parse_long(v, p->min, p->max, &n) == -1)
		return fail(err, errlen, "'%s' is not an integer in %ld..%ld",
		    v, p->min, p->max);
	*FIELD(p, c, int) = (int)n;
	return 0;
}

static int
parse_bool(const struct param *p, const char *v, struct config *c, char *err,
    size_t errlen)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*FIELD(p, c, int) = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return fail(err, errlen, "'%s' is not on or off", v);
}

static int
proxy_item(const char *s, size_t len, void *arg)
{
	struct config *c = arg;

	struct cidr_list *l = &c->trusted;

	if (l->n == (int)(sizeof(l->range) / sizeof(l->range[0])) ||
	    ratelimit_parse_cidr(s, len, &l->range[l->n]) == -1)
		return -1;
	l->n++;
	return 0;
}

static int
parse_proxies(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	(void)p;
	c->trusted.n = 0;
	if (*v != '\0' && config_value_each(v, proxy_item, c) == -1)
		return fail(err, errlen, "'%s' is not a list of at most 32 "
		    "addresses or ranges like 10.0.0.0/8", v);
	return 0;
}

static int
parse_auth_mode(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	if (strcmp(v, "none") != 0 && strcmp(v, "jwt") != 0)
		return fail(err, errlen, "'%s' is not none or jwt", v);
	*FIELD(p, c, int) = strcmp(v, "jwt") == 0;
	return 0;
}

/* A name every shm_open(3) takes: "/" and then a name without "/" (nor
 * "." or "..", which name directories). */
static int
parse_shm_name(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	if (v[0] != '/' || strchr(v + 1, '/') != NULL ||
	    strcmp(v, "/.") == 0 || strcmp(v, "/..") == 0)
		return fail(err, errlen, "'%s' is not '/' and a name without "
		    "'/' (nor . or ..)", v);
	return parse_string(p, v, c, err, errlen);
}

static int
parse_listen(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	const char *colon = strrchr(v, ':'), *host = v;
	int tls = p->offset == offsetof(struct config, tls_listen);
	char *h = tls ? c->tls_host : c->listen_host;
	char *port_out = tls ? c->tls_port : c->listen_port;
	size_t hostlen;
	long port;

	if (*v == '\0') {
		h[0] = port_out[0] = '\0';
		return parse_string(p, v, c, err, errlen);
	}
	if (colon == NULL || parse_long(colon + 1, 1, 65535, &port) == -1)
		return fail(err, errlen, "'%s' is not address:port", v);
	hostlen = (size_t)(colon - v);
	if (hostlen >= 2 && v[0] == '[' && v[hostlen - 1] == ']') {
		host++;
		hostlen -= 2;
	}
	if (hostlen == 0 || hostlen >= sizeof(c->listen_host))
		return fail(err, errlen, "'%s' has no usable address", v);
	memcpy(h, host, hostlen);
	h[hostlen] = '\0';
	snprintf(port_out, sizeof(c->listen_port), "%ld", port);
	return parse_string(p, v, c, err, errlen);
}

static int
parse_log_level(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	if (log_level_parse(v, FIELD(p, c, enum log_level)) == -1)
		return fail(err, errlen,
		    "'%s' is not one of error, warn, info, debug", v);
	return 0;
}

static int
parse_timezone(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	const char *why;

	if (tz_check_name(v, &why) == -1)
		return fail(err, errlen, "'%s': %s", v, why);
	return parse_string(p, v, c, err, errlen);
}

/* [schedule] values: schedule_config.c's. */
static int
parse_days(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	return schedule_config_days(v, FIELD(p, c, unsigned), err, errlen);
}

static int
parse_hours(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	return schedule_config_range(v, FIELD(p, c, struct time_range), err,
	    errlen);
}

static int
parse_breaks(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	return schedule_config_ranges(v, FIELD(p, c, struct time_ranges), err,
	    errlen);
}

static int
parse_days_off(const struct param *p, const char *v, struct config *c,
    char *err, size_t errlen)
{
	return schedule_config_dates(v, FIELD(p, c, struct date_list), err,
	    errlen);
}

/* ---- loading ---- */

struct load_state {
	struct config	*conf;
	unsigned char	 seen[NPARAMS];
	char		 err[512];
};

static const struct param *
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
	const struct param *p;
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
	if (st->seen[p - params]++) {
		snprintf(st->err, sizeof(st->err), "[%s] %s: set twice",
		    section, key);
		return 0;
	}
	if (p->parse(p, value, st->conf, why, sizeof(why)) == -1) {
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
	struct config *c = xcalloc(1, sizeof(*c));
	char why[384];
	size_t i;

	for (i = 0; i < NPARAMS; i++) {
		if (params[i].parse(&params[i], params[i].defval, c, why,
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
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NPARAMS; i++)
		if (params[i].parse == parse_string ||
		    params[i].parse == parse_shm_name ||
		    params[i].parse == parse_listen ||
		    params[i].parse == parse_timezone)
			free(*FIELD(&params[i], c, char *));
	auth_free(c);
	free(c->days_off.day);
	free(c->path);
	free(c);
}

/* After a reload: keys that need a restart keep their running values, and
 * each one that changed is logged. */
void
config_keep_restart_keys(const struct config *old, struct config *new)
{
	const struct param *p;
	char **o, **n;
	size_t i;

	for (i = 0; i < NPARAMS; i++) {
		p = &params[i];
		if (p->reloadable)
			continue;
		if (p->parse == parse_int) {
			if (*FIELD(p, old, int) == *FIELD(p, new, int))
				continue;
			*FIELD(p, new, int) = *FIELD(p, old, int);
		} else {
			o = FIELD(p, old, char *);
			n = FIELD(p, new, char *);
			if (strcmp(*o, *n) == 0)
				continue;
			free(*n);
			*n = xstrdup(*o);
		}
		if (p->parse == parse_listen) {
			memcpy(new->listen_host, old->listen_host,
			    sizeof(new->listen_host));
			memcpy(new->listen_port, old->listen_port,
			    sizeof(new->listen_port));
			memcpy(new->tls_host, old->tls_host,
			    sizeof(new->tls_host));
			memcpy(new->tls_port, old->tls_port,
			    sizeof(new->tls_port));
		}
		log_warnx("reload: [%s] %s changed but needs a restart; the "
		    "running value stays", p->section, p->key);
	}
}

/* The declared keys, for documentation checks. */
size_t
config_param_count(void)
{
	return NPARAMS;
}

void
config_param_name(size_t i, const char **section, const char **key)
{
	*section = params[i].section;
	*key = params[i].key;
}
