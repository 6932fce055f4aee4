/*
 * Unit tests of the slot table by calendar: per-calendar ranges, the merged
 * all-calendars order, publish by merge against a model, slots that move
 * between calendars, the layout.  Tags and crashes: test_slot_calendar_tags.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "slot_table_test.h"

Test(slot_calendars, range_of_one_calendar_keeps_its_bounds)
{
	struct slot_table *t = fresh_table(64);
	struct slot out[16];
	int64_t from = 10 * D, to = 11 * D;

	put(t, 1, 3, from - 1);
	put(t, 2, 3, from);
	put(t, 3, 3, to - 1);
	put(t, 4, 3, to);
	put(t, 5, 3, from + H);
	put(t, 6, 2, from + H);		/* the calendars around it */
	put(t, 7, 4, from);
	put(t, 8, 4, from - 1);
	put(t, 9, 2, to - 1);
	slot_table_publish(t);

	cr_assert_eq(slot_table_calendar_range(t, 3, from, to, out, 16), 3);
	cr_assert_eq(out[0].id, 2);
	cr_assert_eq(out[1].id, 5);
	cr_assert_eq(out[2].id, 3);
	cr_assert_eq(out[1].calendar_id, 3);
	cr_assert_eq(slot_table_calendar_range(t, 2, from, to, out, 16), 2);
	cr_assert_eq(out[0].id, 6);
	cr_assert_eq(out[1].id, 9);
	cr_assert_eq(slot_table_calendar_range(t, 4, from, to, out, 16), 1);
	cr_assert_eq(out[0].id, 7);
	/* Empty: no such calendar, an empty or inverted range, a range
	 * before or after every slot, the first and last calendars. */
	cr_assert_eq(slot_table_calendar_range(t, 99, 0, INT64_MAX, out, 16), 0);
	cr_assert_eq(slot_table_calendar_range(t, 0, 0, INT64_MAX, out, 16), 0);
	cr_assert_eq(slot_table_calendar_range(t, 3, from, from, out, 16), 0);
	cr_assert_eq(slot_table_calendar_range(t, 3, to, from, out, 16), 0);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, from - 1, out, 16), 0);
	cr_assert_eq(slot_table_calendar_range(t, 3, to + 1, INT64_MAX, out,
	    16), 0);
	cr_assert_eq(slot_table_calendar_range(t, INT64_MIN, INT64_MIN,
	    INT64_MAX, out, 16), 0);
	cr_assert_eq(slot_table_calendar_range(t, INT64_MAX, INT64_MIN,
	    INT64_MAX, out, 16), 0);
	/* The whole calendar; too small a buffer still counts them all. */
	cr_assert_eq(slot_table_calendar_range(t, 3, INT64_MIN, INT64_MAX, out,
	    16), 5);
	cr_assert_eq(out[0].id, 1);
	cr_assert_eq(out[4].id, 4);
	cr_assert_eq(slot_table_calendar_range(t, 3, INT64_MIN, INT64_MAX, out,
	    2), 5);
	drop_table(t);
}

Test(slot_calendars, same_start_in_the_merged_read_goes_by_calendar_id)
{
	struct slot_table *t = fresh_table(64);
	struct slot out[8], *buf = NULL;
	size_t cap = 0;

	put(t, 10, 5, 9 * H);
	put(t, 11, 9, 9 * H);
	put(t, 12, 3, 9 * H);
	put(t, 13, 3, 9 * H);		/* same calendar and start: by id */
	put(t, 1, 7, 10 * H);
	put(t, 2, 1, 8 * H);
	slot_table_publish(t);
	cr_assert_eq(slot_table_range(t, 0, D, out, 8), 6);
	cr_assert_eq(out[0].id, 2);
	cr_assert_eq(out[1].id, 12);
	cr_assert_eq(out[2].id, 13);
	cr_assert_eq(out[3].id, 10);
	cr_assert_eq(out[4].id, 11);
	cr_assert_eq(out[5].id, 1);
	cr_assert_eq(slot_table_calendar_range_grow(t, 3, 0, D, &buf, &cap), 2);
	cr_assert_geq(cap, 2);
	cr_assert_eq(buf[0].id, 12);
	cr_assert_eq(buf[1].id, 13);
	free(buf);
	drop_table(t);
}

