#include "CXMLShim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/xmlerror.h>

// MARK: - The spec: which children of the root are built

typedef struct scan_name {
    char *namespace_uri;  // NULL: no namespace
    char *local_name;
} scan_name;

struct stadtbus_header_scan_spec {
    scan_name *names;
    int count;
    int capacity;
};

stadtbus_header_scan_spec *stadtbus_header_scan_spec_create(void) {
    return calloc(1, sizeof(stadtbus_header_scan_spec));
}

int stadtbus_header_scan_spec_add(stadtbus_header_scan_spec *spec, const char *namespace_uri,
                                  const char *local_name) {
    if (spec == NULL || local_name == NULL) {
        return 0;
    }
    if (spec->count == spec->capacity) {
        int capacity = spec->capacity == 0 ? 8 : spec->capacity * 2;
        scan_name *names = realloc(spec->names, (size_t)capacity * sizeof(scan_name));
        if (names == NULL) {
            return 0;
        }
        spec->names = names;
        spec->capacity = capacity;
    }
    scan_name *name = &spec->names[spec->count];
    name->local_name = strdup(local_name);
    name->namespace_uri = namespace_uri != NULL ? strdup(namespace_uri) : NULL;
    if (name->local_name == NULL || (namespace_uri != NULL && name->namespace_uri == NULL)) {
        free(name->local_name);
        free(name->namespace_uri);
        return 0;
    }
    spec->count += 1;
    return 1;
}

void stadtbus_header_scan_spec_free(stadtbus_header_scan_spec *spec) {
    if (spec == NULL) {
        return;
    }
    for (int i = 0; i < spec->count; i++) {
        free(spec->names[i].local_name);
        free(spec->names[i].namespace_uri);
    }
    free(spec->names);
    free(spec);
}

static int spec_contains(const stadtbus_header_scan_spec *spec, const xmlChar *uri, const xmlChar *local) {
    for (int i = 0; i < spec->count; i++) {
        const scan_name *name = &spec->names[i];
        if (strcmp(name->local_name, (const char *)local) != 0) {
            continue;
        }
        if (name->namespace_uri == NULL ? uri == NULL
                                        : (uri != NULL && strcmp(name->namespace_uri, (const char *)uri) == 0)) {
            return 1;
        }
    }
    return 0;
}

// MARK: - The scan

typedef struct scan_state {
    const stadtbus_header_scan_spec *spec;
    stadtbus_header_scan_check check;
    void *context;
    int max_depth;
    // Elements open now (the root is depth 1).
    int depth;
    // Inside a child of the root that is not built (and everything below it).
    int skipping;
    // Whether the child of the root now open is built.
    int building_child;
    int stopped;
    stadtbus_parse_refusal refusal;
    int line;
    int has_error;
    int code;
    int error_line;
    int error_column;
    char message[512];
} scan_state;

static scan_state *state_of(void *context) {
    return (scan_state *)((xmlParserCtxtPtr)context)->_private;
}

static void scan_record_error(void *context, xmlErrorPtr error) {
    xmlParserCtxtPtr parser = (xmlParserCtxtPtr)context;
    if (parser == NULL || error == NULL || error->level < XML_ERR_ERROR) {
        return;
    }
    scan_state *state = (scan_state *)parser->_private;
    if (state == NULL || state->has_error || state->stopped) {
        return;
    }
    state->has_error = 1;
    state->code = error->code;
    state->error_line = error->line;
    state->error_column = error->int2;
    snprintf(state->message, sizeof(state->message), "%s", error->message != NULL ? error->message : "");
}

static void scan_refuse_doctype(void *context, const xmlChar *name, const xmlChar *external_id,
                                const xmlChar *system_id) {
    (void)name;
    (void)external_id;
    (void)system_id;
    scan_state *state = state_of(context);
    if (state->refusal == STADTBUS_PARSE_OK) {
        state->refusal = STADTBUS_PARSE_DOCTYPE;
        state->line = xmlSAX2GetLineNumber(context);
    }
    xmlStopParser((xmlParserCtxtPtr)context);
}

