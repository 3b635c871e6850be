/* module.c: opening drudge's loadable modules (see module.h). */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runner/util/module.h"
#include "drudge/util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *open_module(const char *module, char *why, size_t n)
{
    char exe[PATH_MAX], rel[PATH_MAX + 16];
    const char *dirs[4];
    int ndirs = 0;
    void *handle = NULL;
    drudge_buf path = {0};
    const char *env = getenv("DRUDGE_MODULE_DIR");
    if (env && *env)
        dirs[ndirs++] = env;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = len > 0 ? (exe[len] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        dirs[ndirs++] = exe;                                /* a build tree */
        snprintf(rel, sizeof rel, "%s/../lib/drudge", exe); /* an installed tree */
        dirs[ndirs++] = rel;
    }
    dirs[ndirs++] = DRUDGE_MODULE_DIR;
    snprintf(why, n, "no drudge_%s.so in $DRUDGE_MODULE_DIR, beside the binary, or in %s", module,
             DRUDGE_MODULE_DIR);
    for (int i = 0; i < ndirs; i++) {
        drudge_buf_reset(&path);
        drudge_buf_printf(&path, "%s/drudge_%s.so", dirs[i], module);
        if (access(path.data, R_OK) != 0)
            continue;
        /* RTLD_NOW: a missing symbol is reported here, not as a crash later. */
        handle = dlopen(path.data, RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            snprintf(why, n, "%s", dlerror());
        break;
    }
    drudge_buf_free(&path);
    return handle;
}

void *drudge_module_sym(const char *module, const char *symbol, char *why, size_t n)
{
    static struct {
        char name[32];
        void *handle;
    } opened[8];
    void *handle = NULL, *sym = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < sizeof opened / sizeof opened[0] && !handle; i++) {
        if (!strcmp(opened[i].name, module))
            handle = opened[i].handle;
        else if (!opened[i].name[0]) {
            handle = open_module(module, why, n);
            if (handle) {
                snprintf(opened[i].name, sizeof opened[i].name, "%s", module);
                opened[i].handle = handle;
            }
            break;
        }
    }
    if (handle) {
        sym = dlsym(handle, symbol);
        if (!sym)
            snprintf(why, n, "drudge_%s.so has no %s", module, symbol);
    }
    pthread_mutex_unlock(&lock);
    return sym;
}
