/*
 * json: strict request bodies.  jsmn tokenises; this file adds what jsmn
 * leaves out: valid UTF-8, exact literals and number grammar, one value per
 * body, no duplicate members, and typed fields checked against a table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "slotd.h"

struct json_doc {
	const char	*text;
	size_t		 len;
	jsmntok_t	*tok;
	int		 ntok;
};

static int
is_number(const char *s, size_t len)
{
	size_t i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i == len)
		return 0;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < len && s[i] == '.') {
		if (++i == len || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == len || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == len;
}

static int
primitive_valid(const char *s, size_t len)
{
	return (len == 4 && memcmp(s, "true", 4) == 0) ||
	    (len == 5 && memcmp(s, "false", 5) == 0) ||
	    (len == 4 && memcmp(s, "null", 4) == 0) || is_number(s, len);
}

static int
has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20)
			return 1;
	return 0;
}

/* Index of the token after the value at i. */
static int
json_skip(const struct json_doc *d, int i)
{
	int pending = 1;

	while (pending > 0 && i < d->ntok) {
		if (d->tok[i].type == JSMN_OBJECT)
			pending += d->tok[i].size * 2;
		else if (d->tok[i].type == JSMN_ARRAY)
			pending += d->tok[i].size;
		pending--;
		i++;
	}
	return i;
}

