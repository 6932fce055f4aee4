/*
 * Unit tests of the document writer: JSON escaping and nesting, and the
 * same document as MessagePack.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>

#include <event2/buffer.h>

#include "slotd.h"

static void
sample(struct emit *e)
{
	emit_map(e, 3);
	emit_key(e, "a");
	emit_int(e, -42);
	emit_key(e, "s");
	emit_str(e, "q\"b\\\n\x01é");
	emit_key(e, "list");
	emit_array(e, 3);
	emit_null(e);
	emit_map(e, 0);
	emit_end(e);
	emit_array(e, 1);
	emit_int(e, 9007199254740993LL);
	emit_end(e);
	emit_end(e);
	emit_end(e);
}

Test(emit, json)
{
	struct evbuffer *b = evbuffer_new();
	struct emit *e = emit_new(b, 0);
	const char *want = "{\"a\":-42,\"s\":\"q\\\"b\\\\\\n\\u0001é\","
	    "\"list\":[null,{},[9007199254740993]]}";

	sample(e);
	emit_free(e);
	cr_assert_eq(evbuffer_get_length(b), strlen(want));
	cr_assert(memcmp(evbuffer_pullup(b, -1), want, strlen(want)) == 0,
	    "%.*s", (int)evbuffer_get_length(b),
	    (char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

Test(emit, msgpack)
{
	struct evbuffer *b = evbuffer_new();
	struct emit *e = emit_new(b, 1);
	msgpack_unpacked u;
	msgpack_object o, list;
	size_t off = 0;

	sample(e);
	emit_free(e);
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)evbuffer_pullup(b,
	    -1), evbuffer_get_length(b), &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(off, evbuffer_get_length(b));
	o = u.data;
	cr_assert_eq(o.type, MSGPACK_OBJECT_MAP);
	cr_assert_eq(o.via.map.size, 3);
	cr_assert_eq(o.via.map.ptr[0].val.via.i64, -42);
	cr_assert_eq(o.via.map.ptr[1].val.via.str.size, strlen("q\"b\\\n\x01é"));
	list = o.via.map.ptr[2].val;
	cr_assert_eq(list.type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(list.via.array.size, 3);
	cr_assert_eq(list.via.array.ptr[0].type, MSGPACK_OBJECT_NIL);
	cr_assert_eq(list.via.array.ptr[2].via.array.ptr[0].via.u64,
	    9007199254740993ULL);
	msgpack_unpacked_destroy(&u);
	evbuffer_free(b);
}
