#ifndef ALBATROSS_COPENSSL_SHIM_H
#define ALBATROSS_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#endif
