/*
 * utf8: strict UTF-8 (RFC 3629), as request bodies, problem details and
 * iCalendar lines need it: validity, one character's length, and the
 * number of characters.
 */
#include <stddef.h>
#include <stdint.h>

#include "slotd.h"

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	uint32_t cp;
	int n, i;

	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 3, cp = *p & 0x07;
		else
			return 0;
		if (end - p <= n)
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* The length of the character at s, a NUL-terminated string: 1 to 4
 * bytes of strict UTF-8, or 0 when s does not start one (or is at its
 * end). */
size_t
utf8_char(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c == 0 ? 0 : c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
	    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

	/* The check stops at the first byte that does not continue the
	 * sequence, the terminating NUL included. */
	return n > 0 && utf8_valid(s, n) ? n : 0;
}

/* Characters (code points) of a valid UTF-8 string. */
size_t
utf8_length(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}
