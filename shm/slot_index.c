/*
 * slot_index.c: the slot table's two sorted orderings of its live records,
 * by calendar (calendar, start, id) and by start (start, calendar, id), and
 * the range reads over them (part of the slot table, see slot_table_int.h).
 *
 * Each ordering is double-buffered.  A publish brings the inactive buffers
 * up to date and switches readers to them with one counter.  Usually it
 * merges the active buffer with what changed since the last publish (the
 * journal of inserted records, the stack of dead ones): a copy of the
 * record indices plus a binary search per change, no record read for the
 * rest.  Many changes, or a repair, sort everything again instead.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "slot_table_int.h"

/* A record's place in an ordering. */
struct slot_key {
	int64_t		calendar_id;
	int64_t		start;
	int64_t		id;
	uint32_t	ri;
};

#define CMP(a, b)	((a) < (b) ? -1 : (a) > (b))

static int
key_cmp(enum index_order ord, const struct slot_key *x,
    const struct slot_key *y)
{
	int c;

	if (ord == BY_CALENDAR) {
		if ((c = CMP(x->calendar_id, y->calendar_id)) == 0)
			c = CMP(x->start, y->start);
	} else if ((c = CMP(x->start, y->start)) == 0)
		c = CMP(x->calendar_id, y->calendar_id);
	return c != 0 ? c : CMP(x->id, y->id);
}

static int
key_cmp_by_calendar(const void *a, const void *b)
{
	return key_cmp(BY_CALENDAR, a, b);
}

static int
key_cmp_by_start(const void *a, const void *b)
{
	return key_cmp(BY_START, a, b);
}

static int
u32_cmp(const void *a, const void *b)
{
	return CMP(*(const uint32_t *)a, *(const uint32_t *)b);
}

static void
key_of(struct slot_table *t, uint32_t ri, struct slot_key *k)
{
	k->calendar_id = LOAD(&t->rec[ri].calendar_id);
	k->start = LOAD(&t->rec[ri].start);
	k->id = LOAD(&t->rec[ri].id);
	k->ri = ri;
}

/* The first position of idx[lo, n) whose record is not below q.  Readers
 * may see a reused record here; they retry, as index_seq tells them. */
static uint32_t
index_lower_bound(struct slot_table *t, enum index_order ord,
    const uint32_t *idx, uint32_t lo, uint32_t n, const struct slot_key *q)
{
	uint32_t hi = n, mid, ri;
	struct slot_key k;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		ri = LOAD(&idx[mid]);
		if (ri < t->h->max_slots) {
			key_of(t, ri, &k);
			if (key_cmp(ord, &k, q) < 0) {
				lo = mid + 1;
				continue;
			}
		}
		hi = mid;
	}
	return lo;
}

/* ---- publication ---- */

/* One field of a key as an unsigned number in the same order. */
static uint64_t
key_field(const struct slot_key *k, size_t field)
{
	int64_t v;

	memcpy(&v, (const char *)k + field, sizeof(v));
	return (uint64_t)v ^ (1ULL << 63);
}

/* Sort keys[0, n) by one field, keeping the order of equal ones: a radix
 * sort, a byte a pass, that skips the bytes all keys share.  tmp holds n
 * keys; returns whichever of the two holds the sorted ones. */
static struct slot_key *
index_radix(struct slot_key *keys, struct slot_key *tmp, uint32_t n,
    size_t field)
{
	uint32_t count[8][256], i, c, sum, k;
	struct slot_key *swap;
	unsigned b;
	uint64_t v;

	memset(count, 0, sizeof(count));
	for (i = 0; i < n; i++)
		for (v = key_field(&keys[i], field), b = 0; b < 8; b++)
			count[b][v >> 8 * b & 255]++;
	for (b = 0; b < 8 && n > 0; b++) {
		if (count[b][key_field(&keys[0], field) >> 8 * b & 255] == n)
			continue;
		for (c = sum = 0; c < 256; c++) {
			k = count[b][c];
			count[b][c] = sum;
			sum += k;
		}
		for (i = 0; i < n; i++)
			tmp[count[b][key_field(&keys[i], field) >> 8 * b &
			    255]++] = keys[i];
		swap = keys;
		keys = tmp;
		tmp = swap;
	}
	return keys;
}

/* Sort the live records into both orderings of buffer next; their number,
 * or -1 when memory runs out.  By id, then start, then calendar gives the
 * calendar order; by start once more, the start order. */
