/*
 * http_conn.h: the HTTP/1.1 layer's own structures, shared by its files
 * (http_server.c, http_conn.c, http_parse.c, http_reply.c, http.c,
 * http_answer.c) and nobody else; the rest of slotd sees struct
 * http_request through the functions in slotd.h.
 */
#ifndef HTTP_CONN_H
#define HTTP_CONN_H

#include <sys/queue.h>
#include <time.h>

#include <llhttp.h>

#include "slotd.h"

#define HTTP_BUF_FIRST	4096	/* each buffer's size to begin with */

/* A span of the connection's input buffer: offsets stay true when the
 * buffer grows. */
struct http_span {
	uint32_t	off;
	uint32_t	len;
};

struct http_field {
	struct http_span	name;
	struct http_span	value;
};

struct http_request {
	struct http_conn	*conn;
	int			 method;	/* HTTP_* bit, 0 for others */
	int			 minor;		/* HTTP/1.minor */
	struct http_span	 method_name;
	struct http_span	 target;	/* path?query, NUL-ended */
	struct http_span	 body;		/* decoded, contiguous */
	int			 terminated;	/* the spans are C strings */
	uint32_t		 query;		/* offset of the query, 0: none;
						   the path is at target.off */
	struct http_field	*fields;
	int			 nfields;
	int			 maxfields;	/* room in fields */
	size_t			 field_bytes;
	int			 span_open;	/* a span callback is midway */
	int			 keep_alive;
	int			 head;
	int			 continue_wanted;	/* Expect: 100-continue */
	int			 fail_status;	/* refused while parsing */
	const char		*fail_code;
	char			 fail_detail[160];
	struct principal	 who;		/* set by the worker's checks */
	/* the answer */
	int			 answered;
	int			 route;
	struct timespec		 start;
	struct http_pending	*pending;
	char			 vary[64];
	char			*extra;		/* "Name: value\r\n" lines */
	size_t			 extra_len;
	size_t			 extra_cap;
};

enum http_conn_state {
	HTTP_IDLE,		/* between requests */
	HTTP_READING,		/* a request has begun */
	HTTP_HANDLING,		/* dispatched; its answer is awaited */
	HTTP_STREAMING,		/* answered with a stream, whose pieces
				   follow until it ends (http_stream_*) */
	HTTP_CLOSING,		/* the last answer is being written */
	HTTP_LINGERING		/* written; reading what the client still
				   sends so that closing resets nothing */
};

struct http_server;
struct sockaddr;

struct http_conn {
	TAILQ_ENTRY(http_conn)	 entry;
	struct http_server	*srv;
	int			 fd;
	struct ssl_st		*ssl;		/* NULL: plain */
	struct event		*ev;
	struct event		*ev_timer;
	short			 watching;	/* EV_READ | EV_WRITE */
	short			 tls_wants;	/* EV_WRITE: to go on reading */
	enum http_conn_state	 state;
	int			 in_parse;	/* http_conn_parse() runs */
	int			 closing;	/* close once written */
	int			 served;	/* requests answered */
	int			 chunked;	/* the stream's pieces are chunks */
	http_gone		 gone;		/* told when the stream ends */
	void			*gone_arg;
	llhttp_t		 parser;
	struct http_request	 req;
	char			*in;		/* what arrived, not yet done */
	size_t			 in_len;
	size_t			 in_cap;
	size_t			 parsed;	/* of in, given to llhttp */
	char			*out;		/* answers not yet written */
	size_t			 out_len;
	size_t			 out_sent;
	size_t			 out_cap;
	char			 peer[64];
};

TAILQ_HEAD(http_conns, http_conn);

struct http_server {
	struct event_base	*base;
	const struct config	*conf;
	struct ssl_ctx_st	*tls;
	int			 fd;		/* listening */
	struct event		*ev_accept;
	struct event		*ev_resume;	/* accept again after a pause */
	struct log_limit	 accept_log;
	const struct timeval	*timeout;	/* request_timeout, common */
	http_handler		 handler;
	void			*arg;
	struct http_conns	 conns;
	int			 nconns;
	int			 passing;	/* letting one pass */
	int			 no_pass;	/* taken without looking */
	int			 draining;
};

/* http_parse.c */
void	http_parse_init(struct http_conn *);
void	http_parse_reset(struct http_conn *);
int	http_parse_feed(struct http_conn *);
int	http_parse_field(struct http_request *, const char *,
	    const char **);
/* http_conn.c */
void	http_conn_new(struct http_server *, int fd, struct sockaddr *);
void	http_conn_drain(struct http_conn *);
void	http_conn_drop(struct http_conn *);
void	http_conn_answered(struct http_conn *);
void	http_conn_stream(struct http_conn *, http_gone, void *);
int	http_conn_push(struct http_conn *, size_t);
/* http_reply.c */
void	http_reply_write(struct http_request *, int status, const char *,
	    const void *, size_t);
void	http_reply_problem(struct http_request *, int status, const char *,
	    const char *detail);
void	http_reply_refusal(struct http_request *);
void	http_reply_continue(struct http_conn *);
void	http_reply_stream_head(struct http_request *, const char *type);
void	http_reply_chunk(struct http_conn *, const void *, size_t);

#endif
