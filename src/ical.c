/*
 * ical: the iCalendar writer (RFC 5545): a VCALENDAR of VEVENTs, content
 * lines ending in CRLF and folded at 75 octets (never inside a UTF-8
 * character or an escape), TEXT values escaped, times in UTC.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "slotd.h"

#define ICAL_LINE_MAX	75	/* octets of a line, CRLF not counted */

/* A content line being written: its output and the octets on its
 * current (folded) line. */
struct ical_fold {
	struct evbuffer	*out;
	size_t		 col;
};

/* Add n octets that must stay on one line, folding before them when they
 * would not fit on this one (a fold is CRLF and a space, which counts). */
static void
ical_put(struct ical_fold *f, const char *s, size_t n)
{
	if (f->col + n > ICAL_LINE_MAX) {
		evbuffer_add(f->out, "\r\n ", 3);
		f->col = 1;
	}
	evbuffer_add(f->out, s, n);
	f->col += n;
}

/* The next piece of value s as it is written, in piece[4]: one UTF-8
 * character, or one escape when text is set (backslash, semicolon, comma,
 * a line break of CRLF, LF or CR).  Controls other than a tab have no
 * place in a value and are left out (0 octets), bytes that are not UTF-8
 * become U+FFFD.  *used is how much of s it took. */
static size_t
ical_piece(const char *s, int text, char piece[4], size_t *used)
{
	unsigned char c = (unsigned char)*s;
	size_t n;

	*used = 1;
	if (text && (c == '\\' || c == ';' || c == ',')) {
		piece[0] = '\\';
		piece[1] = (char)c;
		return 2;
	}
	if (text && (c == '\n' || c == '\r')) {
		if (c == '\r' && s[1] == '\n')
			*used = 2;
		memcpy(piece, "\\n", 2);
		return 2;
	}
	if ((c < ' ' && c != '\t') || c == 0x7f)
		return 0;
	if ((n = utf8_char(s)) == 0) {
		memcpy(piece, "\xef\xbf\xbd", 3);
		return 3;
	}
	memcpy(piece, s, n);
	*used = n;
	return n;
}

/* One content line, "NAME:value" (NAME may carry parameters), folded; a
 * TEXT value (text set) is escaped. */
void
ical_line(struct evbuffer *out, const char *name, const char *value,
    int text)
{
	struct ical_fold f = { out, 0 };
	char piece[4];
	size_t n, used;

	for (; *name != '\0'; name++)
		ical_put(&f, name, 1);
	ical_put(&f, ":", 1);
	while (*value != '\0') {
		if ((n = ical_piece(value, text, piece, &used)) > 0)
			ical_put(&f, piece, n);
		value += used;
	}
	evbuffer_add(out, "\r\n", 2);
}

/* t (seconds since the epoch) as a UTC DATE-TIME: 20261124T010000Z. */
void
ical_utc(int64_t t, char buf[ICAL_UTC_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, ICAL_UTC_LEN, "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(buf, ICAL_UTC_LEN, "19700101T000000Z");
}

static void
ical_time(struct evbuffer *out, const char *name, int64_t t)
{
	char buf[ICAL_UTC_LEN];

	ical_utc(t, buf);
	ical_line(out, name, buf, 0);
}

/* The head of a VCALENDAR that publishes events (METHOD:PUBLISH). */
void
ical_begin(struct evbuffer *out)
{
	ical_line(out, "BEGIN", "VCALENDAR", 0);
	ical_line(out, "VERSION", "2.0", 0);
	ical_line(out, "PRODID", "-//slotd//slotd " PACKAGE_VERSION "//EN",
	    1);
	ical_line(out, "CALSCALE", "GREGORIAN", 0);
	ical_line(out, "METHOD", "PUBLISH", 0);
}

/* One VEVENT.  DTSTAMP is when the event last changed rather than when
 * this copy was made: the same event reads the same every time, so that
 * an unchanged feed keeps its ETag, and a change (a move, a cancel) comes
 * with a later stamp (RFC 5546 section 2.1.5 orders by SEQUENCE, then
 * DTSTAMP). */
void
ical_event(struct evbuffer *out, const struct ical_event *ev)
{
	char seq[24];

	snprintf(seq, sizeof(seq), "%lld", (long long)ev->sequence);
	ical_line(out, "BEGIN", "VEVENT", 0);
	ical_line(out, "UID", ev->uid, 1);
	ical_line(out, "SEQUENCE", seq, 0);
	ical_time(out, "DTSTAMP", ev->changed);
	ical_time(out, "CREATED", ev->created);
	ical_time(out, "LAST-MODIFIED", ev->changed);
	ical_time(out, "DTSTART", ev->start);
	ical_time(out, "DTEND", ev->end);
	ical_line(out, "SUMMARY", ev->summary, 1);
	if (ev->description != NULL && ev->description[0] != '\0')
		ical_line(out, "DESCRIPTION", ev->description, 1);
	ical_line(out, "STATUS", ev->cancelled ? "CANCELLED" : "CONFIRMED", 0);
	ical_line(out, "TRANSP", ev->cancelled ? "TRANSPARENT" : "OPAQUE", 0);
	ical_line(out, "END", "VEVENT", 0);
}

void
ical_end(struct evbuffer *out)
{
	ical_line(out, "END", "VCALENDAR", 0);
}
