/*
 * signals: how each process of slotd meets signals.  The master and its
 * children each watch theirs on their event loop (signals_watch); a new
 * child first drops the master's dispositions (signals_child).  SIGPIPE is
 * ignored everywhere: a peer that went away is an error of the write, not
 * of the process.
 */
#include <signal.h>
#include <string.h>

#include <event2/event.h>

#include "slotd.h"

/* Watch the n signals sigs on base: cb(signal, EV_SIGNAL, arg). */
void
signals_watch(struct signal_watch *sw, struct event_base *base,
    const int *sigs, size_t n, void (*cb)(evutil_socket_t, short, void *),
    void *arg)
{
	size_t i;

	if (n > SIGNALS_MAX)
		fatalx("%s: %zu signals, at most %d", __func__, n, SIGNALS_MAX);
	memset(sw, 0, sizeof(*sw));
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < n; i++) {
		if ((sw->ev[i] = evsignal_new(base, sigs[i], cb, arg)) == NULL ||
		    event_add(sw->ev[i], NULL) == -1)
			fatalx("%s: signal %d cannot be watched", __func__,
			    sigs[i]);
		sw->n++;
	}
}

void
signals_unwatch(struct signal_watch *sw)
{
	size_t i;

	for (i = 0; i < sw->n; i++)
		event_free(sw->ev[i]);
	sw->n = 0;
}

/* In a new child, before it watches its own: the default actions, as
 * the master's handlers belong to the master's loop. */
void
signals_child(void)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
}
