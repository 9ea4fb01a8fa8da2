// xmlsec1 set-up and error capture for StadtbusSignature (see CXMLSecShim.h).
//
// The xmlsec configuration macros must be the ones CLibXML defines, or structure layouts
// differ from the library's: include its umbrella header rather than repeating them.
#include "../CLibXML/shim.h"
#include "CXMLSecShim.h"

#include <xmlsec/openssl/evp.h>

#include <stdio.h>
#include <string.h>

static _Thread_local char first_error[512];
static _Thread_local int has_error;

static void collect_error(const char *file, int line, const char *func, const char *error_object,
                          const char *error_subject, int reason, const char *msg) {
    (void)file;
    (void)line;
    (void)error_object;
    if (has_error) {
        return;
    }
    has_error = 1;
    const char *reason_text = "";
    for (xmlSecSize i = 0; i < XMLSEC_ERRORS_MAX_NUMBER; ++i) {
        const char *text = xmlSecErrorsGetMsg(i);
        if (text == NULL) {
            break;
        }
        if (xmlSecErrorsGetCode(i) == reason) {
            reason_text = text;
            break;
        }
    }
    int used = snprintf(first_error, sizeof(first_error), "%s: %s", func != NULL ? func : "xmlsec", reason_text);
    if (used > 0 && (size_t)used < sizeof(first_error) && error_subject != NULL) {
        used += snprintf(first_error + used, sizeof(first_error) - (size_t)used, " (%s)", error_subject);
    }
    if (used > 0 && (size_t)used < sizeof(first_error) && msg != NULL && msg[0] != '\0') {
        snprintf(first_error + used, sizeof(first_error) - (size_t)used, ": %s", msg);
    }
}

int stadtbus_xmlsec_initialize(void) {
    if (xmlSecInit() < 0) {
        return -1;
    }
    if (xmlSecCheckVersionExt(XMLSEC_VERSION_MAJOR, XMLSEC_VERSION_MINOR, XMLSEC_VERSION_SUBMINOR,
                              xmlSecCheckVersionABICompatible) != 1) {
        return -2;
    }
    xmlSecErrorsSetCallback(collect_error);
    if (xmlSecOpenSSLAppInit(NULL) < 0) {
        return -3;
    }
    if (xmlSecOpenSSLInit() < 0) {
        return -4;
    }
    return 0;
}

const char *stadtbus_xmlsec_first_error(void) {
    return has_error ? first_error : "";
}

void stadtbus_xmlsec_reset_errors(void) {
    has_error = 0;
    first_error[0] = '\0';
}

struct _xmlSecKey *stadtbus_xmlsec_key_adopt(EVP_PKEY *pkey) {
    if (pkey == NULL) {
        return NULL;
    }
    xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(pkey);
    if (data == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    xmlSecKeyPtr key = xmlSecKeyCreate();
    if (key == NULL) {
        xmlSecKeyDataDestroy(data);
        return NULL;
    }
    if (xmlSecKeySetValue(key, data) < 0) {
        xmlSecKeyDataDestroy(data);
        xmlSecKeyDestroy(key);
        return NULL;
    }
    return key;
}
