/* libFuzzer target: query strings of GET /slots. */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "slotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slots_query sq;
	struct evkeyvalq q;
	const char *code;
	char detail[160], *query = malloc(size + 1);

	memcpy(query, data, size);
	query[size] = '\0';
	if (slots_query_check(query, "UTC", &q, &sq, &code, detail,
	    sizeof(detail)) == 0 && tz_use(sq.zone) == 0)
		(void)tz_day_start(sq.day + sq.days);
	evhttp_clear_headers(&q);
	free(query);
	return 0;
}
