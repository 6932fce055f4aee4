/*
 * Unit tests of the statements' contract (db_statements.c): every SQL
 * file uses exactly the parameters declared, arguments reach each
 * statement in its $n order, a missing argument stops the process, and a
 * result with other columns than declared is refused.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <string.h>

#include "slotd.h"

Test(statements, every_sql_file_uses_the_parameters_declared)
{
	int i;

	db_statements_init();		/* exits when one does not */
	for (i = 0; i < DB_NSTMTS; i++) {
		cr_assert_not_null(db_statement(i)->name);
		cr_assert_not_null(db_statement_sql(i), "%s",
		    db_statement(i)->name);
	}
	cr_assert_eq(n_statement_texts, DB_NSTMTS);
}

Test(statements, logged_statements_write_the_change_log)
{
	db_statements_init();
	cr_assert_not_null(strstr(db_statement_sql(DB_BOOK),
	    "INSERT INTO slot_changes"));
	cr_assert_not_null(strstr(db_statement_sql(DB_BOOK_LEAN),
	    "INSERT INTO slot_changes"));
	cr_assert_not_null(strstr(db_statement_sql(DB_BOOK_BATCH),
	    "INSERT INTO slot_changes"));
	cr_assert_null(strstr(db_statement_sql(DB_GET_APPOINTMENT),
	    "slot_changes"));
}

/* The same filled arguments give each booking form its own order. */
Test(statements, arguments_go_by_name)
{
	struct db_args a;
	const char *v[DB_MAX_PARAMS];

	db_statements_init();
	memset(&a, 0, sizeof(a));
	db_arg_int(&a, DB_ARG_SLOT, 42);
	db_arg_int(&a, DB_ARG_COUNT, 2);
	db_arg(&a, DB_ARG_NAME, "Ann");
	db_arg(&a, DB_ARG_EMAIL, "ann@example.org");
	db_arg(&a, DB_ARG_NOTE, NULL);
	db_arg(&a, DB_ARG_OWNER, "parent-7");
	db_arg(&a, DB_ARG_KEY, "k1");
	db_arg(&a, DB_ARG_REQUEST, "[42,2]");
	db_arg(&a, DB_ARG_HOLD, NULL);
	db_arg(&a, DB_ARG_ADMIN, "false");

	db_args_values(&a, DB_BOOK, v);
	cr_assert_str_eq(v[0], "42");
	cr_assert_str_eq(v[1], "2");
	cr_assert_str_eq(v[5], "parent-7");
	cr_assert_str_eq(v[6], "k1");
	cr_assert_null(v[8]);
	cr_assert_str_eq(v[9], "false");

	db_args_values(&a, DB_BOOK_LEAN, v);
	cr_assert_str_eq(v[0], "42");
	cr_assert_str_eq(v[1], "Ann");
	cr_assert_null(v[3]);
	cr_assert_str_eq(v[4], "parent-7");

	db_args_values(&a, DB_BOOK_ONE, v);
	cr_assert_str_eq(v[4], "parent-7");
	cr_assert_str_eq(v[5], "k1");
	cr_assert_str_eq(v[6], "[42,2]");
}

/* A statement whose argument was never given is a bug, not SQL NULL. */
Test(statements, a_missing_argument_stops, .exit_code = 1)
{
	struct db_args a;
	const char *v[DB_MAX_PARAMS];

	db_statements_init();
	memset(&a, 0, sizeof(a));
	db_arg_int(&a, DB_ARG_SLOT, 1);
	db_arg_int(&a, DB_ARG_COUNT, 1);
	db_arg(&a, DB_ARG_OWNER, "x");
	db_args_values(&a, DB_HOLD, v);		/* no ttl */
}

static PGresult *
result_with(const char *const *names, int n)
{
	PGresAttDesc att[16];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int i;

	memset(att, 0, sizeof(att));
	for (i = 0; i < n; i++) {
		att[i].name = (char *)names[i];
		att[i].typid = 25;
		att[i].typlen = -1;
		att[i].atttypmod = -1;
	}
	cr_assert(PQsetResultAttrs(res, n, att));
	return res;
}

Test(statements, results_are_read_by_declared_columns)
{
	static const char *const good[] = { "outcome", "ref", "at_s",
	    "slot_ids", "span_start_s", "span_end_s", "id", "calendar_id",
	    "start_s", "end_s", "capacity", "booked", "version" };
	static const char *const swapped[] = { "outcome", "ref", "at_s",
	    "slot_ids", "span_start_s", "span_end_s", "id", "calendar_id",
	    "start_s", "end_s", "booked", "capacity", "version" };
	static const char *const appointment[] = { "id", "slot_ids",
	    "start_s", "end_s", "status", "name", "email", "note",
	    "created_s", "calendar_id", "updated_s", "cancelled_s",
	    "cancel_reason", "cursor" };
	PGresult *res;

	db_statements_init();
	res = result_with(good, 13);
	cr_assert_eq(db_result_check(res, DB_BOOK_LEAN), 0);
	cr_assert_eq(db_result_check(res, DB_GET_APPOINTMENT), -1);
	PQclear(res);
	res = result_with(swapped, 13);
	cr_assert_eq(db_result_check(res, DB_BOOK), -1);
	PQclear(res);
	res = result_with(good, 12);
	cr_assert_eq(db_result_check(res, DB_CANCEL), -1);
	PQclear(res);
	res = result_with(appointment, 14);
	cr_assert_eq(db_result_check(res, DB_GET_APPOINTMENT), 0);
	PQclear(res);
}
