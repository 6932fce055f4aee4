/*
 * balance: how many connections each worker holds, in memory the master
 * maps before forking, so that connections arriving together spread over
 * the workers that share the listening socket.
 *
 * Every worker waiting on the socket is woken by a new connection, but the
 * one the scheduler runs first takes it: a burst (a load balancer opening
 * its pool, a client library its connections) could land on one worker and
 * stay there, as keep-alive connections do, leaving the other cores idle.
 * A worker holding more than the least loaded one lets a connection pass
 * for a moment (http_server.c), and the least loaded one takes it.
 *
 * A worker's entry is one 64-bit word, pid << 32 | connections, changed by
 * compare-and-swap, and only by the process whose pid it carries: a worker
 * of an earlier generation still draining, or one that has died, cannot
 * disturb the count of the worker that took its place.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <unistd.h>

#include "slotd.h"

#define BALANCE_SLACK		2	/* connections more than the least */
#define BALANCE_SLACK_SHARE	16	/* and one in this many */

struct balance_entry {
	uint64_t	word;		/* a cache line each: no false sharing */
} __attribute__((aligned(64)));

static struct balance_entry	*entries;	/* BALANCE_WORKERS of them */
static uint64_t			*mine;
static uint32_t			 my_pid;

#define ENTRY_PID(e)	((uint32_t)((e) >> 32))
#define ENTRY_CONNS(e)	((uint32_t)(e))

/* The master maps the shared entries, once, before forking. */
int
balance_init(void)
{
	void *p = mmap(NULL, BALANCE_WORKERS * sizeof(*entries),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	entries = p;
	return 0;
}

/* A worker takes its entry, starting from no connections. */
void
balance_join(int index)
{
	if (entries == NULL || index < 0 || index >= BALANCE_WORKERS)
		return;
	my_pid = (uint32_t)getpid();
	mine = &entries[index].word;
	__atomic_store_n(mine, (uint64_t)my_pid << 32, __ATOMIC_RELAXED);
}

/* A worker has gone: the master, on reaping any child, and a worker that
 * starts draining, on itself.  The entry it held is freed, unless a
 * successor has already taken it. */
void
balance_gone(pid_t pid)
{
	uint64_t e;
	int i;

	if (entries == NULL)
		return;
	for (i = 0; i < BALANCE_WORKERS; i++) {
		e = __atomic_load_n(&entries[i].word, __ATOMIC_RELAXED);
		while (ENTRY_PID(e) == (uint32_t)pid &&
		    !__atomic_compare_exchange_n(&entries[i].word, &e, 0, 0,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
}

/* This worker's connections went up or down by delta. */
void
balance_add(int delta)
{
	uint64_t e;

	if (mine == NULL)
		return;
	e = __atomic_load_n(mine, __ATOMIC_RELAXED);
	while (ENTRY_PID(e) == my_pid && !__atomic_compare_exchange_n(mine,
	    &e, ((uint64_t)my_pid << 32) | (uint32_t)(ENTRY_CONNS(e) + delta),
	    0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Whether this worker holds clearly more connections than the least
 * loaded of the first workers entries (its generation): then another
 * should take the next one.  The least loaded never lets one pass. */
int
balance_crowded(int workers)
{
	uint64_t e, me;
	uint32_t least = UINT32_MAX;
	int i;

	if (mine == NULL)
		return 0;
	me = __atomic_load_n(mine, __ATOMIC_RELAXED);
	if (ENTRY_PID(me) != my_pid)
		return 0;
	if (workers > BALANCE_WORKERS)
		workers = BALANCE_WORKERS;
	for (i = 0; i < workers; i++) {
		e = __atomic_load_n(&entries[i].word, __ATOMIC_RELAXED);
		if (&entries[i].word != mine && ENTRY_PID(e) != 0 &&
		    ENTRY_CONNS(e) < least)
			least = ENTRY_CONNS(e);
	}
	return least != UINT32_MAX && ENTRY_CONNS(me) > least +
	    BALANCE_SLACK + least / BALANCE_SLACK_SHARE;
}
