/*
 * rules: the booking rules that POST /appointments and POST /holds share:
 * the fast "no" the shared table may give before the database decides,
 * and the answers to the database's refusals (the calendars' rules among
 * them: migration 0010).
 */
#include <string.h>
#include <time.h>

#include "slotd.h"

/* A UUID in its canonical 8-4-4-4-12 hexadecimal form. */
int
rules_uuid_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (strchr("0123456789abcdefABCDEF", s[i]) == NULL)
			return 0;
	}
	return 1;
}

/* The fast "no" from the shared table for count consecutive slots from
 * slot_id: 409 slot-in-past or 409 slot-full, answered here; the
 * outcome is returned.  NULL leaves the decision, a broken run included,
 * to the database. */
const char *
rules_precheck(struct http_request *req, struct slot_table *table,
    int64_t slot_id, int64_t count)
{
	struct db_row r;
	struct slot next[1];
	size_t n;
	int64_t k;

	if (!slot_table_flag(table, SLOT_FLAG_LOADED))
		return NULL;
	memset(&r, 0, sizeof(r));
	/* A slot not in the table may be one just made elsewhere whose
	 * notification is still on its way: only the database knows. */
	if (slot_table_get(table, slot_id, &r.slot) == -1)
		return NULL;
	if (r.slot.start <= (int64_t)time(NULL))
		r.outcome = "slot-in-past";
	for (k = 0; r.outcome == NULL && k < count; k++) {
		if (r.slot.booked >= r.slot.capacity) {
			r.outcome = "slot-full";
			break;
		}
		if (k + 1 == count)
			break;
		/* The next slot of the run: its calendar's, starting where
		 * this one ends. */
		n = slot_table_calendar_range(table, r.slot.calendar_id,
		    r.slot.end, r.slot.end + 1, next, 1);
		if (n == 0)
			return NULL;
		r.slot = next[0];
	}
	if (r.outcome != NULL)
		rules_refusal(req, &r, slot_id, count);
	return r.outcome;
}

/* The answer for a database outcome that is not a success; 0 when the
 * outcome is not one of the shared refusals. */
int
rules_refusal(struct http_request *req, const struct db_row *r,
    int64_t slot_id, int64_t count)
{
	if (strcmp(r->outcome, "slot-not-found") == 0)
		http_problem(req, 404, "slot-not-found", "no slot with id %lld",
		    (long long)slot_id);
	else if (strcmp(r->outcome, "slot-full") == 0)
		http_problem(req, 409, "slot-full", "slot %lld has no free seat",
		    (long long)r->slot.id);
	else if (strcmp(r->outcome, "slot-in-past") == 0)
		http_problem(req, 409, "slot-in-past",
		    "slot %lld has already started", (long long)r->slot.id);
	else if (strcmp(r->outcome, "not-consecutive") == 0)
		http_problem(req, 409, "not-consecutive", "there are no %lld "
		    "consecutive slots from slot %lld", (long long)count,
		    (long long)slot_id);
	else if (strcmp(r->outcome, "too-many-slots") == 0)
		http_problem(req, 400, "too-many-slots", "slots: the calendar "
		    "of slot %lld takes fewer in one appointment",
		    (long long)slot_id);
	else if (strcmp(r->outcome, "outside-booking-window") == 0)
		http_problem(req, 409, "outside-booking-window", "slot %lld "
		    "starts too soon or too far ahead to be taken now",
		    (long long)r->slot.id);
	else if (strcmp(r->outcome, "cancel-window-closed") == 0)
		http_problem(req, 409, "cancel-window-closed", "appointment %s "
		    "starts too soon to be cancelled or moved now", r->ref);
	else
		return 0;
	return 1;
}

/* Idempotency-Key: once, 1..255 visible ASCII characters. */
int
rules_idempotency_key(struct http_request *req, const char **key)
{
	const char *k, *p;

	if (http_header_once(req, "Idempotency-Key", key) == -1)
		return -1;
	if ((k = *key) == NULL)
		return 0;
	for (p = k; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			break;
	if (*p != '\0' || p == k || p - k > 255) {
		http_problem(req, 400, "bad-request", "Idempotency-Key must be "
		    "1 to 255 visible ASCII characters");
		return -1;
	}
	return 0;
}

/* local@domain.tld with no spaces or controls: plausible, not proven. */
int
rules_email_plausible(const char *s)
{
	const char *at = strchr(s, '@'), *dot, *p;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
		return 0;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' ||
		    *p == '>' || *p == ',' || *p == ';')
			return 0;
	dot = strrchr(at + 1, '.');
	return dot != NULL && dot > at + 1 && dot[1] != '\0' &&
	    strstr(at + 1, "..") == NULL && at[1] != '.';
}

/* Printable text without line breaks. */
int
rules_single_line(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	return 1;
}
