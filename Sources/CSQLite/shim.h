// Umbrella header for the system SQLite (Debian: libsqlite3-dev).
#ifndef STADTBUS_CSQLITE_SHIM_H
#define STADTBUS_CSQLITE_SHIM_H
#include <sqlite3.h>
// SQLITE_TRANSIENT is a cast macro Swift cannot import.
static inline sqlite3_destructor_type stadtbus_sqlite_transient(void) { return SQLITE_TRANSIENT; }
#endif
