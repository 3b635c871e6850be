/* test_pattern.c: the bounded pattern matcher (runner/host/pattern.c)
 * answers exactly as Lua's own string library does, on the same cases run
 * in a plain Lua state and in a host's state, whose string.find, match,
 * gmatch and gsub are the copies with a deadline check. (That they stop at
 * the timeout is test_host.c's test_timeout_pattern_match.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/host.h"

/* Every case's results joined into one string. */
static const char cases[] =
    "local out = {}\n"
    "local function add(...)\n"
    "  local t = table.pack(...)\n"
    "  for i = 1, t.n do out[#out + 1] = tostring(t[i]) end\n"
    "  out[#out + 1] = '|'\n"
    "end\n"
    "local function err(f, ...) local ok, e = pcall(f, ...) add(ok, (tostring(e):gsub('^.-:%d+: ', "
    "''))) end\n"
    "add(string.find('hello world', 'o w'))\n"
    "add(string.find('hello world', 'o', 6))\n"
    "add(string.find('hello', 'l+'))\n"
    "add(string.find('a.b', '.', 1, true))\n"
    "add(string.find('a+b', '+', 1))\n"
    "add(string.find('', ''))\n"
    "add(string.find('abc', '', 10))\n"
    "add(string.find('abc', 'b', -1))\n"
    "add(string.find('abc', 'b', -2))\n"
    "add(string.find('a\\0b', '%z'))\n"
    "add(string.match('key = value', '(%w+)%s*=%s*(%w+)'))\n"
    "add(string.match('  trim  ', '^%s*(.-)%s*$'))\n"
    "add(string.match('THE (quick) fox', '%((%a+)%)'))\n"
    "add(string.match('x = [[a]] y', '%b[]'))\n"
    "add(string.match('THE (quick) fox', '%f[%a]%a+', 5))\n"
    "add(string.match('hello', '()ll()'))\n"
    "add(string.match('abcabc', '(abc)%1'))\n"
    "add(string.match('2026-02-30T10:00', '^(%d%d%d%d)-(%d%d)-(%d%d)T?(%d*):?(%d*)$'))\n"
    "add(string.match('[x]', '[%]x[]+'))\n"
    "add(string.match('a-b', '[a%-]+'))\n"
    "add(string.match('\\xe2\\x82\\xac1', '[\\x80-\\xff]+'))\n"
    "add(string.match('aaab', 'a-b'), string.match('aaab', 'a*'), string.match('b', 'a?b'))\n"
    "add(string.match('end', 'd$'), string.match('d$x', 'd$x'))\n"
    "add(string.gsub('hello world', 'o', '0'))\n"
    "add(string.gsub('hello world', '(%w+)', '<%1>'))\n"
    "add(string.gsub('abc', '%w', '%0%0'))\n"
    "add(string.gsub('100%', '%%', '%%%%'))\n"
    "add(string.gsub('$name is $age', '%$(%w+)', {name = 'Bob', age = 42}))\n"
    "add(string.gsub('$name $none', '%$(%w+)', {name = 'Bob'}))\n"
    "add(string.gsub('abc', '', '-'))\n"
    "add(string.gsub('hello world', '%w+', function(w) return w:upper() end, 1))\n"
    "add(string.gsub('hello world', '%w+', function(w) return nil end))\n"
    "add(string.gsub('abc', '^a', 'x'))\n"
    "add(string.gsub('x()y', '()', '%1'))\n"
    "for k, v in string.gmatch('a=1, b=2, c=3', '(%w+)=(%w+)') do add(k, v) end\n"
    "for w in string.gmatch('one two  three', '%a+') do add(w) end\n"
    "for w in string.gmatch('abc', '') do add(w) end\n"
    "for a, b in string.gmatch('abcd', '()(.)', 3) do add(a, b) end\n"
    "for w in ('x,y,,z'):gmatch('([^,]*)') do add(w) end\n"
    "err(string.find, 'a', '[a')\n"
    "err(string.match, 'a', '(()')\n"
    "err(string.match, 'a', '%')\n"
    "err(string.gsub, 'a', '(a)', '%2')\n"
    "err(string.gsub, 'a', 'a', '%x')\n"
    "err(string.gsub, 'a', 'a', {a = {}})\n"
    "err(string.gsub, 'a', 'a', true)\n"
    "err(string.match, 'a', '%f')\n"
    "err(string.match, 'a', '%b')\n"
    "err(string.find, string.rep('a', 1000), string.rep('.?', 250))\n"
    "err(string.match, 'a', string.rep('()', 40))\n"
    "return table.concat(out, ',')\n";

static char *run_cases(lua_State *L)
{
    if (luaL_dostring(L, cases) != LUA_OK)
        fail_msg("cases failed: %s", lua_tostring(L, -1));
    char *s = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return s;
}

static void test_pattern_same_as_lua(void **state)
{
    (void)state;
    lua_State *plain = luaL_newstate();
    luaL_openlibs(plain);
    char *want = run_cases(plain);
    lua_close(plain);

    drudge_err err = {0};
    drudge_host *h = drudge_host_new(NULL, &err);
    assert_non_null(h);
    lua_State *L = drudge_host_lua(h);
    /* The host's functions are not the standard library's. */
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "find");
    lua_CFunction find = lua_tocfunction(L, -1);
    lua_pop(L, 2);
    plain = luaL_newstate();
    luaL_openlibs(plain);
    lua_getglobal(plain, "string");
    lua_getfield(plain, -1, "find");
    assert_ptr_not_equal(find, lua_tocfunction(plain, -1));
    lua_close(plain);

    char *got = run_cases(L);
    assert_string_equal(got, want);
    assert_true(strlen(got) > 400); /* the cases ran */
    /* A state that matched after an error still matches deep patterns. */
    assert_int_equal(
        luaL_dostring(L, "local ok = pcall(string.match, 'a', string.rep('.?', 250))\n"
                         "return string.match(string.rep('a', 150), string.rep('a?', 150))"),
        LUA_OK);
    assert_int_equal(lua_rawlen(L, -1), 150);
    lua_pop(L, 1);
    free(got);
    free(want);
    drudge_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_same_as_lua),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
