/*
 * auth: who is asking.  With [auth] mode = jwt, a Bearer token signed with
 * the configured key (HS256 with a shared secret, RS256 or ES256 with a
 * public key; the algorithm is pinned to the key, so "none" and algorithm
 * confusion are refused) names its subject; exp, nbf (60 s of clock skew),
 * iss and aud are checked.  Keys are read once, with the configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "slotd.h"

#define AUTH_SKEW	60		/* seconds of clock difference allowed */
#define AUTH_MAX_TOKEN	8192

struct auth_key {
	int		 alg;		/* AUTH_HS256, AUTH_RS256, AUTH_ES256 */
	unsigned char	*secret;
	size_t		 secret_len;
	EVP_PKEY	*pkey;
};

enum { AUTH_HS256, AUTH_RS256, AUTH_ES256 };
static const char *const alg_names[] = { "HS256", "RS256", "ES256" };

static int
read_file(const char *path, unsigned char **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (fp == NULL)
		return -1;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = xreallocarray(buf, cap, 1);
		}
		r = fread(buf + n, 1, cap - n, fp);
		n += r;
	} while (r > 0 && n < 1024 * 1024);
	fclose(fp);
	*out = buf;
	*len = n;
	return 0;
}

/* Read the key [auth] names into c; -1 with err set when it cannot. */
int
auth_load(struct config *c, char *err, size_t errlen)
{
	struct auth_key *k;
	FILE *fp;
	int id;

	if (!c->auth_jwt)
		return 0;
	if ((c->jwt_secret_file[0] != '\0') ==
	    (c->jwt_public_key_file[0] != '\0')) {
		snprintf(err, errlen, "[auth] mode = jwt needs exactly one of "
		    "jwt_secret_file and jwt_public_key_file");
		return -1;
	}
	k = xcalloc(1, sizeof(*k));
	if (c->jwt_secret_file[0] != '\0') {
		if (read_file(c->jwt_secret_file, &k->secret,
		    &k->secret_len) == -1) {
			snprintf(err, errlen, "[auth] jwt_secret_file: %s: %s",
			    c->jwt_secret_file, strerror(errno));
			goto bad;
		}
		if (k->secret_len > 0 && k->secret[k->secret_len - 1] == '\n')
			k->secret_len--;
		if (k->secret_len < 32) {
			snprintf(err, errlen, "[auth] jwt_secret_file: a secret "
			    "of at least 32 bytes is needed for HS256");
			goto bad;
		}
		k->alg = AUTH_HS256;
	} else {
		if ((fp = fopen(c->jwt_public_key_file, "r")) == NULL) {
			snprintf(err, errlen, "[auth] jwt_public_key_file: %s: "
			    "%s", c->jwt_public_key_file, strerror(errno));
			goto bad;
		}
		k->pkey = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
		fclose(fp);
		id = k->pkey != NULL ? EVP_PKEY_get_base_id(k->pkey) : 0;
		if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(k->pkey) >= 2048)
			k->alg = AUTH_RS256;
		else if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(k->pkey) == 256)
			k->alg = AUTH_ES256;
		else {
			snprintf(err, errlen, "[auth] jwt_public_key_file: not "
			    "a PEM RSA (2048 bits or more) or P-256 public key");
			goto bad;
		}
	}
	c->auth_key = k;
	return 0;
bad:
	free(k->secret);
	EVP_PKEY_free(k->pkey);
	free(k);
	return -1;
}

void
auth_free(struct config *c)
{
	struct auth_key *k = c->auth_key;

	if (k == NULL)
		return;
	if (k->secret != NULL)
		OPENSSL_cleanse(k->secret, k->secret_len);
	free(k->secret);
	EVP_PKEY_free(k->pkey);
	free(k);
	c->auth_key = NULL;
}

/* base64url without padding (RFC 7515 section 2), strictly: NULL for any
 * other character, a length of 1 mod 4, or unused bits of the last
 * character that are not zero (another spelling of the same bytes). */
static unsigned char *
b64url_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = xcalloc(1, len * 3 / 4 + 3);
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	if (len % 4 == 1)
		goto bad;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '-')
			v = 62;
		else if (ch == '_')
			v = 63;
		else
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if ((acc & ((1U << bits) - 1)) != 0)
		goto bad;
	*out_len = n;
	return out;
bad:
	free(out);
	return NULL;
}

