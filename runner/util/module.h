/*
 * module.h: loadable modules (runner/util/module.c). The core binary links only
 * Lua, SQLite and Nettle (SHA-256; Ed25519's libhogweed is opened when a key
 * or signature is first used), so that `drudge run` starts in a few ms; what
 * needs libcurl, X11, GMime or libmicrohttpd lives in drudge_NAME.so and is
 * opened on first use: the connectors (http, desktop, mail) and "serve" (the
 * metrics endpoint and the demo service). Modules are looked for in
 * $DRUDGE_MODULE_DIR, beside the binary (a build tree), in ../lib/drudge
 * from it (an installed tree), then in the configured install prefix.
 */
#ifndef DRUDGE_MODULE_H
#define DRUDGE_MODULE_H

#include <stddef.h>

/* Opens drudge_<module>.so (once per process, thread-safe) and returns the
 * address of symbol, or NULL with the reason in why. */
void *drudge_module_sym(const char *module, const char *symbol, char *why, size_t n);

#endif
