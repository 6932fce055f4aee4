/*
 * notify: tell systemd (Type=notify) what the service is doing: READY=1,
 * RELOADING=1, STOPPING=1, WATCHDOG=1 and STATUS= lines.  Without
 * libsystemd at build time this does nothing.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "slotd.h"

void
notify(const char *fmt, ...)
{
#ifdef HAVE_LIBSYSTEMD
	char state[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state, sizeof(state), fmt, ap);
	va_end(ap);
	if (sd_notify(0, state) < 0)
		log_warnx("%s: sd_notify failed", __func__);
#else
	(void)fmt;
#endif
}

/* The watchdog interval systemd asks for, or 0.  Unsets the variables so
 * that children do not inherit them. */
uint64_t
notify_watchdog_usec(void)
{
#ifdef HAVE_LIBSYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(1, &usec) > 0)
		return usec;
#endif
	return 0;
}
