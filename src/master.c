/*
 * master: owns the listening socket and the shared slot table, forks the
 * syncer and the workers, and from then on only handles signals and
 * children: it does no HTTP and no SQL.
 *
 * SIGHUP loads the configuration anew; a bad one is logged and ignored,
 * a good one starts a new generation of children and drains the old one.
 * SIGTERM/SIGINT drain everything and exit.  It keeps systemd informed.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "slotd.h"

#define MASTER_BACKOFF_MAX_MS	10000
#define MASTER_TICK_MS		250
#define RATELIMIT_CLIENTS	(1u << 18)	/* buckets; 6 MB */
#define MASTER_STABLE_SECONDS	10	/* a child living this long resets
					   its backoff */

#define CHILD_SYNCER		-1
#define CHILD_COURIER		-2
#define CHILD_HELPERS		2	/* syncer and courier */

struct master;

struct child {
	struct master	*master;
	pid_t		 pid;
	int		 index;		/* worker number, or CHILD_SYNCER,
					   CHILD_COURIER */
	time_t		 started;
	int		 backoff_ms;
	struct event	*ev_respawn;
};

struct master {
	struct config		*conf;
	struct slot_table	*table;
	struct event_base	*base;
	int			 listen_fd;	/* -1 without plain HTTP */
	int			 tls_fd;		/* -1 without HTTPS */
	struct child		*children;	/* syncer, courier, workers */
	int			 nchildren;
	pid_t			*draining;	/* earlier generations */
	int			 ndraining;
	int			 stopping;
	int			 ready;		/* READY=1 was sent */
	int			 db_ok;		/* as last put in STATUS */
	struct event		*ev_kill;
	struct event		*ev_tick;
	struct event		*ev_watchdog;
	struct signal_watch	 signals;
};

/* Bind host:port; the socket is shared by every worker. */
int
master_listen(const char *what, const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_warnx("%s %s:%s: %s", what, host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0)
			break;
		log_warn("%s %s:%s", what, host, port);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* In the child: drop the master's event loop (reinit first, so that the
 * epoll instance shared with the parent is left alone), die with it. */
static void
master_child_setup(struct master *m, pid_t parent)
{
	if (event_reinit(m->base) == -1)
		log_warnx("%s: event_reinit failed", __func__);
	event_base_free(m->base);
	m->base = NULL;
	signals_child();
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("%s: prctl", __func__);
	if (getppid() != parent)
		_exit(1);
}

static void
master_retry_later(struct child *c)
{
	struct timeval tv;

	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	evtimer_add(c->ev_respawn, &tv);
	c->backoff_ms = c->backoff_ms == 0 ? 100 : c->backoff_ms * 2;
	if (c->backoff_ms > MASTER_BACKOFF_MAX_MS)
		c->backoff_ms = MASTER_BACKOFF_MAX_MS;
}

static const char *
child_name(const struct child *c, char *buf, size_t len)
{
	if (c->index == CHILD_SYNCER)
		snprintf(buf, len, "syncer");
	else if (c->index == CHILD_COURIER)
		snprintf(buf, len, "courier");
	else
		snprintf(buf, len, "worker %d", c->index);
	return buf;
}

/* Signals stay blocked across fork so that none reaches the child while
 * it still carries the master's handlers. */
static void
master_spawn(struct master *m, struct child *c)
{
	sigset_t all, old;
	pid_t pid, parent = getpid();
	char name[32];
	int rc;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		log_warn("%s: fork", __func__);
		master_retry_later(c);
		return;
	}
	if (pid == 0) {
		master_child_setup(m, parent);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (c->index < 0) {
			if (m->listen_fd != -1)
				close(m->listen_fd);
			if (m->tls_fd != -1)
				close(m->tls_fd);
			rc = c->index == CHILD_SYNCER ? syncer_main(m->conf,
			    m->table) : courier_main(m->conf);
		} else
			rc = worker_main(m->conf, m->table, m->listen_fd,
			    m->tls_fd, c->index);
		_exit(rc == 0 ? 0 : 1);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	c->pid = pid;
	c->started = time(NULL);
	log_debug("%s started, pid %d", child_name(c, name, sizeof(name)),
	    (int)pid);
}

static void
master_respawn(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;

	(void)fd;
	(void)what;
	if (!c->master->stopping && c->pid == 0)
		master_spawn(c->master, c);
}

