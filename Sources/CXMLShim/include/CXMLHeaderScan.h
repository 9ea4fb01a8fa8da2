// A header scan: parses an untrusted document with the same guards as stadtbus_parse_untrusted
// (no DTD, no network, bounded depth) but builds only the root element and those of its children
// whose names are listed, and stops as soon as the caller has what it needs. Used to read an XÖV
// header (identity, message type, authorities) without building and freeing the whole tree.
#ifndef STADTBUS_CXMLHEADERSCAN_H
#define STADTBUS_CXMLHEADERSCAN_H

#include "../../CLibXML/no_icu.h"
#include <libxml/tree.h>

struct stadtbus_parse_result;

/// The names of the root's children a header scan builds (opaque; immutable once filled, so
/// one spec may serve scans on several threads at once).
typedef struct stadtbus_header_scan_spec stadtbus_header_scan_spec;

/// A new, empty spec (NULL when out of memory).
stadtbus_header_scan_spec *stadtbus_header_scan_spec_create(void);

/// Adds a child name: `namespace_uri` NULL for an element in no namespace. Returns 0 when out of memory.
int stadtbus_header_scan_spec_add(stadtbus_header_scan_spec *spec, const char *namespace_uri,
                                  const char *local_name);

void stadtbus_header_scan_spec_free(stadtbus_header_scan_spec *spec);

/// Asked after each built child of the root has ended (`at_end` 0) and once at the end of a
/// well-formed document (`at_end` 1), with the tree built so far (root and built children,
/// all complete). Returns 1 to stop the scan, 0 to read on. It must not keep `partial`.
typedef int (*stadtbus_header_scan_check)(void *context, xmlDocPtr partial, int at_end);

/// Scans `bytes`. `result->document` is always NULL: the partial tree is freed before this
/// returns, on the calling thread. `result->refusal` is STADTBUS_PARSE_OK when `check` stopped
/// the scan or saw the end; otherwise it and the other fields say why the part read was refused.
void stadtbus_parse_header_scan(const char *bytes, int length, int max_depth,
                                const stadtbus_header_scan_spec *spec, stadtbus_header_scan_check check,
                                void *context, struct stadtbus_parse_result *result);

#endif
