/*
 * libFuzzer target: raw bytes sent to a worker's HTTP front end, in this
 * process: a real listening socket, slotd's HTTP layer (llhttp) and its
 * routes (the database is out of reach, so writes answer 503).
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "slotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base	*base;
static struct worker_ctx	 w;
static struct sockaddr_in	 addr;

static void
setup(void)
{
	static const char conf[] = "[database]\n"
	    "conninfo = host=127.0.0.1 port=1 connect_timeout=1\n"
	    "[server]\naccess_log = off\nlog_level = error\n"
	    "[rate_limit]\nreads_burst = 1000\n"
	    "[cors]\nallow_origins = https://a.example\n";
	char err[256], name[64];
	socklen_t len = sizeof(addr);
	int fd;

	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz", LOG_LEVEL_ERROR);
	base = event_base_new();
	w.conf = config_load_text("fuzz.conf", conf, err, sizeof(err));
	snprintf(name, sizeof(name), "/slotd-fuzz-%d", (int)getpid());
	w.table = slot_table_create(name, 1024);
	slot_table_unlink(name);
	slot_table_set_flag(w.table, SLOT_FLAG_LOADED, 1);
	metrics_init();
	ratelimit_init(1024);
	http_set_access_log(0);
	tz_use("UTC");
	w.slots_cap = 64;
	w.slots = xcalloc(w.slots_cap, sizeof(*w.slots));
	w.commit = commit_new(base, w.conf, w.table);
	stream_init(base, w.table);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	listen(fd, 16);
	getsockname(fd, (struct sockaddr *)&addr, &len);
	evutil_make_socket_nonblocking(fd);
	http_server_new(base, w.conf, fd, NULL, worker_request, &w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096];
	int c, i;
	ssize_t n;

	if (base == NULL)
		setup();
	if ((c = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	if (connect(c, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		(void)!write(c, data, size);
		shutdown(c, SHUT_WR);
		evutil_make_socket_nonblocking(c);
		/* Run the loop until the server has answered and closed. */
		for (i = 0; i < 200; i++) {
			event_base_loop(base, EVLOOP_NONBLOCK);
			n = read(c, buf, sizeof(buf));
			if (n == 0 || (n < 0 && i > 50))
				break;
			if (n < 0)
				usleep(100);
		}
	}
	close(c);
	return 0;
}