static int64_t
index_rebuild(struct slot_table *t, uint32_t next)
{
	static const size_t fields[] = { offsetof(struct slot_key, id),
	    offsetof(struct slot_key, start),
	    offsetof(struct slot_key, calendar_id),
	    offsetof(struct slot_key, start) };
	struct header *h = t->h;
	struct slot_key *base, *keys;
	size_t half = (size_t)h->live + 1;
	uint32_t i, n = 0, f;

	if ((base = calloc(half, 2 * sizeof(*base))) == NULL)
		return -1;
	for (i = 0; i < h->used && n < h->live; i++)
		if (LOAD(&t->rec[i].state) == RECORD_LIVE)
			key_of(t, i, &base[n++]);
	for (keys = base, f = 0; f < 4; f++) {
		keys = index_radix(keys, keys == base ? base + half : base, n,
		    fields[f]);
		if (f == 2)
			for (i = 0; i < n; i++)
				STORE(&t->index[BY_CALENDAR][next][i],
				    keys[i].ri);
	}
	for (i = 0; i < n; i++)
		STORE(&t->index[BY_START][next][i], keys[i].ri);
	free(base);
	return n;
}

/* b = a (n entries) without the positions del[] (ascending), with the
 * records ins[] (in the ordering's order) put in their places. */
static uint32_t
index_merge_one(struct slot_table *t, enum index_order ord,
    const uint32_t *a, uint32_t n, uint32_t *b, const struct slot_key *ins,
    uint32_t nins, const uint32_t *del, uint32_t ndel)
{
	uint32_t pos = 0, p, end, out = 0, di = 0, j;

	for (j = 0; j <= nins; j++) {
		p = j < nins ? index_lower_bound(t, ord, a, pos, n, &ins[j]) : n;
		/* Runs up to the next deleted position or p, without tests
		 * inside: most of a publish is this copy. */
		while (pos < p) {
			end = di < ndel && del[di] < p ? del[di] : p;
			for (; pos < end; pos++)
				STORE(&b[out++], LOAD(&a[pos]));
			if (pos < p) {
				pos++;
				di++;
			}
		}
		if (j < nins)
			STORE(&b[out++], ins[j].ri);
	}
	return out;
}

/* Buffer next = buffer cur with the changes since the last publish; the
 * number of entries, or -1 when memory runs out or the counts disagree. */
static int64_t
index_merge(struct slot_table *t, uint32_t cur, uint32_t next)
{
	struct header *h = t->h;
	uint32_t n = h->index_len[cur], nins = 0, ndel, i, p, ri, out = 0;
	struct slot_key *ins, k;
	uint32_t *del;
	int ord;

	ins = malloc(sizeof(*ins) * ((size_t)h->journal_len + 1));
	del = malloc(sizeof(*del) * ((size_t)h->dead + 1));
	if (ins == NULL || del == NULL || n > h->max_slots) {
		free(ins);
		free(del);
		return -1;
	}
	for (i = 0; i < h->journal_len; i++)
		if (LOAD(&t->rec[t->journal[i]].state) == RECORD_LIVE)
			key_of(t, t->journal[i], &ins[nins++]);
	for (ord = 0; ord < INDEX_ORDERS; ord++) {
		const uint32_t *a = t->index[ord][cur];

		/* A dead record was in the old index if its key leads to it
		 * there (keys are unique among the records of one index). */
		for (i = ndel = 0; i < h->dead; i++) {
			ri = t->stack[h->max_slots - 1 - i];
			key_of(t, ri, &k);
			p = index_lower_bound(t, ord, a, 0, n, &k);
			if (p < n && a[p] == ri)
				del[ndel++] = p;
		}
		if ((uint64_t)n - ndel + nins != h->live)
			break;
		qsort(del, ndel, sizeof(*del), u32_cmp);
		qsort(ins, nins, sizeof(*ins), ord == BY_CALENDAR ?
		    key_cmp_by_calendar : key_cmp_by_start);
		out = index_merge_one(t, ord, a, n, t->index[ord][next], ins,
		    nins, del, ndel);
	}
	free(ins);
	free(del);
	return ord == INDEX_ORDERS ? (int64_t)out : -1;
}

/* Bring the inactive buffers up to date, switch readers to them, and free
 * the records that died since the last publish.  Out of memory, the old
 * index stays: the publish stays pending, with its flags, and dead records
 * stay unused until it is done. */
