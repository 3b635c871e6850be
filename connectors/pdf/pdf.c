/* pdf.c: drudge.pdf, reading PDF files in the files directory with
 * poppler-glib: the text of each page, and the document's metadata.
 *
 *   pdf.read(path [, { password }]) -> { pages = { text, ... }, page_count,
 *                                        title, author, subject, keywords,
 *                                        creator, producer, created, modified }
 *   pdf.info(path [, { password }]) -> the same without pages
 *
 * A file that is not a PDF, or a damaged one, is an error saying so. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <glib.h>
#include <poppler.h>
#include <lauxlib.h>
#include "drudge/host.h"

static void set_str(lua_State *L, const char *key, gchar *v)
{
    if (v && *v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, key);
    }
    g_free(v);
}

static void set_time(lua_State *L, const char *key, GDateTime *d)
{
    if (!d)
        return;
    gchar *s = g_date_time_format_iso8601(d);
    set_str(L, key, s);
    g_date_time_unref(d);
}

/* The document at the path argument 1; raises naming it and the reason. */
static PopplerDocument *open_doc(lua_State *L, const char *fn)
{
    const char *path = luaL_checkstring(L, 1);
    const char *password = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (strcmp(k, "password"))
                drudge_host_config_error(L, "%s: unknown option '%s' (password)", fn, k);
            if (lua_type(L, -1) != LUA_TSTRING)
                drudge_host_config_error(L, "%s: 'password' must be a string", fn);
            password = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    const char *full = drudge_host_confine(L, path);
    GError *gerr = NULL;
    gchar *uri = g_filename_to_uri(full, NULL, &gerr);
    PopplerDocument *doc = uri ? poppler_document_new_from_file(uri, password, &gerr) : NULL;
    g_free(uri);
    if (!doc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s: %s", fn, path,
                 gerr && gerr->message ? gerr->message : "cannot be read as a PDF");
        if (gerr)
            g_error_free(gerr);
        return (luaL_error(L, "%s", msg), NULL);
    }
    lua_pop(L, 1);
    return doc;
}

static void push_info(lua_State *L, PopplerDocument *doc)
{
    lua_newtable(L);
    lua_pushinteger(L, poppler_document_get_n_pages(doc));
    lua_setfield(L, -2, "page_count");
    set_str(L, "title", poppler_document_get_title(doc));
    set_str(L, "author", poppler_document_get_author(doc));
    set_str(L, "subject", poppler_document_get_subject(doc));
    set_str(L, "keywords", poppler_document_get_keywords(doc));
    set_str(L, "creator", poppler_document_get_creator(doc));
    set_str(L, "producer", poppler_document_get_producer(doc));
    set_time(L, "created", poppler_document_get_creation_date_time(doc));
    set_time(L, "modified", poppler_document_get_modification_date_time(doc));
}

static int l_info(lua_State *L)
{
    PopplerDocument *doc = open_doc(L, "pdf.info");
    push_info(L, doc);
    g_object_unref(doc);
    return 1;
}

static int l_read(lua_State *L)
{
    PopplerDocument *doc = open_doc(L, "pdf.read");
    push_info(L, doc);
    int n = poppler_document_get_n_pages(doc);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        PopplerPage *page = poppler_document_get_page(doc, i);
        gchar *text = page ? poppler_page_get_text(page) : NULL;
        lua_pushstring(L, text ? text : "");
        g_free(text);
        if (page)
            g_object_unref(page);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "pages");
    g_object_unref(doc);
    return 1;
}

int luaopen_drudge_pdf(lua_State *L)
{
    static const luaL_Reg fns[] = {{"read", l_read}, {"info", l_info}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