/* The live slots of calendar c starting in [from, to), by start then id,
 * from a plain list: what the index must say. */
static size_t
model_range(const struct slot *all, size_t n, int64_t c, int64_t from,
    int64_t to, struct slot *out)
{
	size_t i, k = 0, j;
	struct slot x;

	for (i = 0; i < n; i++) {
		if (all[i].id == 0 || all[i].calendar_id != c ||
		    all[i].start < from || all[i].start >= to)
			continue;
		x = all[i];
		for (j = k; j > 0 && (out[j - 1].start > x.start ||
		    (out[j - 1].start == x.start && out[j - 1].id > x.id)); j--)
			out[j] = out[j - 1];
		out[j] = x;
		k++;
	}
	return k;
}

static uint64_t	rng = 88172645463325252ULL;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define MODEL_SLOTS	3000
#define MODEL_CALS	40
/* Calendar k of the model: ids below and above zero, bytes in use beyond
 * the lowest. */
#define MODEL_CAL(k)	(((int64_t)(k) - MODEL_CALS / 2) * 1000003)

/* Both published orderings hold every live record once, and only those,
 * each in its order. */
static void
check_index(struct slot_table *t)
{
	uint32_t cur = LOAD(&t->h->index_seq) & 1, i;
	struct slot_key k, prev;
	int ord;

	cr_assert_eq(t->h->index_len[cur], t->h->live);
	for (ord = 0; ord < INDEX_ORDERS; ord++)
		for (i = 0; i < t->h->live; i++) {
			key_of(t, t->index[ord][cur][i], &k);
			cr_assert_eq(t->rec[k.ri].state, RECORD_LIVE);
			cr_assert(i == 0 || key_cmp(ord, &prev, &k) < 0,
			    "ordering %d at %u", ord, i);
			prev = k;
		}
}

/* Every calendar's day and the merged order agree with the model. */
static void
check_model(struct slot_table *t, const struct slot *all)
{
	static struct slot want[MODEL_SLOTS], got[MODEL_SLOTS];
	size_t n, i, total = 0;
	int64_t c, day;

	for (c = MODEL_CAL(0); c <= MODEL_CAL(MODEL_CALS + 1); c += 1000003)
		for (day = -2; day < 2; day++) {
			n = model_range(all, MODEL_SLOTS, c, day * D,
			    (day + 1) * D, want);
			cr_assert_eq(slot_table_calendar_range(t, c, day * D,
			    (day + 1) * D, got, MODEL_SLOTS), n,
			    "calendar %lld day %lld", (long long)c,
			    (long long)day);
			for (i = 0; i < n; i++)
				cr_assert(got[i].id == want[i].id &&
				    got[i].version == want[i].version);
			total += n;
		}
	n = slot_table_range(t, INT64_MIN, INT64_MAX, got, MODEL_SLOTS);
	cr_assert_eq(n, total);
	for (i = 1; i < n; i++)
		cr_assert(got[i - 1].start < got[i].start ||
		    (got[i - 1].start == got[i].start &&
		    (got[i - 1].calendar_id < got[i].calendar_id ||
		    (got[i - 1].calendar_id == got[i].calendar_id &&
		    got[i - 1].id < got[i].id))), "merged order at %zu", i);
}

/* Random inserts, updates, moves across calendars and removals, published
 * now and then: small batches merge, one large batch sorts again. */