static void
master_reaped(struct master *m, pid_t pid, int status)
{
	struct child *c = NULL;
	char name[32];
	int i;

	if (slot_table_release_dead(m->table, pid))
		log_warnx("pid %d held the slot table lock; table repaired",
		    (int)pid);
	balance_gone(pid);
	for (i = 0; i < m->ndraining; i++) {
		if (m->draining[i] == pid) {
			m->draining[i] = m->draining[--m->ndraining];
			log_debug("pid %d of an earlier generation exited",
			    (int)pid);
			return;
		}
	}
	for (i = 0; i < m->nchildren; i++)
		if (m->children[i].pid == pid)
			c = &m->children[i];
	if (c == NULL)
		return;
	c->pid = 0;
	if (WIFSIGNALED(status))
		log_warnx("%s (pid %d) killed by signal %d",
		    child_name(c, name, sizeof(name)), (int)pid,
		    WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0 || !m->stopping)
		log_warnx("%s (pid %d) exited with status %d",
		    child_name(c, name, sizeof(name)), (int)pid,
		    WEXITSTATUS(status));
	if (m->stopping)
		return;
	if (time(NULL) - c->started >= MASTER_STABLE_SECONDS)
		c->backoff_ms = 0;
	metrics_event(c->index == CHILD_SYNCER ? METRICS_SYNCER_RESTART :
	    c->index == CHILD_COURIER ? METRICS_COURIER_RESTART :
	    METRICS_WORKER_RESTART);
	master_retry_later(c);
}

static int
master_alive(struct master *m)
{
	int i, n = m->ndraining;

	for (i = 0; i < m->nchildren; i++)
		n += m->children[i].pid != 0;
	return n;
}

static void
master_signal_children(struct master *m, int sig)
{
	int i;

	for (i = 0; i < m->nchildren; i++)
		if (m->children[i].pid != 0)
			kill(m->children[i].pid, sig);
	for (i = 0; i < m->ndraining; i++)
		kill(m->draining[i], sig);
}

static void
master_kill_stragglers(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	(void)fd;
	(void)what;
	log_warnx("children still running after %d s, killing them",
	    m->conf->shutdown_timeout + 2);
	master_signal_children(m, SIGKILL);
}

static void
master_status(struct master *m)
{
	struct slot_table_stats st;

	slot_table_stats(m->table, &st);
	m->db_ok = slot_table_flag(m->table, SLOT_FLAG_DB_OK);
	notify("STATUS=%u slots, %d workers on %s%s%s; database %s", st.live,
	    m->conf->workers, m->conf->listen, m->conf->tls_listen[0] != '\0' ?
	    " https://" : "", m->conf->tls_listen, m->db_ok ? "up" :
	    "unreachable, serving reads from memory");
}

/* Readiness once the syncer's first load is in, and STATUS when the
 * database comes or goes. */
static void
master_tick(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	(void)fd;
	(void)what;
	if (m->stopping)
		return;
	if (!m->ready && slot_table_flag(m->table, SLOT_FLAG_LOADED)) {
		m->ready = 1;
		master_status(m);
		notify("READY=1");
		log_info("ready");
	} else if (m->ready &&
	    slot_table_flag(m->table, SLOT_FLAG_DB_OK) != m->db_ok)
		master_status(m);
}

static void
master_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify("WATCHDOG=1");
}

/* A new generation: syncer, courier and workers with conf. */
static void
master_start_generation(struct master *m)
{
	int i;

	m->nchildren = m->conf->workers + CHILD_HELPERS;
	m->children = xcalloc((size_t)m->nchildren, sizeof(*m->children));
	for (i = 0; i < m->nchildren; i++) {
		m->children[i].master = m;
		m->children[i].index = i < CHILD_HELPERS ? -1 - i :
		    i - CHILD_HELPERS;
		m->children[i].ev_respawn = evtimer_new(m->base,
		    master_respawn, &m->children[i]);
		master_spawn(m, &m->children[i]);
	}
}

/* Forget the current generation's slots, keeping its live pids to drain. */
static void
master_retire_generation(struct master *m)
{
	int i;

	for (i = 0; i < m->nchildren; i++) {
		event_free(m->children[i].ev_respawn);
		if (m->children[i].pid == 0)
			continue;
		m->draining = xreallocarray(m->draining,
		    (size_t)m->ndraining + 1, sizeof(*m->draining));
		m->draining[m->ndraining++] = m->children[i].pid;
		kill(m->children[i].pid, SIGTERM);
	}
	free(m->children);
	m->children = NULL;
	m->nchildren = 0;
}

/* SIGHUP: the whole new configuration, or nothing. */
static void
master_reload(struct master *m)
{
	struct config *conf;
	char err[1024];

	notify("RELOADING=1");
	log_info("reloading %s", m->conf->path);
	if ((conf = config_load(m->conf->path, err, sizeof(err))) == NULL) {
		log_warnx("reload failed, the running configuration stays: %s",
		    err);
		notify("READY=1\nSTATUS=reload failed: %.200s", err);
		return;
	}
	config_keep_restart_keys(m->conf, conf);
	log_set_level(conf->log_level);
	/* The old generation is told to drain first: it stops accepting,
	 * answers what it has received and leaves.  The new one is forked
	 * right after and accepts from the same listening sockets, in whose
	 * backlog new connections wait meanwhile: none is refused. */
	master_retire_generation(m);
	config_free(m->conf);
	m->conf = conf;
	master_start_generation(m);
	metrics_event(METRICS_RELOAD);
	log_info("reloaded: %d workers", conf->workers);
	master_status(m);
	notify("READY=1");
}

