/*
 * cors: browsers on the origins of [cors] allow_origins may call slotd.
 * Their requests get Access-Control-Allow-Origin and the response headers
 * they may read; their preflights (OPTIONS) are answered here.
 */
#include <string.h>


#include "slotd.h"

#define CORS_HEADERS	"Authorization, Content-Type, Idempotency-Key, " \
			"If-None-Match"
#define CORS_EXPOSE	"ETag, Location, Retry-After, RateLimit, " \
			"RateLimit-Policy"

/* Is origin one of the comma-separated list (or is the list "*")? */
static int
cors_allowed(const char *list, const char *origin)
{
	size_t len = strlen(origin), n;
	const char *p = list;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if ((n == 1 && *p == '*') || (n == len &&
		    strncasecmp(p, origin, len) == 0))
			return 1;
		p += n;
	}
	return 0;
}

/* Add the CORS headers req's origin is entitled to.  A preflight (OPTIONS
 * on a path that exists; allowed are its methods, HTTP_METHOD_* bits) is
 * answered (204) here, and -1 returned. */
int
cors_apply(struct http_request *req, const struct config *c, int allowed)
{
	const char *origin = http_header(req, "Origin");
	char methods[64];
	int entitled;

	if (c->cors_origins[0] != '\0')
		http_vary(req, "Origin");
	entitled = origin != NULL && c->cors_origins[0] != '\0' &&
	    cors_allowed(c->cors_origins, origin);
	if (entitled)
		http_add_header(req, "Access-Control-Allow-Origin", origin);
	if (http_method(req) != HTTP_METHOD_OPTIONS || allowed == 0) {
		if (entitled)
			http_add_header(req, "Access-Control-Expose-Headers",
			    CORS_EXPOSE);
		return 0;
	}
	if (entitled) {
		http_allow_list(allowed & ~HTTP_METHOD_OPTIONS, methods,
		    sizeof(methods));
		http_add_header(req, "Access-Control-Allow-Methods", methods);
		http_add_header(req, "Access-Control-Allow-Headers",
		    CORS_HEADERS);
		http_add_header(req, "Access-Control-Max-Age", "600");
	}
	http_allow_list(allowed | HTTP_METHOD_OPTIONS, methods,
	    sizeof(methods));
	http_add_header(req, "Allow", methods);
	http_reply(req, 204, NULL);
	return -1;
}
