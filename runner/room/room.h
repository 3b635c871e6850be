/*
 * room.h: the control room (runner/room/, the module drudge_room.so):
 * `drudge serve`, a web application and an HTTP API over the store, for
 * operations staff, auditors and other systems, with users in four roles;
 * and the user and token changes of `drudge user`. The binary reaches
 * these through runner/cli/room_door.c, which loads the module on first use
 * (it needs libmicrohttpd and libargon2, which `drudge run` must not load).
 */
#ifndef DRUDGE_ROOM_H
#define DRUDGE_ROOM_H

#include "drudge/error.h"
#include "drudge/util.h"
#include "runner/store/store.h"

typedef struct drudge_room_opts {
    const char *listen;   /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8443" */
    const char *tls_cert; /* PEM certificate file, or NULL for plain HTTP */
    const char *tls_key;  /* its PEM private key (mode 0600), with tls_cert */
    int insecure_public;  /* allow plain HTTP on an address other than loopback */
    const char *redact;   /* redaction patterns for what operators see ($DRUDGE_REDACT), or NULL */
    int quiet;            /* no line per request on stderr */
    const char *db;       /* where the store is (--db), for the connection of a background check */
    int max_streams;      /* event streams open at once; 0: 64 */
} drudge_room_opts;

/* Serves the control room on o->listen from the store s until SIGINT or
 * SIGTERM, printing "drudge serve: http://ADDR:PORT/" on stdout once it
 * listens. Refuses plain HTTP on an address other than loopback unless
 * insecure_public. */
drudge_code drudge_room_serve(drudge_store *s, const drudge_room_opts *o, drudge_err *err);

/* The routes the server answers, one "METHOD PATH" per line (for the
 * test that keeps openapi.json honest), appended to out. */
void drudge_room_routes(drudge_buf *out);

/* Whether role is one of viewer, operator, auditor, admin. */
int drudge_room_role_valid(const char *role);

/* `drudge user`: each change is an operator step on the audit chain by
 * actor, in the transaction that makes it. Own transaction. */
/* Adds user name with role and password (hashed with Argon2id here). */
drudge_code drudge_room_user_add(drudge_store *s, const char *name, const char *role,
                                 const char *password, const char *actor, drudge_err *err);
/* Disables (or enables again) a user: its sessions and tokens stop working. */
drudge_code drudge_room_user_disable(drudge_store *s, const char *name, int disabled,
                                     const char *actor, drudge_err *err);
/* A new API token for user name, labelled label (or NULL): the secret into
 * secret[65], shown once; only its SHA-256 is kept. */
drudge_code drudge_room_token_new(drudge_store *s, const char *name, const char *label,
                                  const char *actor, char secret[65] /* OUT */, drudge_err *err);

#endif
