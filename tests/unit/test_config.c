/*
 * Unit tests of the configuration parser: defaults, every value type, and
 * errors that name file, line and key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotd.h"

static char	path[64];
static char	err[1024];

static struct config *
load(const char *text)
{
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/slotd-test-%d.conf", (int)getpid());
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
	err[0] = '\0';
	return config_load(path, err, sizeof(err));
}

static void
expect_error(const char *text, const char *needle)
{
	struct config *c = load(text);

	cr_assert_null(c, "accepted: %s", text);
	cr_assert(strstr(err, needle) != NULL, "error '%s' lacks '%s'", err,
	    needle);
	cr_assert(strncmp(err, path, strlen(path)) == 0, "no file in '%s'",
	    err);
	unlink(path);
}

Test(config, defaults)
{
	struct config *c = load("");

	cr_assert_not_null(c, "%s", err);
	cr_assert_str_eq(c->listen_host, "127.0.0.1");
	cr_assert_str_eq(c->listen_port, "8080");
	cr_assert_str_eq(c->shm_name, "/slotd");
	cr_assert_eq(c->max_slots, 262144);
	cr_assert_str_eq(c->conninfo, "");
	cr_assert_eq(c->pool_size, 4);
	cr_assert_str_eq(c->timezone, "UTC");
	cr_assert_eq(c->days, 0x3e);		/* mon..fri */
	cr_assert_eq(c->hours.n, 1);
	cr_assert_eq(c->hours.w[0].days, 0);
	cr_assert_eq(c->hours.w[0].r.start, 9 * 60);
	cr_assert_eq(c->hours.w[0].r.end, 18 * 60);
	cr_assert_eq(c->slot_minutes, 30);
	cr_assert_eq(c->capacity, 1);
	cr_assert_eq(c->max_slots_per_appointment, 1);
	cr_assert_eq(c->breaks.n, 0);
	cr_assert_eq(c->days_off.n, 0);
	cr_assert_eq(c->horizon_days, 60);
	cr_assert_eq(c->hold_ttl_seconds, 300);
	cr_assert_gt(c->workers, 0);
	config_free(c);
	unlink(path);
}

Test(config, every_type)
{
	struct config *c = load(
	    "[server]\nlisten = [::1]:9090\nworkers = 3\nshm_name = /x\n"
	    "max_slots = 1000\nlog_level = debug\n"
	    "[database]\nconninfo = host=/tmp dbname=slotd\npool_size = 8\n"
	    "[schedule]\ntimezone = Asia/Singapore\ndays = mon,wed, sat-sun\n"
	    "hours = 08:00-17:00\nslot_minutes = 20\ncapacity = 3\n"
	    "max_slots_per_appointment = 5\n"
	    "breaks = 12:00-13:00, 15:00-15:20\n"
	    "days_off = 2027-01-01, 2026-12-25\nhorizon_days = 30\n"
	    "[holds]\nttl_seconds = 120\n");

	cr_assert_not_null(c, "%s", err);
	cr_assert_str_eq(c->listen_host, "::1");
	cr_assert_str_eq(c->listen_port, "9090");
	cr_assert_eq(c->workers, 3);
	cr_assert_eq(c->log_level, LOG_LEVEL_DEBUG);
	cr_assert_str_eq(c->conninfo, "host=/tmp dbname=slotd");
	cr_assert_str_eq(c->timezone, "Asia/Singapore");
	cr_assert_eq(c->days, (1u << 1) | (1u << 3) | (1u << 6) | 1u);
	cr_assert_eq(c->breaks.n, 2);
	cr_assert_eq(c->breaks.range[1].start, 15 * 60);
	cr_assert_eq(c->breaks.range[1].end, 15 * 60 + 20);
	cr_assert_eq(c->days_off.n, 2);
	cr_assert_eq(c->days_off.day[0], tz_days_from_civil(2026, 12, 25));
	cr_assert_eq(c->hold_ttl_seconds, 120);
	config_free(c);
	unlink(path);
}

