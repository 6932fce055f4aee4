/*
 * Unit tests of the iCalendar writer: folding at exactly 75 octets, never
 * inside a UTF-8 character or an escape; TEXT escapes; controls and bytes
 * that are not UTF-8; UTC times.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "slotd.h"

/* One content line as ical_line writes it, NUL-terminated, to free. */
static char *
line(const char *name, const char *value, int text)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	ical_line(b, name, value, text);
	n = evbuffer_get_length(b);
	s = calloc(1, n + 1);
	evbuffer_remove(b, s, n);
	evbuffer_free(b);
	return s;
}

/* How many backslashes end [out, o): every backslash of a TEXT value is
 * doubled, so an odd count is an escape cut in two. */
static int
trailing_backslashes(const char *out, const char *o)
{
	int n = 0;

	while (o > out && *--o == '\\')
		n++;
	return n;
}

/* The line unfolded (RFC 5545 section 3.1), its CRLF taken off; every
 * physical line checked: CRLF-ended, at most 75 octets, and no fold
 * inside a UTF-8 character or right after an escape's backslash. */
static char *
unfold(const char *s, int *folds)
{
	char *out = calloc(1, strlen(s) + 1), *o = out;
	const char *p = s, *eol;

	*folds = 0;
	while ((eol = strstr(p, "\r\n")) != NULL) {
		cr_assert_leq(eol - p, 75, "a line of %d octets", (int)(eol - p));
		cr_assert(eol == p || ((unsigned char)eol[-1] & 0xc0) != 0xc0,
		    "a fold after a lead byte");
		if (p != s) {
			cr_assert_eq(*p, ' ');
			cr_assert(((unsigned char)p[1] & 0xc0) != 0x80,
			    "a fold before a continuation byte");
			p++;
			(*folds)++;
		}
		memcpy(o, p, (size_t)(eol - p));
		o += eol - p;
		p = eol + 2;
		if (*p == '\0')
			break;
		cr_assert(trailing_backslashes(out, o) % 2 == 0,
		    "a fold inside an escape");
	}
	cr_assert_eq(*p, '\0', "the line does not end with CRLF");
	*o = '\0';
	return out;
}

Test(ical, a_short_line_is_one_line)
{
	char *s = line("SUMMARY", "Ms Tan", 1);

	cr_assert_str_eq(s, "SUMMARY:Ms Tan\r\n");
	free(s);
}

Test(ical, seventy_five_octets_fit_and_seventy_six_fold)
{
	char v[80], *s, *u;
	int folds;

	/* "SUMMARY:" is 8 octets: 67 more make 75. */
	memset(v, 'a', 67);
	v[67] = '\0';
	s = line("SUMMARY", v, 1);
	cr_assert_eq(strlen(s), 77);
	free(s);
	v[67] = 'b';
	v[68] = '\0';
	s = line("SUMMARY", v, 1);
	cr_assert_eq(strncmp(s + 75, "\r\n b\r\n", 6), 0, "%s", s);
	u = unfold(s, &folds);
	cr_assert_eq(folds, 1);
	cr_assert_str_eq(u + 8, v);
	free(u);
	free(s);
}

/* Characters of 2, 3 and 4 octets after every offset: no fold splits one,
 * and the unfolded value is the original. */
Test(ical, folds_never_split_a_character)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe6\x97\xa5",
	    "\xf0\x9f\x98\x80" };
	char v[1024], *s, *u;
	int lead, c, i, folds;

	for (lead = 0; lead < 8; lead++) {
		for (c = 0; c < 3; c++) {
			memset(v, 'x', (size_t)lead);
			v[lead] = '\0';
			for (i = 0; i < 60; i++)
				strcat(v, chars[c]);
			s = line("DESCRIPTION", v, 1);
			u = unfold(s, &folds);
			cr_assert_gt(folds, 0);
			cr_assert_str_eq(u + strlen("DESCRIPTION:"), v);
			free(u);
			free(s);
		}
	}
}

