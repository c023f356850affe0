#ifndef ALBATROSS_COPENSSL_SHIM_H
#define ALBATROSS_COPENSSL_SHIM_H

/*
 * The one C header of Albatross. It includes the OpenSSL headers the TLS module needs and wraps, as
 * `static inline` functions, what Swift cannot import: function-like macros, SSL_OP_* bit values, variadic
 * functions and the few OSSL_PARAM / STACK_OF manipulations that are awkward from Swift.
 * Every wrapper is prefixed `albatross_` so it can never collide with a real OpenSSL symbol.
 */

#include <openssl/opensslv.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "Albatross needs OpenSSL 3.0 or newer (install libssl-dev from a current distribution)"
#endif

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- Versions ---------------------------------------------------------------------------------------- */

static inline unsigned long albatross_compiled_version_number(void) { return OPENSSL_VERSION_NUMBER; }
static inline const char *albatross_compiled_version_text(void) { return OPENSSL_VERSION_TEXT; }
static inline unsigned long albatross_running_version_number(void) { return OpenSSL_version_num(); }
static inline const char *albatross_running_version_text(void) { return OpenSSL_version(OPENSSL_VERSION); }

/* ---- Memory BIOs ------------------------------------------------------------------------------------- */

static inline long albatross_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline size_t albatross_BIO_ctrl_pending(BIO *bio) { return BIO_ctrl_pending(bio); }
static inline int albatross_BIO_set_mem_eof_return(BIO *bio, int value) {
    return (int)BIO_set_mem_eof_return(bio, value);
}

/* ---- Protocol versions, options, modes ---------------------------------------------------------------- */

static inline int albatross_TLS1_VERSION(void) { return TLS1_VERSION; }
static inline int albatross_TLS1_1_VERSION(void) { return TLS1_1_VERSION; }
static inline int albatross_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int albatross_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }

static inline int albatross_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int albatross_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline int albatross_SSL_set_min_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_min_proto_version(ssl, version);
}
static inline int albatross_SSL_set_max_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_max_proto_version(ssl, version);
}
static inline long albatross_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline uint64_t albatross_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_set_options(ctx, options);
}
static inline uint64_t albatross_SSL_CTX_clear_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_clear_options(ctx, options);
}
static inline uint64_t albatross_SSL_set_options(SSL *ssl, uint64_t options) { return SSL_set_options(ssl, options); }

static inline uint64_t albatross_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t albatross_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t albatross_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t albatross_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t albatross_SSL_OP_ALLOW_CLIENT_RENEGOTIATION(void) { return SSL_OP_ALLOW_CLIENT_RENEGOTIATION; }
static inline uint64_t albatross_SSL_OP_LEGACY_SERVER_CONNECT(void) { return SSL_OP_LEGACY_SERVER_CONNECT; }
static inline uint64_t albatross_SSL_OP_NO_ANTI_REPLAY(void) { return SSL_OP_NO_ANTI_REPLAY; }

static inline long albatross_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long albatross_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }

static inline int albatross_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

/* ---- Callbacks: SNI, tickets, ex/app data ------------------------------------------------------------ */

typedef int (*albatross_servername_cb)(SSL *ssl, int *alert, void *arg);

static inline int albatross_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, albatross_servername_cb cb) {
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline int albatross_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return (int)SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
static inline int albatross_SSL_TLSEXT_ERR_OK(void) { return SSL_TLSEXT_ERR_OK; }
static inline int albatross_SSL_TLSEXT_ERR_NOACK(void) { return SSL_TLSEXT_ERR_NOACK; }
static inline int albatross_SSL_TLSEXT_ERR_ALERT_FATAL(void) { return SSL_TLSEXT_ERR_ALERT_FATAL; }
static inline int albatross_TLSEXT_NAMETYPE_host_name(void) { return TLSEXT_NAMETYPE_host_name; }

typedef int (*albatross_ticket_key_cb)(SSL *ssl, unsigned char *key_name, unsigned char *iv,
                                       EVP_CIPHER_CTX *cipher_ctx, EVP_MAC_CTX *mac_ctx, int enc);

static inline int albatross_SSL_CTX_set_tlsext_ticket_key_evp_cb(SSL_CTX *ctx, albatross_ticket_key_cb cb) {
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, cb);
}

/* Keys the ticket HMAC: HMAC-SHA256 with `key`. Returns 1 on success. */
static inline int albatross_ticket_mac_init(EVP_MAC_CTX *mac_ctx, const unsigned char *key, size_t key_length) {
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, key_length);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(mac_ctx, params);
}

