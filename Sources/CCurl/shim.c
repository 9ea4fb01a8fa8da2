#include "CCurl.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void stadtbus_http_global_init(void) { pthread_once(&global_once, global_init); }

static size_t collect_body(char *data, size_t size, size_t count, void *context) {
    stadtbus_http_response *response = (stadtbus_http_response *)context;
    size_t length = size * count;
    size_t room = sizeof(response->body_excerpt) - 1;
    if (response->body_length < room) {
        size_t take = room - response->body_length;
        if (take > length) take = length;
        memcpy(response->body_excerpt + response->body_length, data, take);
        response->body_excerpt[response->body_length + take] = '\0';
    }
    response->body_length += length;
    return length;
}

void stadtbus_http_perform(const stadtbus_http_request *request, stadtbus_http_response *response) {
    memset(response, 0, sizeof(*response));
    stadtbus_http_global_init();
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        response->transport_error = CURLE_FAILED_INIT;
        snprintf(response->error, sizeof(response->error), "libcurl could not create a handle");
        return;
    }
    struct curl_slist *headers = NULL;
    for (int i = 0; i < request->header_count; i++) {
        headers = curl_slist_append(headers, request->headers[i]);
    }
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request->method);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)request->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_length);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, request->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (request->ca_file != NULL) curl_easy_setopt(curl, CURLOPT_CAINFO, request->ca_file);
    if (request->client_certificate != NULL) curl_easy_setopt(curl, CURLOPT_SSLCERT, request->client_certificate);
    if (request->client_key != NULL) curl_easy_setopt(curl, CURLOPT_SSLKEY, request->client_key);
    if (request->pinned_public_key != NULL) curl_easy_setopt(curl, CURLOPT_PINNEDPUBLICKEY, request->pinned_public_key);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
    } else {
        response->transport_error = (int)code;
        response->timed_out = code == CURLE_OPERATION_TIMEDOUT;
        snprintf(response->error, sizeof(response->error), "%s", error[0] != '\0' ? error : curl_easy_strerror(code));
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}
