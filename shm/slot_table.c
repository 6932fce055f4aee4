/*
 * slot_table: the shared-memory cache of the slots table (see slot_table.h):
 * the segment, the writer lock and its repair, and the writes.  The layout
 * and the rules readers and writers keep are in slot_table_int.h.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slot_table_int.h"

static void	table_repair_locked(struct slot_table *);
static void	record_dead_push_locked(struct slot_table *, uint32_t);

static uint32_t
hash_size_for(uint32_t max_slots)
{
	uint32_t n = 16;

	while (n < 2 * (uint64_t)max_slots)
		n <<= 1;
	return n;
}

static size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Byte offsets of each part; returns the total size. */
static size_t
layout(uint32_t max_slots, struct header *h)
{
	size_t off = align64(sizeof(struct header)), slots = max_slots;
	int o, b;

	h->records_off = off;
	off = align64(off + slots * sizeof(struct record));
	h->hash_off = off;
	off = align64(off + (size_t)hash_size_for(max_slots) * sizeof(uint32_t));
	for (o = 0; o < INDEX_ORDERS; o++)
		for (b = 0; b < 2; b++) {
			h->index_off[o][b] = off;
			off = align64(off + slots * sizeof(uint32_t));
		}
	h->stack_off = off;
	off = align64(off + slots * sizeof(uint32_t));
	h->journal_off = off;
	off = align64(off + slots * sizeof(uint32_t));
	h->counters_off = off;
	off = align64(off + (size_t)CHANGE_BUCKETS * sizeof(uint64_t));
	h->cal_counters_off = off;
	off = align64(off + counter_buckets_for(max_slots) * sizeof(uint64_t));
	return off;
}

size_t
slot_table_segment_size(uint32_t max_slots)
{
	struct header h;

	return layout(max_slots, &h);
}

static void
table_bind(struct slot_table *t, void *base, size_t size)
{
	char *p = base;
	int o, b;

	t->h = base;
	t->size = size;
	t->rec = (struct record *)(p + t->h->records_off);
	t->hash = (uint32_t *)(p + t->h->hash_off);
	for (o = 0; o < INDEX_ORDERS; o++)
		for (b = 0; b < 2; b++)
			t->index[o][b] = (uint32_t *)(p + t->h->index_off[o][b]);
	t->stack = (uint32_t *)(p + t->h->stack_off);
	t->journal = (uint32_t *)(p + t->h->journal_off);
	t->counters = (uint64_t *)(p + t->h->counters_off);
	t->cal_counters = (uint64_t *)(p + t->h->cal_counters_off);
}

static int
pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Refuse to replace a segment whose creator still runs. */
static int
segment_in_use(const char *name)
{
	struct header h;
	int fd;
	ssize_t n;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1)
		return 0;
	n = read(fd, &h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || h.magic != SLOT_TABLE_MAGIC)
		return 0;
	return h.owner != getpid() && pid_alive(h.owner);
}

struct slot_table *
slot_table_create(const char *name, uint32_t max_slots)
{
	struct slot_table *t;
	struct header proto;
	struct timespec ts;
	size_t size;
	void *base;
	int fd;

	if (max_slots == 0 || max_slots > (1u << 28)) {
		errno = EINVAL;
		return NULL;
	}
	if (segment_in_use(name)) {
		errno = EADDRINUSE;
		return NULL;
	}
	shm_unlink(name);
	memset(&proto, 0, sizeof(proto));
	size = layout(max_slots, &proto);
	if ((fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600)) == -1)
		return NULL;
	if (ftruncate(fd, (off_t)size) == -1) {
		close(fd);
		shm_unlink(name);
		return NULL;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED) {
		shm_unlink(name);
		return NULL;
	}
	/* ftruncate gives zeroed pages: only the header needs filling in. */
	clock_gettime(CLOCK_REALTIME, &ts);
	proto.magic = SLOT_TABLE_MAGIC;
	proto.layout = SLOT_TABLE_LAYOUT;
	proto.max_slots = max_slots;
	proto.hash_mask = hash_size_for(max_slots) - 1;
	proto.cal_mask = (uint32_t)(counter_buckets_for(max_slots) - 1);
	proto.writing = -1;
	proto.owner = getpid();
	proto.epoch = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)getpid() << 40);
	memcpy(base, &proto, sizeof(proto));
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		munmap(base, size);
		shm_unlink(name);
		return NULL;
	}
	table_bind(t, base, size);
	return t;
}

