/*
 * Unit tests of the parameter table's generic operations: the check of its
 * rows, keeping keys that need a restart over a reload, and freeing what a
 * configuration owns, each by the key's type.  Tables of their own give the
 * tests keys the shipped table lacks (no bool or enum key needs a restart
 * today).
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

static struct config *
load(const char *text)
{
	char err[1024];
	struct config *c = config_load_text("t.conf", text, err, sizeof(err));

	cr_assert_not_null(c, "%s", err);
	return c;
}

Test(config_table, shipped_table_is_consistent)
{
	const struct config_param *params;
	char err[256] = "";
	size_t n;

	params = config_params(&n);
	cr_assert_eq(config_table_check(params, n, err, sizeof(err)), 0, "%s",
	    err);
}

static int
accept_any(const char *v, struct config *c, char *err, size_t errlen)
{
	(void)v, (void)c, (void)err, (void)errlen;
	return 0;
}

/* Each row contradicts itself in one way; the check names it. */
Test(config_table, inconsistent_rows_are_refused)
{
	static const struct {
		struct config_param row;
		const char *why;
	} bad[] = {
		{ { "s", "string_on_int", CF_STRING, "", 1,
		    CONFIG_FIELD(workers), 0, 256, NULL, NULL, "" },
		    "[s] string_on_int: the field does not have its type" },
		{ { "s", "int_on_string", CF_INT, "1", 1,
		    CONFIG_FIELD(conninfo), 0, 256, NULL, NULL, "" },
		    "the field does not have its type" },
		{ { "s", "bool_range", CF_BOOL, "on", 1,
		    CONFIG_FIELD(access_log), 0, 1, NULL, NULL, "" },
		    "a range, which only int and string keys take" },
		{ { "s", "empty_range", CF_INT, "1", 1, CONFIG_FIELD(workers),
		    5, 1, NULL, NULL, "" }, "empty or below zero" },
		{ { "s", "negative_length", CF_STRING, "", 1,
		    CONFIG_FIELD(conninfo), -1, 10, NULL, NULL, "" },
		    "empty or below zero" },
		{ { "s", "enum_without_names", CF_ENUM, "info", 1,
		    CONFIG_FIELD(log_level), 0, 0, NULL, NULL, "" },
		    "names" },
		{ { "s", "int_with_names", CF_INT, "1", 1,
		    CONFIG_FIELD(workers), 0, 9, log_level_names, NULL, "" },
		    "names" },
		{ { "s", "int_with_check", CF_INT, "1", 1,
		    CONFIG_FIELD(workers), 0, 9, NULL, accept_any, "" },
		    "a check, which only string keys take" },
		{ { "s", "dates_kept", CF_DATES, "", 0,
		    CONFIG_FIELD(days_off), 0, 0, NULL, NULL, "" },
		    "cannot be kept over a reload" },
		{ { "s", "no_default", CF_INT, NULL, 1, CONFIG_FIELD(workers),
		    0, 9, NULL, NULL, "" }, "no default" },
		{ { "s", "no_such_type", (enum config_type)99, "", 1,
		    CONFIG_FIELD(workers), 0, 0, NULL, NULL, "" },
		    "a type without a row" },
	};
	struct config_param twice[2] = { bad[3].row, bad[3].row };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(config_table_check(&bad[i].row, 1, err,
		    sizeof(err)), -1, "accepted [s] %s", bad[i].row.key);
		cr_assert(strstr(err, bad[i].why) != NULL,
		    "'%s' lacks '%s'", err, bad[i].why);
	}
	twice[0].min = twice[1].min = 0;
	cr_assert_eq(config_table_check(twice, 2, err, sizeof(err)), -1);
	cr_assert(strstr(err, "[s] empty_range: declared twice") != NULL,
	    "%s", err);
}

/* Keys of other types than string and int that need a restart.  Before
 * the type column, config_keep_restart_keys took each such key that was
 * not read by parse_int for a string, and crashed in strcmp. */
static const struct config_param restart_values[] = {
	{ "server", "access_log", CF_BOOL, "on", 0, CONFIG_FIELD(access_log),
	    0, 0, NULL, NULL, "" },
	{ "server", "log_level", CF_ENUM, "info", 0, CONFIG_FIELD(log_level),
	    0, 0, log_level_names, NULL, "" },
	{ "schedule", "days", CF_DAYS, "mon-fri", 0, CONFIG_FIELD(days), 0, 0,
	    NULL, NULL, "" },
	{ "schedule", "breaks", CF_TIME_RANGES, "", 0, CONFIG_FIELD(breaks),
	    0, 0, NULL, NULL, "" },
};
#define NRESTART_VALUES	(sizeof(restart_values) / sizeof(restart_values[0]))

