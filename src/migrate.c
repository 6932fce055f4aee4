/*
 * migrate: `slotd migrate` applies the embedded migrations that the
 * database has not seen, in order, each in its own transaction, under an
 * advisory lock so that instances starting together take turns.  It runs
 * before any event loop exists, so plain blocking libpq is right here.
 */
#include <poll.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "slotd.h"

#define MIGRATE_LOCK_KEY	"7310875563461161984"	/* "slotd mig" */
#define MIGRATE_CONNECT_TIMEOUT	10	/* seconds, as for the workers */

/* Connect within MIGRATE_CONNECT_TIMEOUT, through db_connect_start so that
 * what the server says while the connection starts (a collation version
 * warning, say) is logged like the rest.  NULL, logged, on failure. */
static PGconn *
migrate_connect(const struct config *conf)
{
	PGconn *conn = db_connect_start(conf->conninfo, "slotd migrate",
	    NULL);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	const char *why;
	struct pollfd pfd;
	time_t end = time(NULL) + MIGRATE_CONNECT_TIMEOUT, left;

	while (st != PGRES_POLLING_OK && PQstatus(conn) != CONNECTION_BAD) {
		pfd.fd = PQsocket(conn);
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if ((left = end - time(NULL)) <= 0 ||
		    poll(&pfd, 1, (int)left * 1000) == 0) {
			log_warnx("cannot connect to the database: timed out "
			    "after %d s", MIGRATE_CONNECT_TIMEOUT);
			PQfinish(conn);
			return NULL;
		}
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		why = PQerrorMessage(conn);
		log_warnx("cannot connect to the database: %.*s",
		    (int)strcspn(why, "\n"), why);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

static int
migrate_exec(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		log_warnx("%s: %s", what, PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -1;
}

static int
migrate_applied(PGconn *conn, const char *name)
{
	const char *params[1] = { name };
	PGresult *res;
	int n;

	res = PQexecParams(conn, "SELECT 1 FROM schema_migrations "
	    "WHERE version = $1", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("schema_migrations: %s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	PQclear(res);
	return n > 0;
}

static int
migrate_one(PGconn *conn, const struct sql_text *mg)
{
	const char *params[1] = { mg->name };
	PGresult *res;

	if (migrate_exec(conn, "BEGIN", "begin") == -1)
		return -1;
	if (migrate_exec(conn, mg->sql, mg->name) == -1)
		goto rollback;
	res = PQexecParams(conn, "INSERT INTO schema_migrations (version) "
	    "VALUES ($1)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_warnx("recording %s: %s", mg->name,
		    PQresultErrorMessage(res));
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	if (migrate_exec(conn, "COMMIT", "commit") == -1)
		return -1;
	log_info("applied %s", mg->name);
	return 0;
rollback:
	migrate_exec(conn, "ROLLBACK", "rollback");
	return -1;
}

/* Returns 0 when the schema is current. */
int
migrate_run(const struct config *conf)
{
	PGconn *conn;
	size_t i;
	int rc = -1, n = 0, done;

	if ((conn = migrate_connect(conf)) == NULL)
		return -1;
	if (migrate_exec(conn, "SET client_min_messages = warning",
	    "settings") == -1 ||
	    migrate_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
	    "lock") == -1)
		goto out;
	if (migrate_exec(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version text PRIMARY KEY, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "schema_migrations") == -1)
		goto unlock;
	for (i = 0; i < n_migrations; i++) {
		if ((done = migrate_applied(conn, migrations[i].name)) == -1)
			goto unlock;
		if (done)
			continue;
		if (migrate_one(conn, &migrations[i]) == -1)
			goto unlock;
		n++;
	}
	log_info("schema is current (%zu migrations, %d applied now)",
	    n_migrations, n);
	rc = 0;
unlock:
	migrate_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")",
	    "unlock");
out:
	PQfinish(conn);
	return rc;
}
