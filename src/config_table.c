/*
 * config_table: what each type of configuration key means: how a value of
 * it is read into its field, kept over a reload, and freed.  Every generic
 * operation switches on the key's type (enum config_type).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slotd.h"

static int
parse_bool(const char *v, int *out, char *err, size_t errlen)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*out = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return config_value_fail(err, errlen, "'%s' is not on or off", v);
}

/* The index of v in names: "'x' is not none or jwt" when it is none of
 * two, "... not one of a, b, c" of more. */
static int
parse_enum(const char *v, const char *const *names, int *out, char *err,
    size_t errlen)
{
	char list[256];
	size_t n, len = 0;

	for (n = 0; names[n] != NULL; n++) {
		if (strcmp(v, names[n]) == 0) {
			*out = (int)n;
			return 0;
		}
	}
	if (n == 2)
		return config_value_fail(err, errlen, "'%s' is not %s or %s",
		    v, names[0], names[1]);
	for (n = 0; names[n] != NULL && len < sizeof(list); n++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		    n > 0 ? ", " : "", names[n]);
	return config_value_fail(err, errlen, "'%s' is not one of %s", v,
	    list);
}

static int
proxy_item(const char *s, size_t len, void *arg)
{
	struct cidr_list *l = arg;

	if (l->n == (int)(sizeof(l->range) / sizeof(l->range[0])) ||
	    ratelimit_parse_cidr(s, len, &l->range[l->n]) == -1)
		return -1;
	l->n++;
	return 0;
}

static int
parse_proxies(const char *v, struct cidr_list *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (*v != '\0' && config_value_each(v, proxy_item, l) == -1)
		return config_value_fail(err, errlen, "'%s' is not a list of "
		    "at most 32 addresses or ranges like 10.0.0.0/8", v);
	return 0;
}

/* One delay: a positive number and its unit, s, m or h. */
static int
duration_item(const char *s, size_t len, void *arg)
{
	struct durations *d = arg;
	long n = 0, unit;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9' && n < 1000000; i++)
		n = n * 10 + (s[i] - '0');
	if (i == 0 || i + 1 != len || n == 0 || d->n == DURATIONS_MAX)
		return -1;
	switch (s[i]) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	default: return -1;
	}
	if (n * unit > 7 * 86400)
		return -1;
	d->seconds[d->n++] = (int)(n * unit);
	return 0;
}

static int
parse_durations(const char *v, struct durations *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	if (config_value_each(v, duration_item, d) == -1 || d->n == 0)
		return config_value_fail(err, errlen, "'%s' is not a list of at "
		    "most %d delays like 5s, 5m, 2h (each up to 7 days)", v,
		    DURATIONS_MAX);
	return 0;
}

/* Set p's field in c from v, by p's type; -1 with err set when v is no
 * value of it. */
int
config_table_set(const struct config_param *p, const char *v,
    struct config *c, char *err, size_t errlen)
{
	void *field = (char *)c + p->offset;
	char **s = field;
	long n;

	switch (p->type) {
	case CF_INT:
		if (config_value_long(v, p->min, p->max, &n) == -1)
			return config_value_fail(err, errlen, "'%s' is not an "
			    "integer in %ld..%ld", v, p->min, p->max);
		*(int *)field = (int)n;
		return 0;
	case CF_BOOL:
		return parse_bool(v, field, err, errlen);
	case CF_ENUM:
		return parse_enum(v, p->names, field, err, errlen);
	case CF_STRING:
		if (p->check != NULL && p->check(v, c, err, errlen) == -1)
			return -1;
		if ((long)strlen(v) < p->min || (long)strlen(v) > p->max)
			return config_value_fail(err, errlen, "length must be "
			    "%ld..%ld", p->min, p->max);
		free(*s);
		*s = xstrdup(v);
		return 0;
	case CF_DAYS:
		return schedule_config_days(v, field, err, errlen);
	case CF_WINDOWS:
		return schedule_config_windows(v, field, err, errlen);
	case CF_EXTRAS:
		return schedule_config_extras(v, field, err, errlen);
	case CF_TIME_RANGES:
		return schedule_config_ranges(v, field, err, errlen);
	case CF_DATES:
		return schedule_config_dates(v, field, err, errlen);
	case CF_CIDRS:
		return parse_proxies(v, field, err, errlen);
	case CF_DURATIONS:
		return parse_durations(v, field, err, errlen);
	}
	return config_value_fail(err, errlen, "no type %d", (int)p->type);
}

/* Per type: the size of its field, and what of it is the config's own (a
 * string, an array of dates), to be freed with it and copied to keep it.
 * A type without a row here has size 0, and config_table_check refuses
 * keys of it. */
