/* test_desktop.c: the desktop connector's parts that need no X server: the
 * display lock, display names, the PNG encoder, X image conversion, argument
 * errors, and replay (which must never touch X). The X side is tested
 * against Xvfb and xterm in tests/integration/desktop_*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lua.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "connectors/desktop/desktopint.h"
#include "connectors/desktop/desktop.h"
#include "drudge/host.h"
#include "drudge/record.h"
#include "drudge/util.h"

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/drudge-desktop.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    setenv("DRUDGE_LOCK_DIR", tmpdir, 1);
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    (void)state;
    return 0;
}

static void test_display_key(void **state)
{
    static const char *const same[] = {":7", ":7.0", "unix:7", "localhost:7.1"};
    char out[64];
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(drudge_desktop_display_key(same[i], out, sizeof out), 0);
        assert_string_equal(out, ":7");
    }
    assert_int_equal(drudge_desktop_display_key("build-host:12.0", out, sizeof out), 0);
    assert_string_equal(out, "build-host:12");
    static const char *const bad[] = {"", "foo", ":", ":x", ":7x", "7"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(drudge_desktop_display_key(bad[i], out, sizeof out), -1);
    assert_int_equal(drudge_desktop_display_key(NULL, out, sizeof out), -1);
    (void)state;
}

static void test_lock_path(void **state)
{
    char path[512], want[512];
    drudge_desktop_lock_path("host/x:7", path, sizeof path);
    snprintf(want, sizeof want, "%s/drudge-desktop-host_x_7.lock", tmpdir);
    assert_string_equal(path, want);
    setenv("DRUDGE_LOCK_DIR", "/nonexistent/dir", 1);
    drudge_desktop_lock_path(":7", path, sizeof path);
    assert_true(strstr(path, "/nonexistent") == NULL); /* falls back to a writable dir */
    assert_non_null(strstr(path, "/drudge-desktop-_7.lock"));
    setenv("DRUDGE_LOCK_DIR", tmpdir, 1);
    (void)state;
}

/* Two holders in one process exclude each other as two processes do (flock
 * locks belong to the open file, not the process): worker threads are safe. */
static void test_lock_excludes_and_names_holder(void **state)
{
    drudge_desktop_lock a = DRUDGE_DESKTOP_LOCK_INIT, b = DRUDGE_DESKTOP_LOCK_INIT;
    drudge_err err = {0};
    char holder[256];
    assert_int_equal(
        drudge_desktop_lock_take(&a, ":7.0", 0, "pid 1, task #9\n", holder, sizeof holder, &err),
        DRUDGE_OK);
    assert_int_equal(drudge_desktop_lock_take(&a, ":7", 0, "again", holder, sizeof holder, &err),
                     DRUDGE_OK); /* held already: a no-op */
    assert_int_equal(
        drudge_desktop_lock_take(&b, "unix:7", 0, "other", holder, sizeof holder, &err),
        DRUDGE_EBUSY);
    assert_string_equal(holder, "pid 1, task #9");
    assert_string_equal(err.msg, "desktop: display :7 is in use by pid 1, task #9");
    /* Another display is another lock. */
    drudge_desktop_lock c = DRUDGE_DESKTOP_LOCK_INIT;
    assert_int_equal(drudge_desktop_lock_take(&c, ":8", 0, "x", holder, sizeof holder, &err),
                     DRUDGE_OK);
    drudge_desktop_lock_release(&c);
    drudge_desktop_lock_release(&a);
    drudge_desktop_lock_release(&a); /* twice is fine */
    assert_int_equal(drudge_desktop_lock_take(&b, ":7", 0, "other", holder, sizeof holder, &err),
                     DRUDGE_OK);
    drudge_desktop_lock_release(&b);
    assert_int_equal(drudge_desktop_lock_take(&b, "nonsense", 0, "x", holder, sizeof holder, &err),
                     DRUDGE_EUSAGE);
    assert_non_null(strstr(err.msg, "'nonsense' is not an X display name"));
    (void)state;
}

