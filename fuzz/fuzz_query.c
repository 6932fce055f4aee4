/* libFuzzer target: query strings of GET /slots. */
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slots_query sq;
	const char *code;
	char detail[160], etag[256], *query = malloc(size + 1);

	memcpy(query, data, size);
	query[size] = '\0';
	if (slots_query_check(query, "UTC", &sq, &code, detail,
	    sizeof(detail)) == 0 && tz_use(sq.zone) == 0) {
		(void)tz_day_start(sq.day + sq.days);
		(void)slots_query_etag(&sq, UINT64_MAX, UINT64_MAX, etag,
		    sizeof(etag));
	}
	free(query);
	return 0;
}
