/*
 * error.h: error codes, the error-detail buffer, and process exit codes.
 *
 * Every fallible drudge function returns a drudge_code and, when given a
 * drudge_err, fills in the detail a person needs (file, line, field).
 */
#ifndef DRUDGE_ERROR_H
#define DRUDGE_ERROR_H

typedef enum drudge_code {
    DRUDGE_OK = 0,
    DRUDGE_EUSAGE,    /* bad command-line usage or API misuse */
    DRUDGE_EIO,       /* a file could not be read or written */
    DRUDGE_EDB,       /* SQLite reported an error */
    DRUDGE_EBUSY,     /* the database stayed locked past the busy timeout */
    DRUDGE_ENOMEM,    /* out of memory */
    DRUDGE_EINPUT,    /* malformed input: JSON, CSV, a time, a priority */
    DRUDGE_ESCRIPT,   /* a script failed to load or broke its contract */
    DRUDGE_ENOTFOUND, /* no such task, script, schedule, ... */
    DRUDGE_ESTATE,    /* the operation does not fit the object's state */
    DRUDGE_ETAMPER,   /* audit verification found a mismatch */
    DRUDGE_EDIVERGE,  /* replay diverged from the recording */
    DRUDGE_ECONNECT,  /* a connector could not reach its peer */
} drudge_code;

/* Detail for the last error; callers keep it on the stack. */
typedef struct drudge_err {
    drudge_code code;
    char msg[1024];
} drudge_err;

/* Sets err (if not NULL) and returns code, so callers can
 * `return drudge_seterr(err, DRUDGE_EIO, "cannot open %s: %s", ...)`. */
drudge_code drudge_seterr(drudge_err *err, drudge_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *drudge_strerror(drudge_code code);

/* Process exit codes: documented in README.md, relied on by shell scripts. */
enum {
    DRUDGE_EXIT_OK = 0,
    DRUDGE_EXIT_ERROR = 1,   /* operational error: database, file, network */
    DRUDGE_EXIT_USAGE = 2,   /* unknown command or flag, bad argument */
    DRUDGE_EXIT_FAILED = 3,  /* task ended with a business exception, fail() */
    DRUDGE_EXIT_SYSERR = 4,  /* task ended with a system error, timeout or memory cap */
    DRUDGE_EXIT_RETRY = 5,   /* task asked to be retried later, retry_later() */
    DRUDGE_EXIT_INVALID = 6, /* check found problems, verify found tampering, replay diverged */
    DRUDGE_EXIT_NOTHING =
        7, /* a bulk action (cancel, retry, resolve) matched no task it applies to */
};

#endif
