/*
 * log: one line per event on stderr, with level, process role and pid.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

static char		log_role[32] = "slotd";
static enum log_level	log_threshold = LOG_LEVEL_INFO;

/* By enum log_level; [server] log_level takes these names. */
const char *const log_level_names[] = { "error", "warn", "info", "debug",
    NULL };

void
log_init(const char *role, enum log_level level)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
	log_threshold = level;
}

void
log_set_role(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(log_role, sizeof(log_role), fmt, ap);
	va_end(ap);
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

/* One write(2) per line so that lines of several processes never mix.  A
 * message of several lines (libpq's DETAIL and CONTEXT parts) becomes one,
 * its line breaks written as "; " and other control characters as
 * spaces. */
static void
log_vline(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], line[1024];
	const char *p;
	size_t n;

	if (level > log_threshold)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	n = (size_t)snprintf(line, sizeof(line), "%s %s[%d]: ",
	    log_level_names[level], log_role, (int)getpid());
	for (p = msg; *p != '\0' && n < sizeof(line) - 3; p++) {
		if (*p != '\n')
			line[n++] = iscntrl((unsigned char)*p) ? ' ' : *p;
		else if (p[1] != '\0' && p[1] != '\n') {
			line[n++] = ';';
			line[n++] = ' ';
		}
	}
	if (errnum != 0)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

static void
log_at(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_at(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(level, 0, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_vline(level, with_errno ? saved : 0, fmt, ap);	\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* A warning at most once a second per limit; the calls in between are
 * counted, and the next line logged says how many there were. */
void
log_warnx_limited(struct log_limit *lim, const char *fmt, ...)
{
	struct timespec ts;
	char msg[768], more[64] = "";
	int64_t now;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (lim->last_ms != 0 && now - lim->last_ms < 1000) {
		lim->skipped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lim->skipped > 0)
		snprintf(more, sizeof(more), " (%d more times since the last "
		    "such line)", lim->skipped);
	log_warnx("%s%s", msg, more);
	lim->last_ms = now;
	lim->skipped = 0;
}

/* libevent's own messages, in our format. */
void
log_libevent(int severity, const char *msg)
{
	log_at(severity == EVENT_LOG_DEBUG ? LOG_LEVEL_DEBUG :
	    severity == EVENT_LOG_MSG ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
	    "libevent: %s", msg);
}

/* libpq's notice receiver: what the server says besides answers (notices,
 * warnings, the FATAL of a backend terminated while idle) and libpq's own
 * notices, in our format.  WARNING and worse are warnings, NOTICE is info,
 * anything lower debug. */
void
log_libpq(void *arg, const struct pg_result *res)
{
	const char *sev = PQresultErrorField(res,
	    PG_DIAG_SEVERITY_NONLOCALIZED);
	enum log_level level = LOG_LEVEL_WARN;

	(void)arg;
	if (sev != NULL && strcmp(sev, "NOTICE") == 0)
		level = LOG_LEVEL_INFO;
	else if (sev != NULL && (strcmp(sev, "INFO") == 0 ||
	    strcmp(sev, "LOG") == 0 || strcmp(sev, "DEBUG") == 0))
		level = LOG_LEVEL_DEBUG;
	log_at(level, "libpq: %s", PQresultErrorMessage(res));
}
