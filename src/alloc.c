/*
 * alloc: allocation that cannot fail: slotd stops with the cause instead
 * (a worker is respawned by the master).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		fatal("calloc");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("%s: %zu * %zu overflows", __func__, n, size);
	if ((p = realloc(p, n * size != 0 ? n * size : 1)) == NULL)
		fatal("realloc");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}