static int
verify_signature(const struct auth_key *k, const char *input, size_t len,
    const unsigned char *sig, size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int maclen = 0;
	EVP_MD_CTX *ctx;
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	int ok = 0, derlen;

	if (k->alg == AUTH_HS256) {
		if (HMAC(EVP_sha256(), k->secret, (int)k->secret_len,
		    (const unsigned char *)input, len, mac, &maclen) == NULL)
			return 0;
		return siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
	}
	if (k->alg == AUTH_ES256) {
		/* JWS carries r || s; OpenSSL wants DER. */
		if (siglen != 64 || (es = ECDSA_SIG_new()) == NULL)
			return 0;
		r = BN_bin2bn(sig, 32, NULL);
		s = BN_bin2bn(sig + 32, 32, NULL);
		if (r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			return 0;
		}
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (derlen <= 0)
			return 0;
		sig = der;
		siglen = (size_t)derlen;
	}
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input,
	    len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* The JSON object of one base64url part. */
static struct json_doc *
decode_part(const char *s, size_t len, char **text)
{
	char err[64];
	size_t n;

	if ((*text = (char *)b64url_decode(s, len, &n)) == NULL)
		return NULL;
	return json_parse(*text, n, err, sizeof(err));
}

static int
aud_matches(const struct json_doc *d, int tok, const char *want)
{
	int items[16], n, i, ok = 0;
	char *s;

	if ((s = json_string(d, tok)) != NULL) {
		ok = strcmp(s, want) == 0;
		free(s);
		return ok;
	}
	n = json_array_items(d, tok, items, 16);
	for (i = 0; i < n && i < 16 && !ok; i++) {
		if ((s = json_string(d, items[i])) != NULL)
			ok = strcmp(s, want) == 0;
		free(s);
	}
	return ok;
}

static int
deny(char *why, size_t len, const char *reason)
{
	snprintf(why, len, "%s", reason);
	return AUTH_BAD;
}

/* Check the claims of a token whose signature is good. */
static int
auth_claims(const struct config *c, const struct json_doc *d,
    struct principal *p, char *why, size_t whylen)
{
	double exp = 0, nbf = 0, now = (double)time(NULL);
	char *sub = NULL, *iss = NULL, *role = NULL;
	int has_exp = 0, has_nbf = 0, aud = -1, rc = AUTH_BAD;
	struct json_field f[] = {
		{ "sub", JSON_FIELD_STRING, 1, 255, &sub, NULL, 0, NULL, NULL,
		    NULL },
		{ "iss", JSON_FIELD_STRING, 0, 1024, &iss, NULL, 1, NULL, NULL,
		    NULL },
		{ "role", JSON_FIELD_STRING, 0, 255, &role, NULL, 1, NULL,
		    NULL, NULL },
		{ "exp", JSON_FIELD_NUMBER, 0, 0, &exp, &has_exp, 0, NULL,
		    NULL, NULL },
		{ "nbf", JSON_FIELD_NUMBER, 0, 0, &nbf, &has_nbf, 0, NULL,
		    NULL, NULL },
		{ "aud", JSON_FIELD_ANY, 0, 0, &aud, NULL, 0, NULL, NULL,
		    NULL },
	};
	struct json_error e;

	if (json_object_lenient(d, 0, f, sizeof(f) / sizeof(f[0]), &e) == -1)
		deny(why, whylen, "malformed claims");
	else if (sub == NULL)
		deny(why, whylen, "the token has no subject");
	else if (!has_exp)
		deny(why, whylen, "the token has no expiry");
	else if (exp + AUTH_SKEW <= now)
		deny(why, whylen, "the token has expired");
	else if (has_nbf && nbf - AUTH_SKEW > now)
		deny(why, whylen, "the token is not valid yet");
	else if (c->jwt_issuer[0] != '\0' && (iss == NULL ||
	    strcmp(iss, c->jwt_issuer) != 0))
		deny(why, whylen, "the token has another issuer");
	else if (c->jwt_audience[0] != '\0' && (aud < 0 ||
	    !aud_matches(d, aud, c->jwt_audience)))
		deny(why, whylen, "the token is meant for another audience");
	else {
		snprintf(p->sub, sizeof(p->sub), "%s", sub);
		p->authenticated = 1;
		p->admin = role != NULL && strcmp(role, c->admin_role) == 0;
		rc = AUTH_OK;
	}
	free(sub);
	free(iss);
	free(role);
	return rc;
}

/* Check an Authorization header (NULL when absent) and fill p. */
int
auth_check(const struct config *c, const char *header, struct principal *p,
    char *why, size_t whylen)
{
	const struct auth_key *k = c->auth_key;
	const char *tok, *dot1, *dot2;
	struct json_doc *hd = NULL, *pd = NULL;
	char *htext = NULL, *ptext = NULL, *alg = NULL, *typ = NULL;
	unsigned char *sig = NULL;
	size_t siglen, len;
	int rc = AUTH_BAD, crit = -1;
	struct json_field hf[] = {
		{ "alg", JSON_FIELD_STRING, 1, 16, &alg, NULL, 0, NULL, NULL,
		    NULL },
		{ "typ", JSON_FIELD_STRING, 0, 64, &typ, NULL, 1, NULL, NULL,
		    NULL },
		{ "crit", JSON_FIELD_ANY, 0, 0, &crit, NULL, 0, NULL, NULL,
		    NULL },
	};
	struct json_error e;

	memset(p, 0, sizeof(*p));
	if (header == NULL)
		return AUTH_NONE;
	if (strncasecmp(header, "Bearer ", 7) != 0)
		return deny(why, whylen, "use the Bearer scheme");
	tok = header + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	if (len > AUTH_MAX_TOKEN || (dot1 = strchr(tok, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL)
		return deny(why, whylen, "malformed token");
	if ((hd = decode_part(tok, (size_t)(dot1 - tok), &htext)) == NULL ||
	    json_object_lenient(hd, 0, hf, sizeof(hf) / sizeof(hf[0]), &e) ==
	    -1 || alg == NULL) {
		deny(why, whylen, "malformed token header");
		goto out;
	}
	/* RFC 7515 section 4.1.11: slotd implements no extension, so any
	 * crit, well-formed or not, names one it must refuse. */
	if (crit != -1) {
		deny(why, whylen, "the token header has crit, and slotd "
		    "supports no critical extension");
		goto out;
	}
	/* The key decides the algorithm: anything else, "none" included,
	 * is refused before any signature is looked at. */
	if (strcmp(alg, alg_names[k->alg]) != 0) {
		deny(why, whylen, "unexpected signature algorithm");
		goto out;
	}
	if ((sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen)) ==
	    NULL || !verify_signature(k, tok, (size_t)(dot2 - tok), sig,
	    siglen)) {
		deny(why, whylen, "bad signature");
		goto out;
	}
	if ((pd = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), &ptext)) ==
	    NULL) {
		deny(why, whylen, "malformed claims");
		goto out;
	}
	rc = auth_claims(c, pd, p, why, whylen);
out:
	json_free(hd);
	json_free(pd);
	free(htext);
	free(ptext);
	free(alg);
	free(typ);
	free(sig);
	return rc;
}
