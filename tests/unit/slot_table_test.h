/*
 * slot_table_test.h: what the slot table's unit tests share.  The sources
 * are included so that the crash tests can stop a writer half-way.
 */
#ifndef SLOT_TABLE_TEST_H
#define SLOT_TABLE_TEST_H

#include <sys/wait.h>

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "../../shm/slot_counter.c"
#include "../../shm/slot_index.c"
#include "../../shm/slot_record.c"
#include "../../shm/slot_table.c"

static char	name[64];

static struct slot_table *
fresh_table(uint32_t max)
{
	static int n;
	struct slot_table *t;

	snprintf(name, sizeof(name), "/slotd-test-%d-%d", (int)getpid(), n++);
	t = slot_table_create(name, max);
	cr_assert_not_null(t, "create %s", name);
	return t;
}

static void
drop_table(struct slot_table *t)
{
	slot_table_close(t);
	slot_table_unlink(name);
}

/* A slot of calendar 1. */
static inline struct slot
mkslot(int64_t id, int64_t start, int64_t version)
{
	struct slot s = { .id = id, .calendar_id = 1, .start = start,
	    .end = start + 1800, .version = version, .capacity = 3,
	    .booked = 0 };

	return s;
}

#define H	3600
#define D	86400

/* A slot of calendar_id. */

static inline struct slot
calslot(int64_t id, int64_t calendar_id, int64_t start, int64_t version)
{
	struct slot s = mkslot(id, start, version);

	s.calendar_id = calendar_id;
	return s;
}

static inline void
put(struct slot_table *t, int64_t id, int64_t calendar_id, int64_t start)
{
	struct slot s = calslot(id, calendar_id, start, 1);

	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED, "slot %lld",
	    (long long)id);
}

/* A new version of slot id with booked seats taken. */
static inline void
book(struct slot_table *t, int64_t id, int32_t booked)
{
	struct slot s;

	cr_assert_eq(slot_table_get(t, id, &s), 0);
	s.version++;
	s.booked = booked;
	cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_UPDATED);
}

/* Slots 1 and 4 in calendar 3, 2 and 3 in calendar 5, published; their
 * calendars' tags of the day. */
static inline struct slot_table *
two_calendars(uint32_t max, uint64_t *c3, uint64_t *c5)
{
	struct slot_table *t = fresh_table(max);

	put(t, 1, 3, 10 * H);
	put(t, 2, 5, 10 * H);
	put(t, 3, 5, 11 * H);
	put(t, 4, 3, 12 * H);
	slot_table_publish(t);
	*c3 = slot_table_calendar_changes(t, 3, 0, D);
	*c5 = slot_table_calendar_changes(t, 5, 0, D);
	return t;
}

/* A child takes the lock and dies half-way through writing a record. */
static inline pid_t
die_mid_write(struct slot_table *t, int64_t id)
{
	pid_t pid;
	int64_t ri;

	if ((pid = fork()) == 0) {
		table_lock(t);
		ri = hash_find(t, id);
		STORE(&t->h->writing, (int32_t)ri);
		STORE(&t->rec[ri].seq, LOAD(&t->rec[ri].seq) + 1);
		STORE(&t->rec[ri].booked, 99);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return pid;
}

/*
 * Processes hammer one table: two writers give slots 1..stable new
 * versions, whose fields must agree with the version (hammer_consistent),
 * so that a torn read shows.
 */
#define HAMMER_ROUNDS	20000

static inline int
hammer_consistent(const struct slot *s)
{
	return s->booked == (int32_t)(s->version % 4) &&
	    s->end == s->start + 1800 + s->version % 7 &&
	    s->start == s->id * 3600;
}

static inline void
hammer_writer(struct slot_table *t, int which, int64_t stable)
{
	struct slot s;
	int64_t id;
	int i;

	for (i = 0; i < HAMMER_ROUNDS; i++) {
		id = 1 + (i * 2 + which) % stable;
		slot_table_get(t, id, &s);
		s.version++;
		s.booked = (int32_t)(s.version % 4);
		s.end = s.start + 1800 + s.version % 7;
		slot_table_apply(t, &s, 0);
	}
}

/* The writers' slots 1..stable, an hour apart, spread over calendars
 * 1..calendars. */
static inline void
hammer_fill(struct slot_table *t, int64_t stable, int64_t calendars)
{
	struct slot s;
	int64_t id;

	for (id = 1; id <= stable; id++) {
		s = mkslot(id, id * 3600, 0);
		s.calendar_id = 1 + id % calendars;
		cr_assert_eq(slot_table_apply(t, &s, 0), SLOT_INSERTED);
	}
}

/* Whether a range read of n slots (at most max) is whole: by start, each
 * of the writers' slots consistent, and want of them. */
static inline int
hammer_whole(const struct slot *out, size_t n, size_t max, int64_t stable,
    size_t want)
{
	size_t k, seen = 0;

	if (n > max)
		return 0;
	for (k = 0; k < n; k++) {
		if (k > 0 && out[k].start < out[k - 1].start)
			return 0;
		if (out[k].id <= stable && (seen++, !hammer_consistent(&out[k])))
			return 0;
	}
	return seen == want;
}

/* Two writers, a churner and two readers, each a child process, over t;
 * all must exit 0.  Then the writers' slots must hold their last
 * versions. */
static inline void
hammer(struct slot_table *t, int64_t stable,
    void (*churner)(struct slot_table *), int (*reader)(struct slot_table *))
{
	struct slot s;
	pid_t pids[5];
	int64_t id;
	int i, status;

	for (i = 0; i < 5; i++) {
		if ((pids[i] = fork()) != 0)
			continue;
		if (i < 2)
			hammer_writer(t, i, stable);
		else if (i == 2)
			churner(t);
		else
			_exit(reader(t));
		_exit(0);
	}
	for (i = 0; i < 5; i++) {
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "process %d failed (status %d)", i, status);
	}
	for (id = 1; id <= stable; id++) {
		cr_assert_eq(slot_table_get(t, id, &s), 0);
		cr_assert(hammer_consistent(&s));
		cr_assert_eq(s.version, 2 * HAMMER_ROUNDS / stable);
	}
}

#endif