static inline int albatross_SSL_CTX_set_app_data(SSL_CTX *ctx, void *arg) { return SSL_CTX_set_app_data(ctx, arg); }
static inline void *albatross_SSL_CTX_get_app_data(const SSL_CTX *ctx) { return SSL_CTX_get_app_data(ctx); }

/* ---- Session cache ----------------------------------------------------------------------------------- */

static inline long albatross_SSL_SESS_CACHE_SERVER(void) { return SSL_SESS_CACHE_SERVER; }
static inline long albatross_SSL_SESS_CACHE_CLIENT(void) { return SSL_SESS_CACHE_CLIENT; }
static inline long albatross_SSL_SESS_CACHE_OFF(void) { return SSL_SESS_CACHE_OFF; }
static inline long albatross_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline long albatross_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size) {
    return SSL_CTX_sess_set_cache_size(ctx, size);
}
static inline long albatross_SSL_CTX_sess_number(SSL_CTX *ctx) { return SSL_CTX_sess_number(ctx); }

/* ---- Client side (used by tests and tools) ----------------------------------------------------------- */

static inline int albatross_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/* ---- Certificates and chains ------------------------------------------------------------------------- */

static inline STACK_OF(X509) *albatross_x509_stack_new(void) { return sk_X509_new_null(); }
static inline int albatross_x509_stack_push(STACK_OF(X509) *stack, X509 *cert) { return sk_X509_push(stack, cert); }
static inline void albatross_x509_stack_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }

/* subjectAltName DNS names and IP addresses of a certificate; free with albatross_general_names_free. */
static inline GENERAL_NAMES *albatross_x509_subject_alt_names(X509 *cert) {
    return (GENERAL_NAMES *)X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
}
static inline int albatross_general_names_count(GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
/* Returns 1 and sets data/length when entry `index` is a DNS name, 0 otherwise. */
static inline int albatross_general_name_dns(GENERAL_NAMES *names, int index, const unsigned char **data,
                                             int *length) {
    GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
    if (name == NULL || name->type != GEN_DNS) return 0;
    *data = ASN1_STRING_get0_data(name->d.dNSName);
    *length = ASN1_STRING_length(name->d.dNSName);
    return 1;
}
/* Returns 1 and sets data/length (4 or 16 bytes) when entry `index` is an IP address, 0 otherwise. */
static inline int albatross_general_name_ip(GENERAL_NAMES *names, int index, const unsigned char **data,
                                            int *length) {
    GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
    if (name == NULL || name->type != GEN_IPADD) return 0;
    *data = ASN1_STRING_get0_data(name->d.iPAddress);
    *length = ASN1_STRING_length(name->d.iPAddress);
    return 1;
}
static inline void albatross_general_names_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }

static inline int albatross_NID_commonName(void) { return NID_commonName; }
static inline int albatross_NID_basic_constraints(void) { return NID_basic_constraints; }
static inline int albatross_NID_key_usage(void) { return NID_key_usage; }
static inline int albatross_NID_ext_key_usage(void) { return NID_ext_key_usage; }
static inline int albatross_NID_subject_alt_name(void) { return NID_subject_alt_name; }
static inline int albatross_NID_subject_key_identifier(void) { return NID_subject_key_identifier; }
static inline int albatross_NID_authority_key_identifier(void) { return NID_authority_key_identifier; }

static inline int albatross_EVP_PKEY_EC(void) { return EVP_PKEY_EC; }
static inline int albatross_EVP_PKEY_RSA(void) { return EVP_PKEY_RSA; }

/* EVP_PKEY_Q_keygen is variadic, which Swift cannot call. */
static inline EVP_PKEY *albatross_generate_ec_key(const char *curve) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}
static inline EVP_PKEY *albatross_generate_rsa_key(size_t bits) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
}

/* Adds one X.509v3 extension given in OpenSSL's configuration syntax ("critical,CA:TRUE", "DNS:a,IP:1.2.3.4"). */
static inline int albatross_x509_add_extension(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (extension == NULL) return 0;
    int ok = X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

static inline int albatross_x509_name_add_text(X509_NAME *name, const char *field, const char *value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0);
}

/* A positive random 127-bit serial number, as RFC 5280 allows up to 20 octets. */
static inline int albatross_x509_set_random_serial(X509 *cert) {
    BIGNUM *serial = BN_new();
    if (serial == NULL) return 0;
    int ok = BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1
        && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) != NULL;
    BN_free(serial);
    return ok;
}

#endif