Test(ical, text_is_escaped)
{
	char *s = line("DESCRIPTION", "a\\b;c,d\ne\r\nf\rg:\"h\"\ti", 1);

	cr_assert_str_eq(s,
	    "DESCRIPTION:a\\\\b\\;c\\,d\\ne\\nf\\ng:\"h\"\ti\r\n");
	free(s);
	s = line("DTSTART", "20261124T010000Z", 0);
	cr_assert_str_eq(s, "DTSTART:20261124T010000Z\r\n");
	free(s);
}

/* An escape is never cut by a fold: its backslash and letter stay on one
 * line wherever it falls. */
Test(ical, folds_never_split_an_escape)
{
	char v[200], *s, *u;
	int lead, folds;

	for (lead = 60; lead < 72; lead++) {
		memset(v, 'y', (size_t)lead);
		strcpy(v + lead, ",;\\\n,;\\\n");
		s = line("X", v, 1);
		u = unfold(s, &folds);
		cr_assert_str_eq(u + lead + 2, "\\,\\;\\\\\\n\\,\\;\\\\\\n");
		free(u);
		free(s);
	}
}

Test(ical, controls_go_and_bad_bytes_are_replaced)
{
	char *s = line("SUMMARY", "a\x01" "b\x7f" "c\xff" "d\xe6\x97" "e", 1);

	cr_assert_str_eq(s, "SUMMARY:abc\xef\xbf\xbd" "d\xef\xbf\xbd"
	    "\xef\xbf\xbd" "e\r\n");
	free(s);
}

Test(ical, utc_times)
{
	char buf[ICAL_UTC_LEN];

	ical_utc(0, buf);
	cr_assert_str_eq(buf, "19700101T000000Z");
	ical_utc(1795482000, buf);
	cr_assert_str_eq(buf, "20261124T010000Z");
	ical_utc(951868799, buf);		/* the end of 29 February 2000 */
	cr_assert_str_eq(buf, "20000229T235959Z");
	ical_utc(-1, buf);
	cr_assert_str_eq(buf, "19691231T235959Z");
}

/* A whole event: every line CRLF-ended and within 75 octets. */
Test(ical, an_event)
{
	struct evbuffer *b = evbuffer_new();
	struct ical_event ev = {
		.uid = "appointment-7@abc", .sequence = 2, .created = 0,
		.changed = 60, .start = 1795482000, .end = 1795483800,
		.cancelled = 1, .summary = "Ms Tan, P1 meetings",
		.description = NULL,
	};
	char *s, *p, *eol;
	size_t n;

	ical_begin(b);
	ical_event(b, &ev);
	ical_end(b);
	n = evbuffer_get_length(b);
	s = calloc(1, n + 1);
	evbuffer_remove(b, s, n);
	evbuffer_free(b);
	cr_assert_eq(strncmp(s, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", 30), 0);
	cr_assert_not_null(strstr(s, "\r\nMETHOD:PUBLISH\r\n"));
	cr_assert_not_null(strstr(s, "\r\nUID:appointment-7@abc\r\n"));
	cr_assert_not_null(strstr(s, "\r\nSEQUENCE:2\r\n"));
	cr_assert_not_null(strstr(s, "\r\nDTSTART:20261124T010000Z\r\n"));
	cr_assert_not_null(strstr(s, "\r\nDTEND:20261124T013000Z\r\n"));
	cr_assert_not_null(strstr(s, "\r\nSUMMARY:Ms Tan\\, P1 meetings\r\n"));
	cr_assert_not_null(strstr(s, "\r\nSTATUS:CANCELLED\r\n"));
	cr_assert_null(strstr(s, "DESCRIPTION"));
	for (p = s; (eol = strstr(p, "\r\n")) != NULL; p = eol + 2)
		cr_assert_leq(eol - p, 75);
	cr_assert_str_eq(p, "");
	cr_assert_eq(strcmp(s + n - 15, "END:VCALENDAR\r\n"), 0);
	free(s);
}
