/* test_host.c: the Lua host: script contract, sandbox, limits, errors,
 * outcomes, secrets, steps and JSON. Scripts live in tests/scripts/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/host.h"
#include "drudge/util.h"

typedef struct fixture {
    drudge_host *h;
    char dir[64];
} fixture;

static char script_path[512];

static const char *script(const char *name)
{
    const char *tests = getenv("TESTS");
    snprintf(script_path, sizeof script_path, "%s/scripts/%s", tests ? tests : "tests", name);
    return script_path;
}

static int setup_limited(void **state, size_t mem_limit)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/drudge-unit.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    drudge_host_opts opts = {.files_dir = f->dir, .mem_limit = mem_limit};
    drudge_err err = {0};
    f->h = drudge_host_new(&opts, &err);
    assert_non_null(f->h);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_limited(state, 0);
}

static int setup_small(void **state)
{
    return setup_limited(state, (size_t)8 << 20);
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    drudge_host_free(f->h);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Runs script name with input; checks the Lua stack is balanced. */
static void run(fixture *f, const char *name, const char *input, drudge_result *res)
{
    drudge_err err = {0};
    drudge_task_view task = {.id = 7, .key = "K-1", .attempt = 2, .input = input, .script = name};
    lua_State *L = drudge_host_lua(f->h);
    int top = lua_gettop(L);
    assert_int_equal(drudge_host_run(f->h, script(name), &task, res, &err), DRUDGE_OK);
    assert_int_equal(lua_gettop(L), top);
}

/* Runs a snippet through escape.lua. */
static void snippet(fixture *f, const char *code, drudge_result *res)
{
    drudge_buf in = {0};
    drudge_buf_puts(&in, "{\"code\":");
    drudge_buf_json_str(&in, code, strlen(code));
    drudge_buf_puts(&in, "}");
    run(f, "escape.lua", in.data, res);
    drudge_buf_free(&in);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected \"%s\" to contain \"%s\"", hay ? hay : "(null)", needle);
}

/* --- contract --- */

static void test_contract_ok(void **state)
{
    fixture *f = *state;
    const drudge_script_info *info;
    drudge_err err = {0};
    assert_int_equal(drudge_host_load(f->h, script("ok.lua"), &info, &err), DRUDGE_OK);
    assert_string_equal(info->name, "ok-script");
    assert_true(info->manual_minutes == 4);
    assert_true(info->exception_minutes == 6.5);
    assert_int_equal(info->max_attempts, 5);
    assert_true(info->timeout == 2);
}

static void test_contract_defaults_and_name(void **state)
{
    fixture *f = *state;
    const drudge_script_info *info;
    drudge_err err = {0};
    assert_int_equal(drudge_host_load(f->h, script("steps.lua"), &info, &err), DRUDGE_OK);
    assert_string_equal(info->name, "steps"); /* the file name */
    assert_int_equal(info->max_attempts, 3);
    assert_true(info->timeout == 300);
    assert_true(info->manual_minutes == 0);
}

static void test_contract_every_problem_with_line(void **state)
{
    fixture *f = *state;
    const drudge_script_info *info;
    drudge_err err = {0};
    assert_int_equal(drudge_host_load(f->h, script("bad_fields.lua"), &info, &err), DRUDGE_ESCRIPT);
    assert_contains(err.msg, "bad_fields.lua:2: field 'name' must be a string (got number)");
    assert_contains(err.msg, "bad_fields.lua:3: field 'manual_minutes' must be a number");
    assert_contains(err.msg, "bad_fields.lua:4: unknown field 'max_attempt'");
    assert_contains(err.msg, "bad_fields.lua:5: field 'max_attempts' must be a whole number");
    assert_contains(err.msg, "bad_fields.lua:6: field 'timeout' must be a number");
    assert_contains(err.msg, "bad_fields.lua:7: the returned table needs a 'run' function");
}

static void test_contract_syntax_error_names_line(void **state)
{
    fixture *f = *state;
    const drudge_script_info *info;
    drudge_err err = {0};
    assert_int_equal(drudge_host_load(f->h, script("syntax.lua"), &info, &err), DRUDGE_ESCRIPT);
    assert_contains(err.msg, "syntax.lua:3:");
    assert_contains(err.msg, "unexpected symbol");
}

