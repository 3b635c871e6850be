/* serve.c: the core's doors into the "serve" module (drudge_serve.so:
 * connectors/serve/metrics.c and connectors/serve/demo_service.c, which need libmicrohttpd).
 *
 * Each function here has the name and signature of the module's own and
 * forwards to it, so callers need not know it is loaded on demand. Where the
 * module is linked in statically (the unit tests), its definitions win and
 * this file is not linked at all: keep nothing else in it. */
#include <stdio.h>
#include <stdlib.h>
#include "runner/util/module.h"
#include "connectors/serve/serve.h"
#include "connectors/serve/demo.h"

/* Resolves the module's definition of name or reports why it cannot. */
static void *serve_sym(const char *name, drudge_err *err)
{
    char why[512];
    void *f = drudge_module_sym("serve", name, why, sizeof why);
    if (!f) {
        if (err)
            drudge_seterr(err, DRUDGE_EIO, "cannot load the serve module: %s", why);
        else {
            fprintf(stderr, "drudge: cannot load the serve module: %s\n", why);
            abort();
        }
    }
    return f;
}

#define FORWARD(ret, name, params, args, errp, fail)                                               \
    ret name params                                                                                \
    {                                                                                              \
        ret(*f) params = (ret(*) params)serve_sym(#name, errp);                                    \
        return f ? f args : fail;                                                                  \
    }
#define FORWARD_VOID(name, params, args)                                                           \
    void name params                                                                               \
    {                                                                                              \
        void(*f) params = (void(*) params)serve_sym(#name, NULL);                                  \
        f args;                                                                                    \
    }
/* Stopping nothing needs no module: `drudge work` without --metrics runs
 * where the module is not installed. */
#define FORWARD_STOP(name, type)                                                                   \
    void name(type *s)                                                                             \
    {                                                                                              \
        if (s)                                                                                     \
            ((void (*)(type *))serve_sym(#name, NULL))(s);                                         \
    }

FORWARD(drudge_code, drudge_text_serve,
        (const drudge_text_opts *o, drudge_text_server **out, drudge_err *err), (o, out, err), err,
        err->code)
FORWARD_STOP(drudge_text_stop, drudge_text_server)
FORWARD(drudge_demo_service *, drudge_demo_service_start,
        (const drudge_demo_opts *opts, drudge_err *err), (opts, err), err, NULL)
FORWARD(unsigned short, drudge_demo_service_port, (const drudge_demo_service *s), (s), NULL, 0)
FORWARD_VOID(drudge_demo_service_stats, (drudge_demo_service * s, drudge_demo_stats *out), (s, out))
FORWARD_STOP(drudge_demo_service_stop, drudge_demo_service)
FORWARD_VOID(drudge_demo_case_ref, (int i, char out[32]), (i, out))
FORWARD_VOID(drudge_demo_stats_json, (const drudge_demo_stats *st, char *out, size_t n),
             (st, out, n))
