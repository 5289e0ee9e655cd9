#ifndef CONCEPTD_CCRYPTO_SHIM_H
#define CONCEPTD_CCRYPTO_SHIM_H
// OpenSSL's libcrypto (message digests); the include path comes from pkg-config (libcrypto).
#include <openssl/evp.h>
#endif
