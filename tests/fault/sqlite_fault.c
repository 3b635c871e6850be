/* sqlite_fault.c: a shim SQLite VFS that fails the Nth write, for the
 * fault-injection tests (tests/e2e/work_fault_sweep.sh). SQLite's own test
 * suite does the same (src/test_vfs.c, test_devsym.c): a VFS wraps the
 * real one and makes chosen calls fail.
 *
 * It is a test hook, not part of drudge: the binary knows nothing of it.
 * Loaded with LD_PRELOAD, its constructor registers the shim as the default
 * VFS, wrapping the one that was (unix), so every connection the process
 * opens goes through it. The environment says what to do:
 *   DRUDGE_FAULT_AT=N      the Nth write (xWrite, counted over every file
 *                          of the process: database, WAL, journal) fails
 *   DRUDGE_FAULT_ERR=full  ...with SQLITE_FULL (default: SQLITE_IOERR_WRITE)
 *   DRUDGE_FAULT_STICKY=1  ...and every write after it (a disk that stays
 *                          full); otherwise only that one (a transient error)
 *   DRUDGE_FAULT_COUNT=F   at exit, write the number of writes seen to F
 *                          (to learn how many a run makes)
 *   DRUDGE_FAULT_SYNC_AT=N the Nth sync (xSync) fails with
 *                          SQLITE_IOERR_FSYNC (and every one after it, with
 *                          DRUDGE_FAULT_STICKY=1): a disk that fails to
 *                          flush; the data stays written
 *   DRUDGE_FAULT_SYNC_COUNT=F  at exit, write the number of syncs to F
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

typedef struct fault_file {
    sqlite3_file base;  /* our methods */
    sqlite3_file *real; /* the wrapped file, right after this struct */
} fault_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;
static long fail_at;
static int fail_code = SQLITE_IOERR_WRITE, sticky;
static atomic_long writes, syncs;
static long sync_fail_at;
static const char *count_file, *sync_count_file;

static int should_fail(void)
{
    long n = atomic_fetch_add(&writes, 1) + 1;
    return fail_at > 0 && (n == fail_at || (sticky && n > fail_at));
}

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((fault_file *)f)->real;
}

static int f_close(sqlite3_file *f)
{
    return real_of(f)->pMethods->xClose(real_of(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (should_fail())
        return fail_code;
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    long n = atomic_fetch_add(&syncs, 1) + 1;
    if (sync_fail_at > 0 && (n == sync_fail_at || (sticky && n > sync_fail_at)))
        return SQLITE_IOERR_FSYNC;
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int f_lock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xLock(real_of(f), lock);
}

static int f_unlock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), lock);
}

static int f_check_lock(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int f_caps(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    /* No memory-mapped reads: every page goes through xRead and xWrite. */
    (void)f;
    (void)off;
    (void)amt;
    *pp = NULL;
    return SQLITE_OK;
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return p ? real_of(f)->pMethods->xUnfetch(real_of(f), off, p) : SQLITE_OK;
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    (void)vfs;
    fault_file *ff = (fault_file *)file;
    ff->real = (sqlite3_file *)(ff + 1);
    ff->base.pMethods = NULL;
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    if (rc == SQLITE_OK && ff->real->pMethods)
        ff->base.pMethods = &fault_io;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void report_to(const char *path, long n)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%ld\n", n);
        fclose(f);
    }
}

static void report_count(void)
{
    report_to(count_file, atomic_load(&writes));
    report_to(sync_count_file, atomic_load(&syncs));
}

__attribute__((constructor)) static void fault_init(void)
{
    const char *at = getenv("DRUDGE_FAULT_AT"), *e = getenv("DRUDGE_FAULT_ERR");
    fail_at = at ? atol(at) : 0;
    if (e && !strcmp(e, "full"))
        fail_code = SQLITE_FULL;
    sticky = getenv("DRUDGE_FAULT_STICKY") && atoi(getenv("DRUDGE_FAULT_STICKY"));
    count_file = getenv("DRUDGE_FAULT_COUNT");
    sync_count_file = getenv("DRUDGE_FAULT_SYNC_COUNT");
    sync_fail_at = getenv("DRUDGE_FAULT_SYNC_AT") ? atol(getenv("DRUDGE_FAULT_SYNC_AT")) : 0;
    if (count_file || sync_count_file)
        atexit(report_count);
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs)
        return;
    fault_io = (sqlite3_io_methods){.iVersion = 3,
                                    .xClose = f_close,
                                    .xRead = f_read,
                                    .xWrite = f_write,
                                    .xTruncate = f_truncate,
                                    .xSync = f_sync,
                                    .xFileSize = f_size,
                                    .xLock = f_lock,
                                    .xUnlock = f_unlock,
                                    .xCheckReservedLock = f_check_lock,
                                    .xFileControl = f_control,
                                    .xSectorSize = f_sector,
                                    .xDeviceCharacteristics = f_caps,
                                    .xShmMap = f_shm_map,
                                    .xShmLock = f_shm_lock,
                                    .xShmBarrier = f_shm_barrier,
                                    .xShmUnmap = f_shm_unmap,
                                    .xFetch = f_fetch,
                                    .xUnfetch = f_unfetch};
    fault_vfs = (sqlite3_vfs){.iVersion = 2,
                              .szOsFile = (int)sizeof(fault_file) + real_vfs->szOsFile,
                              .mxPathname = real_vfs->mxPathname,
                              .zName = "drudge-fault",
                              .xOpen = v_open,
                              .xDelete = v_delete,
                              .xAccess = v_access,
                              .xFullPathname = v_full,
                              .xDlOpen = v_dlopen,
                              .xDlError = v_dlerror,
                              .xDlSym = v_dlsym,
                              .xDlClose = v_dlclose,
                              .xRandomness = v_random,
                              .xSleep = v_sleep,
                              .xCurrentTime = v_time,
                              .xGetLastError = v_last_error,
                              .xCurrentTimeInt64 = v_time64};
    sqlite3_vfs_register(&fault_vfs, 1);
}
