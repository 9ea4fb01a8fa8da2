// Keeps ICU out of the libxml2 headers as Swift sees them.
//
// Debian builds libxml2 with ICU, so <libxml/encoding.h> includes <unicode/ucnv.h>. Swift's
// Foundation carries its own, newer ICU (module _FoundationICU) whose `UErrorCode` has more
// members; a Swift module that sees both fails to build ("'U_MF_…' from module
// '_FoundationICU' is not present in definition of 'enum UErrorCode' in module 'CLibXML'"),
// depending on the order in which the module cache is filled. Stadtbus never touches
// libxml2's ICU converter, so the guard of <unicode/ucnv.h> is defined here and the two
// types <libxml/encoding.h> names are declared as ICU declares them in C (the structure
// layout is unchanged: a pointer and an array of 16-bit units).
// Include this before any libxml2 header.
#ifndef STADTBUS_NO_ICU_H
#define STADTBUS_NO_ICU_H
#ifndef UCNV_H
#define UCNV_H
#include <stdint.h>
typedef struct UConverter UConverter;
typedef uint16_t UChar;
#endif
#endif