enum holding { HOLDS_VALUE, HOLDS_STRING, HOLDS_DATES };
static const struct {
	size_t		size;
	enum holding	holds;
} types[] = {
	[CF_INT] =		{ sizeof(int), HOLDS_VALUE },
	[CF_BOOL] =		{ sizeof(int), HOLDS_VALUE },
	[CF_ENUM] =		{ sizeof(int), HOLDS_VALUE },
	[CF_STRING] =		{ sizeof(char *), HOLDS_STRING },
	[CF_DAYS] =		{ sizeof(unsigned), HOLDS_VALUE },
	[CF_WINDOWS] =		{ sizeof(struct schedule_windows), HOLDS_VALUE },
	[CF_EXTRAS] =		{ sizeof(struct schedule_extras), HOLDS_VALUE },
	[CF_TIME_RANGES] =	{ sizeof(struct time_ranges), HOLDS_VALUE },
	[CF_DATES] =		{ sizeof(struct date_list), HOLDS_DATES },
	[CF_CIDRS] =		{ sizeof(struct cidr_list), HOLDS_VALUE },
	[CF_DURATIONS] =	{ sizeof(struct durations), HOLDS_VALUE },
};
#define NTYPES	(sizeof(types) / sizeof(types[0]))

/* 0 when every row of tab agrees with itself, else -1 with err naming the
 * first that does not ("[s] key: why"). */
int
config_table_check(const struct config_param *tab, size_t n, char *err,
    size_t errlen)
{
	const struct config_param *p;
	const char *why;
	size_t i, j;

	for (i = 0; i < n; i++) {
		p = &tab[i];
		why = NULL;
		if ((size_t)p->type >= NTYPES || types[p->type].size == 0)
			why = "a type without a row in types";
		else if (p->size != types[p->type].size)
			why = "the field does not have its type's size";
		else if (p->defval == NULL)
			why = "no default";
		else if (p->type != CF_INT && p->type != CF_STRING &&
		    (p->min != 0 || p->max != 0))
			why = "a range, which only int and string keys take";
		else if (p->min > p->max ||
		    (p->type == CF_STRING && p->min < 0))
			why = "a range that is empty or below zero";
		else if ((p->type == CF_ENUM) != (p->names != NULL))
			why = "names, which enum keys and only they take";
		else if (p->check != NULL && p->type != CF_STRING)
			why = "a check, which only string keys take";
		else if (!p->reloadable && types[p->type].holds == HOLDS_DATES)
			why = "a list of dates cannot be kept over a reload";
		for (j = 0; why == NULL && j < i; j++)
			if (strcmp(tab[j].section, p->section) == 0 &&
			    strcmp(tab[j].key, p->key) == 0)
				why = "declared twice";
		if (why != NULL)
			return config_value_fail(err, errlen, "[%s] %s: %s",
			    p->section, p->key, why);
	}
	return 0;
}

/* Keys of tab that a reload may not change take old's values in new; a
 * string is copied, everything else (no pointers) by value. */
void
config_table_keep(const struct config_param *tab, size_t n,
    const struct config *old, struct config *new)
{
	const struct config_param *p;
	const void *o;
	void *w;
	char **s, why[384];
	size_t i;

	for (i = 0; i < n; i++) {
		p = &tab[i];
		if (p->reloadable)
			continue;
		o = (const char *)old + p->offset;
		w = (char *)new + p->offset;
		switch (types[p->type].holds) {
		case HOLDS_STRING:
			s = w;
			if (strcmp(*(char *const *)o, *s) == 0)
				continue;
			free(*s);
			*s = xstrdup(*(char *const *)o);
			/* What the check derives follows the value; a
			 * value it passed before passes again. */
			if (p->check != NULL &&
			    p->check(*s, new, why, sizeof(why)) == -1)
				fatalx("%s: [%s] %s: %s", __func__,
				    p->section, p->key, why);
			break;
		case HOLDS_DATES:	/* refused by config_table_check */
			fatalx("%s: [%s] %s: cannot be kept", __func__,
			    p->section, p->key);
		case HOLDS_VALUE:
			if (memcmp(o, w, p->size) == 0)
				continue;
			memcpy(w, o, p->size);
			break;
		}
		log_warnx("reload: [%s] %s changed but needs a restart; the "
		    "running value stays", p->section, p->key);
	}
}

/* Free what the fields of tab own in c (strings, lists of dates), and
 * clear those fields. */
void
config_table_free(const struct config_param *tab, size_t n,
    struct config *c)
{
	struct date_list *dates;
	char **s;
	void *field;
	size_t i;

	for (i = 0; i < n; i++) {
		field = (char *)c + tab[i].offset;
		switch (types[tab[i].type].holds) {
		case HOLDS_STRING:
			s = field;
			free(*s);
			*s = NULL;
			break;
		case HOLDS_DATES:
			dates = field;
			free(dates->day);
			dates->day = NULL;
			dates->n = 0;
			break;
		case HOLDS_VALUE:
			break;
		}
	}
}
