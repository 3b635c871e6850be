/* error.c: error codes and their messages. */
#include <stdarg.h>
#include <stdio.h>
#include "drudge/error.h"

drudge_code drudge_seterr(drudge_err *err, drudge_code code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *drudge_strerror(drudge_code code)
{
    switch (code) {
    case DRUDGE_OK:
        return "ok";
    case DRUDGE_EUSAGE:
        return "usage error";
    case DRUDGE_EIO:
        return "I/O error";
    case DRUDGE_EDB:
        return "database error";
    case DRUDGE_EBUSY:
        return "database is locked";
    case DRUDGE_ENOMEM:
        return "out of memory";
    case DRUDGE_EINPUT:
        return "invalid input";
    case DRUDGE_ESCRIPT:
        return "script error";
    case DRUDGE_ENOTFOUND:
        return "not found";
    case DRUDGE_ESTATE:
        return "invalid state";
    case DRUDGE_ETAMPER:
        return "audit trail does not verify";
    case DRUDGE_EDIVERGE:
        return "replay diverged";
    case DRUDGE_ECONNECT:
        return "connection failed";
    }
    return "unknown error";
}
