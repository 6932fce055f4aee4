/*
 * tls: HTTPS on [tls] listen.  Each worker builds its own context from
 * cert_file and key_file when it starts, so a reload (a new generation of
 * workers) picks up renewed certificates.  TLS 1.2 and later only, with
 * forward-secret AEAD ciphers.
 */
#include <stdio.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "slotd.h"

#define TLS12_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
			"ECDHE-RSA-AES128-GCM-SHA256:" \
			"ECDHE-ECDSA-AES256-GCM-SHA384:" \
			"ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:" \
			"ECDHE-RSA-CHACHA20-POLY1305"

static void
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	char why[256];

	ERR_error_string_n(ERR_get_error(), why, sizeof(why));
	snprintf(err, errlen, "[tls] %s: %s: %s", what, path, why);
}

/* A server context for conf's certificate and key; NULL with err set. */
SSL_CTX *
tls_context(const struct config *c, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		snprintf(err, errlen, "[tls]: cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert_file) != 1) {
		tls_error(err, errlen, "cert_file", c->tls_cert_file);
		goto bad;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key_file,
	    SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errlen, "key_file", c->tls_key_file);
		goto bad;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "[tls] key_file does not match cert_file");
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Check [tls] as a whole: listen, certificate and key go together. */
int
tls_check(const struct config *c, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (c->tls_listen[0] == '\0') {
		if (c->listen[0] == '\0') {
			snprintf(err, errlen, "[server] listen: empty, and no "
			    "[tls] listen either: nothing to serve on");
			return -1;
		}
		return 0;
	}
	if (c->tls_cert_file[0] == '\0' || c->tls_key_file[0] == '\0') {
		snprintf(err, errlen, "[tls] listen needs cert_file and "
		    "key_file");
		return -1;
	}
	if ((ctx = tls_context(c, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}
