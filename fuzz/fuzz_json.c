/* libFuzzer target: request bodies through the strict JSON parser and the
 * typed fields the routes use. */
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t n = 0;
	double x = 0;
	char *s = NULL, err[128];
	int any = -1, items[8];
	struct json_field f[] = {
		{ "slotId", JSON_FIELD_INT, 1, INT64_MAX, &n, NULL, 0, NULL,
		    NULL, NULL },
		{ "name", JSON_FIELD_STRING, 0, 200, &s, NULL, 1, NULL, NULL,
		    NULL },
		{ "exp", JSON_FIELD_NUMBER, 0, 0, &x, NULL, 0, NULL, NULL,
		    NULL },
		{ "aud", JSON_FIELD_ANY, 0, 0, &any, NULL, 0, NULL, NULL,
		    NULL },
	};
	struct json_error e;
	struct json_doc *d;
	char *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	if ((d = json_parse(text, size, err, sizeof(err))) != NULL) {
		json_object(d, 0, f, 4, &e);
		free(s);
		s = NULL;
		any = -1;
		json_object_lenient(d, 0, f, 4, &e);
		free(s);
		if (any >= 0)
			free(json_string(d, any));
		json_array_items(d, 0, items, 8);
		json_free(d);
	}
	free(text);
	return 0;
}
