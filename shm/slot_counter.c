/*
 * slot_counter.c: the slot table's change counters, the ETags of its ranges
 * (part of the slot table, see slot_table_int.h).
 *
 * Every change to a slot bumps two counters: its hour's, in an array of
 * CHANGE_BUCKETS hours (all calendars), and its (calendar, hour)'s, in an
 * array addressed by a hash of the two.  A hash collision only makes a tag
 * move more often than it must (a needless revalidation), never less.  The
 * hours of one calendar come in groups of CAL_GROUP sharing a cache line,
 * so a day's tag reads three or four lines.  A full reload or a repair
 * bumps `resets`, which every tag counts: then all of them move.
 */
#include "slot_table_int.h"

/* Tags over more hours than this count every change of the table. */
#define CAL_SPAN_MAX	(1 << 14)		/* ~22 months */

/* Calendar-hour counters for a table of max_slots: one per slot or more. */
size_t
counter_buckets_for(uint32_t max_slots)
{
	size_t n = CAL_BUCKETS_MIN;

	while (n < max_slots)
		n <<= 1;
	return n;
}

/* Hours by floor, so that the hour before 0 is -1, not 0. */
static int64_t
hour_of(int64_t t)
{
	return t / HOUR - (t % HOUR < 0);
}

/* The first of the CAL_GROUP calendar-hour counters of calendar_id's
 * group of hours holding hour; the hour's own is at hour % CAL_GROUP. */
static uint64_t
counter_cal_group(const struct slot_table *t, int64_t calendar_id,
    int64_t hour)
{
	uint64_t x = (uint64_t)calendar_id * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)(hour / CAL_GROUP - (hour % CAL_GROUP < 0));

	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x * CAL_GROUP & t->h->cal_mask;
}

/* A slot of calendar_id starting at start changed, or appeared to readers;
 * the caller made the change visible first. */
void
counter_bump(struct slot_table *t, int64_t calendar_id, int64_t start)
{
	int64_t hour = hour_of(start);

	__atomic_add_fetch(&t->counters[(uint64_t)hour & (CHANGE_BUCKETS - 1)],
	    1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&t->cal_counters[counter_cal_group(t, calendar_id,
	    hour) | (uint64_t)(hour & (CAL_GROUP - 1))], 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&t->h->changes, 1, __ATOMIC_RELEASE);
}

/* The sum of the counters of the hours [from, to): of all calendars when
 * calendar_id is NULL, else of that calendar's. */
static uint64_t
counter_sum(struct slot_table *t, const int64_t *calendar_id, int64_t from,
    int64_t to)
{
	uint64_t sum = LOAD_ACQ(&t->h->resets) << 40, group = 0, *p;
	int64_t hour, first, last;

	/* Resets sit far above any sum of hour counters: each moves a tag. */
	if (to <= from)
		return sum;
	first = hour_of(from);
	last = hour_of(to - 1);
	/* More hours than buckets: every change counts. */
	if (last - first >= (calendar_id != NULL ? CAL_SPAN_MAX :
	    (int64_t)CHANGE_BUCKETS))
		return sum + LOAD_ACQ(&t->h->changes);
	for (hour = first; hour <= last; hour++) {
		if (calendar_id == NULL)
			p = &t->counters[(uint64_t)hour & (CHANGE_BUCKETS - 1)];
		else {
			if (hour == first || (hour & (CAL_GROUP - 1)) == 0)
				group = counter_cal_group(t, *calendar_id, hour);
			p = &t->cal_counters[group |
			    (uint64_t)(hour & (CAL_GROUP - 1))];
		}
		sum += LOAD_ACQ(p);
	}
	return sum;
}

uint64_t
slot_table_changes(struct slot_table *t, int64_t from, int64_t to)
{
	return counter_sum(t, NULL, from, to);
}

uint64_t
slot_table_calendar_changes(struct slot_table *t, int64_t calendar_id,
    int64_t from, int64_t to)
{
	return counter_sum(t, &calendar_id, from, to);
}
