/*
 * Unit tests of the slot table's change counters by calendar: a change
 * moves its own calendar's tags and, through a hash collision, may move
 * another's, never less; reloads and repairs move every tag; a writer
 * killed mid-publish; readers in other processes while writers change
 * slots across calendars.
 */
#include "slot_table_test.h"

Test(slot_calendar_tags, a_change_in_one_calendar_leaves_the_others_tags)
{
	struct slot_table *t;
	uint64_t c3, c5, all;
	struct slot s;

	t = two_calendars(64, &c3, &c5);
	all = slot_table_changes(t, 0, D);

	book(t, 2, 1);			/* a booking */
	cr_assert_eq(slot_table_calendar_changes(t, 3, 0, D), c3);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	cr_assert_gt(slot_table_changes(t, 0, D), all);
	c5 = slot_table_calendar_changes(t, 5, 0, D);
	put(t, 6, 5, 12 * H);		/* an insert, then its publish */
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	c5 = slot_table_calendar_changes(t, 5, 0, D);
	slot_table_publish(t);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	c5 = slot_table_calendar_changes(t, 5, 0, D);
	s = calslot(3, 5, 13 * H, 2);	/* a move within calendar 5 */
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UPDATED);
	slot_table_publish(t);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	c5 = slot_table_calendar_changes(t, 5, 0, D);
	cr_assert_eq(slot_table_remove(t, 6), 0);
	slot_table_publish(t);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	cr_assert_eq(slot_table_calendar_changes(t, 3, 0, D), c3);

	/* Calendar 3's own changes move its tag, only for their hours. */
	book(t, 1, 1);
	cr_assert_gt(slot_table_calendar_changes(t, 3, 0, D), c3);
	c3 = slot_table_calendar_changes(t, 3, 11 * H, D);
	book(t, 1, 2);
	cr_assert_eq(slot_table_calendar_changes(t, 3, 11 * H, D), c3);
	drop_table(t);
}

/* Another calendar whose counters for hour are calendar 3's. */
static int64_t
colliding_calendar(struct slot_table *t, int64_t hour)
{
	uint64_t want = counter_cal_group(t, 3, hour);
	int64_t c;

	for (c = 4; c < 100000000; c++)
		if (counter_cal_group(t, c, hour) == want)
			return c;
	cr_assert_fail("no colliding calendar");
	return 0;
}

Test(slot_calendar_tags, a_hash_collision_only_adds_changes)
{
	struct slot_table *t = fresh_table(64);
	int64_t x = colliding_calendar(t, 10);
	uint64_t c3, day3, cx;

	put(t, 1, 3, 10 * H);
	put(t, 2, x, 10 * H + 60);
	put(t, 3, x, 20 * H);		/* in another group of hours */
	slot_table_publish(t);
	c3 = slot_table_calendar_changes(t, 3, 10 * H, 11 * H);
	day3 = slot_table_calendar_changes(t, 3, 0, D);
	cx = slot_table_calendar_changes(t, x, 0, D);

	/* The colliding calendar's change shows in calendar 3's hour (their
	 * groups of eight hours share counters): a needless revalidation,
	 * counted up, never down. */
	book(t, 2, 1);
	cr_assert_gt(slot_table_calendar_changes(t, 3, 10 * H, 11 * H), c3);
	cr_assert_gt(slot_table_calendar_changes(t, x, 0, D), cx);
	c3 = slot_table_calendar_changes(t, 3, 10 * H, 11 * H);
	day3 = slot_table_calendar_changes(t, 3, 0, D);
	/* Its other hour does not collide. */
	book(t, 3, 1);
	cr_assert_eq(slot_table_calendar_changes(t, 3, 0, D), day3);
	/* Calendar 3's own change still moves its tag, and x's too. */
	cx = slot_table_calendar_changes(t, x, 0, D);
	book(t, 1, 1);
	cr_assert_gt(slot_table_calendar_changes(t, 3, 10 * H, 11 * H), c3);
	cr_assert_gt(slot_table_calendar_changes(t, x, 0, D), cx);
	drop_table(t);
}

