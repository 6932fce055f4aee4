/*
 * Figures of the slot table at a million slots over ten thousand calendars:
 * a full load, one change and its publish, ranges and tags.  Built on
 * request (make tests/unit/bench_slot_table), never run by make check.
 *
 *   bench_slot_table [slots [calendars]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "slot_table.h"

#define BASE	1800000000		/* a Friday, 08:00 UTC */
#define DAY	86400
#define PER_DAY	10
#define ROUNDS	50

static int64_t	calendars;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Slot id (from 1): calendars take turns; each has PER_DAY a day. */
static struct slot
bench_slot(int64_t id)
{
	int64_t c = (id - 1) % calendars, k = (id - 1) / calendars;
	struct slot s = { .id = id, .calendar_id = c + 1, .version = 1,
	    .capacity = 3 };

	s.start = BASE + k / PER_DAY * DAY + k % PER_DAY * 1800;
	s.end = s.start + 1800;
	return s;
}

static void
report(const char *what, double seconds, int rounds)
{
	printf("%-44s %10.3f ms\n", what, seconds * 1000 / rounds);
}

enum change { SEAT, INSERT, MOVE, REMOVAL };

/* ROUNDS single changes of one kind, each published: the time of one. */
static void
one_change(struct slot_table *t, int64_t slots, const char *what,
    enum change kind)
{
	struct slot s;
	double a = now();
	int i;

	for (i = 0; i < ROUNDS; i++) {
		s = bench_slot(kind == SEAT ? 1 + i * 7919 % slots :
		    slots + 1 + i);
		s.start += kind == MOVE ? 3600 : kind == INSERT ? 900 : 0;
		s.version = kind == MOVE ? 3 : 2;
		s.booked = 1;
		if (kind == REMOVAL)
			slot_table_remove(t, s.id);
		else
			slot_table_apply(t, &s, 0);
		slot_table_publish(t);
	}
	report(what, now() - a, ROUNDS);
}

int
main(int argc, char **argv)
{
	int64_t slots = argc > 1 ? atoll(argv[1]) : 1000000, i, *order, j, x;
	struct slot_table *t;
	struct slot s, *buf = NULL;
	size_t cap = 0, n = 0;
	uint64_t tag = 0;
	char name[64];
	double a;

	calendars = argc > 2 ? atoll(argv[2]) : 10000;
	snprintf(name, sizeof(name), "/slotd-bench-%d", (int)getpid());
	if ((t = slot_table_create(name, (uint32_t)(slots + slots / 4))) ==
	    NULL) {
		perror("slot_table_create");
		return 1;
	}
	printf("%lld slots, %lld calendars, segment %.1f MB (%zu bytes a "
	    "slot of max_slots)\n", (long long)slots, (long long)calendars,
	    slot_table_segment_size((uint32_t)(slots + slots / 4)) / 1e6,
	    slot_table_segment_size((uint32_t)(slots + slots / 4)) /
	    (size_t)(slots + slots / 4));

	/* The load, in an order unrelated to either index. */
	order = calloc((size_t)slots, sizeof(*order));
	for (i = 0; i < slots; i++)
		order[i] = i + 1;
	srand(1);
	for (i = slots - 1; i > 0; i--) {
		j = rand() % (i + 1);
		x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	a = now();
	slot_table_load_begin(t);
	for (i = 0; i < slots; i++) {
		s = bench_slot(order[i]);
		slot_table_apply(t, &s, SLOT_APPLY_LOAD);
	}
	report("full load: apply every slot", now() - a, 1);
	a = now();
	slot_table_load_sweep(t);
	report("full load: sweep and first publish", now() - a, 1);

	a = now();
	slot_table_load_begin(t);
	for (i = 0; i < slots; i++) {
		s = bench_slot(order[i]);
		slot_table_apply(t, &s, SLOT_APPLY_LOAD);
	}
	slot_table_load_sweep(t);
	report("reload, nothing changed", now() - a, 1);
	free(order);

	one_change(t, slots, "one seat change + publish", SEAT);
	one_change(t, slots, "one insert + publish", INSERT);
	one_change(t, slots, "one move + publish", MOVE);
	one_change(t, slots, "one removal + publish", REMOVAL);

	a = now();
	for (i = 0; i < ROUNDS; i++)
		n = slot_table_range_grow(t, BASE + i % 10 * DAY,
		    BASE + (i % 10 + 1) * DAY, &buf, &cap);
	printf("%-44s %10.3f ms (%zu slots)\n", "a day, all calendars",
	    (now() - a) * 1000 / ROUNDS, n);
	a = now();
	for (i = 0; i < ROUNDS * 100; i++)
		n = slot_table_calendar_range_grow(t, 1 + i * 37 % calendars,
		    BASE + i % 10 * DAY, BASE + (i % 10 + 1) * DAY, &buf, &cap);
	printf("%-44s %10.3f us (%zu slots)\n", "a day, one calendar",
	    (now() - a) * 1e6 / (ROUNDS * 100), n);
	a = now();
	for (i = 1; i <= calendars; i++)
		n = slot_table_calendar_range_grow(t, i, BASE, BASE + DAY, &buf,
		    &cap);
	report("a day of every calendar, one by one", now() - a, 1);
	a = now();
	for (i = 0; i < ROUNDS * 100; i++)
		tag += slot_table_calendar_changes(t, 1 + i * 37 % calendars,
		    BASE + i % 10 * DAY, BASE + (i % 10 + 1) * DAY);
	printf("%-44s %10.3f us\n", "tag of a day, one calendar",
	    (now() - a) * 1e6 / (ROUNDS * 100));
	a = now();
	for (i = 0; i < ROUNDS * 100; i++)
		tag += slot_table_calendar_changes(t, 1 + i * 37 % calendars,
		    BASE, BASE + 31 * DAY);
	printf("%-44s %10.3f us\n", "tag of 31 days, one calendar",
	    (now() - a) * 1e6 / (ROUNDS * 100));
	a = now();
	for (i = 0; i < ROUNDS * 100; i++)
		tag += slot_table_changes(t, BASE, BASE + DAY);
	printf("%-44s %10.3f us\n", "tag of a day, all calendars",
	    (now() - a) * 1e6 / (ROUNDS * 100));
	free(buf);
	slot_table_close(t);
	slot_table_unlink(name);
	return tag == 42;
}
