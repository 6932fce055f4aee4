/*
 * emit: writes one document either as JSON or as MessagePack into an
 * evbuffer, so that every route describes its answer once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <msgpack.h>

#include "slotd.h"

#define EMIT_DEPTH	16

struct emit {
	struct evbuffer	*out;
	int		 msgpack;
	msgpack_packer	 pk;
	int		 depth;
	int		 after_key;
	unsigned char	 first[EMIT_DEPTH];
	char		 closer[EMIT_DEPTH];
};

static int
emit_write(void *data, const char *buf, size_t len)
{
	return evbuffer_add(data, buf, len);
}

struct emit *
emit_new(struct evbuffer *out, int msgpack)
{
	struct emit *e = xcalloc(1, sizeof(*e));

	e->out = out;
	e->msgpack = msgpack;
	msgpack_packer_init(&e->pk, out, emit_write);
	return e;
}

void
emit_free(struct emit *e)
{
	free(e);
}

/* JSON: the comma before a value or key that is not first in its level. */
static void
json_sep(struct emit *e)
{
	if (e->after_key) {
		e->after_key = 0;
		return;
	}
	if (e->depth > 0 && !e->first[e->depth - 1])
		evbuffer_add(e->out, ",", 1);
	if (e->depth > 0)
		e->first[e->depth - 1] = 0;
}

static void
json_open(struct emit *e, char open, char close)
{
	if (e->depth == EMIT_DEPTH)
		fatalx("%s: documents nest at most %d deep", __func__,
		    EMIT_DEPTH);
	json_sep(e);
	evbuffer_add(e->out, &open, 1);
	e->first[e->depth] = 1;
	e->closer[e->depth] = close;
	e->depth++;
}

void
emit_map(struct emit *e, size_t n)
{
	if (e->msgpack)
		msgpack_pack_map(&e->pk, n);
	else
		json_open(e, '{', '}');
}

void
emit_array(struct emit *e, size_t n)
{
	if (e->msgpack)
		msgpack_pack_array(&e->pk, n);
	else
		json_open(e, '[', ']');
}

/* Close the innermost map or array (a no-op in MessagePack, where sizes
 * were given up front). */
void
emit_end(struct emit *e)
{
	if (e->msgpack || e->depth == 0)
		return;
	e->depth--;
	evbuffer_add(e->out, &e->closer[e->depth], 1);
}

void
emit_key(struct emit *e, const char *key)
{
	if (e->msgpack) {
		emit_strn(e, key, strlen(key));
		return;
	}
	json_sep(e);
	emit_json_string(e->out, key, strlen(key));
	evbuffer_add(e->out, ":", 1);
	e->after_key = 1;
}

void
emit_str(struct emit *e, const char *s)
{
	emit_strn(e, s, strlen(s));
}

void
emit_strn(struct emit *e, const char *s, size_t len)
{
	if (e->msgpack) {
		msgpack_pack_str(&e->pk, len);
		msgpack_pack_str_body(&e->pk, s, len);
		return;
	}
	json_sep(e);
	emit_json_string(e->out, s, len);
}

void
emit_int(struct emit *e, int64_t v)
{
	char buf[24];
	int n;

	if (e->msgpack) {
		msgpack_pack_int64(&e->pk, v);
		return;
	}
	json_sep(e);
	n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
	evbuffer_add(e->out, buf, (size_t)n);
}

void
emit_null(struct emit *e)
{
	if (e->msgpack) {
		msgpack_pack_nil(&e->pk);
		return;
	}
	json_sep(e);
	evbuffer_add(e->out, "null", 4);
}

/* A JSON string literal; the bytes are valid UTF-8 (checked on input). */
void
emit_json_string(struct evbuffer *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	char esc[6];

	evbuffer_add(out, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		evbuffer_add(out, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': case '\\':
			esc[1] = (char)c;
			evbuffer_add(out, esc, 2);
			break;
		case '\n':
			evbuffer_add(out, "\\n", 2);
			break;
		case '\r':
			evbuffer_add(out, "\\r", 2);
			break;
		case '\t':
			evbuffer_add(out, "\\t", 2);
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			evbuffer_add(out, esc, 6);
		}
	}
	evbuffer_add(out, s + run, len - run);
	evbuffer_add(out, "\"", 1);
}
