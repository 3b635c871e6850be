/*
 * demo.h (internal): the demo case-management service and the demo's data.
 *
 * The service is a small HTTP API on libmicrohttpd, run by `drudge demo` as a
 * separate process (`drudge demo serve`), standing in for a prosecution
 * service's case management system:
 *
 *   GET  /api/cases/<ref>            the case, or 404 for an unknown ref
 *   POST /api/cases/<ref>/documents  logs a document (JSON body with "subject");
 *                                    201 with its id; an Idempotency-Key seen
 *                                    before gets the first answer again (200),
 *                                    and nothing is logged twice
 *   GET  /api/stats                  counters, for the demo's summary
 *
 * It can go down for a while (down_after, down_for_s): then every case
 * request is answered 503, as a system in maintenance would.
 *
 * Every request needs "Authorization: Bearer <token>". About fail_per_mille
 * of the requests answer 503 (deterministically: a hash of the path and how
 * often it was asked); half of the failing POSTs fail after logging, as a
 * real server whose answer is lost would, which is what idempotency keys are for.
 */
#ifndef DRUDGE_DEMO_H
#define DRUDGE_DEMO_H

#include <stdint.h>
#include "drudge/error.h"

typedef struct drudge_demo_service drudge_demo_service;

typedef struct drudge_demo_opts {
    unsigned short port;     /* 0 = any free port */
    const char *token;       /* the bearer token clients must send */
    int ncases;              /* known cases: refs CR-2026-10001 ... */
    unsigned fail_per_mille; /* share of requests answered 503 */
    /* An outage: after down_after requests to /api/cases (0: none), every
     * one is answered 503 "down for maintenance" for down_for_s seconds. */
    unsigned down_after;
    double down_for_s;
} drudge_demo_opts;

typedef struct drudge_demo_stats {
    int cases; /* known cases */
    uint64_t requests, unauthorized, not_found, unavailable;
    uint64_t documents; /* logged, each once */
    uint64_t replayed;  /* POSTs answered from their Idempotency-Key */
    uint64_t down;      /* requests answered 503 during the outage (also in unavailable) */
} drudge_demo_stats;

/* Starts the service on 127.0.0.1; stop with drudge_demo_service_stop. */
drudge_demo_service *drudge_demo_service_start(const drudge_demo_opts *opts, drudge_err *err);
unsigned short drudge_demo_service_port(const drudge_demo_service *s);
void drudge_demo_service_stats(drudge_demo_service *s, drudge_demo_stats *out /* OUT */);
void drudge_demo_service_stop(drudge_demo_service *s);

/* The ref of known case i (1-based): "CR-2026-10001" for i = 1. */
void drudge_demo_case_ref(int i, char out[32]);

/* The counters as GET /api/stats gives them (JSON), into out[n]. */
void drudge_demo_stats_json(const drudge_demo_stats *st, char *out, size_t n);

#endif
