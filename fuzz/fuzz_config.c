/* libFuzzer target: configuration files. */
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024], *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	config_free(config_load_text("fuzz.conf", text, err, sizeof(err)));
	free(text);
	return 0;
}
