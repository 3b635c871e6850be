/*
 * version.h: a script version (runner/host/version.c): the script's source
 * and the modules it requires from its directory, named by the SHA-256 of
 * a manifest listing each file's SHA-256, stored once in the database so
 * that the code that ran is on record and replay needs no file.
 */
#ifndef DRUDGE_HOST_VERSION_H
#define DRUDGE_HOST_VERSION_H

#include "drudge/error.h"
#include "drudge/host.h"
#include "runner/store/store.h"

/* Reads the script at path (named script) and, recursively, every module
 * it requires by a literal name ("require 'lib.util'") that is a file in
 * its directory (lib/util.lua), as a version. Clear with
 * drudge_script_version_clear. */
drudge_code drudge_script_version_read(const char *path, const char *script,
                                       drudge_script_version *out /* OUT */, drudge_err *err);

/* A deep copy of s into d (cleared with drudge_script_version_clear). */
void drudge_script_version_copy(drudge_script_version *d, const drudge_script_version *s);

/* Reads and stores path's version in its own write transaction; its hash
 * goes to sha[65]. For enqueue and drudge run. */
drudge_code drudge_script_version_record(drudge_store *s, const char *path, const char *script,
                                         char sha[65] /* OUT */, drudge_err *err);

/* Writes stored version sha's files into a new private directory (0700,
 * under $TMPDIR or /tmp): *dir is it, *main the main file's path in it
 * (both malloc'd). drudge_script_version_remove(*dir) deletes it. */
drudge_code drudge_script_version_unpack(drudge_store *s, const char *sha, char **dir /* OUT */,
                                         char **main /* OUT */, drudge_err *err);
void drudge_script_version_remove(const char *dir);

/* The version a host loaded with the script of info (read at load time). */
const drudge_script_version *drudge_host_script_version(const drudge_script_info *info);

#endif
