/*
 * calendar_config: the configuration's [schedule] as calendar 1's
 * schedule and rules (the calendars API's JSON, which migration 0010's
 * functions read to make the slots).
 */
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

static void
calendar_from_config(const struct config *c, struct calendar *cal)
{
	struct cal_schedule *s = &cal->schedule;
	int i;

	calendar_defaults(cal);
	for (i = 0; i < c->hours.n; i++) {
		s->hours[i] = c->hours.w[i];
		if (s->hours[i].days == 0)	/* hours on the days key */
			s->hours[i].days = c->days;
	}
	s->nhours = c->hours.n;
	s->slot_minutes = c->slot_minutes;
	s->gap_minutes = c->gap_minutes;
	s->capacity = c->capacity;
	s->horizon_days = c->horizon_days;
	s->breaks = c->breaks;
	for (i = 0; i < c->days_off.n && i < SCHEDULE_MAX_DATES; i++)
		s->days_off[i] = c->days_off.day[i];
	s->ndays_off = i;
	memcpy(s->extra, c->extra_hours.x, sizeof(s->extra));
	s->nextra = c->extra_hours.n;
	cal->rules.min_notice_minutes = c->min_notice_minutes;
	cal->rules.max_advance_days = c->max_advance_days;
	cal->rules.cancel_notice_minutes = c->cancel_notice_minutes;
	cal->rules.max_slots_per_appointment = c->max_slots_per_appointment;
}

/* Calendar 1's schedule and rules as JSON (each malloc'd). */
void
calendar_config_json(const struct config *c, char **schedule, char **rules)
{
	struct calendar cal;

	calendar_from_config(c, &cal);
	*schedule = calendar_json(&cal, 0);
	*rules = calendar_json(&cal, 1);
}