/* Where a value starts and ends, quotes of strings included. */
static int
outer_start(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int
outer_end(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/* Between two tokens only white space and exactly the separator sep (or
 * nothing when sep is 0): jsmn lets "[1,]" and "{"a":1,}" through. */
/* JSON's whitespace (RFC 8259): never NUL, which strchr() would find. */
static int
json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
gap_ok(const char *text, int from, int to, char sep)
{
	int seen = 0;

	for (; from < to; from++) {
		if (text[from] == sep && !seen)
			seen = 1;
		else if (!json_space(text[from]))
			return 0;
	}
	return seen == (sep != 0);
}

/* Check the separators of the value at i; the index after it, or -1. */
static int
json_structure(const struct json_doc *d, int i)
{
	const jsmntok_t *c = &d->tok[i];
	int pos = c->start + 1, k, next = i + 1;

	if (c->type != JSMN_OBJECT && c->type != JSMN_ARRAY)
		return i + 1;
	for (k = 0; k < c->size; k++) {
		if (next >= d->ntok || !gap_ok(d->text, pos,
		    outer_start(&d->tok[next]), k == 0 ? 0 : ','))
			return -1;
		if (c->type == JSMN_OBJECT) {
			if (next + 1 >= d->ntok || !gap_ok(d->text,
			    outer_end(&d->tok[next]),
			    outer_start(&d->tok[next + 1]), ':'))
				return -1;
			next++;
		}
		pos = outer_end(&d->tok[next]);
		if ((next = json_structure(d, next)) == -1)
			return -1;
	}
	return gap_ok(d->text, pos, c->end - 1, 0) ? next : -1;
}

/* Parse a whole body; NULL with err set when it is not one valid JSON
 * value. */
struct json_doc *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_doc *d;
	jsmn_parser p;
	size_t end;
	int i, n;

	if (!utf8_valid(text, len)) {
		snprintf(err, errlen, "the body is not valid UTF-8");
		return NULL;
	}
	n = (int)(len / 2 + 2);
	/* One allocation: the document, then its tokens. */
	d = xcalloc(1, sizeof(*d) + (size_t)n * sizeof(*d->tok));
	d->tok = (jsmntok_t *)(d + 1);
	d->text = text;
	d->len = len;
	jsmn_init(&p);
	d->ntok = jsmn_parse(&p, text, len, d->tok, (unsigned)n);
	if (d->ntok < 1) {
		snprintf(err, errlen, "the body is not valid JSON");
		goto bad;
	}
	end = len;
	while (end > 0 && json_space(text[end - 1]))
		end--;
	if (json_skip(d, 0) != d->ntok || (size_t)outer_end(&d->tok[0]) != end) {
		snprintf(err, errlen, "the body holds more than one JSON value");
		goto bad;
	}
	if (json_structure(d, 0) != d->ntok) {
		snprintf(err, errlen, "the body is not valid JSON");
		goto bad;
	}
	for (i = 0; i < d->ntok; i++) {
		if (d->tok[i].type == JSMN_STRING && has_control(text +
		    d->tok[i].start, (size_t)(d->tok[i].end -
		    d->tok[i].start))) {
			snprintf(err, errlen, "a string holds a raw control "
			    "character");
			goto bad;
		}
		if (d->tok[i].type == JSMN_PRIMITIVE &&
		    !primitive_valid(text + d->tok[i].start,
		    (size_t)(d->tok[i].end - d->tok[i].start))) {
			snprintf(err, errlen, "invalid JSON literal '%.*s'",
			    d->tok[i].end - d->tok[i].start > 32 ? 32 :
			    d->tok[i].end - d->tok[i].start,
			    text + d->tok[i].start);
			goto bad;
		}
	}
	return d;
bad:
	json_free(d);
	return NULL;
}

void
json_free(struct json_doc *d)
{
	if (d == NULL)
		return;
	free(d);
}

int
json_root_type(const struct json_doc *d)
{
	switch (d->tok[0].type) {
	case JSMN_OBJECT:
		return JSON_OBJECT;
	case JSMN_ARRAY:
		return JSON_ARRAY;
	default:
		return JSON_OTHER;
	}
}

/* The elements of the array at token tok (0: the root), for
 * json_object() and json_string(); -1 when it is no array. */
int
json_array_items(const struct json_doc *d, int tok, int *items, int max)
{
	int i = tok + 1, n = 0;

	if (d->tok[tok].type != JSMN_ARRAY)
		return -1;
	while (n < d->tok[tok].size) {
		if (n < max)
			items[n] = i;
		n++;
		i = json_skip(d, i);
	}
	return n;
}

static void
put_utf8(char **o, uint32_t cp)
{
	unsigned char *p = (unsigned char *)*o;

	if (cp < 0x80) {
		*p++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*p++ = (unsigned char)(0xc0 | cp >> 6);
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*p++ = (unsigned char)(0xe0 | cp >> 12);
		*p++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*p++ = (unsigned char)(0xf0 | cp >> 18);
		*p++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)p;
}

static int
hex4(const char *s, uint32_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = s[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* The unescaped string of token t (malloc'd), or NULL when it holds NUL
 * or a lone surrogate. */
static char *
json_unescape(const struct json_doc *d, const jsmntok_t *t)
{
	const char *s = d->text + t->start, *end = d->text + t->end;
	char *out = xcalloc(1, (size_t)(t->end - t->start) + 1), *o = out;
	uint32_t cp, lo;

	while (s < end) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		switch (*s++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (end - s < 4 || hex4(s, &cp) == -1)
				goto bad;
			s += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - s < 6 || s[0] != '\\' || s[1] != 'u' ||
				    hex4(s + 2, &lo) == -1 || lo < 0xdc00 ||
				    lo > 0xdfff)
					goto bad;
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0)
				goto bad;
			put_utf8(&o, cp);
			break;
		default:
			goto bad;
		}
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Name what is wrong with a member: e set, -1 returned. */
int
json_fail(struct json_error *e, const char *code, const char *field,
    const char *why)
{
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field);
	snprintf(e->detail, sizeof(e->detail), "%s", why);
	return -1;
}

/* The boolean at token tok into *out; -1 when it is no boolean. */
int
json_bool(const struct json_doc *d, int tok, int *out)
{
	const jsmntok_t *t = &d->tok[tok];
	int len = t->end - t->start;

	if (t->type != JSMN_PRIMITIVE)
		return -1;
	if (len == 4 && memcmp(d->text + t->start, "true", 4) == 0)
		*out = 1;
	else if (len == 5 && memcmp(d->text + t->start, "false", 5) == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Whether the value at token tok is null. */
int
json_is_null(const struct json_doc *d, int tok)
{
	const jsmntok_t *t = &d->tok[tok];

	return t->type == JSMN_PRIMITIVE && t->end - t->start == 4 &&
	    memcmp(d->text + t->start, "null", 4) == 0;
}

/* The integer at token tok into *out if it lies in min..max; else -1. */
int
json_int(const struct json_doc *d, int tok, int64_t min, int64_t max,
    int64_t *out)
{
	const jsmntok_t *t = &d->tok[tok];
	long long v;

	if (t->type != JSMN_PRIMITIVE || t->end - t->start > 19 ||
	    strspn(d->text + t->start, "-0123456789") !=
	    (size_t)(t->end - t->start))
		return -1;
	errno = 0;
	v = strtoll(d->text + t->start, NULL, 10);
	if (errno != 0 || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The string at token tok, unescaped (malloc'd), or NULL. */
char *
json_string(const struct json_doc *d, int tok)
{
	if (d->tok[tok].type != JSMN_STRING)
		return NULL;
	return json_unescape(d, &d->tok[tok]);
}

static int json_fields(const struct json_doc *, int,
    const struct json_field *, size_t, struct json_error *, int);

/* Fill fields from the object at token obj.  Unknown members, duplicates,
 * wrong types and values out of range are errors naming the member. */
int
json_object(const struct json_doc *d, int obj, const struct json_field *f,
    size_t nf, struct json_error *e)
{
	return json_fields(d, obj, f, nf, e, 0);
}

/* The same, passing over members not in fields (as JWT claims need). */
int
json_object_lenient(const struct json_doc *d, int obj,
    const struct json_field *f, size_t nf, struct json_error *e)
{
	return json_fields(d, obj, f, nf, e, 1);
}

static int
json_fields(const struct json_doc *d, int obj, const struct json_field *f,
    size_t nf, struct json_error *e, int lenient)
{
	const jsmntok_t *key, *val;
	unsigned char seen[32];
	char why[128], *str;
	size_t k;
	int i, m;
	long long v;

	memset(seen, 0, sizeof(seen));
	memset(e, 0, sizeof(*e));
	if (d->tok[obj].type != JSMN_OBJECT)
		return json_fail(e, "invalid-json", "",
		    "a JSON object is expected");
	for (i = obj + 1, m = 0; m < d->tok[obj].size; m++) {
		key = &d->tok[i];
		val = &d->tok[i + 1];
		if ((str = json_unescape(d, key)) == NULL)
			return json_fail(e, "invalid-json", "",
			    "a member name holds an invalid escape");
		for (k = 0; k < nf && strcmp(str, f[k].name) != 0; k++)
			;
		if (k == nf && lenient) {
			free(str);
			i = json_skip(d, i + 1);
			continue;
		}
		if (k == nf) {
			json_fail(e, "unknown-field", str, "unknown field");
			free(str);
			return -1;
		}
		free(str);
		if (seen[k]++)
			return json_fail(e, "invalid-json", f[k].name,
			    "member given twice");
		i = json_skip(d, i + 1);
		if (val->type == JSMN_PRIMITIVE && val->end - val->start == 4 &&
		    memcmp(d->text + val->start, "null", 4) == 0 &&
		    f[k].nullable)
			continue;
		switch (f[k].kind) {
		case JSON_FIELD_INT:
			if (val->type != JSMN_PRIMITIVE ||
			    strspn(d->text + val->start, "-0123456789") !=
			    (size_t)(val->end - val->start) ||
			    val->end - val->start > 19)
				return json_fail(e, "invalid-field",
				    f[k].name, "must be an integer");
			errno = 0;
			v = strtoll(d->text + val->start, NULL, 10);
			if (errno != 0 || v < f[k].min || v > f[k].max) {
				snprintf(why, sizeof(why), "must be in %lld..%lld",
				    (long long)f[k].min, (long long)f[k].max);
				return json_fail(e, errno == 0 &&
				    v > f[k].max && f[k].above_code != NULL ?
				    f[k].above_code : "invalid-field", f[k].name,
				    why);
			}
			*(int64_t *)f[k].out = v;
			break;
		case JSON_FIELD_NUMBER:
			if (val->type != JSMN_PRIMITIVE ||
			    !is_number(d->text + val->start,
			    (size_t)(val->end - val->start)))
				return json_fail(e, "invalid-field",
				    f[k].name, "must be a number");
			*(double *)f[k].out = strtod(d->text + val->start, NULL);
			break;
		case JSON_FIELD_ANY:
			*(int *)f[k].out = (int)(val - d->tok);
			break;
		case JSON_FIELD_STRING:
			if (val->type != JSMN_STRING)
				return json_fail(e, "invalid-field",
				    f[k].name, "must be a string");
			if ((str = json_unescape(d, val)) == NULL)
				return json_fail(e, "invalid-field",
				    f[k].name, "holds an invalid escape");
			if ((int64_t)utf8_length(str) < f[k].min ||
			    (int64_t)utf8_length(str) > f[k].max) {
				free(str);
				snprintf(why, sizeof(why), "must be %lld..%lld "
				    "characters", (long long)f[k].min,
				    (long long)f[k].max);
				return json_fail(e, "invalid-field",
				    f[k].name, why);
			}
			if (f[k].check != NULL && !f[k].check(str)) {
				free(str);
				return json_fail(e, "invalid-field",
				    f[k].name, f[k].check_why);
			}
			*(char **)f[k].out = str;
			break;
		}
		if (f[k].present != NULL)
			*f[k].present = 1;
	}
	return 0;
}
