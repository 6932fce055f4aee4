/*
 * Unit tests of the token buckets (with a clock given by the test), their
 * bounded table, trusted proxies and address ranges.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "slotd.h"

static int
take(const char *who, uint64_t now, uint64_t *wait)
{
	int left;

	return ratelimit_take(who, RL_READS, 2, 3, now, wait, &left);
}

Test(ratelimit, bucket_refills_at_its_rate)
{
	uint64_t wait;

	cr_assert_eq(ratelimit_init(64), 0);
	cr_assert(take("a", 1000, &wait));
	cr_assert(take("a", 1000, &wait));
	cr_assert(take("a", 1000, &wait));
	cr_assert_not(take("a", 1000, &wait));
	cr_assert_eq(wait, 500);			/* 2 tokens a second */
	cr_assert_not(take("a", 1499, &wait));
	cr_assert(take("a", 1500, &wait));
	/* Another client and the other class have their own buckets. */
	cr_assert(take("b", 1500, &wait));
	cr_assert(ratelimit_take("a", RL_WRITES, 1, 1, 1500, &wait,
	    &(int){0}));
	/* Never more than the burst, however long the pause. */
	cr_assert(take("a", 100000, &wait));
	cr_assert(take("a", 100000, &wait));
	cr_assert(take("a", 100000, &wait));
	cr_assert_not(take("a", 100000, &wait));
}

Test(ratelimit, table_stays_bounded_under_many_addresses)
{
	char addr[32];
	uint64_t wait;
	int i;

	cr_assert_eq(ratelimit_init(1024), 0);
	for (i = 0; i < 200000; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		cr_assert(take(addr, 5000 + (uint64_t)i, &wait));
	}
	/* A client just seen is still counted after the flood. */
	cr_assert(take("192.0.2.9", 300000, &wait));
	cr_assert(take("192.0.2.9", 300000, &wait));
	cr_assert(take("192.0.2.9", 300000, &wait));
	cr_assert_not(take("192.0.2.9", 300000, &wait));
}

Test(ratelimit, forwarded_for_from_trusted_proxies_only)
{
	struct config c;
	char out[64];

	memset(&c, 0, sizeof(c));
	cr_assert_eq(ratelimit_parse_cidr("10.0.0.0/8", 10,
	    &c.trusted.range[0]), 0);
	cr_assert_eq(ratelimit_parse_cidr("2001:db8::/32", 13,
	    &c.trusted.range[1]), 0);
	c.trusted.n = 2;
	ratelimit_client(&c, "192.0.2.1", "198.51.100.7", out, sizeof(out));
	cr_assert_str_eq(out, "192.0.2.1");
	ratelimit_client(&c, "10.0.0.5", "198.51.100.7", out, sizeof(out));
	cr_assert_str_eq(out, "198.51.100.7");
	ratelimit_client(&c, "10.0.0.5", "1.1.1.1, 198.51.100.7 ,10.9.9.9",
	    out, sizeof(out));
	cr_assert_str_eq(out, "198.51.100.7");
	ratelimit_client(&c, "2001:db8::1", "10.1.1.1, 10.2.2.2", out,
	    sizeof(out));
	cr_assert_str_eq(out, "10.1.1.1");
	ratelimit_client(&c, "10.0.0.5", NULL, out, sizeof(out));
	cr_assert_str_eq(out, "10.0.0.5");
}

/* An entry that is no address must not become a bucket of its own:
 * the hop that passed it on stands for its client. */
Test(ratelimit, forwarded_for_that_is_no_address)
{
	const char *junk[] = { "garbage", "unknown", "1.2.3.4:80",
	    "[2001:db9::1]", "1.2.3.4 x", "01.2.3.4", "1.2.3", "", " , ",
	    "1.2.3.4\x01", "::ffff:1.2.3.4.5" };
	struct config c;
	char out[64], xff[4096];
	size_t i;

	memset(&c, 0, sizeof(c));
	cr_assert_eq(ratelimit_parse_cidr("10.0.0.0/8", 10,
	    &c.trusted.range[0]), 0);
	c.trusted.n = 1;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		ratelimit_client(&c, "10.0.0.5", junk[i], out, sizeof(out));
		cr_assert_str_eq(out, "10.0.0.5", "X-Forwarded-For: %s",
		    junk[i]);
	}
	ratelimit_client(&c, "10.0.0.5", "198.51.100.7, junk, 10.9.9.9", out,
	    sizeof(out));
	cr_assert_str_eq(out, "10.9.9.9");
	/* Empty list elements are no entries (RFC 9110 section 5.6.1). */
	ratelimit_client(&c, "10.0.0.5", "198.51.100.7, ,10.9.9.9,", out,
	    sizeof(out));
	cr_assert_str_eq(out, "198.51.100.7");
	/* One address is one bucket, however it is spelled. */
	ratelimit_client(&c, "10.0.0.5", "2001:DB9:0:0::7", out, sizeof(out));
	cr_assert_str_eq(out, "2001:db9::7");
	/* A long header is read from its end, where the proxy wrote. */
	for (i = 0; i < 200; i++)
		memcpy(xff + i * 14, "198.51.100.1, ", 14);
	snprintf(xff + i * 14, sizeof(xff) - i * 14, "203.0.113.9");
	ratelimit_client(&c, "10.0.0.5", xff, out, sizeof(out));
	cr_assert_str_eq(out, "203.0.113.9");
}

Test(ratelimit, address_ranges)
{
	struct cidr r;

	cr_assert_eq(ratelimit_parse_cidr("192.168.1.10", 12, &r), 0);
	cr_assert_eq(r.bits, 32);
	cr_assert_eq(ratelimit_parse_cidr("::1/128", 7, &r), 0);
	cr_assert_eq(ratelimit_parse_cidr("10.0.0.0/33", 11, &r), -1);
	cr_assert_eq(ratelimit_parse_cidr("10.0.0/8", 8, &r), -1);
	cr_assert_eq(ratelimit_parse_cidr("10.0.0.0/", 9, &r), -1);
	cr_assert_eq(ratelimit_parse_cidr("", 0, &r), -1);
}