Test(slot_calendar_tags, tags_cover_negative_hours_and_long_ranges)
{
	struct slot_table *t = fresh_table(16);
	uint64_t before, whole, other;

	before = slot_table_calendar_changes(t, 3, -H, 0);
	other = slot_table_calendar_changes(t, 3, 0, H);
	whole = slot_table_calendar_changes(t, 3, INT64_MIN, INT64_MAX);
	cr_assert_eq(slot_table_calendar_changes(t, 3, 5, 5), before);
	put(t, 1, 3, -1800);		/* the hour before the epoch */
	cr_assert_gt(slot_table_calendar_changes(t, 3, -H, 0), before);
	cr_assert_eq(slot_table_calendar_changes(t, 3, 0, H), other);
	/* Too long for the calendar's counters: every change counts. */
	cr_assert_gt(slot_table_calendar_changes(t, 3, INT64_MIN, INT64_MAX),
	    whole);
	whole = slot_table_calendar_changes(t, 9, INT64_MIN, INT64_MAX);
	put(t, 2, 3, 20 * D);
	cr_assert_gt(slot_table_calendar_changes(t, 9, INT64_MIN, INT64_MAX),
	    whole);
	drop_table(t);
}

Test(slot_calendar_tags, reload_moves_every_tag_and_sweeps_by_calendar)
{
	struct slot_table *t;
	struct slot s, out[4];
	uint64_t c3, c5, c7;

	t = two_calendars(16, &c3, &c5);
	c7 = slot_table_calendar_changes(t, 7, 0, D);

	slot_table_load_begin(t);
	s = calslot(1, 3, 10 * H, 1);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_UNCHANGED);
	s = calslot(4, 3, 12 * H, 1);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_UNCHANGED);
	s = calslot(3, 5, 11 * H, 1);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_UNCHANGED);
	s = calslot(5, 7, 9 * H, 1);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_INSERTED);
	cr_assert_eq(slot_table_load_sweep(t), 1);
	/* Even calendar 3, where nothing changed: a reload moves all. */
	cr_assert_gt(slot_table_calendar_changes(t, 3, 0, D), c3);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	cr_assert_gt(slot_table_calendar_changes(t, 7, 0, D), c7);
	cr_assert_eq(slot_table_calendar_range(t, 5, 0, D, out, 4), 1);
	cr_assert_eq(out[0].id, 3);
	cr_assert_eq(slot_table_calendar_range(t, 7, 0, D, out, 4), 1);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, D, out, 4), 2);
	cr_assert_eq(slot_table_get(t, 2, &s), -1);
	drop_table(t);
}

Test(slot_calendar_tags, repair_keeps_other_calendars_and_moves_every_tag,
    .timeout = 30)
{
	struct slot_table *t;
	struct slot s, out[4];
	uint64_t c3, c5;
	pid_t dead;

	t = two_calendars(16, &c3, &c5);
	dead = die_mid_write(t, 2);
	cr_assert_eq(slot_table_release_dead(t, dead), 1);
	/* The half-written slot of calendar 5 is gone until the reload;
	 * calendar 3 is whole; both tags moved, as the repair could not
	 * know what the dead writer changed. */
	cr_assert_eq(slot_table_calendar_range(t, 5, 0, D, out, 4), 1);
	cr_assert_eq(out[0].id, 3);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, D, out, 4), 2);
	cr_assert_eq(slot_table_range(t, 0, D, out, 4), 3);
	cr_assert_gt(slot_table_calendar_changes(t, 3, 0, D), c3);
	cr_assert_gt(slot_table_calendar_changes(t, 5, 0, D), c5);
	cr_assert_eq(slot_table_flag(t, SLOT_FLAG_RESYNC), 1);
	s = calslot(2, 5, 10 * H, 1);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_INSERTED);
	slot_table_publish(t);
	cr_assert_eq(slot_table_calendar_range(t, 5, 0, D, out, 4), 2);
	cr_assert_eq(out[0].id, 2);
	drop_table(t);
}

/* A writer dies half-way through a publish: the inactive buffers hold
 * garbage and inserts wait in the journal.  The next writer repairs. */