struct slot_table *
slot_table_attach(const char *name)
{
	struct slot_table *t;
	struct header h;
	struct stat st;
	void *base;
	int fd;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || read(fd, &h, sizeof(h)) != sizeof(h) ||
	    h.magic != SLOT_TABLE_MAGIC || h.layout != SLOT_TABLE_LAYOUT ||
	    (size_t)st.st_size != slot_table_segment_size(h.max_slots)) {
		close(fd);
		errno = EPROTO;
		return NULL;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		munmap(base, (size_t)st.st_size);
		return NULL;
	}
	table_bind(t, base, (size_t)st.st_size);
	t->readonly = 1;
	return t;
}

void
slot_table_close(struct slot_table *t)
{
	if (t == NULL)
		return;
	munmap(t->h, t->size);
	free(t);
}

int
slot_table_unlink(const char *name)
{
	return shm_unlink(name);
}

/* ---- writer lock ---- */

static void
table_lock(struct slot_table *t)
{
	uint32_t self = (uint32_t)getpid(), owner;
	unsigned spins;

	for (spins = 1;; spins++) {
		owner = 0;
		if (__atomic_compare_exchange_n(&t->h->lock, &owner, self, 0,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		if (spins % 1024 == 0 && owner != 0 &&
		    !pid_alive((pid_t)owner) &&
		    __atomic_compare_exchange_n(&t->h->lock, &owner, self, 0,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			table_repair_locked(t);
			return;
		}
		if (spins < 64)
			cpu_relax();
		else
			sched_yield();
	}
}

static void
table_unlock(struct slot_table *t)
{
	__atomic_store_n(&t->h->lock, 0, __ATOMIC_RELEASE);
}

int
slot_table_release_dead(struct slot_table *t, pid_t pid)
{
	uint32_t owner = (uint32_t)pid, self = (uint32_t)getpid();

	if (!__atomic_compare_exchange_n(&t->h->lock, &owner, self, 0,
	    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	table_repair_locked(t);
	table_unlock(t);
	return 1;
}

/* ---- repair after a writer died holding the lock ---- */

static void
table_repair_locked(struct slot_table *t)
{
	struct header *h = t->h;
	int32_t w = LOAD(&h->writing);
	uint32_t i, live = 0;

	if (w >= 0 && (uint32_t)w < h->max_slots) {
		struct record *r = &t->rec[w];
		uint32_t seq = LOAD(&r->seq);

		/* Half-written, maybe even its id: drop it; the reload
		 * asked for below brings the row back. */
		if (seq & 1) {
			STORE(&r->state, RECORD_DEAD);
			STORE_REL(&r->seq, seq + 1);
		}
		h->writing = -1;
	}
	if (LOAD(&h->hash_seq) & 1)
		STORE(&h->hash_seq, LOAD(&h->hash_seq) + 1);
	hash_begin(t);
	memset(t->hash, 0, ((size_t)h->hash_mask + 1) * sizeof(uint32_t));
	h->free_top = 0;
	h->dead = 0;
	h->journal_len = 0;
	if (h->used > h->max_slots)
		h->used = h->max_slots;
	for (i = 0; i < h->used; i++) {
		uint32_t st = LOAD(&t->rec[i].state);

		if (st == RECORD_LIVE) {
			if (hash_find(t, LOAD(&t->rec[i].id)) >= 0) {
				STORE(&t->rec[i].state, RECORD_DEAD);
				record_dead_push_locked(t, i);
				continue;
			}
			hash_insert_locked(t, LOAD(&t->rec[i].id), i);
			live++;
		} else if (st == RECORD_DEAD) {
			record_dead_push_locked(t, i);
		} else {
			t->stack[h->free_top++] = i;
		}
	}
	hash_end(t);
	h->live = live;
	/* Whatever the dead writer changed without counting it: every tag
	 * moves. */
	index_publish_locked(t, INDEX_REBUILD | INDEX_RESET);
	h->repairs++;
	STORE(&h->flags[SLOT_FLAG_RESYNC], 1);
}

void
slot_table_stats(struct slot_table *t, struct slot_table_stats *st)
{
	st->max_slots = t->h->max_slots;
	st->live = LOAD(&t->h->live);
	st->epoch = t->h->epoch;
	st->changes = LOAD(&t->h->changes);
	st->repairs = LOAD(&t->h->repairs);
	st->owner = t->h->owner;
}

int
slot_table_flag(struct slot_table *t, enum slot_table_flag f)
{
	return (int)LOAD_ACQ(&t->h->flags[f]);
}

void
slot_table_set_flag(struct slot_table *t, enum slot_table_flag f, int v)
{
	STORE_REL(&t->h->flags[f], (uint32_t)v);
}

/* ---- writes ---- */

/* A removed record waits on the top of the stack for the next publish. */
static void
record_dead_push_locked(struct slot_table *t, uint32_t ri)
{
	t->stack[t->h->max_slots - 1 - t->h->dead++] = ri;
}

/* Take a free record, or -1 when the table is full. */
static int64_t
record_alloc_locked(struct slot_table *t)
{
	if (t->h->free_top > 0)
		return t->stack[--t->h->free_top];
	if (t->h->used < t->h->max_slots)
		return t->h->used++;
	return -1;
}

static void
record_kill_locked(struct slot_table *t, uint32_t ri)
{
	struct record *r = &t->rec[ri];

	hash_begin(t);
	hash_delete_locked(t, LOAD(&r->id));
	hash_end(t);
	STORE(&r->state, RECORD_DEAD);
	t->h->live--;
	record_dead_push_locked(t, ri);
	t->h->dirty = 1;
	counter_bump(t, LOAD(&r->calendar_id), LOAD(&r->start));
}

/* Insert or update by version.  A slot whose calendar or start moved gets a
 * new record (the old one dies), so the published indexes never go out of
 * order. */
enum slot_apply_result
slot_table_apply(struct slot_table *t, const struct slot *s, int flags)
{
	struct header *h;
	struct record *r;
	int64_t ri, ni;

	if (t->readonly)
		return SLOT_UNCHANGED;
	h = t->h;
	table_lock(t);
	ri = hash_find(t, s->id);
	if (ri >= 0) {
		r = &t->rec[ri];
		if (s->version <= LOAD(&r->version) &&
		    !((flags & SLOT_APPLY_LOAD) &&
		    s->version != LOAD(&r->version))) {
			/* Still seen by this load even when not newer. */
			STORE(&r->load_mark, LOAD(&h->load_mark));
			table_unlock(t);
			return SLOT_UNCHANGED;
		}
		if (LOAD(&r->start) == s->start &&
		    LOAD(&r->calendar_id) == s->calendar_id) {
			record_write_locked(t, (uint32_t)ri, s, RECORD_LIVE);
			counter_bump(t, s->calendar_id, s->start);
			table_unlock(t);
			return SLOT_UPDATED;
		}
		if ((ni = record_alloc_locked(t)) == -1) {
			table_unlock(t);
			return SLOT_TABLE_FULL;
		}
		record_kill_locked(t, (uint32_t)ri);
	} else {
		if ((flags & SLOT_APPLY_UPDATE_ONLY) ||
		    (ni = record_alloc_locked(t)) == -1) {
			table_unlock(t);
			return (flags & SLOT_APPLY_UPDATE_ONLY) ?
			    SLOT_UNCHANGED : SLOT_TABLE_FULL;
		}
	}
	record_write_locked(t, (uint32_t)ni, s, RECORD_LIVE);
	hash_begin(t);
	hash_insert_locked(t, s->id, (uint32_t)ni);
	hash_end(t);
	h->live++;
	t->journal[h->journal_len++] = (uint32_t)ni;
	h->dirty = 1;
	counter_bump(t, s->calendar_id, s->start);
	table_unlock(t);
	return ri >= 0 ? SLOT_UPDATED : SLOT_INSERTED;
}

int
slot_table_remove(struct slot_table *t, int64_t id)
{
	int64_t ri;

	if (t->readonly)
		return -1;
	table_lock(t);
	if ((ri = hash_find(t, id)) < 0) {
		table_unlock(t);
		return -1;
	}
	record_kill_locked(t, (uint32_t)ri);
	table_unlock(t);
	return 0;
}

void
slot_table_publish(struct slot_table *t)
{
	if (t->readonly || !LOAD(&t->h->dirty))
		return;
	table_lock(t);
	if (t->h->dirty)
		index_publish_locked(t, 0);
	table_unlock(t);
}

void
slot_table_load_begin(struct slot_table *t)
{
	table_lock(t);
	t->h->load_mark++;
	table_unlock(t);
}

size_t
slot_table_load_sweep(struct slot_table *t)
{
	struct header *h = t->h;
	uint32_t i, mark;
	size_t removed = 0;

	table_lock(t);
	mark = h->load_mark;
	for (i = 0; i < h->used; i++) {
		struct record *r = &t->rec[i];

		if (LOAD(&r->state) != RECORD_LIVE ||
		    LOAD(&r->load_mark) == mark)
			continue;
		record_kill_locked(t, i);
		removed++;
	}
	/* As any reload: every tag moves, whatever changed. */
	index_publish_locked(t, INDEX_RESET);
	table_unlock(t);
	return removed;
}
