/*
 * Unit tests of the strict JSON body parser and typed fields.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

static int
valid(const char *s)
{
	char err[128];
	struct json_doc *d = json_parse(s, strlen(s), err, sizeof(err));

	json_free(d);
	return d != NULL;
}

Test(json, syntax)
{
	const char *good[] = { "{}", "[]", " {\"a\" : [1, 2.5e-3, -0, true, "
	    "false, null, \"x\"]} \n", "{\"a\":{\"b\":{}}}", "[[],[[]]]",
	    "\"s\"" };
	const char *bad[] = { "", " ", "{", "}", "{\"a\":1,}", "[1,]",
	    "[1 2]", "{\"a\" 1}", "{\"a\"::1}", "{,\"a\":1}", "[,1]",
	    "{\"a\":1}x", "{} {}", "[01]", "[1.]", "[.5]", "[1e]", "[+1]",
	    "[tru]", "[nul]", "[truex]", "[NaN]", "{a:1}", "['a']",
	    "[\"\\x\"]", "[\"\\u12\"]", "[\"a\nb\"]", "[1,,2]" };
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(valid(good[i]), "refused: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!valid(bad[i]), "accepted: %s", bad[i]);
}

/* NUL is no whitespace: a body with NUL bytes after or between its
 * tokens is refused. */
Test(json, nul_is_no_space)
{
	const char *bad[] = { "{\"a\":1}\0", "{\"a\":\0 1}", "[1,\0 2]",
	    "\0{}" };
	const size_t len[] = { 8, 9, 7, 3 };
	char err[128];
	struct json_doc *d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = json_parse(bad[i], len[i], err, sizeof(err));
		cr_assert_null(d, "accepted body %zu", i);
	}
	d = json_parse("{\"a\":1} ", 8, err, sizeof(err));
	cr_assert_not_null(d);
	json_free(d);
}

Test(json, utf8)
{
	cr_assert(utf8_valid("h\xc3\xa9llo \xe6\x97\xa5 \xf0\x9f\x98\x80",
	    15));
	cr_assert(!utf8_valid("\xc0\xaf", 2));		/* overlong */
	cr_assert(!utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	cr_assert(!utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	cr_assert(!utf8_valid("\xe6\x97", 2));		/* truncated */
	cr_assert(!utf8_valid("\xff", 1));
}

struct sample {
	int64_t	 n;
	char	*s;
	int	 has_n;
};

static int
no_x(const char *s)
{
	return strchr(s, 'x') == NULL;
}

static int
fields(const char *text, struct sample *out, struct json_error *e)
{
	struct json_field f[] = {
		{ "n", JSON_FIELD_INT, 1, 10, &out->n, &out->has_n, 0, "big",
		    NULL, NULL },
		{ "s", JSON_FIELD_STRING, 1, 3, &out->s, NULL, 1, NULL, no_x,
		    "has an x" },
	};
	char err[128];
	struct json_doc *d = json_parse(text, strlen(text), err, sizeof(err));
	int rc;

	cr_assert_not_null(d, "%s: %s", text, err);
	memset(out, 0, sizeof(*out));
	rc = json_object(d, 0, f, 2, e);
	json_free(d);
	return rc;
}

Test(json, typed_fields)
{
	struct json_error e;
	struct sample v;

	cr_assert_eq(fields("{\"n\":3,\"s\":\"\\u00e9\\ud83d\\ude00\"}", &v,
	    &e), 0);
	cr_assert_eq(v.n, 3);
	cr_assert_str_eq(v.s, "\xc3\xa9\xf0\x9f\x98\x80");
	free(v.s);
	cr_assert_eq(fields("{\"\\u006e\":4}", &v, &e), 0);	/* "n" */
	cr_assert_eq(v.n, 4);
	cr_assert_eq(fields("{\"n\":1,\"\\u006e\":2}", &v, &e), -1);
	cr_assert_str_eq(e.code, "invalid-json");
	cr_assert_eq(fields("{\"s\":null}", &v, &e), 0);
	cr_assert_null(v.s);
	cr_assert_eq(v.has_n, 0);

	cr_assert_eq(fields("{\"n\":11}", &v, &e), -1);
	cr_assert_str_eq(e.code, "big");
	cr_assert_str_eq(e.field, "n");
	cr_assert_eq(fields("{\"n\":0}", &v, &e), -1);
	cr_assert_str_eq(e.code, "invalid-field");
	cr_assert_eq(fields("{\"n\":2.0}", &v, &e), -1);
	cr_assert_eq(fields("{\"n\":null}", &v, &e), -1);
	cr_assert_eq(fields("{\"n\":\"2\"}", &v, &e), -1);
	cr_assert_eq(fields("{\"s\":\"abcd\"}", &v, &e), -1);
	cr_assert_eq(fields("{\"s\":\"x\"}", &v, &e), -1);
	cr_assert_str_eq(e.detail, "has an x");
	cr_assert_eq(fields("{\"s\":\"\\ud800\"}", &v, &e), -1);
	cr_assert_eq(fields("{\"s\":\"a\\u0000\"}", &v, &e), -1);
	cr_assert_eq(fields("{\"q\":1}", &v, &e), -1);
	cr_assert_str_eq(e.code, "unknown-field");
	cr_assert_str_eq(e.field, "q");
	cr_assert_eq(fields("{\"n\":1,\"n\":2}", &v, &e), -1);
	cr_assert_str_eq(e.code, "invalid-json");
	cr_assert_eq(fields("[]", &v, &e), -1);
}
