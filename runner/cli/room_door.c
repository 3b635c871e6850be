/* room_door.c: the core's doors into the control room's module
 * (drudge_room.so: runner/room/, which needs libmicrohttpd and libargon2),
 * for `drudge serve` and `drudge user`. Each function here has the name and
 * signature of the module's own and forwards to it (as runner/host/serve.c
 * does for the serve module): keep nothing else in it. */
#include <stdio.h>
#include <stdlib.h>
#include "runner/room/room.h"
#include "runner/util/module.h"

static void *room_sym(const char *name, drudge_err *err)
{
    char why[512];
    void *f = drudge_module_sym("room", name, why, sizeof why);
    if (!f && err)
        drudge_seterr(err, DRUDGE_EIO, "cannot load the control room module: %s", why);
    return f;
}

#define FORWARD(name, params, args)                                                                \
    drudge_code name params                                                                        \
    {                                                                                              \
        drudge_code(*f) params = (drudge_code(*) params)room_sym(#name, err);                      \
        return f ? f args : err->code;                                                             \
    }

FORWARD(drudge_room_serve, (drudge_store * s, const drudge_room_opts *o, drudge_err *err),
        (s, o, err))
FORWARD(drudge_room_user_add,
        (drudge_store * s, const char *name, const char *role, const char *password,
         const char *actor, drudge_err *err),
        (s, name, role, password, actor, err))
FORWARD(drudge_room_user_disable,
        (drudge_store * s, const char *name, int disabled, const char *actor, drudge_err *err),
        (s, name, disabled, actor, err))
FORWARD(drudge_room_token_new,
        (drudge_store * s, const char *name, const char *label, const char *actor, char secret[65],
         drudge_err *err),
        (s, name, label, actor, secret, err))

void drudge_room_routes(drudge_buf *out)
{
    void (*f)(drudge_buf *) = (void (*)(drudge_buf *))room_sym("drudge_room_routes", NULL);
    if (f)
        f(out);
}

int drudge_room_role_valid(const char *role)
{
    int (*f)(const char *) = (int (*)(const char *))room_sym("drudge_room_role_valid", NULL);
    return f ? f(role) : 0;
}