Test(slot_calendar_tags, writer_killed_mid_publish_is_repaired, .timeout = 30)
{
	struct slot_table *t = fresh_table(64);
	struct slot s, out[8];
	uint32_t next, i;
	pid_t pid;

	put(t, 1, 3, 10 * H);
	put(t, 2, 5, 10 * H);
	slot_table_publish(t);
	if ((pid = fork()) == 0) {
		s = calslot(3, 5, 9 * H, 1);
		slot_table_apply(t, &s, 0);
		s = calslot(4, 3, 9 * H, 1);
		slot_table_apply(t, &s, 0);
		table_lock(t);
		next = (LOAD(&t->h->index_seq) + 1) & 1;
		for (i = 0; i < 64; i++) {
			STORE(&t->index[BY_CALENDAR][next][i], 63 - i);
			STORE(&t->index[BY_START][next][i], 7);
		}
		STORE(&t->h->index_len[next], 64);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, D, out, 8), 1);
	s = calslot(5, 9, 9 * H, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	slot_table_publish(t);
	cr_assert_eq(LOAD(&t->h->repairs), 1);
	cr_assert_eq(slot_table_calendar_range(t, 3, 0, D, out, 8), 2);
	cr_assert_eq(out[0].id, 4);
	cr_assert_eq(out[1].id, 1);
	cr_assert_eq(slot_table_calendar_range(t, 5, 0, D, out, 8), 2);
	cr_assert_eq(slot_table_range(t, 0, D, out, 8), 5);
	cr_assert_eq(out[0].id, 4);
	cr_assert_eq(out[1].id, 3);
	cr_assert_eq(out[2].id, 5);
	drop_table(t);
}

/*
 * Processes hammer one table across calendars (see hammer in
 * slot_table_test.h): slots 1..STABLE live in CALS calendars; churn comes,
 * goes and moves between the same calendars at other hours.  One more
 * calendar is never written: its tag must never move.
 */
#define STABLE		400
#define CALS		8
#define ROUNDS		HAMMER_ROUNDS

static int64_t	quiet_cal;
static uint64_t	quiet_tag;

static void
churner(struct slot_table *t)
{
	struct slot s;
	int i;

	for (i = 0; i < ROUNDS / 4; i++) {
		s = calslot(100000 + i % 60, 1 + i % CALS,
		    (STABLE + 1 + i % 50) * 3600 + 60, 7 + i);
		slot_table_apply(t, &s, 0);
		if (i % 8 == 7)
			slot_table_publish(t);
		if (i % 5 == 4)
			slot_table_remove(t, 100000 + (i + 30) % 60);
	}
	slot_table_publish(t);
}

/* A calendar whose counters for its day share nothing with the ones the
 * writers and the churner touch: its tag may not move at all. */
static int64_t
quiet_calendar(struct slot_table *t)
{
	int64_t q, c, hour, h2;
	int shared;

	for (q = 1000;; q++) {
		shared = 0;
		for (c = 1; c <= CALS; c++)
			for (hour = 0; hour < STABLE + 60; hour++)
				for (h2 = 0; h2 < 24; h2 += CAL_GROUP)
					shared |= counter_cal_group(t, c,
					    hour) == counter_cal_group(t, q, h2);
		if (!shared)
			return q;
	}
}

static int
reader(struct slot_table *t)
{
	struct slot out[STABLE + 100];
	size_t n, k;
	int64_t c;
	int i;

	for (i = 0; i < ROUNDS / 10; i++) {
		c = 1 + i % CALS;
		n = slot_table_calendar_range(t, c, 0, INT64_MAX, out,
		    STABLE + 100);
		if (!hammer_whole(out, n, STABLE + 100, STABLE, STABLE / CALS))
			return 1;
		for (k = 0; k < n; k++)
			if (out[k].calendar_id != c || (k > 0 &&
			    out[k].start == out[k - 1].start &&
			    out[k].id <= out[k - 1].id))
				return 1;
		if (slot_table_calendar_range(t, quiet_cal, 0, INT64_MAX,
		    out, 4) != 1 || slot_table_calendar_changes(t, quiet_cal,
		    0, D) != quiet_tag)
			return 1;
	}
	return 0;
}

Test(slot_calendar_tags, readers_in_other_processes_see_whole_calendars)
{
	struct slot_table *t = fresh_table(4096);
	struct slot s;
	int64_t id;

	hammer_fill(t, STABLE, CALS);
	quiet_cal = quiet_calendar(t);
	put(t, 5000, quiet_cal, 3 * 3600 + 60);
	slot_table_publish(t);
	quiet_tag = slot_table_calendar_changes(t, quiet_cal, 0, D);
	hammer(t, STABLE, churner, reader);
	for (id = 1; id <= STABLE; id++) {
		cr_assert_eq(slot_table_get(t, id, &s), 0);
		cr_assert_eq(s.calendar_id, 1 + id % CALS);
	}
	cr_assert_eq(slot_table_calendar_changes(t, quiet_cal, 0, D),
	    quiet_tag);
	drop_table(t);
}
