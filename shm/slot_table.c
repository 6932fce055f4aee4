/*
 * slot_table: the shared-memory cache of the slots table (see slot_table.h).
 *
 * Segment layout: header, records[max_slots], hash[hash_size] (record index
 * + 1, 0 = empty), index[2][max_slots] (record indices sorted by start),
 * free stack[max_slots], change counters[CHANGE_BUCKETS].
 *
 * Concurrency:
 *  - records: per-record seqlock; readers retry while odd or changed;
 *  - hash: one seqlock (hash_seq) around each insert or backward-shift delete;
 *  - day index: the writer builds the inactive buffer and bumps index_seq;
 *    readers retry when index_seq moved while they scanned;
 *  - freed records return to the free stack only after an index switch, so
 *    a reader of the old index sees a reused record only if it will retry;
 *  - writers serialise on `lock`, which holds the owner's pid.  A waiter that
 *    finds the owner dead, or the parent reaping it, takes the lock over and
 *    rebuilds hash, index and free stack from the records (repair).
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

#include "slot_table.h"

#define SLOT_TABLE_MAGIC	0x736c6f7464746231ULL	/* "slotdtb1" */
#define SLOT_TABLE_LAYOUT	1
#define CHANGE_BUCKETS		(1u << 16)		/* hours, ~7.5 years */
#define HOUR			3600

enum record_state {
	RECORD_FREE = 0,
	RECORD_LIVE,
	RECORD_DEAD			/* removed; freed at the next publish */
};

struct record {
	uint32_t	seq;
	uint32_t	state;
	int64_t		id;
	int64_t		calendar_id;
	int64_t		start;
	int64_t		end;
	int64_t		version;
	int32_t		capacity;
	int32_t		booked;
	uint32_t	load_mark;
	uint32_t	pad;
};

struct header {
	uint64_t	magic;
	uint32_t	layout;
	uint32_t	max_slots;
	uint32_t	hash_mask;
	uint32_t	lock;		/* writer's pid, 0 when free */
	int32_t		writing;	/* record under write, -1 if none */
	uint32_t	hash_seq;
	uint32_t	index_seq;
	uint32_t	index_len[2];
	uint32_t	live;
	uint32_t	free_top;
	uint32_t	used;		/* records ever handed out */
	uint32_t	dead;		/* records waiting for publish */
	uint32_t	dirty;		/* index needs a rebuild */
	uint32_t	load_mark;
	uint32_t	repairs;
	uint32_t	flags[SLOT_FLAG_COUNT];
	pid_t		owner;
	uint64_t	epoch;
	uint64_t	changes;
	uint64_t	records_off;
	uint64_t	hash_off;
	uint64_t	index_off[2];
	uint64_t	free_off;
	uint64_t	counters_off;
};

struct slot_table {
	struct header	*h;
	struct record	*rec;
	uint32_t	*hash;
	uint32_t	*index[2];
	uint32_t	*freestack;
	uint64_t	*counters;
	size_t		 size;
	int		 readonly;
};

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void	table_repair_locked(struct slot_table *);

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
	size_t off = align64(sizeof(struct header));

	h->records_off = off;
	off = align64(off + (size_t)max_slots * sizeof(struct record));
	h->hash_off = off;
	off = align64(off + (size_t)hash_size_for(max_slots) * sizeof(uint32_t));
	h->index_off[0] = off;
	off = align64(off + (size_t)max_slots * sizeof(uint32_t));
	h->index_off[1] = off;
	off = align64(off + (size_t)max_slots * sizeof(uint32_t));
	h->free_off = off;
	off = align64(off + (size_t)max_slots * sizeof(uint32_t));
	h->counters_off = off;
	off = align64(off + (size_t)CHANGE_BUCKETS * sizeof(uint64_t));
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

	t->h = base;
	t->size = size;
	t->rec = (struct record *)(p + t->h->records_off);
	t->hash = (uint32_t *)(p + t->h->hash_off);
	t->index[0] = (uint32_t *)(p + t->h->index_off[0]);
	t->index[1] = (uint32_t *)(p + t->h->index_off[1]);
	t->freestack = (uint32_t *)(p + t->h->free_off);
	t->counters = (uint64_t *)(p + t->h->counters_off);
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
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

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

/* ---- records ---- */

static void
record_read(const struct record *r, struct slot *out, uint32_t *state)
{
	uint32_t s1, s2;
	unsigned spins = 0;

	for (;;) {
		s1 = LOAD_ACQ(&r->seq);
		if (s1 & 1) {
			if (++spins > 64)
				sched_yield();
			continue;
		}
		*state = LOAD(&r->state);
		out->id = LOAD(&r->id);
		out->calendar_id = LOAD(&r->calendar_id);
		out->start = LOAD(&r->start);
		out->end = LOAD(&r->end);
		out->version = LOAD(&r->version);
		out->capacity = LOAD(&r->capacity);
		out->booked = LOAD(&r->booked);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = LOAD(&r->seq);
		if (s1 == s2)
			return;
	}
}

