/*
 * Unit tests of the shared slot table: records, the id hash, the
 * all-calendars range, reloads, crashes.  Calendars: test_slot_calendars.c.
 */
#include "slot_table_test.h"

Test(slot_table, insert_get_and_day_range_in_order)
{
	struct slot_table *t = fresh_table(64);
	struct slot out[16], s;
	size_t n;

	/* Inserted out of order; the range comes back by start, then id. */
	s = mkslot(3, 7200, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	s = mkslot(1, 0, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	s = mkslot(2, 3600, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	s = mkslot(4, 86400, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	slot_table_publish(t);

	cr_assert_eq(slot_table_get(t, 2, &s), 0);
	cr_assert_eq(s.start, 3600);
	cr_assert_eq(slot_table_get(t, 99, &s), -1);

	n = slot_table_range(t, 0, 86400, out, 16);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[0].id, 1);
	cr_assert_eq(out[1].id, 2);
	cr_assert_eq(out[2].id, 3);
	n = slot_table_range(t, 3600, 86401, out, 16);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[2].id, 4);
	/* Too small a buffer: the count says how many there are. */
	cr_assert_eq(slot_table_range(t, 0, 1 << 30, out, 1), 4);
	drop_table(t);
}

Test(slot_table, applies_only_newer_versions)
{
	struct slot_table *t = fresh_table(16);
	struct slot s = mkslot(5, 0, 3), got;

	slot_table_apply(t, &s, 0);
	s.booked = 2;
	s.version = 2;
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UNCHANGED);
	s.version = 3;
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UNCHANGED);
	s.version = 4;
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UPDATED);
	slot_table_get(t, 5, &got);
	cr_assert_eq(got.booked, 2);
	cr_assert_eq(got.version, 4);
	drop_table(t);
}

Test(slot_table, remove_and_reuse_after_publish)
{
	struct slot_table *t = fresh_table(16);
	struct slot s, out[20];
	int64_t id;

	for (id = 1; id <= 16; id++) {
		s = mkslot(id, id * 3600, 1);
		cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	}
	s = mkslot(17, 0, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_TABLE_FULL);
	cr_assert_eq(slot_table_remove(t, 4), 0);
	cr_assert_eq(slot_table_remove(t, 4), -1);
	cr_assert_eq(slot_table_get(t, 4, &s), -1);
	/* The removed record is reusable only after the index moved on. */
	s = mkslot(17, 0, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_TABLE_FULL);
	slot_table_publish(t);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	slot_table_publish(t);
	cr_assert_eq(slot_table_range(t, 0, 1 << 30, out, 20), 16);
	cr_assert_eq(out[0].id, 17);
	for (id = 1; id <= 17; id++)
		cr_assert_eq(slot_table_get(t, id, &s), id == 4 ? -1 : 0,
		    "id %lld", (long long)id);
	drop_table(t);
}

Test(slot_table, hash_survives_clustered_deletes)
{
	struct slot_table *t = fresh_table(4096);
	struct slot s;
	int64_t id;

	for (id = 1; id <= 4000; id++) {
		s = mkslot(id, id * 60, 1);
		slot_table_apply(t, &s, 0);
	}
	for (id = 1; id <= 4000; id += 3)
		cr_assert_eq(slot_table_remove(t, id), 0);
	for (id = 1; id <= 4000; id++)
		cr_assert_eq(slot_table_get(t, id, &s),
		    (id - 1) % 3 == 0 ? -1 : 0, "id %lld", (long long)id);
	drop_table(t);
}

