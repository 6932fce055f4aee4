/*
 * ratelimit: token buckets per client address, shared by every worker of
 * the instance through memory the master maps before forking.  A bucket
 * is one 64-bit word (last refill in ms << 24 | milli-tokens) changed by
 * compare-and-swap: no lock.  The table has a fixed size; a new address
 * that finds no room near its hash takes over the stalest bucket there.
 */
#include <sys/mman.h>

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotd.h"

#define RL_PROBES	8
#define RL_TOKEN	1000		/* milli-tokens in a token */
#define RL_TOKENS_MASK	((UINT64_C(1) << 24) - 1)

struct rl_entry {
	uint64_t	key;		/* hash of the address, 0 = free */
	uint64_t	bucket[RL_CLASSES];
};

struct ratelimit {
	uint32_t	mask;
	struct rl_entry	entry[];
};

static struct ratelimit	*rl;

/* Map the shared buckets (entries, rounded down to a power of two); the
 * master calls this once, before forking. */
int
ratelimit_init(uint32_t entries)
{
	size_t size;
	void *p;

	while (entries & (entries - 1))
		entries &= entries - 1;
	size = sizeof(*rl) + (size_t)entries * sizeof(struct rl_entry);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return -1;
	rl = p;
	rl->mask = entries - 1;
	return 0;
}

static uint64_t
rl_hash(const char *addr)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *addr != '\0'; addr++)
		h = (h ^ (unsigned char)*addr) * 1099511628211ULL;
	return h == 0 ? 1 : h;
}

/* The entry of key, claiming a free one or the stalest nearby. */
static struct rl_entry *
rl_entry(uint64_t key)
{
	struct rl_entry *e, *stalest = NULL;
	uint64_t seen, oldest = UINT64_MAX, when;
	uint32_t i, at;

	for (i = 0; i < RL_PROBES; i++) {
		at = (uint32_t)(key + i) & rl->mask;
		e = &rl->entry[at];
		seen = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
		if (seen == key)
			return e;
		if (seen == 0) {
			if (__atomic_compare_exchange_n(&e->key, &seen, key, 0,
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) || seen == key)
				return e;
		}
		when = __atomic_load_n(&e->bucket[0], __ATOMIC_RELAXED) >> 24;
		if (when < oldest) {
			oldest = when;
			stalest = e;
		}
	}
	/* Evict: a client seen least recently starts afresh elsewhere. */
	seen = __atomic_load_n(&stalest->key, __ATOMIC_ACQUIRE);
	if (__atomic_compare_exchange_n(&stalest->key, &seen, key, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < RL_CLASSES; i++)
			__atomic_store_n(&stalest->bucket[i], 0,
			    __ATOMIC_RELEASE);
	}
	return stalest;
}

/* Take one token for addr from its bucket of class (rate tokens a second,
 * burst at most).  Returns 1 when allowed, else 0 with the milliseconds
 * until a token is there in *wait_ms; *left is the tokens left. */
int
ratelimit_take(const char *addr, int class, int rate, int burst,
    uint64_t now_ms, uint64_t *wait_ms, int *left)
{
	struct rl_entry *e = rl_entry(rl_hash(addr));
	uint64_t old, new, last, tokens, full = (uint64_t)burst * RL_TOKEN;
	int ok;

	old = __atomic_load_n(&e->bucket[class], __ATOMIC_ACQUIRE);
	do {
		last = old >> 24;
		tokens = old & RL_TOKENS_MASK;
		if (old == 0) {
			tokens = full;
			last = now_ms;
		}
		if (now_ms < last)	/* another process read the clock later */
			now_ms = last;
		tokens += (now_ms - last) * (uint64_t)rate;
		if (tokens > full)
			tokens = full;
		ok = tokens >= RL_TOKEN;
		if (ok)
			tokens -= RL_TOKEN;
		new = now_ms << 24 | tokens;
	} while (!__atomic_compare_exchange_n(&e->bucket[class], &old, new, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	*left = (int)(tokens / RL_TOKEN);
	*wait_ms = ok ? 0 : (RL_TOKEN - tokens + (uint64_t)rate - 1) /
	    (uint64_t)rate;
	return ok;
}

/* ---- client addresses ---- */

struct rl_addr {
	int		family;
	unsigned char	bytes[16];
};

/* The IPv4 or IPv6 address of n bytes at s; -1 when it is none. */
static int
rl_addr_parse(const char *s, size_t n, struct rl_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	a->family = memchr(buf, ':', n) != NULL ? AF_INET6 : AF_INET;
	return inet_pton(a->family, buf, a->bytes) == 1 ? 0 : -1;
}

static int
cidr_match(const struct cidr *c, const struct rl_addr *a)
{
	int bits = c->bits, i;

	if (a->family != c->family)
		return 0;
	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char m = bits >= 8 ? 0xff :
		    (unsigned char)(0xff << (8 - bits));

		if ((a->bytes[i] & m) != (c->addr[i] & m))
			return 0;
	}
	return 1;
}

static int
trusted(const struct config *c, const struct rl_addr *a)
{
	int i;

	for (i = 0; i < c->trusted.n; i++)
		if (cidr_match(&c->trusted.range[i], a))
			return 1;
	return 0;
}

/* The client a request speaks for: the peer, or, when the peer is a
 * trusted proxy, the last address in X-Forwarded-For not itself trusted,
 * written the one way inet_ntop writes it.  An entry that is no address
 * names nobody: the trusted hop that passed it on stands for its client,
 * so that varying it opens no new bucket.  The header is read from its
 * end, where the proxies wrote, whatever its length. */
void
ratelimit_client(const struct config *c, const char *peer, const char *xff,
    char *out, size_t len)
{
	const char *start, *end, *b, *e;
	struct rl_addr a;

	snprintf(out, len, "%s", peer);
	if (xff == NULL || rl_addr_parse(peer, strlen(peer), &a) == -1 ||
	    !trusted(c, &a))
		return;
	for (end = xff + strlen(xff);; end = start - 1) {
		for (start = end; start > xff && start[-1] != ','; start--)
			;
		for (b = start; b < end && (*b == ' ' || *b == '\t'); b++)
			;
		for (e = end; e > b && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		/* Empty list elements are no entries (RFC 9110 5.6.1). */
		if (b < e) {
			if (rl_addr_parse(b, (size_t)(e - b), &a) == -1)
				return;
			inet_ntop(a.family, a.bytes, out, (socklen_t)len);
			if (!trusted(c, &a))
				return;
		}
		if (start == xff)
			return;
	}
}

/* "10.0.0.0/8" or "2001:db8::/32" (a bare address is one host). */
int
ratelimit_parse_cidr(const char *s, size_t len, struct cidr *out)
{
	struct rl_addr a;
	char buf[64], *slash;
	long bits;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (rl_addr_parse(buf, strlen(buf), &a) == -1)
		return -1;
	out->family = a.family;
	memcpy(out->addr, a.bytes, sizeof(out->addr));
	bits = out->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		char *end;
		long b = strtol(slash + 1, &end, 10);

		if (*end != '\0' || slash[1] == '\0' || b < 0 || b > bits)
			return -1;
		bits = b;
	}
	out->bits = (int)bits;
	return 0;
}

uint64_t
ratelimit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
