/*
 * Unit tests of the document writer: JSON escaping and nesting, the same
 * documents as MessagePack, and the counts it checks.
 */
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <msgpack.h>
#include <string.h>
#include <unistd.h>

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

/* doc written into a new buffer, as JSON or as MessagePack. */
static struct evbuffer *
written(void (*doc)(struct emit *), int msgpack)
{
	struct evbuffer *b = evbuffer_new();
	struct emit *e = emit_new(b, msgpack);

	doc(e);
	emit_free(e);
	return b;
}

static void
assert_json(struct evbuffer *b, const char *want)
{
	size_t len = evbuffer_get_length(b);
	const char *got = (const char *)evbuffer_pullup(b, -1);

	cr_assert(len == strlen(want) && memcmp(got, want, len) == 0,
	    "got  %.*s\nwant %s", (int)len, got, want);
}

/* The buffer unpacked by msgpack-c: one object, no bytes left over. */
static void
unpack_whole(struct evbuffer *b, msgpack_unpacked *u)
{
	size_t off = 0;

	msgpack_unpacked_init(u);
	cr_assert_eq(msgpack_unpack_next(u, (const char *)evbuffer_pullup(b,
	    -1), evbuffer_get_length(b), &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(off, evbuffer_get_length(b));
}

Test(emit, json)
{
	struct evbuffer *b = written(sample, 0);

	assert_json(b, "{\"a\":-42,\"s\":\"q\\\"b\\\\\\n\\u0001é\","
	    "\"list\":[null,{},[9007199254740993]]}");
	evbuffer_free(b);
}

Test(emit, msgpack)
{
	struct evbuffer *b = written(sample, 1);
	msgpack_unpacked u;
	msgpack_object o, list;

	unpack_whole(b, &u);
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

/* A document nested 16 deep (the limit), with empty containers, nulls,
 * the int64 extremes and keys that need escaping. */
static void
nested(struct emit *e)
{
	int i;

	emit_map(e, 4);
	emit_key(e, "slots");
	emit_array(e, 2);
	for (i = 0; i < 2; i++) {
		emit_map(e, 3);
		emit_key(e, "id");
		emit_int(e, i + 1);
		emit_key(e, "ids");
		emit_array(e, 2);
		emit_int(e, INT64_MIN);
		emit_int(e, INT64_MAX);
		emit_end(e);
		emit_key(e, "none");
		emit_map(e, 0);
		emit_end(e);
		emit_end(e);
	}
	emit_end(e);
	emit_key(e, "deep");
	for (i = 0; i < 14; i++)
		emit_array(e, 1);
	emit_array(e, 0);
	for (i = 0; i < 15; i++)
		emit_end(e);
	emit_key(e, "k\"\t");
	emit_null(e);
	emit_key(e, "");
	emit_str(e, "");
	emit_end(e);
}

static const char nested_json[] = "{\"slots\":["
    "{\"id\":1,\"ids\":[-9223372036854775808,9223372036854775807],"
    "\"none\":{}},"
    "{\"id\":2,\"ids\":[-9223372036854775808,9223372036854775807],"
    "\"none\":{}}],"
    "\"deep\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]],"
    "\"k\\\"\\t\":null,\"\":\"\"}";

/* Write a decoded MessagePack object again, as JSON, through emit. */
static void
replay(struct emit *e, const msgpack_object *o)
{
	const msgpack_object_str *k;
	char key[64];
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_MAP:
		emit_map(e, o->via.map.size);
		for (i = 0; i < o->via.map.size; i++) {
			cr_assert_eq(o->via.map.ptr[i].key.type,
			    MSGPACK_OBJECT_STR);
			k = &o->via.map.ptr[i].key.via.str;
			cr_assert(k->size < sizeof(key) &&
			    memchr(k->ptr, 0, k->size) == NULL);
			memcpy(key, k->ptr, k->size);
			key[k->size] = '\0';
			emit_key(e, key);
			replay(e, &o->via.map.ptr[i].val);
		}
		emit_end(e);
		break;
	case MSGPACK_OBJECT_ARRAY:
		emit_array(e, o->via.array.size);
		for (i = 0; i < o->via.array.size; i++)
			replay(e, &o->via.array.ptr[i]);
		emit_end(e);
		break;
	case MSGPACK_OBJECT_STR:
		emit_strn(e, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		cr_assert_leq(o->via.u64, (uint64_t)INT64_MAX);
		emit_int(e, (int64_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		emit_int(e, o->via.i64);
		break;
	case MSGPACK_OBJECT_NIL:
		emit_null(e);
		break;
	default:
		cr_assert_fail("unexpected MessagePack type %d", o->type);
	}
}

/* JSON is the expected text; MessagePack unpacks (msgpack-c) into one
 * object with no bytes left over, which written again as JSON is the
 * same text. */
Test(emit, nested_both_encodings)
{
	struct evbuffer *json = written(nested, 0), *mp = written(nested, 1),
	    *again = evbuffer_new();
	struct emit *e;
	msgpack_unpacked u;

	assert_json(json, nested_json);
	unpack_whole(mp, &u);
	cr_assert_eq(u.data.via.map.ptr[0].val.via.array.ptr[1].via.map.ptr[1]
	    .val.via.array.ptr[0].via.i64, INT64_MIN);
	e = emit_new(again, 0);
	replay(e, &u.data);
	emit_free(e);
	assert_json(again, nested_json);
	msgpack_unpacked_destroy(&u);
	evbuffer_free(json);
	evbuffer_free(mp);
	evbuffer_free(again);
}

/* The counted mistake of the issue: a map of 10 declared, 9 written. */
static void
appointment_short(struct emit *e)
{
	static const char *const keys[] = { "id", "slotId", "slotIds",
	    "startTime", "endTime", "name", "email", "note", "status" };
	size_t i;

	emit_map(e, 10);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		emit_key(e, keys[i]);
		emit_int(e, 1);
	}
	emit_end(e);
}

Test(emit, short_map_exits_json, .exit_code = 1,
    .init = cr_redirect_stderr)
{
	struct emit *e = emit_new(evbuffer_new(), 0);

	appointment_short(e);
}

Test(emit, short_map_exits_msgpack, .exit_code = 1,
    .init = cr_redirect_stderr)
{
	struct emit *e = emit_new(evbuffer_new(), 1);

	appointment_short(e);
}

static void
long_map(struct emit *e)
{
	emit_map(e, 1);
	emit_key(e, "a");
	emit_int(e, 1);
	emit_key(e, "b");
}

static void
long_array(struct emit *e)
{
	emit_array(e, 1);
	emit_int(e, 1);
	emit_null(e);
}

static void
short_inner_array(struct emit *e)
{
	emit_map(e, 1);
	emit_key(e, "slots");
	emit_array(e, 2);
	emit_map(e, 0);
	emit_end(e);
	emit_end(e);
}

static void
short_inner_map(struct emit *e)
{
	emit_map(e, 1);
	emit_key(e, "slots");
	emit_array(e, 1);
	emit_map(e, 2);
	emit_key(e, "id");
	emit_int(e, 1);
	emit_end(e);
}

static void
key_in_array(struct emit *e)
{
	emit_array(e, 2);
	emit_key(e, "x");
}

static void
key_at_top(struct emit *e)
{
	emit_key(e, "x");
}

static void
key_for_value(struct emit *e)
{
	emit_map(e, 2);
	emit_key(e, "a");
	emit_key(e, "b");
}

static void
value_for_key(struct emit *e)
{
	emit_map(e, 1);
	emit_str(e, "a");
}

static void
closed_after_key(struct emit *e)
{
	emit_map(e, 1);
	emit_key(e, "a");
	emit_end(e);
}

static void
left_open(struct emit *e)
{
	emit_map(e, 1);
	emit_key(e, "a");
	emit_array(e, 0);
}

static void
end_of_nothing(struct emit *e)
{
	emit_int(e, 1);
	emit_end(e);
}

static void
second_document(struct emit *e)
{
	emit_map(e, 0);
	emit_end(e);
	emit_int(e, 1);
}

static void
too_deep(struct emit *e)
{
	int i;

	for (i = 0; i < 17; i++)
		emit_array(e, 1);
}

/* Run f on a fresh writer in a child: its exit status, its stderr into
 * msg. */
static int
run_child(void (*f)(struct emit *), int msgpack, char *msg, size_t size)
{
	size_t got = 0;
	ssize_t n;
	int fd[2], status;
	pid_t pid;

	cr_assert(pipe(fd) == 0);
	if ((pid = fork()) == 0) {
		struct emit *e = emit_new(evbuffer_new(), msgpack);

		dup2(fd[1], STDERR_FILENO);
		f(e);
		emit_free(e);
		_exit(0);
	}
	cr_assert(pid > 0);
	close(fd[1]);
	while (got < size - 1 &&
	    (n = read(fd[0], msg + got, size - 1 - got)) > 0)
		got += (size_t)n;
	msg[got] = '\0';
	close(fd[0]);
	cr_assert(waitpid(pid, &status, 0) == pid);
	return status;
}

/* Every broken document stops the process (fatalx: exit 1) with a line
 * naming the container and its counts, in both encodings. */
Test(emit, broken_documents_are_fatal)
{
	static const struct {
		void		(*f)(struct emit *);
		const char	*want;
	} cases[] = {
		{ appointment_short, "emit: map $: closed short "
		    "(declared 10, written 9)" },
		{ long_map, "emit: map $: one entry more (declared 1, "
		    "written 1)" },
		{ long_array, "emit: array $: one value more (declared 1, "
		    "written 1)" },
		{ short_inner_array, "emit: array $.slots: closed short "
		    "(declared 2, written 1)" },
		{ short_inner_map, "emit: map $.slots[0]: closed short "
		    "(declared 2, written 1)" },
		{ key_in_array, "emit: key \"x\" outside a map" },
		{ key_at_top, "emit: key \"x\" outside a map" },
		{ key_for_value, "emit: map $: a key where a value is due "
		    "(declared 2, written 1)" },
		{ value_for_key, "emit: map $: a value where a key is due "
		    "(declared 1, written 0)" },
		{ closed_after_key, "emit: map $: closed where a value is "
		    "due (declared 1, written 1)" },
		{ left_open, "emit: array $.a: still open at emit_free "
		    "(declared 0, written 0)" },
		{ end_of_nothing, "emit: emit_end with no map or array "
		    "open" },
		{ second_document, "emit: a second value after the "
		    "document" },
		{ too_deep, "emit: documents nest at most 16 deep" },
	};
	char msg[1024];
	size_t i;
	int msgpack, status;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (msgpack = 0; msgpack < 2; msgpack++) {
			status = run_child(cases[i].f, msgpack, msg,
			    sizeof(msg));
			cr_assert(WIFEXITED(status) &&
			    WEXITSTATUS(status) == 1, "case %zu/%d: status "
			    "%#x", i, msgpack, status);
			cr_assert(strstr(msg, cases[i].want) != NULL,
			    "case %zu/%d: %s", i, msgpack, msg);
		}
}
