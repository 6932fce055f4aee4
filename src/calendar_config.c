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
	s->nhours = 1;
	s->hours[0].days = c->days;
	s->hours[0].r = c->hours;
	s->slot_minutes = c->slot_minutes;
	s->capacity = c->capacity;
	s->horizon_days = c->horizon_days;
	s->breaks = c->breaks;
	for (i = 0; i < c->days_off.n && i < SCHEDULE_MAX_DATES; i++)
		s->days_off[i] = c->days_off.day[i];
	s->ndays_off = i;
	cal->rules.max_slots_per_appointment = c->max_slots_per_appointment;
}

char *
calendar_config_schedule(const struct config *c)
{
	struct calendar cal;

	calendar_from_config(c, &cal);
	return calendar_json(&cal, 0);
}

char *
calendar_config_rules(const struct config *c)
{
	struct calendar cal;

	calendar_from_config(c, &cal);
	return calendar_json(&cal, 1);
}
