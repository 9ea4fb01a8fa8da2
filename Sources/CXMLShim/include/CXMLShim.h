// C helpers for the libxml2/libxslt/xmlsec façades that Swift cannot express:
// libxslt reports errors through C-variadic callbacks, which Swift can neither
// implement nor call. These functions format such messages into a buffer that
// Swift reads back as a string.
#ifndef STADTBUS_CXMLSHIM_H
#define STADTBUS_CXMLSHIM_H

#include <stddef.h>
#include <libxslt/xsltInternals.h>

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

#endif
