// Thin C shim over libcurl (Debian: libcurl4-openssl-dev — the same OpenSSL as xmlsec and
// rabbitmq-c). `curl_easy_setopt` is C-variadic and cannot be called from Swift, so one
// function here performs a whole request; no curl handle leaves this target.
#ifndef STADTBUS_CCURL_H
#define STADTBUS_CCURL_H

#include <stddef.h>
#include <stdint.h>

/// What one request needs. Strings are NUL-terminated; optional ones may be NULL.
typedef struct stadtbus_http_request {
    const char *url;
    const char *method;          // "POST" or "PUT"
    const uint8_t *body;
    size_t body_length;
    const char *const *headers;  // "Name: value" lines
    int header_count;
    long timeout_ms;             // whole request
    long connect_timeout_ms;
    const char *ca_file;         // PEM bundle to verify the server with (NULL: system store)
    const char *client_certificate;  // PEM (mTLS)
    const char *client_key;          // PEM
    const char *pinned_public_key;   // "sha256//BASE64;sha256//…" (CURLOPT_PINNEDPUBLICKEY)
} stadtbus_http_request;

/// What came back. `transport_error` is 0 when an HTTP status was received.
typedef struct stadtbus_http_response {
    long status;
    int transport_error;         // CURLcode
    int timed_out;               // 1 when the request timed out
    char error[256];             // curl's message for a transport error
    char body_excerpt[1024];     // the first bytes of the response body (NUL-terminated)
    size_t body_length;          // the full body length
} stadtbus_http_response;

/// Initialises libcurl once per process (thread-safe to call repeatedly).
void stadtbus_http_global_init(void);

/// Performs the request synchronously (call it off the cooperative thread pool).
void stadtbus_http_perform(const stadtbus_http_request *request, stadtbus_http_response *response);

#endif