static void test_contract_not_a_table(void **state)
{
    fixture *f = *state;
    const drudge_script_info *info;
    drudge_err err = {0};
    assert_int_equal(drudge_host_load(f->h, script("notable.lua"), &info, &err), DRUDGE_ESCRIPT);
    assert_contains(err.msg, "must return a table (got number)");
}

static void test_contract_missing_file(void **state)
{
    fixture *f = *state;
    const drudge_script_info *info;
    drudge_err err = {0};
    assert_int_equal(drudge_host_load(f->h, script("nope.lua"), &info, &err), DRUDGE_ENOTFOUND);
    assert_contains(err.msg, "nope.lua");
}

/* --- sandbox: each refused escape --- */

static const struct {
    const char *code, *want;
} escapes[] = {
    {"os.execute('true')", "field 'execute'"},
    {"os.exit(1)", "field 'exit'"},
    {"os.remove('/tmp/x')", "field 'remove'"},
    {"io.popen('ls')", "field 'popen'"},
    {"return io.open('/etc/passwd')", "outside the files directory"},
    {"return io.open('../escape.txt', 'w')", "outside the files directory"},
    {"for l in io.lines('/etc/passwd') do end", "outside the files directory"},
    {"return load(string.dump(print))", "field 'dump'"},
    {"return load('\\27Lua', 'x', 'b')", "binary chunks are not allowed"},
    {"return assert(load('\\27LuaT\\0'))", "attempt to load a binary chunk"},
    {"return debug.getinfo(1)", "global 'debug'"},
    {"return package.loadlib('libc.so.6', 'system')", "global 'package'"},
    {"return require('cjson')", "C modules cannot be loaded"},
    {"return require('os')", "not found"},
    {"return require('../../etc/x')", "invalid module name"},
    {"collectgarbage('stop')", "invalid option 'stop'"},
    {"collectgarbage('setpause', 1000)", "invalid option 'setpause'"},
    {"return dofile('/etc/passwd')", "global 'dofile'"},
    {"return loadfile('/etc/passwd')", "global 'loadfile'"},
    {"leaked = 1", "assignment to undeclared global 'leaked'"},
    {"getmetatable('').__index = {}", "attempt to index a boolean value"},
    {"return os.getenv('DRUDGE_SECRET_TOKEN')", "secrets are read with secret(\"TOKEN\")"},
    {"setmetatable(_G, nil)", "cannot change a protected metatable"},
};

static void test_sandbox_refuses_escapes(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        drudge_result res;
        snippet(f, escapes[i].code, &res);
        /* refused as an error, or as a configuration error (require of a
         * module that does not exist) */
        if (res.outcome != DRUDGE_ERROR && res.outcome != DRUDGE_CONFIG)
            fail_msg("escape not refused: %s (outcome %s, output %s)", escapes[i].code,
                     drudge_outcome_name(res.outcome), res.output ? res.output : "");
        assert_contains(res.error, escapes[i].want);
        drudge_result_clear(&res);
    }
}

static void test_sandbox_allows_safe_library(void **state)
{
    fixture *f = *state;
    drudge_result res;
    snippet(f,
            "local t = {} for w in string.gmatch('a b c', '%a') do t[#t+1] = w:upper() end "
            "return table.concat(t) .. math.max(1, 2) .. utf8.char(233) .. type(os.time()) .. "
            "tostring(collectgarbage('count') > 0)",
            &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, "\"ABC2é"
                                    "numbertrue\"");
    drudge_result_clear(&res);
}

static void test_sandbox_files_directory(void **state)
{
    fixture *f = *state;
    drudge_result res;
    snippet(f,
            "local w = assert(io.open('note.txt', 'w')) w:write('case 42') w:close() "
            "local r = assert(io.open('note.txt')) local s = r:read('a') r:close() return s",
            &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, "\"case 42\"");
    drudge_result_clear(&res);
    char path[128];
    snprintf(path, sizeof path, "%s/note.txt", f->dir);
    assert_int_equal(access(path, R_OK), 0);
}

static void test_sandbox_scripts_cannot_change_shared_libraries(void **state)
{
    fixture *f = *state;
    drudge_result res;
    /* `string` is a per-script copy; methods on strings still work. */
    snippet(f, "string.upper = nil return ('a'):upper()", &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, "\"A\"");
    drudge_result_clear(&res);
}

