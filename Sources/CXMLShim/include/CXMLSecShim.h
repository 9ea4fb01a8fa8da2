// C helpers for the xmlsec1 façade (StadtbusSignature): one-time library set-up,
// per-thread capture of xmlsec's error reports, and the few xmlsec/OpenSSL declarations
// CLibXML's umbrella does not import. Only OpenSSL types and an opaque xmlsec key cross
// this header, so it does not depend on how xmlsec was configured.
#ifndef STADTBUS_CXMLSECSHIM_H
#define STADTBUS_CXMLSECSHIM_H

#include <openssl/evp.h>
#include <openssl/pkcs12.h>

struct _xmlSecKey;

/// Initialises xmlsec1 and its OpenSSL engine (xmlSecInit, version check,
/// xmlSecOpenSSLAppInit, xmlSecOpenSSLInit) and routes xmlsec's error reports into a
/// per-thread buffer instead of stderr. Not thread-safe and not idempotent: call exactly
/// once per process (the Swift façade guards it). Returns 0 on success, a negative
/// number naming the failed step otherwise.
int stadtbus_xmlsec_initialize(void);

/// The first xmlsec error reported on the calling thread since the last reset ("" if none).
const char *stadtbus_xmlsec_first_error(void);

/// Forgets the calling thread's collected xmlsec errors.
void stadtbus_xmlsec_reset_errors(void);

/// Wraps an OpenSSL key into a new xmlsec key (xmlSecOpenSSLEvpKeyAdopt + xmlSecKeyCreate +
/// xmlSecKeySetValue). Takes ownership of `pkey` in every case (frees it on failure).
/// Returns NULL on failure (see stadtbus_xmlsec_first_error).
struct _xmlSecKey *stadtbus_xmlsec_key_adopt(EVP_PKEY *pkey);

#endif