Test(config_table, bool_and_enum_that_need_a_restart_keep_their_values)
{
	struct config *old = load("[server]\naccess_log = on\n"
	    "log_level = debug\n[schedule]\ndays = sat\n"
	    "breaks = 12:00-13:00\n");
	struct config *new = load("[server]\naccess_log = off\n"
	    "log_level = error\n[schedule]\ndays = mon\nbreaks =\n"
	    "capacity = 7\n");
	char err[256];

	cr_assert_eq(config_table_check(restart_values, NRESTART_VALUES, err,
	    sizeof(err)), 0, "%s", err);
	config_table_keep(restart_values, NRESTART_VALUES, old, new);
	cr_assert_eq(new->access_log, 1);
	cr_assert_eq(new->log_level, LOG_LEVEL_DEBUG);
	cr_assert_eq(new->days, 1u << 6);
	cr_assert_eq(new->breaks.n, 1);
	cr_assert_eq(new->breaks.range[0].start, 12 * 60);
	cr_assert_eq(new->capacity, 7);		/* reloadable: the new one */
	cr_assert_eq(old->access_log, 1);
	cr_assert_eq(old->log_level, LOG_LEVEL_DEBUG);
	config_free(old);
	config_free(new);
}

/* The shipped table's string keys that need a restart: each keeps its
 * own copy of the running value (so that freeing both configurations
 * frees each string once), and what [server] listen derives follows. */
Test(config_table, strings_that_need_a_restart_keep_their_values)
{
	struct config *old = load("[server]\nlisten = 127.0.0.1:8080\n"
	    "shm_name = /old\n[database]\nconninfo = host=old\n");
	struct config *new = load("[server]\nlisten = [::1]:9090\n"
	    "shm_name = /new\n[database]\nconninfo = host=new\n"
	    "[schedule]\ncapacity = 7\n");

	config_keep_restart_keys(old, new);
	cr_assert_str_eq(new->conninfo, "host=old");
	cr_assert_neq(new->conninfo, old->conninfo);
	cr_assert_str_eq(new->shm_name, "/old");
	cr_assert_str_eq(new->listen, "127.0.0.1:8080");
	cr_assert_str_eq(new->listen_host, "127.0.0.1");
	cr_assert_str_eq(new->listen_port, "8080");
	cr_assert_eq(new->capacity, 7);
	config_free(old);
	cr_assert_str_eq(new->conninfo, "host=old");
	config_free(new);
}

/* After config_table_free, exactly the fields that own memory (strings,
 * lists of dates) are cleared, and no other byte of the configuration
 * has changed. */
static void
expect_frees_exactly_the_owned(const struct config_param *tab, size_t n,
    struct config *c)
{
	struct config before;
	size_t i;

	memcpy(&before, c, sizeof(before));
	config_table_free(tab, n, c);
	for (i = 0; i < n; i++) {
		char *f = (char *)&before + tab[i].offset;

		if (tab[i].type == CF_STRING) {
			cr_assert_null(*(char **)((char *)c + tab[i].offset),
			    "[%s] %s not freed", tab[i].section, tab[i].key);
			*(char **)f = NULL;
		} else if (tab[i].type == CF_DATES) {
			memset(f, 0, sizeof(struct date_list));
		}
	}
	cr_assert_eq(memcmp(&before, c, sizeof(before)), 0,
	    "config_table_free changed a field it does not own");
}

Test(config_table, free_releases_exactly_the_strings_and_dates)
{
	const struct config_param *params;
	struct config *c = load("[server]\naccess_log = off\n"
	    "[schedule]\ndays_off = 2026-12-25, 2027-01-01\n"
	    "[auth]\nissuer = https://id.example\n");
	size_t n;

	params = config_params(&n);
	expect_frees_exactly_the_owned(params, n, c);
	config_free(c);		/* cleared: nothing is freed twice */
}

/* A string key with a check of its own is freed all the same: the type
 * says what a field owns, whatever reads it (before the type column, a
 * string key was freed only if its parser was on a list). */
Test(config_table, free_goes_by_type_not_by_reader)
{
	static const struct config_param tab[] = {
		{ "auth", "issuer", CF_STRING, "", 1, CONFIG_FIELD(jwt_issuer),
		    0, 1024, NULL, accept_any, "" },
		{ "server", "workers", CF_INT, "1", 1, CONFIG_FIELD(workers),
		    0, 9, NULL, NULL, "" },
		{ "server", "access_log", CF_BOOL, "on", 1,
		    CONFIG_FIELD(access_log), 0, 0, NULL, NULL, "" },
	};
	struct config *c = calloc(1, sizeof(*c));
	char err[256];
	size_t i, n = sizeof(tab) / sizeof(tab[0]);

	cr_assert_eq(config_table_check(tab, n, err, sizeof(err)), 0, "%s",
	    err);
	for (i = 0; i < n; i++)
		cr_assert_eq(config_table_set(&tab[i], tab[i].key[0] == 'i' ?
		    "https://id.example" : "1", c, err, sizeof(err)), 0, "%s",
		    err);
	cr_assert_str_eq(c->jwt_issuer, "https://id.example");
	expect_frees_exactly_the_owned(tab, n, c);
	cr_assert_eq(c->workers, 1);
	cr_assert_eq(c->access_log, 1);
	free(c);
}