static void
master_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	struct timeval tv = { m->conf->shutdown_timeout + 2, 0 };
	int status, i;
	pid_t pid;

	(void)what;
	switch (sig) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			master_reaped(m, pid, status);
		break;
	case SIGHUP:
		if (!m->stopping)
			master_reload(m);
		break;
	default:
		if (m->stopping)
			break;
		log_info("signal %d: stopping", (int)sig);
		notify("STOPPING=1\nSTATUS=stopping: draining requests");
		m->stopping = 1;
		for (i = 0; i < m->nchildren; i++)
			evtimer_del(m->children[i].ev_respawn);
		master_signal_children(m, SIGTERM);
		m->ev_kill = evtimer_new(m->base, master_kill_stragglers, m);
		evtimer_add(m->ev_kill, &tv);
		break;
	}
	if (m->stopping && master_alive(m) == 0)
		event_base_loopexit(m->base, NULL);
}

/* Serve with conf (which the master owns from now on) until stopped. */
int
master_main(struct config *conf)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGCHLD, SIGHUP };
	struct timeval tick = { 0, MASTER_TICK_MS * 1000 }, wd;
	uint64_t watchdog;
	struct master m;
	size_t i;

	log_set_role("master");
	memset(&m, 0, sizeof(m));
	m.conf = conf;
	m.listen_fd = m.tls_fd = -1;
	if ((conf->listen[0] != '\0' && (m.listen_fd = master_listen("listen",
	    conf->listen_host, conf->listen_port)) == -1) ||
	    (conf->tls_listen[0] != '\0' && (m.tls_fd = master_listen(
	    "tls listen", conf->tls_host, conf->tls_port)) == -1)) {
		if (m.listen_fd != -1)
			close(m.listen_fd);
		goto fail;
	}
	if ((m.table = slot_table_create(conf->shm_name,
	    (uint32_t)conf->max_slots)) == NULL) {
		if (errno == EADDRINUSE)
			log_warnx("shared memory %s is in use by another slotd; "
			    "give each instance its own [server] shm_name",
			    conf->shm_name);
		else
			log_warn("shared memory %s", conf->shm_name);
		goto fail_sockets;
	}
	if (metrics_init() == -1 || balance_init() == -1 ||
	    ratelimit_init(RATELIMIT_CLIENTS) == -1 ||
	    caldir_init() == -1)
		fatal("shared memory for counters");
	if ((m.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	event_set_log_callback(log_libevent);
	signals_watch(&m.signals, m.base, sigs, sizeof(sigs) / sizeof(sigs[0]),
	    master_on_signal, &m);
	m.ev_tick = event_new(m.base, -1, EV_PERSIST, master_tick, &m);
	event_add(m.ev_tick, &tick);
	if ((watchdog = notify_watchdog_usec()) > 0) {
		wd.tv_sec = (time_t)(watchdog / 2 / 1000000);
		wd.tv_usec = (suseconds_t)(watchdog / 2 % 1000000);
		m.ev_watchdog = event_new(m.base, -1, EV_PERSIST,
		    master_watchdog, &m);
		event_add(m.ev_watchdog, &wd);
	}
	if (!conf->auth_jwt)
		log_warnx("[auth] mode = none: requests are anonymous and "
		    "admin calls are accepted from this host only; use "
		    "mode = jwt in production");
	notify("STATUS=loading the slot table");
	master_start_generation(&m);
	log_info("listening on %s%s%s with %d workers", conf->listen,
	    conf->tls_listen[0] != '\0' ? " and https://" : "",
	    conf->tls_listen, conf->workers);
	event_base_dispatch(m.base);

	slot_table_unlink(m.conf->shm_name);
	slot_table_close(m.table);
	for (i = 0; i < (size_t)m.nchildren; i++)
		event_free(m.children[i].ev_respawn);
	signals_unwatch(&m.signals);
	if (m.ev_kill != NULL)
		event_free(m.ev_kill);
	if (m.ev_watchdog != NULL)
		event_free(m.ev_watchdog);
	event_free(m.ev_tick);
	free(m.children);
	free(m.draining);
	event_base_free(m.base);
	config_free(m.conf);
	log_info("stopped");
	if (m.listen_fd != -1)
		close(m.listen_fd);
	if (m.tls_fd != -1)
		close(m.tls_fd);
	return 0;
fail_sockets:
	if (m.listen_fd != -1)
		close(m.listen_fd);
	if (m.tls_fd != -1)
		close(m.tls_fd);
fail:
	config_free(m.conf);
	return 1;
}
