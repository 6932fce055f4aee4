/*
 * config_value: pieces that values of several configuration keys share:
 * comma-separated lists, integers, and the wording of a refusal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

/* fn(item, len, arg) for each comma-separated item of v, blanks around it
 * trimmed; an empty item (after a trailing comma, say) is passed too, for
 * fn to refuse.  -1 as soon as fn returns -1, else 0. */
int
config_value_each(const char *v, int (*fn)(const char *, size_t, void *),
    void *arg)
{
	const char *item = v, *end;
	size_t len;

	while (*item != '\0') {
		while (*item == ' ' || *item == '\t')
			item++;
		end = strchr(item, ',');
		len = end != NULL ? (size_t)(end - item) : strlen(item);
		while (len > 0 && (item[len - 1] == ' ' ||
		    item[len - 1] == '\t'))
			len--;
		if (fn(item, len, arg) == -1)
			return -1;
		if (end == NULL)
			break;
		item = end + 1;
		if (*item == '\0')
			return fn(item, 0, arg);
	}
	return 0;
}

/* A decimal integer in min..max, all of v. */
int
config_value_long(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	if (*v == '\0' || (!isdigit((unsigned char)*v) && *v != '-'))
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* The why of a refused value into err; returns -1. */
int
config_value_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
