/*
 * calendar_dir: which calendars exist and their zones, in memory shared by
 * an instance's processes, so that a read names calendars without the
 * database.  The syncer writes it (each time it looks for due calendars,
 * it passes every calendar's row), and so does a worker that has just
 * created, changed or deleted a calendar; workers read it.  An open-addressed
 * table of CALDIR_SIZE entries keyed by id; an entry, once made, keeps its
 * place (a deleted calendar is marked so), and each is guarded by its own
 * sequence count: a reader retries while a write is under way.
 */
#include <sys/mman.h>

#include <stdatomic.h>
#include <string.h>

#include "slotd.h"

#define CALDIR_SIZE	32768		/* a power of two, > the calendars */

enum caldir_state { CALDIR_EMPTY, CALDIR_LIVE, CALDIR_DELETED };

struct caldir_entry {
	_Atomic uint32_t	seq;	/* odd while being written */
	uint32_t		state;
	int64_t			id;
	char			zone[128];
};

struct caldir {
	_Atomic uint32_t	loaded;	/* a first full pass is in */
	struct caldir_entry	e[CALDIR_SIZE];
};

static struct caldir	*caldir;

/* Map the directory, before the processes that share it are forked. */
int
caldir_init(void)
{
	void *p = mmap(NULL, sizeof(struct caldir), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	caldir = p;
	return 0;
}

static size_t
caldir_home(int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 49) & (CALDIR_SIZE - 1);
}

/* The entry of id, or the empty one where it would go; NULL when full. */
static struct caldir_entry *
caldir_find(int64_t id)
{
	size_t i, n;
	struct caldir_entry *e;

	for (i = caldir_home(id), n = 0; n < CALDIR_SIZE; n++) {
		e = &caldir->e[(i + n) & (CALDIR_SIZE - 1)];
		if (atomic_load_explicit(&e->seq, memory_order_acquire) == 0 &&
		    e->state == CALDIR_EMPTY)
			return e;
		if (e->id == id)
			return e;
	}
	return NULL;
}

/* Record calendar id (its zone, or that it was deleted); -1 when the
 * directory is full. */
int
caldir_put(int64_t id, const char *zone, int deleted)
{
	struct caldir_entry *e;
	uint32_t seq;

	if (caldir == NULL || (e = caldir_find(id)) == NULL)
		return -1;
	/* Writers (the syncer, a worker that just changed the calendar)
	 * take the entry by making its count odd. */
	do {
		while ((seq = atomic_load_explicit(&e->seq,
		    memory_order_relaxed)) & 1)
			;
	} while (!atomic_compare_exchange_weak_explicit(&e->seq, &seq,
	    seq + 1, memory_order_acquire, memory_order_relaxed));
	atomic_thread_fence(memory_order_release);
	e->id = id;
	e->state = deleted ? CALDIR_DELETED : CALDIR_LIVE;
	snprintf(e->zone, sizeof(e->zone), "%s", zone);
	atomic_store_explicit(&e->seq, seq + 2, memory_order_release);
	return 0;
}

/* Whether calendar id exists; its zone into zone (len bytes). */
int
caldir_get(int64_t id, char *zone, size_t len)
{
	struct caldir_entry *e;
	uint32_t before, after;
	size_t n;
	int live;

	if (caldir == NULL || (e = caldir_find(id)) == NULL)
		return 0;
	do {
		while ((before = atomic_load_explicit(&e->seq,
		    memory_order_acquire)) & 1)
			;
		live = e->id == id && e->state == CALDIR_LIVE;
		if (live) {		/* on every read: no printf */
			n = strnlen(e->zone, sizeof(e->zone) - 1);
			n = n < len ? n : len - 1;
			memcpy(zone, e->zone, n);
			zone[n] = '\0';
		}
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&e->seq, memory_order_relaxed);
	} while (before != after);
	return live;
}

void
caldir_set_loaded(void)
{
	if (caldir != NULL)
		atomic_store_explicit(&caldir->loaded, 1, memory_order_release);
}

int
caldir_loaded(void)
{
	return caldir != NULL &&
	    atomic_load_explicit(&caldir->loaded, memory_order_acquire);
}