Test(config, errors_name_file_line_and_key)
{
	expect_error("[server]\nworkers = 2\nbogus = 1\n",
	    ":3: [server] bogus: unknown key");
	expect_error("[nosuch]\nx = 1\n", ":2: [nosuch] x: unknown key");
	expect_error("[server]\nworkers = many\n", ":2: [server] workers:");
	expect_error("[server]\nworkers = 2\nworkers = 3\n", "set twice");
	expect_error("[server]\nlisten = 8080\n", "[server] listen:");
	expect_error("[schedule]\ntimezone = Mars/Olympus\n",
	    "[schedule] timezone:");
	expect_error("[schedule]\ntimezone = ../../etc/passwd\n",
	    "[schedule] timezone:");
	expect_error("[schedule]\ndays = monday\n", "[schedule] days:");
	expect_error("[schedule]\nhours = 18:00-09:00\n", "[schedule] hours:");
	expect_error("[schedule]\nhours = 9:00-18:00\n", "[schedule] hours:");
	expect_error("[schedule]\nslot_minutes = 4\n", "slot_minutes");
	expect_error("[schedule]\nslot_minutes = 7\n", "does not divide");
	expect_error("[schedule]\ncapacity = 0\n", "[schedule] capacity:");
	expect_error("[schedule]\nmax_slots_per_appointment = 6\n",
	    "max_slots_per_appointment");
	expect_error("[schedule]\nbreaks = 12:00-13:00,\n", "breaks");
	expect_error("[schedule]\nbreaks = 07:00-08:00\n", "outside hours");
	expect_error("[schedule]\nbreaks = 12:00-13:00, 12:30-14:00\n",
	    "overlap");
	expect_error("[schedule]\ndays_off = 2026-02-30\n", "days_off");
	expect_error("[schedule]\nhorizon_days = 0\n", "horizon_days");
	expect_error("[server]\nthis line is not ini\n", ":2: syntax error");
}

/* A name every shm_open(3) takes: "/" and a name without "/". */
Test(config, shm_name_is_a_posix_name)
{
	static const char *const bad[] = { "/a/b", "slotd", "/", "//x",
	    "/slotd/", "/.", "/.." };
	char text[128];
	struct config *c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nworkers = 1\n"
		    "shm_name = %s\n", bad[i]);
		expect_error(text, ":3: [server] shm_name:");
	}
	c = load("[server]\nshm_name = /slotd-2.b_c\n");
	cr_assert_not_null(c, "%s", err);
	cr_assert_str_eq(c->shm_name, "/slotd-2.b_c");
	config_free(c);
	unlink(path);
}

Test(config, missing_file)
{
	cr_assert_null(config_load("/nonexistent/slotd.conf", err,
	    sizeof(err)));
	cr_assert(strstr(err, "/nonexistent/slotd.conf: cannot open") != NULL);
}

/* The shipped sample must load and mention every key. */
Test(config, sample_documents_every_key)
{
	const struct config_param *params;
	char sample[512], *text;
	struct config *c;
	FILE *fp;
	long len;
	size_t i, n;
	char needle[128];

	snprintf(sample, sizeof(sample), "%s/etc/slotd.conf.sample", SRCDIR);
	c = config_load(sample, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	config_free(c);
	fp = fopen(sample, "r");
	cr_assert_not_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)len + 1);
	cr_assert_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	params = config_params(&n);
	for (i = 0; i < n; i++) {
		snprintf(needle, sizeof(needle), "\n%s =", params[i].key);
		cr_assert(strstr(text, needle) != NULL ||
		    (snprintf(needle, sizeof(needle), "\n;%s =", params[i].key),
		    strstr(text, needle) != NULL),
		    "sample lacks [%s] %s", params[i].section, params[i].key);
	}
	free(text);
}
