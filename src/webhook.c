/*
 * webhook: the secrets and signatures of Standard Webhooks.  A secret is
 * "whsec_" and the base64 of random bytes; a delivery's signature is
 * "v1," and the base64 of HMAC-SHA256, under the secret's bytes, of
 * "{webhook-id}.{webhook-timestamp}.{body}".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "slotd.h"

#define WEBHOOK_KEY_MAX		64	/* bytes of a secret */

/* prefix and the base64 of n bytes into buf; -1 when it does not fit. */
int
webhook_base64(const unsigned char *bytes, size_t n, const char *prefix,
    char *buf, size_t len)
{
	size_t plen = strlen(prefix);

	if (len < plen + 4 * ((n + 2) / 3) + 1)
		return -1;
	memcpy(buf, prefix, plen);
	EVP_EncodeBlock((unsigned char *)buf + plen, bytes, (int)n);
	return 0;
}

/* The bytes of a "whsec_..." secret; -1 when it is none. */
static int
webhook_key(const char *secret, unsigned char *key, size_t *n)
{
	unsigned char out[WEBHOOK_KEY_MAX + 3];
	size_t len, pad = 0;
	int got;

	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	len = strlen(secret);
	if (len == 0 || len % 4 != 0 || len > 4 * ((WEBHOOK_KEY_MAX + 2) / 3))
		return -1;
	if ((got = EVP_DecodeBlock(out, (const unsigned char *)secret,
	    (int)len)) == -1)
		return -1;
	pad = (secret[len - 1] == '=') + (secret[len - 2] == '=');
	*n = (size_t)got - pad;
	memcpy(key, out, *n);
	return 0;
}

/* The webhook-signature header's value for one delivery into sig; -1
 * when the secret is no secret or sig is too small. */
int
webhook_sign(const char *secret, const char *id, int64_t timestamp,
    const char *body, size_t body_len, char *sig, size_t siglen)
{
	unsigned char key[WEBHOOK_KEY_MAX], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t keylen, head, len;
	char *msg;
	int rc = -1;

	if (webhook_key(secret, key, &keylen) == -1)
		return -1;
	head = strlen(id) + 32;
	len = head + body_len;
	msg = xcalloc(1, len + 1);
	head = (size_t)snprintf(msg, head, "%s.%lld.", id,
	    (long long)timestamp);
	memcpy(msg + head, body, body_len);
	if (HMAC(EVP_sha256(), key, (int)keylen, (unsigned char *)msg,
	    head + body_len, mac, &maclen) != NULL)
		rc = webhook_base64(mac, maclen, "v1,", sig, siglen);
	free(msg);
	return rc;
}