void
index_publish_locked(struct slot_table *t, int flags)
{
	struct header *h = t->h;
	uint32_t seq = LOAD(&h->index_seq), cur = seq & 1, next = cur ^ 1, i;
	uint64_t work = (uint64_t)h->journal_len + h->dead;
	int64_t len = -1;
	struct record *r;

	/* Readers still scanning the inactive buffers from two switches ago
	 * must see the counter move before they can see new entries. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	flags |= (int)h->owed;
	if (!(flags & INDEX_REBUILD) && work <= h->index_len[cur] / 16 + 1024)
		len = index_merge(t, cur, next);
	if (len == -1 && (len = index_rebuild(t, next)) == -1) {
		h->owed = (uint32_t)flags;
		h->dirty = 1;
		return;
	}
	STORE(&h->index_len[next], (uint32_t)len);
	STORE_REL(&h->index_seq, seq + 1);
	h->dirty = 0;
	h->owed = 0;

	/* Inserted slots are in ranges only from now: their tags move again,
	 * so that no tag taken before the switch names the new ranges. */
	if (flags & INDEX_RESET)
		__atomic_add_fetch(&h->resets, 1, __ATOMIC_RELEASE);
	else
		for (i = 0; i < h->journal_len; i++) {
			r = &t->rec[t->journal[i]];
			if (LOAD(&r->state) == RECORD_LIVE)
				counter_bump(t, LOAD(&r->calendar_id),
				    LOAD(&r->start));
		}
	h->journal_len = 0;

	/* Readers of the old index retry now; dead records may be reused. */
	while (h->dead > 0) {
		i = t->stack[h->max_slots - h->dead];
		h->dead--;
		STORE(&t->rec[i].state, RECORD_FREE);
		t->stack[h->free_top++] = i;
	}
}

/* ---- reads ---- */

/* The live slots starting in [from, to) in one ordering, of calendar_id
 * only when by calendar; how many there are, copying at most max. */
static size_t
index_read(struct slot_table *t, enum index_order ord, int64_t calendar_id,
    int64_t from, int64_t to, struct slot *out, size_t max)
{
	struct slot_key q = { ord == BY_CALENDAR ? calendar_id : INT64_MIN,
	    from, INT64_MIN, 0 };
	uint32_t seq, n, i, ri, state;
	const uint32_t *idx;
	struct slot s;
	size_t count;

	for (;;) {
		seq = LOAD_ACQ(&t->h->index_seq);
		idx = t->index[ord][seq & 1];
		n = LOAD(&t->h->index_len[seq & 1]);
		if (n > t->h->max_slots)
			n = 0;
		count = 0;
		for (i = index_lower_bound(t, ord, idx, 0, n, &q); i < n; i++) {
			ri = LOAD(&idx[i]);
			if (ri >= t->h->max_slots)
				break;
			record_read(&t->rec[ri], &s, &state);
			if (state != RECORD_LIVE || s.start < from)
				continue;
			if (s.start >= to || (ord == BY_CALENDAR &&
			    s.calendar_id != calendar_id))
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

/* index_read into *buf, grown until everything fits; (size_t)-1, with
 * *buf as it was, when memory runs out. */
static size_t
index_read_grow(struct slot_table *t, enum index_order ord,
    int64_t calendar_id, int64_t from, int64_t to, struct slot **buf,
    size_t *cap)
{
	struct slot *p;
	size_t n;

	while ((n = index_read(t, ord, calendar_id, from, to, *buf, *cap)) >
	    *cap) {
		if ((p = reallocarray(*buf, n + n / 4, sizeof(*p))) == NULL)
			return (size_t)-1;
		*buf = p;
		*cap = n + n / 4;
	}
	return n;
}

size_t
slot_table_range(struct slot_table *t, int64_t from, int64_t to,
    struct slot *out, size_t max)
{
	return index_read(t, BY_START, 0, from, to, out, max);
}

size_t
slot_table_range_grow(struct slot_table *t, int64_t from, int64_t to,
    struct slot **buf, size_t *cap)
{
	return index_read_grow(t, BY_START, 0, from, to, buf, cap);
}

size_t
slot_table_calendar_range(struct slot_table *t, int64_t calendar_id,
    int64_t from, int64_t to, struct slot *out, size_t max)
{
	return index_read(t, BY_CALENDAR, calendar_id, from, to, out, max);
}

size_t
slot_table_calendar_range_grow(struct slot_table *t, int64_t calendar_id,
    int64_t from, int64_t to, struct slot **buf, size_t *cap)
{
	return index_read_grow(t, BY_CALENDAR, calendar_id, from, to, buf,
	    cap);
}
