/*
 * delivery.h: the webhook deliveries a courier has in flight (delivery.c)
 * and has yet to record (courier.c).
 */
#include <sys/queue.h>

#include <curl/curl.h>

struct deliveries;

struct delivery {
	TAILQ_ENTRY(delivery)	 entry;
	struct deliveries	*set;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;
	char			 event[24];	/* its id */
	char			 webhook[24];
	char			 attempt[12];
	long			 status;	/* 0: no answer */
	int			 retry_after;	/* seconds; -1: not said */
	int			 delay;		/* to the next attempt; -1: none */
	char			 error[CURL_ERROR_SIZE];
};
TAILQ_HEAD(delivery_list, delivery);

struct deliveries {
	const struct config	*conf;
	struct event_base	*base;
	CURLM			*multi;
	struct event		*ev_curl;	/* libcurl's timeout */
	struct delivery_list	 sending;
	struct delivery_list	 finished;	/* to record, in order */
	int			 nsending;
	void			(*done)(void *);	/* some finished */
	void			*arg;
};

void	deliveries_init(struct deliveries *, struct event_base *,
	    const struct config *, void (*)(void *), void *);
void	deliveries_free(struct deliveries *);
void	deliveries_start(struct deliveries *, const struct pg_result *, int);
void	delivery_free(struct delivery *);
