/* libFuzzer target: bytes as a compiled zone (TZif) and as a POSIX TZ
 * string, each zone read then asked for offsets from the year 1 to 9999. */
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
ask(struct tzfile *z)
{
	static const int years[] = { 1, 1900, 1970, 2026, 2037, 2400, 9999 };
	size_t i;
	int64_t t;

	if (z == NULL)
		return;
	for (i = 0; i < sizeof(years) / sizeof(years[0]); i++) {
		t = tz_days_from_civil(years[i], 3, 1) * SECONDS_PER_DAY;
		(void)tzfile_offset(z, t);
		(void)tzfile_offset(z, t + 200 * SECONDS_PER_DAY + 3599);
	}
	tzfile_free(z);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	ask(tzfile_parse(data, size));
	memcpy(text, data, size);
	text[size] = '\0';
	ask(tzfile_posix(text));
	free(text);
	return 0;
}
