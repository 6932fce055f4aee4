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

/* An open map or array: the count its caller declared and how many
 * entries (map: key and value) or values (array) were begun since. */
struct emit_level {
	size_t		 declared;
	size_t		 written;
	const char	*key;		/* a map's latest key, for messages */
	char		 closer;	/* '}' map, ']' array */
};

struct emit {
	struct evbuffer		*out;
	int			 msgpack;
	msgpack_packer		 pk;
	int			 depth;
	int			 after_key;	/* a map's value is due */
	int			 done;		/* the document is whole */
	struct emit_level	 level[EMIT_DEPTH];
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

/* Where the container at depth d sits, as "$.slots[3]", for messages. */
static const char *
emit_path(const struct emit *e, int d, char *buf, size_t size)
{
	const struct emit_level *up;
	size_t n;
	int i;

	n = (size_t)snprintf(buf, size, "$");
	for (i = 1; i <= d && n < size; i++) {
		up = &e->level[i - 1];
		if (up->closer == '}')
			n += (size_t)snprintf(buf + n, size - n, ".%s",
			    up->key);
		else
			n += (size_t)snprintf(buf + n, size - n, "[%zu]",
			    up->written - 1);
	}
	return buf;
}

/* A broken document is the caller's bug, and its bytes would mislead a
 * client: stop with the container and its counts. */
static void
emit_broken(const struct emit *e, int d, const char *what)
    __attribute__((noreturn));

static void
emit_broken(const struct emit *e, int d, const char *what)
{
	const struct emit_level *l = &e->level[d];
	char path[256];

	fatalx("emit: %s %s: %s (declared %zu, written %zu)",
	    l->closer == '}' ? "map" : "array",
	    emit_path(e, d, path, sizeof(path)), what, l->declared,
	    l->written);
}

void
emit_free(struct emit *e)
{
	if (e->depth > 0)
		emit_broken(e, e->depth - 1, "still open at emit_free");
	free(e);
}

/* A value begins: count it in its container and, in JSON, write the comma
 * before it. */
static void
emit_value(struct emit *e)
{
	struct emit_level *l;

	if (e->depth == 0) {
		if (e->done)
			fatalx("emit: a second value after the document");
		return;
	}
	l = &e->level[e->depth - 1];
	if (l->closer == '}') {
		if (!e->after_key)
			emit_broken(e, e->depth - 1, "a value where a key is "
			    "due");
		e->after_key = 0;
		return;
	}
	if (l->written == l->declared)
		emit_broken(e, e->depth - 1, "one value more");
	if (!e->msgpack && l->written > 0)
		evbuffer_add(e->out, ",", 1);
	l->written++;
}

/* A value has ended; at the top level, the document is whole. */
static void
emit_value_end(struct emit *e)
{
	if (e->depth == 0)
		e->done = 1;
}

static void
emit_open(struct emit *e, size_t n, char closer)
{
	struct emit_level *l;

	if (e->depth == EMIT_DEPTH)
		fatalx("emit: documents nest at most %d deep", EMIT_DEPTH);
	if (n > UINT32_MAX)
		fatalx("emit: %zu entries are more than MessagePack counts",
		    n);
	emit_value(e);
	l = &e->level[e->depth++];
	l->declared = n;
	l->written = 0;
	l->key = NULL;
	l->closer = closer;
	if (!e->msgpack)
		evbuffer_add(e->out, closer == '}' ? "{" : "[", 1);
	else if (closer == '}')
		msgpack_pack_map(&e->pk, (uint32_t)n);
	else
		msgpack_pack_array(&e->pk, (uint32_t)n);
}

/* A map of n entries (key and value each); emit_end closes it. */
void
emit_map(struct emit *e, size_t n)
{
	emit_open(e, n, '}');
}

/* An array of n values; emit_end closes it. */
void
emit_array(struct emit *e, size_t n)
{
	emit_open(e, n, ']');
}

/* Close the innermost map or array, which must hold what it declared. */
void
emit_end(struct emit *e)
{
	struct emit_level *l;

	if (e->depth == 0)
		fatalx("emit: emit_end with no map or array open");
	l = &e->level[e->depth - 1];
	if (e->after_key)
		emit_broken(e, e->depth - 1, "closed where a value is due");
	if (l->written != l->declared)
		emit_broken(e, e->depth - 1, "closed short");
	if (!e->msgpack)
		evbuffer_add(e->out, &l->closer, 1);
	e->depth--;
	emit_value_end(e);
}

/* The key of a map's next entry; its value follows.  The key must live
 * until that value is written: a broken document's message names it. */
void
emit_key(struct emit *e, const char *key)
{
	struct emit_level *l;
	size_t len = strlen(key);

	if (e->depth == 0 || e->level[e->depth - 1].closer != '}')
		fatalx("emit: key \"%s\" outside a map", key);
	l = &e->level[e->depth - 1];
	if (e->after_key)
		emit_broken(e, e->depth - 1, "a key where a value is due");
	if (l->written == l->declared)
		emit_broken(e, e->depth - 1, "one entry more");
	if (e->msgpack) {
		msgpack_pack_str(&e->pk, len);
		msgpack_pack_str_body(&e->pk, key, len);
	} else {
		if (l->written > 0)
			evbuffer_add(e->out, ",", 1);
		emit_json_string(e->out, key, len);
		evbuffer_add(e->out, ":", 1);
	}
	l->written++;
	l->key = key;
	e->after_key = 1;
}

void
emit_str(struct emit *e, const char *s)
{
	emit_strn(e, s, strlen(s));
}

/* A string, or null for NULL. */
void
emit_str_or_null(struct emit *e, const char *s)
{
	if (s != NULL)
		emit_str(e, s);
	else
		emit_null(e);
}

void
emit_strn(struct emit *e, const char *s, size_t len)
{
	emit_value(e);
	if (e->msgpack) {
		msgpack_pack_str(&e->pk, len);
		msgpack_pack_str_body(&e->pk, s, len);
	} else
		emit_json_string(e->out, s, len);
	emit_value_end(e);
}

void
emit_int(struct emit *e, int64_t v)
{
	char buf[24];
	int n;

	emit_value(e);
	if (e->msgpack)
		msgpack_pack_int64(&e->pk, v);
	else {
		n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
		evbuffer_add(e->out, buf, (size_t)n);
	}
	emit_value_end(e);
}

void
emit_bool(struct emit *e, int v)
{
	emit_value(e);
	if (e->msgpack && v)
		msgpack_pack_true(&e->pk);
	else if (e->msgpack)
		msgpack_pack_false(&e->pk);
	else if (v)
		evbuffer_add(e->out, "true", 4);
	else
		evbuffer_add(e->out, "false", 5);
	emit_value_end(e);
}

void
emit_null(struct emit *e)
{
	emit_value(e);
	if (e->msgpack)
		msgpack_pack_nil(&e->pk);
	else
		evbuffer_add(e->out, "null", 4);
	emit_value_end(e);
}

/* How byte c is written inside a JSON string: its escape in esc (room for
 * EMIT_ESCAPE_MAX) and the escape's length, or 0 when it stands as is. */
size_t
emit_json_escape(unsigned char c, char *esc)
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
		return 0;
	esc[0] = '\\';
	switch (c) {
	case '"': case '\\':
		esc[1] = (char)c;
		return 2;
	case '\n':
		esc[1] = 'n';
		return 2;
	case '\r':
		esc[1] = 'r';
		return 2;
	case '\t':
		esc[1] = 't';
		return 2;
	default:
		memcpy(esc + 1, "u00", 3);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		return 6;
	}
}

/* A JSON string literal; the bytes are valid UTF-8 (checked on input). */
void
emit_json_string(struct evbuffer *out, const char *s, size_t len)
{
	size_t i, n, run = 0;
	char esc[EMIT_ESCAPE_MAX];

	evbuffer_add(out, "\"", 1);
	for (i = 0; i < len; i++) {
		if ((n = emit_json_escape((unsigned char)s[i], esc)) == 0)
			continue;
		evbuffer_add(out, s + run, i - run);
		evbuffer_add(out, esc, n);
		run = i + 1;
	}
	evbuffer_add(out, s + run, len - run);
	evbuffer_add(out, "\"", 1);
}
