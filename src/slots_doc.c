/*
 * slots_doc: the GET /slots document of a window (the calendars, days and
 * filters of a slots_query), read from the shared slot table: its slots,
 * the change counters that tag it, and its JSON or MessagePack form.
 * GET /slots (route_slots.c) and the live streams (stream.c) both answer
 * with it, so a stream's snapshot is byte for byte the read's body.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "slotd.h"

/* One slot's document. */
void
slots_doc_slot(struct emit *e, const struct slot *s)
{
	char buf[40];

	emit_map(e, 7);
	emit_key(e, "id");
	emit_int(e, s->id);
	emit_key(e, "calendarId");
	emit_int(e, s->calendar_id);
	emit_key(e, "startTime");
	emit_strn(e, buf, tz_format_rfc3339(s->start, buf, sizeof(buf)));
	emit_key(e, "endTime");
	emit_strn(e, buf, tz_format_rfc3339(s->end, buf, sizeof(buf)));
	emit_key(e, "capacity");
	emit_int(e, s->capacity);
	emit_key(e, "booked");
	emit_int(e, s->booked);
	emit_key(e, "availability");
	emit_int(e, s->capacity > s->booked ? s->capacity - s->booked : 0);
	emit_end(e);
}

/* The simple form names the calendar when the query named calendars (and
 * stays as it was before calendars when it did not). */
static void
emit_simple_slot(struct emit *e, const struct slot *s, int calendars)
{
	char date[11], hhmm[6];

	tz_format_local(s->start, date, hhmm);
	emit_map(e, 3 + (calendars != 0));
	if (calendars) {
		emit_key(e, "calendarId");
		emit_int(e, s->calendar_id);
	}
	emit_key(e, "date");
	emit_str(e, date);
	emit_key(e, "time");
	emit_str(e, hhmm);
	emit_key(e, "available_slots");
	emit_int(e, s->capacity > s->booked ? s->capacity - s->booked : 0);
	emit_end(e);
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->calendar_id != y->calendar_id)
		return x->calendar_id < y->calendar_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The slots of the query's calendars starting in [from, to), ordered by
 * start time then calendar, into *buf (grown as needed); only the free
 * ones when the query says available, and at most its limit.  Returns how
 * many. */
size_t
slots_doc_fetch(struct slot_table *t, const struct slots_query *sq,
    int64_t from, int64_t to, struct slot **buf, size_t *cap)
{
	static struct slot *one;
	static size_t one_cap;
	size_t n = 0, k, i, shown;
	int c;

	if (sq->ncalendars == 1)
		n = slot_table_calendar_range_grow(t, sq->calendars[0], from,
		    to, buf, cap);
	for (c = 0; sq->ncalendars > 1 && c < sq->ncalendars; c++) {
		k = slot_table_calendar_range_grow(t, sq->calendars[c], from,
		    to, &one, &one_cap);
		if (k == (size_t)-1)
			fatalx("%s: out of memory", __func__);
		if (n + k > *cap) {
			*cap = n + k;
			*buf = xreallocarray(*buf, *cap, sizeof(**buf));
		}
		memcpy(*buf + n, one, k * sizeof(*one));
		n += k;
	}
	if (n == (size_t)-1)
		fatalx("%s: out of memory", __func__);
	if (sq->ncalendars > 1)
		qsort(*buf, n, sizeof(**buf), slot_cmp);
	shown = n;
	if (sq->available) {
		for (i = shown = 0; i < n; i++)
			if ((*buf)[i].booked < (*buf)[i].capacity)
				(*buf)[shown++] = (*buf)[i];
	}
	if (sq->limit > 0 && shown > (size_t)sq->limit)
		shown = (size_t)sq->limit;
	return shown;
}

/* The change counters of the query's calendars over [from, to), together:
 * any change of any of them moves the sum.  Read it before the slots. */
uint64_t
slots_doc_changes(struct slot_table *t, const struct slots_query *sq,
    int64_t from, int64_t to)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < sq->ncalendars; i++)
		sum += slot_table_calendar_changes(t, sq->calendars[i], from,
		    to);
	return sum;
}

/* The document of the n slots into body, in the query's form, in the
 * zone in use (tz_use). */
void
slots_doc_emit(struct evbuffer *body, const struct slots_query *sq,
    const struct slot *slots, size_t n)
{
	struct emit *e = emit_new(body, sq->msgpack);
	char date[11];
	int y, m, d;
	size_t i;

	if (!sq->simple) {
		tz_civil_from_days(sq->day, &y, &m, &d);
		snprintf(date, sizeof(date), "%04d-%02d-%02d", y, m, d);
		emit_map(e, 3);
		emit_key(e, "date");
		emit_str(e, date);
		emit_key(e, "timezone");
		emit_str(e, sq->zone);
		emit_key(e, "slots");
	}
	emit_array(e, n);
	for (i = 0; i < n; i++) {
		if (sq->simple)
			emit_simple_slot(e, &slots[i], sq->calendar_given);
		else
			slots_doc_slot(e, &slots[i]);
	}
	emit_end(e);
	if (!sq->simple)
		emit_end(e);
	emit_free(e);
}
