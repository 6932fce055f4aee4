/*
 * slot_record.c: the slot table's records under their seqlocks and the id
 * hash that finds them (part of the slot table, see slot_table_int.h).
 */
#include <sched.h>

#include "slot_table_int.h"

void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* A consistent copy of a record and its state, retrying torn reads. */
void
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
void
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
int64_t
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

void
hash_begin(struct slot_table *t)
{
	STORE(&t->h->hash_seq, LOAD(&t->h->hash_seq) + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void
hash_end(struct slot_table *t)
{
	STORE_REL(&t->h->hash_seq, LOAD(&t->h->hash_seq) + 1);
}

void
hash_insert_locked(struct slot_table *t, int64_t id, uint32_t ri)
{
	uint32_t mask = t->h->hash_mask, i = hash_id(id) & mask;

	while (LOAD(&t->hash[i]) != 0)
		i = (i + 1) & mask;
	STORE(&t->hash[i], ri + 1);
}

void
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