Test(slot_calendars, publish_by_merge_agrees_with_a_model, .timeout = 60)
{
	struct slot_table *t = fresh_table(3 * MODEL_SLOTS);
	static struct slot all[MODEL_SLOTS];
	struct slot s;
	uint64_t r;
	int round, i, k;

	for (round = 0; round < 300; round++) {
		k = round == 150 ? 2500 : (int)(next_random() % 40);
		for (i = 0; i < k; i++) {
			r = next_random();
			s = all[r % MODEL_SLOTS];
			if (s.id != 0 && r % 7 == 0) {
				cr_assert_eq(slot_table_remove(t, s.id), 0);
				all[r % MODEL_SLOTS].id = 0;
				continue;
			}
			if (s.id == 0)
				s = calslot((int64_t)(r % MODEL_SLOTS) + 1, 0,
				    0, 0);
			s.version++;
			s.booked = (int32_t)(r >> 8 & 3);
			if (s.version == 1 || r % 3 == 0) {
				/* Few starts, so that ties are many,
				 * on both sides of 0. */
				s.calendar_id = MODEL_CAL((r >> 16) %
				    MODEL_CALS + 1);
				s.start = (int64_t)(r >> 24) % 96 * H / 2 - D;
				s.end = s.start + 1800;
			}
			cr_assert_neq(slot_table_apply(t, &s, 0),
			    SLOT_UNCHANGED);
			all[s.id - 1] = s;
		}
		if (next_random() % 3 == 0 || round == 150) {
			slot_table_publish(t);
			check_index(t);
			check_model(t, all);
		}
	}
	slot_table_publish(t);
	check_index(t);
	check_model(t, all);
	drop_table(t);
}

Test(slot_calendars, many_calendars_each_find_their_own)
{
	struct slot_table *t = fresh_table(20000);
	struct slot out[32];
	int64_t c, k, id = 1;

	/* Calendar ids sparse and large; slots inserted calendar by
	 * calendar, newest day first. */
	for (c = 1; c <= 1000; c++)
		for (k = 19; k >= 0; k--)
			put(t, id++, c * 1000003, k / 4 * D + k % 4 * H);
	slot_table_publish(t);
	for (c = 1; c <= 1000; c++) {
		cr_assert_eq(slot_table_calendar_range(t, c * 1000003, 2 * D,
		    3 * D, out, 32), 4);
		cr_assert_eq(out[0].start, 2 * D);
		cr_assert_eq(out[3].start, 2 * D + 3 * H);
		cr_assert_eq(slot_table_calendar_range(t, c * 1000003 + 1,
		    0, 5 * D, out, 32), 0);
	}
	cr_assert_eq(slot_table_range(t, 2 * D, 2 * D + 1, out, 32), 1000);
	drop_table(t);
}

Test(slot_calendars, a_slot_moved_to_another_calendar_moves_both_tags)
{
	struct slot_table *t;
	struct slot s, out[4];
	uint64_t c3, c5;

	t = two_calendars(5, &c3, &c5);
	s = calslot(1, 5, 10 * H, 2);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UPDATED);
	slot_table_publish(t);
	cr_assert_gt(slot_table_calendar_changes(t, 3, 0, D), c3);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, D, out, 4), 1);
	cr_assert_eq(out[0].id, 4);
	cr_assert_eq(slot_table_calendar_range(t, 5, 0, D, out, 4), 3);
	cr_assert_eq(out[0].id, 1);		/* 10:00, by id */
	cr_assert_eq(out[1].id, 2);
	cr_assert_eq(out[2].id, 3);
	/* Full: a move needs a free record, so it waits, the slot stays. */
	put(t, 5, 7, 0);
	s = calslot(4, 7, 10 * H, 2);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_TABLE_FULL);
	cr_assert_eq(slot_table_get(t, 4, &s), 0);
	cr_assert_eq(s.calendar_id, 3);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, D, out, 4), 1);
	drop_table(t);
}

Test(slot_calendars, a_segment_of_another_layout_is_refused)
{
	struct slot_table *t = fresh_table(16), *seen;

	seen = slot_table_attach(name);
	cr_assert_not_null(seen);
	slot_table_close(seen);
	t->h->layout = 1;
	errno = 0;
	cr_assert_null(slot_table_attach(name));
	cr_assert_eq(errno, EPROTO);
	drop_table(t);
}
