// Loading configured XML (stylesheets, schemas) without DTD-borne file reads.
#include "CXMLShim.h"

#include <libxml/parserInternals.h>
#include <libxslt/documents.h>
#include <libxslt/xsltutils.h>

static xsltDocLoaderFunc default_stylesheet_loader = NULL;

// libxslt parses stylesheets with XML_PARSE_NOENT | XML_PARSE_DTDLOAD: an entity declared in a
// DOCTYPE would be read from disk and substituted. Parse without them, and refuse any DOCTYPE.
static xmlDocPtr load_stylesheet_safely(const xmlChar *uri, xmlDictPtr dict, int options, void *context,
                                        xsltLoadType type) {
    options &= ~(XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_DTDATTR | XML_PARSE_DTDVALID | XML_PARSE_XINCLUDE);
    options |= XML_PARSE_NONET;
    xmlDocPtr document = default_stylesheet_loader(uri, dict, options, context, type);
    if (document != NULL && (document->intSubset != NULL || document->extSubset != NULL)) {
        xsltTransformError(NULL, NULL, NULL,
                           "%s: DOCTYPE declarations are not allowed in stylesheets "
                           "(a DTD or entity could read local files)\n",
                           uri != NULL ? (const char *)uri : "(stylesheet)");
        xmlFreeDoc(document);
        return NULL;
    }
    return document;
}

// External entities and external DTD subsets are loaded while a document is being parsed (the
// parser has an input open); documents themselves (a schema, its xs:import/xs:include, a
// stylesheet and its xsl:import) are loaded on a fresh parser. Refuse the first kind.
static xmlParserInputPtr load_external_safely(const char *url, const char *id, xmlParserCtxtPtr context) {
    if (context != NULL && context->inputNr > 0) {
        return NULL;
    }
    return xmlNoNetExternalEntityLoader(url, id, context);
}

void stadtbus_install_safe_loaders(void) {
    if (default_stylesheet_loader == NULL) {
        default_stylesheet_loader = xsltDocDefaultLoader;
        xsltSetLoaderFunc(load_stylesheet_safely);
    }
    xmlSetExternalEntityLoader(load_external_safely);
}