static void scan_start(void *context, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                       int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                       const xmlChar **attributes) {
    scan_state *state = state_of(context);
    if (state->depth + 1 > state->max_depth) {
        if (state->refusal == STADTBUS_PARSE_OK) {
            state->refusal = STADTBUS_PARSE_TOO_DEEP;
            state->line = xmlSAX2GetLineNumber(context);
        }
        xmlStopParser((xmlParserCtxtPtr)context);
        return;
    }
    state->depth += 1;
    if (state->skipping) {
        return;
    }
    if (state->depth == 2) {
        if (!spec_contains(state->spec, uri, localname)) {
            state->skipping = 1;
            return;
        }
        state->building_child = 1;
    }
    xmlSAX2StartElementNs(context, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
                          attributes);
}

static void scan_end(void *context, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri) {
    scan_state *state = state_of(context);
    int depth = state->depth;
    state->depth -= 1;
    if (state->skipping) {
        if (depth == 2) {
            state->skipping = 0;
        }
        return;
    }
    xmlSAX2EndElementNs(context, localname, prefix, uri);
    if (depth == 2 && state->building_child) {
        state->building_child = 0;
        xmlParserCtxtPtr parser = (xmlParserCtxtPtr)context;
        if (parser->myDoc != NULL && state->check(state->context, parser->myDoc, 0)) {
            state->stopped = 1;
            xmlStopParser(parser);
        }
    }
}

// Text, comments and processing instructions are built only inside a built child of the root.
static int builds_content(void *context) {
    scan_state *state = state_of(context);
    return !state->skipping && state->depth >= 2;
}

static void scan_characters(void *context, const xmlChar *text, int length) {
    if (builds_content(context)) {
        xmlSAX2Characters(context, text, length);
    }
}

static void scan_comment(void *context, const xmlChar *value) {
    if (builds_content(context)) {
        xmlSAX2Comment(context, value);
    }
}

static void scan_processing_instruction(void *context, const xmlChar *target, const xmlChar *data) {
    if (builds_content(context)) {
        xmlSAX2ProcessingInstruction(context, target, data);
    }
}

static void scan_reference(void *context, const xmlChar *name) {
    if (builds_content(context)) {
        xmlSAX2Reference(context, name);
    }
}

void stadtbus_parse_header_scan(const char *bytes, int length, int max_depth,
                                const stadtbus_header_scan_spec *spec, stadtbus_header_scan_check check,
                                void *context, stadtbus_parse_result *result) {
    memset(result, 0, sizeof(*result));
    xmlParserCtxtPtr parser = xmlCreateMemoryParserCtxt(bytes, length);
    if (parser == NULL) {
        result->refusal = STADTBUS_PARSE_MALFORMED;
        snprintf(result->message, sizeof(result->message), "could not create a parser (out of memory or empty input)");
        return;
    }
    scan_state state;
    memset(&state, 0, sizeof(state));
    state.spec = spec;
    state.check = check;
    state.context = context;
    state.max_depth = max_depth;
    xmlCtxtUseOptions(parser, XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                  XML_PARSE_NOCDATA);
    parser->_private = &state;
    parser->sax->internalSubset = scan_refuse_doctype;
    parser->sax->externalSubset = NULL;
    parser->sax->startElementNs = scan_start;
    parser->sax->endElementNs = scan_end;
    parser->sax->characters = scan_characters;
    parser->sax->ignorableWhitespace = scan_characters;
    parser->sax->comment = scan_comment;
    parser->sax->processingInstruction = scan_processing_instruction;
    parser->sax->reference = scan_reference;
    parser->sax->serror = scan_record_error;
    parser->replaceEntities = 0;
    parser->loadsubset = 0;
    parser->validate = 0;

    xmlParseDocument(parser);

    if (state.refusal != STADTBUS_PARSE_OK) {
        result->refusal = state.refusal;
        result->line = state.line;
    } else if (!state.stopped) {
        if (parser->wellFormed && !state.has_error && parser->myDoc != NULL) {
            state.check(state.context, parser->myDoc, 1);
        } else {
            result->refusal = STADTBUS_PARSE_MALFORMED;
            xmlErrorPtr last = xmlCtxtGetLastError(parser);
            if (state.has_error) {
                result->code = state.code;
                result->line = state.error_line;
                result->column = state.error_column;
                snprintf(result->message, sizeof(result->message), "%s", state.message);
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
    }
    if (parser->myDoc != NULL) {
        xmlFreeDoc(parser->myDoc);
        parser->myDoc = NULL;
    }
    parser->_private = NULL;
    xmlFreeParserCtxt(parser);
}