Test(slot_table, load_sweep_drops_rows_not_seen)
{
	struct slot_table *t = fresh_table(16);
	struct slot s, out[4];

	s = mkslot(1, 0, 1);
	slot_table_apply(t, &s, 0);
	s = mkslot(2, 3600, 1);
	slot_table_apply(t, &s, 0);
	slot_table_publish(t);

	slot_table_load_begin(t);
	s = mkslot(2, 3600, 1);		/* same version: still seen */
	slot_table_apply(t, &s, 0);
	s = mkslot(3, 7200, 1);
	slot_table_apply(t, &s, 0);
	cr_assert_eq(slot_table_load_sweep(t), 1);
	cr_assert_eq(slot_table_get(t, 1, &s), -1);
	cr_assert_eq(slot_table_range(t, 0, 1 << 30, out, 4), 2);
	cr_assert_eq(out[0].id, 2);
	cr_assert_eq(out[1].id, 3);
	drop_table(t);
}

Test(slot_table, change_counters_move_per_hour)
{
	struct slot_table *t = fresh_table(16);
	struct slot s = mkslot(1, 10 * 3600 + 60, 1);
	uint64_t day, other;

	slot_table_apply(t, &s, 0);
	day = slot_table_changes(t, 0, 86400);
	other = slot_table_changes(t, 86400, 2 * 86400);
	s.booked = 1;
	s.version = 2;
	slot_table_apply(t, &s, 0);
	cr_assert_gt(slot_table_changes(t, 0, 86400), day);
	cr_assert_eq(slot_table_changes(t, 86400, 2 * 86400), other);
	/* A slot moved to another day changes both days. */
	day = slot_table_changes(t, 0, 86400);
	s.start += 86400;
	s.end += 86400;
	s.version = 3;
	slot_table_apply(t, &s, 0);
	cr_assert_gt(slot_table_changes(t, 0, 86400), day);
	cr_assert_gt(slot_table_changes(t, 86400, 2 * 86400), other);
	drop_table(t);
}

Test(slot_table, refuses_a_segment_whose_owner_lives)
{
	struct slot_table *t;
	int ready[2];
	pid_t pid;
	char c;

	snprintf(name, sizeof(name), "/slotd-test-owner-%d", (int)getpid());
	cr_assert_eq(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		t = slot_table_create(name, 16);
		(void)!write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_null(slot_table_create(name, 16));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* The owner is gone: its stale segment is replaced. */
	t = slot_table_create(name, 16);
	cr_assert_not_null(t);
	slot_table_close(t);
	slot_table_unlink(name);
}

/*
 * Processes hammer one table (see hammer in slot_table_test.h); other slots
 * come and go to churn the hash and the index.
 */
#define STABLE		200
#define ROUNDS		HAMMER_ROUNDS

static void
churner(struct slot_table *t)
{
	struct slot s;
	int i;

	for (i = 0; i < ROUNDS / 4; i++) {
		s = mkslot(100000 + i, (STABLE + 1 + i % 50) * 3600, 7);
		s.end = s.start + 1800;
		s.booked = 3;
		slot_table_apply(t, &s, 0);
		if (i % 8 == 7)
			slot_table_publish(t);
		if (i >= 20)
			slot_table_remove(t, 100000 + i - 20);
	}
	slot_table_publish(t);
}

static int
reader(struct slot_table *t)
{
	struct slot out[STABLE + 100], s;
	size_t n;
	int i;

	for (i = 0; i < ROUNDS / 10; i++) {
		n = slot_table_range(t, 0, INT64_MAX, out, STABLE + 100);
		if (!hammer_whole(out, n, STABLE + 100, STABLE, STABLE) ||
		    slot_table_get(t, 1 + i % STABLE, &s) == -1 ||
		    !hammer_consistent(&s))
			return 1;
	}
	return 0;
}

Test(slot_table, concurrent_writers_and_readers_see_no_torn_record,
    .timeout = 120)
{
	struct slot_table *t = fresh_table(4096);

	hammer_fill(t, STABLE, 1);
	slot_table_publish(t);
	hammer(t, STABLE, churner, reader);
	drop_table(t);
}

Test(slot_table, writer_killed_mid_write_is_repaired_by_the_parent,
    .timeout = 30)
{
	struct slot_table *t = fresh_table(16);
	struct slot s = mkslot(1, 0, 5), out[4];
	pid_t dead;

	slot_table_apply(t, &s, 0);
	slot_table_publish(t);
	dead = die_mid_write(t, 1);
	cr_assert_eq(LOAD(&t->h->lock), (uint32_t)dead);
	cr_assert_eq(slot_table_release_dead(t, dead), 1);
	cr_assert_eq(slot_table_release_dead(t, dead), 0);
	/* Readers are not wedged; the half-written slot is dropped until
	 * the reload the repair asked for brings it back. */
	cr_assert_eq(slot_table_get(t, 1, &s), -1);
	cr_assert_eq(slot_table_range(t, 0, 86400, out, 4), 0);
	cr_assert_eq(slot_table_flag(t, SLOT_FLAG_RESYNC), 1);
	s = mkslot(1, 0, 1);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_INSERTED);
	slot_table_publish(t);
	cr_assert_eq(slot_table_get(t, 1, &s), 0);
	cr_assert_eq(s.booked, 0);
	cr_assert_eq(slot_table_range(t, 0, 86400, out, 4), 1);
	drop_table(t);
}

