#include "CXMLShim.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libxml/xmlerror.h>
#include <libxslt/xsltutils.h>

void stadtbus_error_buffer_reset(stadtbus_error_buffer *buffer) {
    buffer->text[0] = '\0';
    buffer->length = 0;
    buffer->count = 0;
}

static void append_formatted(void *context, const char *format, va_list args) {
    stadtbus_error_buffer *buffer = (stadtbus_error_buffer *)context;
    if (buffer == NULL) {
        return;
    }
    buffer->count += 1;
    size_t capacity = sizeof(buffer->text);
    if (buffer->length + 1 >= capacity) {
        return;
    }
    int written = vsnprintf(buffer->text + buffer->length, capacity - buffer->length, format, args);
    if (written < 0) {
        return;
    }
    size_t added = (size_t)written;
    buffer->length += added < capacity - buffer->length ? added : capacity - buffer->length - 1;
}

static void collect(void *context, const char *format, ...) {
    va_list args;
    va_start(args, format);
    append_formatted(context, format, args);
    va_end(args);
}

static void discard(void *context, const char *format, ...) {
    (void)context;
    (void)format;
}

void stadtbus_xslt_collect_generic_errors(stadtbus_error_buffer *buffer) {
    if (buffer == NULL) {
        xsltSetGenericErrorFunc(NULL, discard);
    } else {
        xsltSetGenericErrorFunc(buffer, collect);
    }
}

void stadtbus_xslt_collect_transform_errors(xsltTransformContextPtr context,
                                            stadtbus_error_buffer *buffer) {
    xsltSetTransformErrorFunc(context, buffer, collect);
}

void stadtbus_xml_collect_generic_errors(stadtbus_error_buffer *buffer) {
    if (buffer == NULL) {
        xmlSetGenericErrorFunc(NULL, discard);
    } else {
        xmlSetGenericErrorFunc(buffer, collect);
    }
}