static void test_sandbox_require_sibling_module(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "requirer.lua", "{\"n\":21}", &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, "42");
    drudge_result_clear(&res);
}

/* --- limits --- */

static void test_timeout_stops_a_loop(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"loop\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_TIMEOUT);
    assert_contains(res.error, "timeout: the attempt ran longer than 1 s");
    drudge_result_clear(&res);
}

static void test_timeout_cannot_be_swallowed_by_pcall(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"pcall-loop\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_TIMEOUT);
    drudge_result_clear(&res);
    /* The host is usable afterwards, with no deadline left over. */
    run(f, "ok.lua", "{}", &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    drudge_result_clear(&res);
}

static void test_memory_cap(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "memory.lua", "{}", &res);
    assert_int_equal(res.outcome, DRUDGE_MEMORY);
    assert_contains(res.error, "memory limit exceeded");
    assert_contains(res.error, "8 MiB");
    drudge_result_clear(&res);
    run(f, "memory.lua", "{\"swallow\":true}", &res); /* pcall cannot swallow it */
    assert_int_equal(res.outcome, DRUDGE_MEMORY);
    drudge_result_clear(&res);
    run(f, "ok.lua", "{\"after\":true}", &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    drudge_result_clear(&res);
}

/* --- errors and outcomes --- */

static void test_runtime_error_has_file_line_and_traceback(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"error\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(res.error, "outcomes.lua:11: attempt to index a nil value (local 't')");
    assert_non_null(res.traceback);
    assert_contains(res.traceback, "stack traceback:");
    assert_contains(res.traceback, "outcomes.lua:11:");
    /* The failing steps are recorded as errors, nested. */
    drudge_rec *rec = drudge_host_rec(f->h);
    const drudge_step *outer = drudge_rec_step(rec, 1), *inner = drudge_rec_step(rec, 2);
    assert_string_equal(outer->name, "outer");
    assert_string_equal(outer->outcome, "error");
    assert_string_equal(inner->name, "inner");
    assert_int_equal(inner->parent, outer->seq);
    assert_contains(inner->error, "outcomes.lua:11:");
    drudge_result_clear(&res);
}

static void test_fail_is_a_business_exception(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"fail\",\"ref\":\"CASE-9\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_FAILED);
    assert_string_equal(res.error, "no such case: CASE-9");
    assert_null(res.traceback);
    const drudge_step *s = drudge_rec_step(drudge_host_rec(f->h), 1);
    assert_string_equal(s->name, "check case");
    assert_string_equal(s->outcome, "fail");
    const drudge_step *root = drudge_rec_step(drudge_host_rec(f->h), 0);
    assert_string_equal(root->kind, "task");
    assert_string_equal(root->outcome, "failed");
    drudge_result_clear(&res);
}

static void test_retry_later(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"retry\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_RETRY_LATER);
    assert_true(res.retry_after == 30);
    assert_string_equal(res.error, "server said 429");
    drudge_result_clear(&res);
}

static void test_non_string_error(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"errobj\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(res.error, "(error object is a table value)");
    drudge_result_clear(&res);
}

static void test_output_that_is_not_json(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "outcomes.lua", "{\"what\":\"bad-output\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(res.error, "cannot be stored as JSON");
    drudge_result_clear(&res);
}

static void test_invalid_input_json(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "ok.lua", "{\"a\":", &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(res.error, "invalid JSON");
    drudge_result_clear(&res);
}

/* --- steps --- */

static void test_steps_nest_return_and_record(void **state)
{
    fixture *f = *state;
    drudge_result res;
    run(f, "steps.lua", NULL, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_contains(res.output, "\"a\":3");
    assert_contains(res.output, "\"b\":\"two\"");
    assert_contains(res.output, "\"ok\":false");
    assert_contains(res.output, "\"kind\":\"fail\"");
    assert_contains(res.output, "\"msg\":\"nope\"");
    drudge_rec *rec = drudge_host_rec(f->h);
    static const struct {
        const char *kind, *name, *outcome;
        int parent;
    } want[] = {
        {"task", "steps", "done", 0}, {"step", "first", "ok", 1}, {"step", "second", "ok", 1},
        {"step", "nested", "ok", 3},  {"log", "warn", "ok", 4},   {"step", "caught", "fail", 1},
    };
    assert_int_equal(drudge_rec_count(rec), 6);
    for (size_t i = 0; i < 6; i++) {
        const drudge_step *s = drudge_rec_step(rec, i);
        assert_int_equal(s->seq, (int)i + 1);
        assert_string_equal(s->kind, want[i].kind);
        assert_string_equal(s->name, want[i].name);
        assert_string_equal(s->outcome, want[i].outcome);
        assert_int_equal(s->parent, want[i].parent);
        assert_true(s->duration_us >= 0);
    }
    assert_string_equal(drudge_rec_step(rec, 4)->request, "{\"message\":\"deep 1 true\"}");
    assert_int_equal(drudge_rec_task(rec), 7);
    assert_int_equal(drudge_rec_attempt(rec), 2);
    drudge_result_clear(&res);
}

/* --- secrets --- */

static void assert_nothing_recorded_contains(drudge_rec *rec, const char *value)
{
    for (size_t i = 0; i < drudge_rec_count(rec); i++) {
        const drudge_step *s = drudge_rec_step(rec, i);
        const char *fields[] = {s->name, s->request, s->response, s->error};
        for (int j = 0; j < 4; j++)
            if (fields[j] && strstr(fields[j], value))
                fail_msg("secret recorded in step %d: %s", s->seq, fields[j]);
    }
}

static void test_secret_from_environment_is_redacted(void **state)
{
    fixture *f = *state;
    drudge_result res;
    setenv("DRUDGE_SECRET_API_TOKEN", "s3cr3t-t0ken-value", 1);
    run(f, "outcomes.lua", "{\"what\":\"secret\"}", &res);
    unsetenv("DRUDGE_SECRET_API_TOKEN");
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(res.error, "rejected token [REDACTED:api_token]");
    assert_null(strstr(res.error, "s3cr3t"));
    assert_null(strstr(res.traceback ? res.traceback : "", "s3cr3t"));
    drudge_rec *rec = drudge_host_rec(f->h);
    assert_nothing_recorded_contains(rec, "s3cr3t-t0ken-value");
    const drudge_step *s = drudge_rec_step(rec, 1);
    assert_string_equal(s->kind, "secret");
    assert_string_equal(s->name, "api_token");
    drudge_result_clear(&res);
}

static void test_secret_missing_says_where_to_set_it(void **state)
{
    fixture *f = *state;
    drudge_result res;
    unsetenv("DRUDGE_SECRET_API_TOKEN");
    run(f, "outcomes.lua", "{\"what\":\"secret\"}", &res);
    assert_int_equal(res.outcome, DRUDGE_CONFIG);
    assert_contains(res.error, "secret 'api_token' is not set: export DRUDGE_SECRET_API_TOKEN");
    drudge_result_clear(&res);
}

static void run_with_secrets_file(fixture *f, mode_t mode, drudge_result *res)
{
    char path[128];
    snprintf(path, sizeof path, "%s.secrets", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("# test secrets\nother=x\napi_token=file-secret-123\n", fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
    drudge_host_opts opts = {.files_dir = f->dir, .secrets_file = path};
    drudge_err err = {0};
    drudge_host *h = drudge_host_new(&opts, &err);
    drudge_task_view task = {
        .id = 1, .attempt = 1, .input = "{\"what\":\"secret\"}", .script = "outcomes"};
    assert_int_equal(drudge_host_run(h, script("outcomes.lua"), &task, res, &err), DRUDGE_OK);
    assert_nothing_recorded_contains(drudge_host_rec(h), "file-secret-123");
    drudge_host_free(h);
    unlink(path);
}

static void test_secrets_file_must_be_private(void **state)
{
    fixture *f = *state;
    drudge_result res;
    unsetenv("DRUDGE_SECRET_API_TOKEN");
    run_with_secrets_file(f, 0644, &res);
    assert_int_equal(res.outcome, DRUDGE_CONFIG);
    assert_contains(res.error, "its mode is 0644, readable by others; run: chmod 600");
    drudge_result_clear(&res);
    run_with_secrets_file(f, 0600, &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR); /* the script raises after reading it */
    assert_contains(res.error, "rejected token [REDACTED:api_token]");
    drudge_result_clear(&res);
}

/* --- JSON --- */

static void test_json_round_trips(void **state)
{
    fixture *f = *state;
    drudge_result res;
    const char *in = "{\"nested\":{\"list\":[1,2.5,{\"deep\":[true,false,null]}]},"
                     "\"text\":\"Zoë O'Brien — £40 ☃ \\\"quoted\\\" \\n\",\"n\":42}";
    run(f, "ok.lua", in, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    /* Re-decode the output's "got" member in Lua and compare field by field. */
    drudge_buf code = {0};
    drudge_buf_puts(&code, "local json = require 'drudge.json' local v = json.decode(");
    drudge_buf_json_str(&code, res.output, strlen(res.output));
    drudge_buf_puts(
        &code, ").got "
               "assert(v.n == 42 and math.type(v.n) == 'integer', 'integer') "
               "assert(v.nested.list[2] == 2.5, 'float') "
               "assert(v.nested.list[3].deep[1] == true and v.nested.list[3].deep[2] == false) "
               "assert(v.nested.list[3].deep[3] == json.null, 'null') "
               "assert(v.text == 'Zoë O\\'Brien — £40 ☃ \"quoted\" \\n', 'text') "
               "assert(json.encode({1,2,3}) == '[1,2,3]', 'array') "
               "assert(json.encode({a=1}) == '{\"a\":1}', 'object') "
               "assert(json.encode({}) == '{}', 'empty table') "
               "assert(json.encode({items = json.array()}) == '{\"items\":[]}', 'empty array') "
               "assert(json.encode(json.array({1, 2})) == '[1,2]', 'marked array') "
               "assert(json.encode({b = 1, a = {2.5, 'x'}}) == '{\"a\":[2.5,\"x\"],\"b\":1}', "
               "'sorted keys') "
               "return 'ok'");
    drudge_result_clear(&res);
    snippet(f, code.data, &res);
    drudge_buf_free(&code);
    if (res.outcome != DRUDGE_DONE)
        fail_msg("json round trip: %s", res.error);
    drudge_result_clear(&res);
}

static void test_json_invalid_is_a_clear_error(void **state)
{
    fixture *f = *state;
    drudge_result res;
    snippet(f, "return require('drudge.json').decode('{\"a\": tru}')", &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(
        res.error, "snippet:1: json.decode: Expected value but found invalid token at character 7");
    drudge_result_clear(&res);
    snippet(f, "return require('drudge.json').encode(function() end)", &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_contains(res.error, "snippet:1: json.encode: cannot encode a function as JSON");
    drudge_result_clear(&res);
}

/* The buffer's formatting, which the audit encoding and every recorded
 * request go through: integers at the limits, and printf output that fits
 * the room left, fills it exactly, or needs the buffer to grow. */
static void test_buf_formatting(void **state)
{
    (void)state;
    drudge_buf b = {0};
    int64_t v[] = {0, 7, -1, 1234567890123LL, INT64_MAX, INT64_MIN};
    char want[256] = "", tmp[32];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        drudge_buf_int(&b, v[i]);
        drudge_buf_add(&b, ",", 1);
        snprintf(tmp, sizeof tmp, "%lld,", (long long)v[i]);
        strcat(want, tmp);
    }
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    for (size_t n = 0; n < 300; n += 37) {
        drudge_buf_reset(&b);
        drudge_buf_puts(&b, "ab");
        drudge_buf_printf(&b, "%0*d|%s", (int)n, 5, "end");
        assert_int_equal(b.len, 2 + (n ? n : 1) + 4);
        assert_int_equal(b.data[b.len], '\0');
        assert_string_equal(b.data + b.len - 5, "5|end");
        assert_int_equal(b.data[2], n > 1 ? '0' : '5');
    }
    drudge_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_formatting),
        cmocka_unit_test_setup_teardown(test_contract_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_defaults_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_every_problem_with_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_syntax_error_names_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_not_a_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_refuses_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_allows_safe_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_files_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_scripts_cannot_change_shared_libraries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_require_sibling_module, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_stops_a_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_cannot_be_swallowed_by_pcall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_cap, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_error_has_file_line_and_traceback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fail_is_a_business_exception, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_string_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_that_is_not_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps_nest_return_and_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_from_environment_is_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_missing_says_where_to_set_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_file_must_be_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_invalid_is_a_clear_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