Test(slot_table, writer_killed_holding_lock_is_detected_by_next_writer,
    .timeout = 30)
{
	struct slot_table *t = fresh_table(16);
	struct slot s = mkslot(1, 0, 5);

	slot_table_apply(t, &s, 0);
	die_mid_write(t, 1);
	/* No parent help: the next writer finds the owner dead. */
	s = mkslot(2, 3600, 1);
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	slot_table_publish(t);
	cr_assert_eq(slot_table_get(t, 2, &s), 0);
	cr_assert_eq(slot_table_get(t, 1, &s), -1);
	cr_assert_eq(LOAD(&t->h->lock), 0);
	cr_assert_eq(LOAD(&t->h->repairs), 1);
	drop_table(t);
}

Test(slot_table, moved_slot_keeps_the_index_ordered)
{
	struct slot_table *t = fresh_table(16);
	struct slot s, out[8];
	uint64_t tag;
	int64_t id;

	for (id = 1; id <= 5; id++) {
		s = mkslot(id, id * 86400, 1);
		slot_table_apply(t, &s, 0);
	}
	slot_table_publish(t);
	tag = slot_table_changes(t, 3 * 86400, 4 * 86400);
	s = mkslot(5, 3 * 86400 + 600, 2);	/* day 5 to day 3 */
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UPDATED);
	slot_table_publish(t);
	cr_assert_neq(slot_table_changes(t, 3 * 86400, 4 * 86400), tag);
	cr_assert_eq(slot_table_range(t, 3 * 86400, 4 * 86400, out, 8), 2);
	cr_assert_eq(out[0].id, 3);
	cr_assert_eq(out[1].id, 5);
	cr_assert_eq(slot_table_range(t, 4 * 86400, 6 * 86400, out, 8), 1);
	cr_assert_eq(out[0].id, 4);
	cr_assert_eq(slot_table_range(t, 0, 10 * 86400, out, 8), 5);
	drop_table(t);
}

Test(slot_table, update_only_never_inserts_and_load_takes_any_version)
{
	struct slot_table *t = fresh_table(16);
	struct slot s = mkslot(1, 0, 9), got;

	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_UPDATE_ONLY),
	    SLOT_UNCHANGED);
	cr_assert_eq(slot_table_get(t, 1, &got), -1);
	slot_table_apply(t, &s, 0);
	s.version = 4;			/* a restored database went back */
	s.booked = 1;
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UNCHANGED);
	cr_assert_eq(slot_table_apply(t, &s, SLOT_APPLY_LOAD), SLOT_UPDATED);
	slot_table_get(t, 1, &got);
	cr_assert_eq(got.version, 4);
	cr_assert_eq(got.booked, 1);
	drop_table(t);
}
