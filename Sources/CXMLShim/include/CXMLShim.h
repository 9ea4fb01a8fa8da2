// C helpers for the libxml2/libxslt/xmlsec façades that Swift cannot express:
// libxslt reports errors through C-variadic callbacks, which Swift can neither
// implement nor call. These functions format such messages into a buffer that
// Swift reads back as a string.
#ifndef STADTBUS_CXMLSHIM_H
#define STADTBUS_CXMLSHIM_H

#include <stddef.h>
#include "../../CLibXML/no_icu.h"
#include <libxml/tree.h>
#include <libxslt/xsltInternals.h>
#include "CXMLSecShim.h"

/// A bounded buffer that collects error text (truncated, never overflowing).
typedef struct stadtbus_error_buffer {
    char text[4096];
    size_t length;
    int count;
} stadtbus_error_buffer;

/// Empties the buffer.
void stadtbus_error_buffer_reset(stadtbus_error_buffer *buffer);

/// Routes libxslt's generic (compile-time) errors on the calling thread into `buffer`;
/// pass NULL to restore silence. libxslt keeps this setting in a process global:
/// callers must serialise stylesheet compilation (the Swift façade does).
void stadtbus_xslt_collect_generic_errors(stadtbus_error_buffer *buffer);

/// Routes one transformation's runtime errors (xsl:message terminate, security
/// refusals, …) into `buffer`.
void stadtbus_xslt_collect_transform_errors(xsltTransformContextPtr context,
                                            stadtbus_error_buffer *buffer);

/// Routes libxml2's generic (non-structured) errors on this thread into `buffer`,
/// or silences them with NULL. Used while compiling schemas and catalogs.
void stadtbus_xml_collect_generic_errors(stadtbus_error_buffer *buffer);

/// Why `stadtbus_parse_untrusted` refused a document.
typedef enum stadtbus_parse_refusal {
    STADTBUS_PARSE_OK = 0,
    /// The document has a DOCTYPE (DTD): refused before any entity is declared or loaded.
    STADTBUS_PARSE_DOCTYPE = 1,
    /// Elements nest deeper than the configured limit.
    STADTBUS_PARSE_TOO_DEEP = 2,
    /// libxml2 reported a well-formedness or encoding error.
    STADTBUS_PARSE_MALFORMED = 3,
} stadtbus_parse_refusal;

/// The outcome of parsing an untrusted document. On success `document` is set and owned
/// by the caller (free with xmlFreeDoc); otherwise it is NULL and the other fields say why.
typedef struct stadtbus_parse_result {
    xmlDocPtr document;
    stadtbus_parse_refusal refusal;
    int code;
    int line;
    int column;
    char message[512];
} stadtbus_parse_result;

/// Parses bytes from an untrusted source: no network, no DTD (any DOCTYPE stops the
/// parser at once, so no entity is declared, expanded or loaded), element depth at most
/// `max_depth`, big line numbers kept for error reports, nothing printed to stderr.
void stadtbus_parse_untrusted(const char *bytes, int length, int max_depth,
                              stadtbus_parse_result *result);

/// Makes every stylesheet (and its xsl:import/xsl:include) load without entity substitution or
/// DTD loading, refusing a DOCTYPE with an error through libxslt's generic error handler; and
/// refuses external entities and external DTD subsets everywhere (schemas included), while
/// documents themselves still load through the catalogs and never from the network.
/// Call once, under the library lock, at initialisation.
void stadtbus_install_safe_loaders(void);

/// Hands memory that is free in the C heap back to the system (glibc `malloc_trim(0)`; a no-op
/// elsewhere). libxml2 trees are many small allocations; after a large document is freed glibc
/// keeps the pages unless asked. Returns 1 if memory was released.
int stadtbus_release_free_memory(void);

#include "CXMLHeaderScan.h"

#endif
