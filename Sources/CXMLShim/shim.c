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

// MARK: - Guarded parsing of untrusted documents

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>

typedef struct parse_guard {
    int max_depth;
    stadtbus_parse_refusal refusal;
    int line;
    // The first error libxml2 raised: later ones are usually consequences of it.
    int has_error;
    int code;
    int error_line;
    int error_column;
    char message[512];
} parse_guard;

static void record_first_error(void *context, xmlErrorPtr error) {
    xmlParserCtxtPtr parser = (xmlParserCtxtPtr)context;
    if (parser == NULL || error == NULL || error->level < XML_ERR_ERROR) {
        return;
    }
    parse_guard *guard = (parse_guard *)parser->_private;
    if (guard == NULL || guard->has_error) {
        return;
    }
    guard->has_error = 1;
    guard->code = error->code;
    guard->error_line = error->line;
    guard->error_column = error->int2;
    snprintf(guard->message, sizeof(guard->message), "%s", error->message != NULL ? error->message : "");
}

static void refuse_doctype(void *context, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id) {
    (void)name;
    (void)external_id;
    (void)system_id;
    xmlParserCtxtPtr parser = (xmlParserCtxtPtr)context;
    parse_guard *guard = (parse_guard *)parser->_private;
    if (guard->refusal == STADTBUS_PARSE_OK) {
        guard->refusal = STADTBUS_PARSE_DOCTYPE;
        guard->line = xmlSAX2GetLineNumber(context);
    }
    xmlStopParser(parser);
}

static void limit_depth(void *context, const xmlChar *localname, const xmlChar *prefix,
                        const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                        int nb_attributes, int nb_defaulted, const xmlChar **attributes) {
    xmlParserCtxtPtr parser = (xmlParserCtxtPtr)context;
    parse_guard *guard = (parse_guard *)parser->_private;
    // The element being opened is not on the name stack yet.
    if (parser->nameNr + 1 > guard->max_depth) {
        if (guard->refusal == STADTBUS_PARSE_OK) {
            guard->refusal = STADTBUS_PARSE_TOO_DEEP;
            guard->line = xmlSAX2GetLineNumber(context);
        }
        xmlStopParser(parser);
        return;
    }
    xmlSAX2StartElementNs(context, localname, prefix, uri, nb_namespaces, namespaces,
                          nb_attributes, nb_defaulted, attributes);
}

void stadtbus_parse_untrusted(const char *bytes, int length, int max_depth,
                              stadtbus_parse_result *result) {
    memset(result, 0, sizeof(*result));
    xmlParserCtxtPtr parser = xmlCreateMemoryParserCtxt(bytes, length);
    if (parser == NULL) {
        result->refusal = STADTBUS_PARSE_MALFORMED;
        snprintf(result->message, sizeof(result->message), "could not create a parser (out of memory or empty input)");
        return;
    }
    parse_guard guard;
    memset(&guard, 0, sizeof(guard));
    guard.max_depth = max_depth;
    xmlCtxtUseOptions(parser, XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR |
                                  XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    parser->_private = &guard;
    parser->sax->internalSubset = refuse_doctype;
    parser->sax->externalSubset = NULL;
    parser->sax->startElementNs = limit_depth;
    parser->sax->serror = record_first_error;
    // Belt and braces: even if a DTD slipped through, never load or substitute entities.
    parser->replaceEntities = 0;
    parser->loadsubset = 0;
    parser->validate = 0;

    xmlParseDocument(parser);

    if (guard.refusal == STADTBUS_PARSE_OK && parser->wellFormed && parser->myDoc != NULL) {
        result->document = parser->myDoc;
        parser->myDoc = NULL;
    } else {
        result->refusal = guard.refusal != STADTBUS_PARSE_OK ? guard.refusal : STADTBUS_PARSE_MALFORMED;
        result->line = guard.line;
        xmlErrorPtr last = xmlCtxtGetLastError(parser);
        if (guard.refusal == STADTBUS_PARSE_OK) {
            if (guard.has_error) {
                result->code = guard.code;
                result->line = guard.error_line;
                result->column = guard.error_column;
                snprintf(result->message, sizeof(result->message), "%s", guard.message);
            } else if (last != NULL) {
                result->code = last->code;
                result->line = last->line;
                result->column = last->int2;
                snprintf(result->message, sizeof(result->message), "%s", last->message != NULL ? last->message : "");
            }
            // libxml2 messages end with a newline.
            size_t n = strlen(result->message);
            while (n > 0 && (result->message[n - 1] == '\n' || result->message[n - 1] == ' ')) {
                result->message[--n] = '\0';
            }
        }
        if (parser->myDoc != NULL) {
            xmlFreeDoc(parser->myDoc);
            parser->myDoc = NULL;
        }
    }
    parser->_private = NULL;
    xmlFreeParserCtxt(parser);
}