/* Write a record's fields under its seqlock; the caller holds the lock. */
static void
record_write_locked(struct slot_table *t, uint32_t i, const struct slot *s,
    uint32_t state)
{
	struct record *r = &t->rec[i];
	uint32_t seq = LOAD(&r->seq);

	STORE(&t->h->writing, (int32_t)i);
	STORE(&r->seq, seq + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	STORE(&r->state, state);
	STORE(&r->id, s->id);
	STORE(&r->calendar_id, s->calendar_id);
	STORE(&r->start, s->start);
	STORE(&r->end, s->end);
	STORE(&r->version, s->version);
	STORE(&r->capacity, s->capacity);
	STORE(&r->booked, s->booked);
	STORE(&r->load_mark, LOAD(&t->h->load_mark));
	STORE_REL(&r->seq, seq + 2);
	STORE(&t->h->writing, -1);
}

static void
counter_bump(struct slot_table *t, int64_t start)
{
	uint64_t bucket = (uint64_t)(start / HOUR) & (CHANGE_BUCKETS - 1);

	__atomic_add_fetch(&t->counters[bucket], 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&t->h->changes, 1, __ATOMIC_RELAXED);
}

/* ---- id hash (linear probing, backward-shift delete) ---- */

static uint32_t
hash_id(int64_t id)
{
	uint64_t x = (uint64_t)id;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* Record index of id, or -1; the caller either holds the lock or checks
 * hash_seq around the call. */
static int64_t
hash_find(struct slot_table *t, int64_t id)
{
	uint32_t mask = t->h->hash_mask, i = hash_id(id) & mask, e;

	while ((e = LOAD(&t->hash[i])) != 0) {
		if (LOAD(&t->rec[e - 1].id) == id)
			return (int64_t)e - 1;
		i = (i + 1) & mask;
	}
	return -1;
}

static void
hash_begin(struct slot_table *t)
{
	STORE(&t->h->hash_seq, LOAD(&t->h->hash_seq) + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
hash_end(struct slot_table *t)
{
	STORE_REL(&t->h->hash_seq, LOAD(&t->h->hash_seq) + 1);
}

static void
hash_insert_locked(struct slot_table *t, int64_t id, uint32_t ri)
{
	uint32_t mask = t->h->hash_mask, i = hash_id(id) & mask;

	while (LOAD(&t->hash[i]) != 0)
		i = (i + 1) & mask;
	STORE(&t->hash[i], ri + 1);
}

static void
hash_delete_locked(struct slot_table *t, int64_t id)
{
	uint32_t mask = t->h->hash_mask, i = hash_id(id) & mask, j, home, e;

	while ((e = LOAD(&t->hash[i])) != 0 && LOAD(&t->rec[e - 1].id) != id)
		i = (i + 1) & mask;
	if (e == 0)
		return;
	/* Shift later members of the cluster back over the hole. */
	for (j = (i + 1) & mask; (e = LOAD(&t->hash[j])) != 0;
	    j = (j + 1) & mask) {
		home = hash_id(LOAD(&t->rec[e - 1].id)) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			STORE(&t->hash[i], e);
			i = j;
		}
	}
	STORE(&t->hash[i], 0);
}

/* ---- day index ---- */

struct sort_key {
	int64_t		start;
	int64_t		id;
	uint32_t	ri;
};

static int
sort_key_cmp(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

/* Build the inactive index from the live records and switch to it. */
static void
index_publish_locked(struct slot_table *t)
{
	struct header *h = t->h;
	uint32_t seq = LOAD(&h->index_seq), next = (seq + 1) & 1, i, n = 0;
	struct sort_key *keys;
	uint32_t *dst = t->index[next];

	/* Out of memory: keep the old index; the flag keeps the rebuild
	 * pending and dead records stay unused until then. */
	if ((keys = malloc(sizeof(*keys) * (h->live ? h->live : 1))) == NULL)
		return;
	for (i = 0; i < h->used && n < h->live; i++) {
		if (LOAD(&t->rec[i].state) != RECORD_LIVE)
			continue;
		keys[n].start = LOAD(&t->rec[i].start);
		keys[n].id = LOAD(&t->rec[i].id);
		keys[n].ri = i;
		n++;
	}
	qsort(keys, n, sizeof(*keys), sort_key_cmp);
	/* Readers still scanning this buffer from two switches ago must see
	 * the counter move before they can see these entries. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < n; i++)
		STORE(&dst[i], keys[i].ri);
	free(keys);
	STORE(&h->index_len[next], n);
	STORE_REL(&h->index_seq, seq + 1);
	h->dirty = 0;

	/* Readers of the old index retry now; dead records may be reused. */
	for (i = 0; i < h->used && h->dead > 0; i++) {
		if (LOAD(&t->rec[i].state) != RECORD_DEAD)
			continue;
		STORE(&t->rec[i].state, RECORD_FREE);
		t->freestack[h->free_top++] = i;
		h->dead--;
	}
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
	if (h->used > h->max_slots)
		h->used = h->max_slots;
	for (i = 0; i < h->used; i++) {
		uint32_t st = LOAD(&t->rec[i].state);

		if (st == RECORD_LIVE) {
			if (hash_find(t, LOAD(&t->rec[i].id)) >= 0) {
				STORE(&t->rec[i].state, RECORD_DEAD);
				h->dead++;
				continue;
			}
			hash_insert_locked(t, LOAD(&t->rec[i].id), i);
			live++;
		} else if (st == RECORD_DEAD) {
			h->dead++;
		} else {
			t->freestack[h->free_top++] = i;
		}
	}
	hash_end(t);
	h->live = live;
	index_publish_locked(t);
	h->repairs++;
	STORE(&h->flags[SLOT_FLAG_RESYNC], 1);
}

/* ---- reads ---- */

int
slot_table_get(struct slot_table *t, int64_t id, struct slot *out)
{
	uint32_t s1, state;
	unsigned spins = 0;
	int64_t ri;

	do {
		while ((s1 = LOAD_ACQ(&t->h->hash_seq)) & 1)
			if (++spins > 64)
				sched_yield();
			else
				cpu_relax();
		ri = hash_find(t, id);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (LOAD(&t->h->hash_seq) != s1);
	if (ri < 0)
		return -1;
	record_read(&t->rec[ri], out, &state);
	if (state != RECORD_LIVE || out->id != id)
		return -1;
	return 0;
}

size_t
slot_table_range(struct slot_table *t, int64_t from, int64_t to,
    struct slot *out, size_t max)
{
	uint32_t seq, n, lo, hi, mid, i, ri, state;
	const uint32_t *idx;
	struct slot s;
	size_t count;

	for (;;) {
		seq = LOAD_ACQ(&t->h->index_seq);
		idx = t->index[seq & 1];
		n = LOAD(&t->h->index_len[seq & 1]);
		if (n > t->h->max_slots)
			n = 0;
		lo = 0;
		hi = n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			ri = LOAD(&idx[mid]);
			if (ri < t->h->max_slots && LOAD(&t->rec[ri].start) < from)
				lo = mid + 1;
			else
				hi = mid;
		}
		count = 0;
		for (i = lo; i < n; i++) {
			ri = LOAD(&idx[i]);
			if (ri >= t->h->max_slots)
				break;
			record_read(&t->rec[ri], &s, &state);
			if (state != RECORD_LIVE || s.start < from)
				continue;
			if (s.start >= to)
				break;
			if (count < max)
				out[count] = s;
			count++;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (LOAD(&t->h->index_seq) == seq)
			return count;
	}
}

/* slot_table_range into *buf, grown until everything fits; (size_t)-1,
 * with *buf as it was, when memory runs out. */
size_t
slot_table_range_grow(struct slot_table *t, int64_t from, int64_t to,
    struct slot **buf, size_t *cap)
{
	struct slot *p;
	size_t n;

	while ((n = slot_table_range(t, from, to, *buf, *cap)) > *cap) {
		if ((p = reallocarray(*buf, n + n / 4, sizeof(*p))) == NULL)
			return (size_t)-1;
		*buf = p;
		*cap = n + n / 4;
	}
	return n;
}

uint64_t
slot_table_changes(struct slot_table *t, int64_t from, int64_t to)
{
	int64_t hour, last;
	uint64_t sum = 0;

	/* The index generation counts too: a slot that appears or moves is
	 * visible to readers only from the next index on. */
	sum = (uint64_t)LOAD_ACQ(&t->h->index_seq) << 40;
	if (to <= from)
		return sum;
	last = (to - 1) / HOUR;
	/* More hours than buckets: every bucket counts. */
	if (last - from / HOUR >= (int64_t)CHANGE_BUCKETS)
		return sum + LOAD_ACQ(&t->h->changes);
	for (hour = from / HOUR; hour <= last; hour++)
		sum += LOAD_ACQ(&t->counters[(uint64_t)hour &
		    (CHANGE_BUCKETS - 1)]);
	return sum;
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

/* Take a free record, or -1 when the table is full. */
static int64_t
record_alloc_locked(struct slot_table *t)
{
	if (t->h->free_top > 0)
		return t->freestack[--t->h->free_top];
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
	t->h->dead++;
	t->h->dirty = 1;
	counter_bump(t, LOAD(&r->start));
}

/* Insert or update by version.  A slot whose start moved gets a new record
 * (the old one dies), so the published index never goes out of order. */
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
		if (LOAD(&r->start) == s->start) {
			record_write_locked(t, (uint32_t)ri, s, RECORD_LIVE);
			counter_bump(t, s->start);
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
	h->dirty = 1;
	counter_bump(t, s->start);
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
		index_publish_locked(t);
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
	index_publish_locked(t);
	table_unlock(t);
	return removed;
}