/* Decodes a PNG with libpng's simplified API into RGB. */
static unsigned char *png_decode(const void *data, size_t len, unsigned *w, unsigned *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len))
        return NULL;
    img.format = PNG_FORMAT_RGB;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        return NULL;
    }
    *w = img.width;
    *h = img.height;
    return buf;
}

static void test_png_round_trip(void **state)
{
    unsigned char rgb[3 * 4 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (unsigned char)(i * 37 + 11);
    drudge_buf out = {0};
    drudge_err err = {0};
    drudge_buf_puts(&out, "x"); /* appends after what is there */
    assert_int_equal(drudge_png_encode_rgb(rgb, 4, 3, &out, &err), DRUDGE_OK);
    assert_memory_equal(out.data + 1, "\x89PNG\r\n\x1a\n", 8);
    unsigned w = 0, h = 0;
    unsigned char *back = png_decode(out.data + 1, out.len - 1, &w, &h);
    assert_non_null(back);
    assert_int_equal(w, 4);
    assert_int_equal(h, 3);
    assert_memory_equal(back, rgb, sizeof rgb);
    free(back);
    drudge_buf_free(&out);
    assert_int_equal(drudge_png_encode_rgb(rgb, 0, 3, &out, &err), DRUDGE_EUSAGE);
    assert_non_null(strstr(err.msg, "bad image size 0x3"));
    (void)state;
}

/* An XImage built by hand (no display): the common 32-bit TrueColor layout
 * and a 16-bit 5-6-5 one (the generic path). */
static void test_ximage_to_rgb(void **state)
{
    uint32_t px32[2] = {0x00ff8000, 0x000000ff}; /* orange, blue */
    XImage img;
    memset(&img, 0, sizeof img);
    img.width = 2;
    img.height = 1;
    img.format = ZPixmap;
    img.data = (char *)px32;
    img.byte_order = LSBFirst;
    img.bitmap_unit = 32;
    img.bitmap_bit_order = LSBFirst;
    img.bitmap_pad = 32;
    img.depth = 24;
    img.bytes_per_line = 8;
    img.bits_per_pixel = 32;
    img.red_mask = 0xff0000;
    img.green_mask = 0xff00;
    img.blue_mask = 0xff;
    assert_true(XInitImage(&img));
    unsigned char rgb[6];
    drudge_ximage_to_rgb(&img, rgb);
    assert_memory_equal(rgb, "\xff\x80\x00\x00\x00\xff", 6);

    uint16_t px16[2] = {0xf800 | 0x001f, 0x07e0}; /* magenta, green */
    img.data = (char *)px16;
    img.depth = 16;
    img.bitmap_unit = 16;
    img.bitmap_pad = 16;
    img.bytes_per_line = 4;
    img.bits_per_pixel = 16;
    img.red_mask = 0xf800;
    img.green_mask = 0x07e0;
    img.blue_mask = 0x001f;
    assert_true(XInitImage(&img));
    drudge_ximage_to_rgb(&img, rgb);
    assert_memory_equal(rgb, "\xff\x00\xff\x00\xff\x00", 6);
    (void)state;
}

static void test_key_names(void **state)
{
    char buf[64];
    assert_null(dx_bad_key_name("ctrl+s", buf, sizeof buf));
    assert_null(dx_bad_key_name("ctrl+a BackSpace", buf, sizeof buf));
    assert_null(dx_bad_key_name("  Return\tctrl+shift+t  F5 alt+F4 super 38", buf, sizeof buf));
    assert_string_equal(dx_bad_key_name("ctrl+s Retrun", buf, sizeof buf), "Retrun");
    assert_string_equal(dx_bad_key_name("ctlr+s", buf, sizeof buf), "ctlr");
    assert_string_equal(dx_bad_key_name("ctrl+", buf, sizeof buf), "");
    assert_string_equal(dx_bad_key_name("+a", buf, sizeof buf), "");
    assert_string_equal(dx_bad_key_name("a++b", buf, sizeof buf), "");
    assert_string_equal(dx_bad_key_name("   ", buf, sizeof buf), "");
    (void)state;
}

/* --- through the Lua host --- */

static char *write_script(const char *name, const char *src)
{
    char *path = malloc(512);
    snprintf(path, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    return path;
}

static drudge_host *new_host(void)
{
    drudge_host_opts opts = {.files_dir = tmpdir};
    drudge_err err = {0};
    drudge_host *h = drudge_host_new(&opts, &err);
    assert_non_null(h);
    return h;
}

/* Runs the script; checks the Lua stack is balanced. */
static void run(drudge_host *h, const char *path, drudge_result *res)
{
    drudge_err err = {0};
    drudge_task_view task = {.id = 3, .attempt = 1, .script = "t"};
    lua_State *L = drudge_host_lua(h);
    int top = lua_gettop(L);
    assert_int_equal(drudge_host_run(h, path, &task, res, &err), DRUDGE_OK);
    assert_int_equal(lua_gettop(L), top);
}

/* Misuse is reported before any X connection is tried (DISPLAY points
 * nowhere here), naming the function and the argument. */
static void test_argument_errors(void **state)
{
    static const struct {
        const char *call, *want;
    } cases[] = {
        {"desktop.type(nil)", "bad argument #1 to 'type' (string expected, got nil)"},
        {"desktop.type('x', 5)", "bad argument #2 to 'type' (table expected, got number)"},
        {"desktop.type('a\\1')", "cannot type control character \\1 at byte 2"},
        {"desktop.type('x', { delay_ms = 1.5 })", "'delay_ms' must be a whole number"},
        {"desktop.key('ctrl+x+')", "a key name is missing in \"ctrl+x+\""},
        {"desktop.key('Enter')", "unknown key name 'Enter'"},
        {"desktop.move(-1, 0)", "x must be a screen coordinate >= 0"},
        {"desktop.click{ button = 12 }", "'button' must be a whole number from 1 to 9"},
        {"desktop.find_windows{ pid = 'x' }", "'pid' must be a whole number"},
        {"desktop.wait_window{ name = 'a[', timeout = 1 }", "bad name pattern 'a['"},
        {"desktop.wait_window{ name = 'a', timeout = -1 }", "'timeout' must be a number"},
        {"desktop.scroll{ dy = 0 }", "give 'dy'"},
    };
    drudge_host *h = new_host();
    setenv("DISPLAY", ":4999", 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "local desktop = require 'drudge.desktop'\n"
                 "return { run = function() %s end }\n",
                 cases[i].call);
        char name[32];
        snprintf(name, sizeof name, "arg%zu.lua", i);
        char *path = write_script(name, src);
        drudge_result res;
        run(h, path, &res);
        /* Misuse the script's author must fix (an unknown key name, an
         * option of the wrong type) is a configuration error: not retried. */
        if (strstr(cases[i].want, "key name") || strstr(cases[i].want, "' must be"))
            assert_int_equal(res.outcome, DRUDGE_CONFIG);
        else
            assert_int_equal(res.outcome, DRUDGE_ERROR);
        if (!strstr(res.error, cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].call, res.error, cases[i].want);
        /* Nothing reached the X side: no acquire step was recorded. */
        drudge_rec *rec = drudge_host_rec(h);
        for (size_t s = 0; s < drudge_rec_count(rec); s++)
            assert_string_not_equal(drudge_rec_step(rec, s)->kind, "desktop");
        drudge_result_clear(&res);
        free(path);
    }
    drudge_host_free(h);
    (void)state;
}

/* No X server: a clear system error, recorded, and the next call tries again. */
static void test_no_display(void **state)
{
    drudge_host *h = new_host();
    setenv("DISPLAY", ":4999", 1);
    char *path = write_script("nodisp.lua", "local desktop = require 'drudge.desktop'\n"
                                            "return { run = function()\n"
                                            "  local ok, e = pcall(desktop.move, 1, 1)\n"
                                            "  return { e = tostring(e) }\n"
                                            "end }\n");
    drudge_result res;
    run(h, path, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_non_null(strstr(res.output, "desktop: cannot open display ':4999'"));
    drudge_rec *rec = drudge_host_rec(h);
    const drudge_step *s = drudge_rec_step(rec, 1);
    assert_string_equal(s->name, "acquire");
    assert_string_equal(s->outcome, "error");
    assert_non_null(strstr(s->response, "\"display\":\":4999\""));
    drudge_result_clear(&res);
    free(path);
    drudge_host_free(h);
    (void)state;
}

static char *xstrdup(const char *s)
{
    return s ? drudge_xstrdup(s) : NULL;
}

/* Replay returns what was recorded, errors included, without an X server
 * (DISPLAY is unset: a live call would fail). */
static void test_replay_without_x(void **state)
{
    static const char src[] =
        "local desktop = require 'drudge.desktop'\n"
        "return { run = function()\n"
        "  local w = desktop.wait_window{ name = 'Case form' }\n"
        "  local t = w:title()\n"
        "  desktop.type('Zoë')\n"
        "  local x, y = desktop.mouse_location()\n"
        "  local s = desktop.screenshot()\n"
        "  local ok, err = pcall(w.geometry, w)\n"
        "  return { id = w.id, title = t, x = x, y = y, sha = s.sha256, width = s.width,\n"
        "           err = tostring(err) }\n"
        "end }\n";
    char *path = write_script("replay.lua", src);
    static const struct {
        const char *kind, *name, *req, *resp;
    } rec_steps[] = {
        {"task", "replay", "{\"input\":null}", NULL},
        {"desktop", "acquire", "{}", "{\"display\":\":7\",\"waited_ms\":0}"},
        {"desktop", "wait_window", "{\"name\":\"Case form\",\"visible_only\":true,\"timeout\":10}",
         "{\"window\":{\"id\":42,\"title\":\"Case form\",\"class\":\"Form\"}}"},
        {"desktop", "window.title", "{\"window\":42}", "{\"title\":\"Case form\"}"},
        {"desktop", "type", "{\"text\":\"Zoë\",\"delay_ms\":12}", "{\"typed\":3}"},
        {"desktop", "mouse_location", "{}", "{\"x\":5,\"y\":7}"},
        {"desktop", "screenshot", "{}",
         "{\"sha256\":\"abc\",\"width\":2,\"height\":1,\"size\":70,\"content_type\":\"image/"
         "png\"}"},
        {"desktop", "window.geometry", "{\"window\":42}",
         "{\"error\":\"desktop: window 0x2a no longer exists (it was closed)\"}"},
    };
    size_t n = sizeof rec_steps / sizeof rec_steps[0];
    drudge_step *steps = calloc(n, sizeof *steps);
    for (size_t i = 0; i < n; i++) {
        steps[i].seq = (int)i + 1;
        steps[i].parent = i ? 1 : 0;
        steps[i].kind = xstrdup(rec_steps[i].kind);
        steps[i].name = xstrdup(rec_steps[i].name);
        steps[i].request = xstrdup(rec_steps[i].req);
        steps[i].response = xstrdup(rec_steps[i].resp);
        /* A call that failed live was recorded with outcome "error". */
        steps[i].outcome =
            xstrdup(i == 0 ? "done"
                    : strstr(rec_steps[i].resp ? rec_steps[i].resp : "", "\"error\"") ? "error"
                                                                                      : "ok");
    }
    drudge_host *h = new_host();
    unsetenv("DISPLAY");
    drudge_rec_replay_load(drudge_host_rec(h), steps, n, NULL, 0);
    drudge_result res;
    run(h, path, &res);
    if (res.outcome != DRUDGE_DONE)
        fail_msg("replay failed: %s", res.error);
    assert_string_equal(drudge_rec_divergence(drudge_host_rec(h)), "");
    assert_non_null(strstr(res.output, "\"id\":42"));
    assert_non_null(strstr(res.output, "\"title\":\"Case form\""));
    assert_non_null(strstr(res.output, "\"x\":5"));
    assert_non_null(strstr(res.output, "\"y\":7"));
    assert_non_null(strstr(res.output, "\"sha\":\"abc\""));
    assert_non_null(strstr(res.output, "no longer exists (it was closed)"));
    drudge_result_clear(&res);
    free(path);
    drudge_host_free(h);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_display_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_excludes_and_names_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_png_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ximage_to_rgb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argument_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_display, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_without_x, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
