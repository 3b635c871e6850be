/* locate.c: finding an element the way a person describes it, and waiting
 * until it can be acted on.
 *
 * The work is done inside the page by one script (below), run through
 * WebDriver's "execute script": given a description ({"label":"First
 * Name"}, {"role":"button","name":"Submit"}, {"text":"Next"}, {"css":...},
 * {"xpath":...}, or {"el":<an element found before>}) it finds the matching
 * elements and reports the first reason the one wanted is not ready: none
 * matches, several do (strict: a description must name one thing, or say
 * index = n), hidden, disabled, still animating, covered by another
 * element, read-only. The C side polls it until it says "ok" or the time is
 * up, and the last reason becomes the error. One round trip per poll, and
 * the same round trip can read from the element (its text, value, an
 * attribute, a table) or act on it without a second one (select an option).
 *
 * Like Playwright, the description is looked for in open shadow roots too
 * (web components): css, label, role and text match elements inside them,
 * in tree order with each shadow root's content right after its host;
 * labels and aria-labelledby resolve in the element's own tree; the hit
 * test that finds a covered element looks through shadow roots. XPath
 * does not cross a shadow boundary by itself, so an XPath is evaluated in
 * the document and again in each open shadow root, with an element of the
 * root as its context: there an absolute path (//input, /div/span) starts
 * at the shadow root, as if it were the document (a relative path is
 * relative to the root's first element). Closed shadow roots stay out of
 * reach: the page's own script cannot see into them either. A page with no
 * shadow root pays one selector scan for this.
 *
 * Like Playwright's actionability checks, minus the two-animation-frame
 * position check (a running CSS animation or transition counts as moving
 * instead: synchronous, so a ready element costs one round trip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include "browserint.h"
#include "drudge/json.h"

/* The script, in JavaScript: arguments[0] the description, [1] the mode
 * ("attached", "visible", "action", "edit", "now", "all"), [2] an
 * operation or null. Answers {s: state, e: element, tag, n: matches, r:
 * what op read, why: detail}. Written without double quotes or
 * backslashes where it could be, to keep this C string readable. */
static const char script[] =
    "const q = arguments[0], mode = arguments[1], op = arguments[2] || {}, d = document;\n"
    "const norm = s => String(s == null ? '' : s).replace(/\\s+/g, ' ').trim();\n"
    "const key = s => norm(s).toLowerCase().replace(/[\\s:*]+$/, '');\n"
    "const hosts = Array.from(d.querySelectorAll('*')).filter(e => e.shadowRoot);\n"
    "function deep(r, out) {\n"
    "  for (const e of r.querySelectorAll('*')) { out.push(e); if (e.shadowRoot) "
    "deep(e.shadowRoot, "
    "out); }\n"
    "  return out;\n"
    "}\n"
    "const every = r => hosts.length ? deep(r, []) : Array.from(r.querySelectorAll('*'));\n"
    "const within = (e, n) => { for (; n; n = n.parentNode || n.host) if (n === e) return true; "
    "return false; };\n"
    "function vis(e) {\n"
    "  if (!e || !e.isConnected) return false;\n"
    "  if (e.tagName === 'OPTION') { const s = e.closest('select'); return !!s && vis(s); }\n"
    "  if (e.checkVisibility && !e.checkVisibility({visibilityProperty: true, "
    "checkVisibilityCSS: true})) return false;\n"
    "  const r = e.getBoundingClientRect();\n"
    "  return r.width > 0 && r.height > 0;\n"
    "}\n"
    "function own(l) {\n"
    "  let s = '';\n"
    "  const w = d.createTreeWalker(l, NodeFilter.SHOW_TEXT);\n"
    "  for (let n; (n = w.nextNode());) {\n"
    "    const p = n.parentElement.closest('select,textarea,option,script,style');\n"
    "    if (!p || !l.contains(p)) s += n.data + ' ';\n"
    "  }\n"
    "  return s;\n"
    "}\n"
    "const byIds = (e, ids) => ids.trim().split(/\\s+/).map(i => { const x = "
    "e.getRootNode().getElementById(i); return x ? x.textContent : ''; }).join(' ');\n"
    "function labels(e) {\n"
    "  const out = [];\n"
    "  if (e.labels) for (const l of e.labels) out.push(own(l));\n"
    "  for (const a of ['aria-label', 'placeholder', 'title']) { const v = e.getAttribute(a); "
    "if (v) out.push(v); }\n"
    "  const lb = e.getAttribute('aria-labelledby'); if (lb) out.push(byIds(e, lb));\n"
    "  return out;\n"
    "}\n"
    "const CONTROLS = 'input:not([type=hidden]),textarea,select,button,[contenteditable=\"\"],"
    "[contenteditable=true],[role=textbox],[role=combobox],[role=checkbox],[role=radio],"
    "[role=switch],[role=searchbox],[role=spinbutton],[role=slider],[role=listbox]';\n"
    "const INPUT_ROLE = {button: 'button', submit: 'button', reset: 'button', image: 'button', "
    "checkbox: 'checkbox', radio: 'radio', range: 'slider', number: 'spinbutton', search: "
    "'searchbox'};\n"
    "const TAG_ROLE = {button: 'button', textarea: 'textbox', li: 'listitem', ul: 'list', ol: "
    "'list', table: 'table', tr: 'row', td: 'cell', th: 'columnheader', img: 'img', option: "
    "'option', dialog: 'dialog', nav: 'navigation', form: 'form', main: 'main', article: "
    "'article', progress: 'progressbar', summary: 'button'};\n"
    "function role(e) {\n"
    "  const r = e.getAttribute('role'); if (r) return r.trim().split(/\\s+/)[0];\n"
    "  const t = e.tagName.toLowerCase();\n"
    "  if (t === 'input') { const ty = (e.getAttribute('type') || 'text').toLowerCase(); "
    "return ty === 'hidden' || ty === 'file' ? '' : (INPUT_ROLE[ty] || 'textbox'); }\n"
    "  if (/^h[1-6]$/.test(t)) return 'heading';\n"
    "  if (t === 'a' || t === 'area') return e.hasAttribute('href') ? 'link' : '';\n"
    "  if (t === 'select') return e.multiple || e.size > 1 ? 'listbox' : 'combobox';\n"
    "  return TAG_ROLE[t] || '';\n"
    "}\n"
    "function accname(e) {\n"
    "  const lb = e.getAttribute('aria-labelledby'); if (lb) return byIds(e, lb);\n"
    "  const al = e.getAttribute('aria-label'); if (al) return al;\n"
    "  if (e.labels && e.labels.length) return Array.from(e.labels, own).join(' ');\n"
    "  const t = e.tagName;\n"
    "  if (t === 'INPUT' && /^(button|submit|reset)$/i.test(e.type)) return e.value || "
    "(e.type === 'submit' ? 'Submit' : e.type === 'reset' ? 'Reset' : '');\n"
    "  if (t === 'IMG' || (t === 'INPUT' && e.type === 'image')) return e.getAttribute('alt') "
    "|| '';\n"
    "  if (!/^(INPUT|TEXTAREA|SELECT)$/.test(t) && norm(e.textContent)) return e.textContent;\n"
    "  return e.getAttribute('title') || e.getAttribute('placeholder') || '';\n"
    "}\n"
    "function pick(els, get, want) {\n"
    "  const w = key(want), ex = [], sub = [];\n"
    "  for (const e of els) {\n"
    "    const vs = [].concat(get(e)).map(key);\n"
    "    if (vs.some(v => v === w)) ex.push(e);\n"
    "    else if (!q.exact && vs.some(v => v.includes(w))) sub.push(e);\n"
    "  }\n"
    "  return ex.length ? ex : sub;\n"
    "}\n"
    "const txt = e => e.tagName === 'INPUT' ? (e.value || '') : e.textContent;\n"
    "function candidates() {\n"
    "  if (q.el) return [q.el];\n"
    "  if (q.css != null) return hosts.length ? (d.querySelector(q.css), every(d).filter(e => "
    "e.matches(q.css))) : Array.from(d.querySelectorAll(q.css));\n"
    "  if (q.xpath != null) {\n"
    "    const xp = c => { const r = d.evaluate(q.xpath, c, null, "
    "XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null), out = [];\n"
    "      for (let i = 0; i < r.snapshotLength; i++) if (r.snapshotItem(i).nodeType === 1) "
    "out.push(r.snapshotItem(i));\n"
    "      return out; };\n"
    "    if (!hosts.length) return xp(d);\n"
    /* A shadow root cannot be XPath's context node (NotSupportedError), but
     * an element in it can, and an absolute path from there starts at the
     * shadow root: each open root is searched from its first element. */
    "    const all = every(d), found = new Set(xp(d));\n"
    "    for (const h of all) { const c = h.shadowRoot && h.shadowRoot.firstElementChild; "
    "if (c) for (const e of xp(c)) found.add(e); }\n"
    "    return all.filter(e => found.has(e));\n"
    "  }\n"
    "  if (q.label != null) return pick(hosts.length ? every(d).filter(e => e.matches(CONTROLS)) : "
    "Array.from(d.querySelectorAll(CONTROLS)), labels, q.label);\n"
    "  if (q.role != null) {\n"
    "    const els = every(d).filter(e => role(e) === q.role);\n"
    "    return q.name != null ? pick(els, accname, q.name) : els;\n"
    "  }\n"
    "  const w = key(q.text);\n"
    "  const all = (d.body ? every(d.body) : []).filter(e => "
    "!/^(SCRIPT|STYLE|NOSCRIPT|TEMPLATE)$/.test(e.tagName) && key(txt(e)).includes(w));\n"
    "  return pick(all.filter(e => !all.some(o => o !== e && within(e, o))), txt, q.text);\n"
    "}\n"
    "function describe(e) {\n"
    "  let s = '<' + e.tagName.toLowerCase();\n"
    "  if (e.id) s += ' id=' + e.id;\n"
    "  if (typeof e.className === 'string' && e.className.trim()) s += ' class=' + "
    "e.className.trim().split(/\\s+/)[0];\n"
    "  const t = norm(txt(e));\n"
    "  return s + '>' + (t.length > 30 ? t.slice(0, 30) + '...' : t);\n"
    "}\n"
    "function table(t) {\n"
    "  if (t.tagName !== 'TABLE') t = t.querySelector('table') || t;\n"
    "  const rows = Array.from(t.rows || []);\n"
    "  if (!rows.length) return [];\n"
    "  const head = t.tHead && t.tHead.rows.length ? t.tHead.rows[t.tHead.rows.length - 1] : "
    "rows[0];\n"
    "  const names = [];\n"
    "  Array.from(head.cells).forEach((c, i) => { let n = norm(c.innerText) || 'column' + (i + "
    "1); while (names.includes(n)) n += '_' + (i + 1); names.push(n); });\n"
    "  return rows.filter(r => r !== head && !(t.tHead && t.tHead.contains(r))).map(r => {\n"
    "    const o = {};\n"
    "    Array.from(r.cells).forEach((c, i) => { o[names[i] || 'column' + (i + 1)] = "
    "norm(c.innerText); });\n"
    "    return o;\n"
    "  });\n"
    "}\n"
    "let els;\n"
    "try { els = candidates(); } catch (x) { return {s: 'bad', why: String(x && x.message || "
    "x)}; }\n"
    "const shown = els.filter(vis);\n"
    "if (mode === 'all') return {s: 'ok', n: shown.length, all: shown.map(e => ({e: e, tag: "
    "e.tagName.toLowerCase()}))};\n"
    "const pool = mode === 'attached' || mode === 'now' ? (shown.length ? shown : els) : shown;\n"
    "if (!pool.length) return {s: els.length ? 'hidden' : 'missing', n: els.length};\n"
    "if (q.index == null && pool.length > 1) return {s: 'ambiguous', n: pool.length, why: "
    "pool.slice(0, 3).map(describe).join(', ')};\n"
    "const e = pool[(q.index || 1) - 1];\n"
    "if (!e) return {s: 'missing', n: pool.length};\n"
    "const ok = r => ({s: 'ok', e: e, tag: e.tagName.toLowerCase(), n: pool.length, r: r});\n"
    "if (mode === 'action' || mode === 'edit') {\n"
    "  if (e.matches(':disabled') || e.closest('[aria-disabled=true]')) return {s: 'disabled'};\n"
    "  if (d.getAnimations().some(a => a.playState === 'running' && a.effect && a.effect.target "
    "&& within(a.effect.target, e))) return {s: 'moving'};\n"
    "  if (e.tagName !== 'OPTION') {\n"
    "    let r = e.getBoundingClientRect();\n"
    "    if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) { "
    "e.scrollIntoView({block: 'center', inline: 'center'}); r = e.getBoundingClientRect(); }\n"
    "    const x = r.left + r.width / 2, y = r.top + r.height / 2;\n"
    "    let h = d.elementFromPoint(x, y);\n"
    "    for (let i; h && h.shadowRoot && (i = h.shadowRoot.elementFromPoint(x, y)) && i !== h;) h "
    "= i;\n"
    "    if (h && h !== e && !within(e, h) && h.control !== e && !(e.labels && "
    "Array.from(e.labels).some(l => within(l, h)))) return {s: 'covered', why: describe(h)};\n"
    "  }\n"
    "}\n"
    "if (mode === 'edit' && !(e.isContentEditable || (/^(INPUT|TEXTAREA)$/.test(e.tagName) && "
    "!e.readOnly) || (e.getAttribute('role') || '').match(/^(textbox|searchbox|spinbutton)$/)))"
    " return {s: 'readonly', why: describe(e)};\n"
    "switch (op.op) {\n"
    "case 'text': return ok(norm(e.innerText != null ? e.innerText : e.textContent));\n"
    "case 'value': return ok(e.value == null ? null : String(e.value));\n"
    "case 'attr': return ok(e.getAttribute(op.name));\n"
    "case 'visible': return ok(vis(e));\n"
    "case 'checked': return ok(e.checked != null ? !!e.checked : e.getAttribute('aria-checked') "
    "=== 'true');\n"
    "case 'table': return ok(table(e));\n"
    "case 'focus': e.focus(); return ok(null);\n"
    "case 'select': {\n"
    "  if (e.tagName !== 'SELECT') return {s: 'bad', why: 'it is a ' + describe(e) + ', not a "
    "<select>'};\n"
    "  const o = Array.from(e.options).find(o => op.value != null ? o.value === op.value : "
    "key(o.label || o.text) === key(op.label));\n"
    "  if (!o) return {s: 'nooption', why: Array.from(e.options, o => norm(o.label || "
    "o.text)).join(', ')};\n"
    "  if (!o.selected) { o.selected = true; e.dispatchEvent(new Event('input', {bubbles: "
    "true})); e.dispatchEvent(new Event('change', {bubbles: true})); }\n"
    "  return ok({value: o.value, label: norm(o.label || o.text)});\n"
    "}\n"
    "}\n"
    "return ok(null);\n";

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *script_json; /* the script as a JSON string literal, made once */

static void make_script_json(void)
{
    drudge_buf b = {0};
    drudge_buf_json_str(&b, script, sizeof script - 1);
    script_json = drudge_buf_take(&b);
}

const char *locate_script(void)
{
    return script;
}

static const char *mode_name(lmode m)
{
    static const char *const names[] = {"attached", "visible", "action", "edit", "now"};
    return names[m];
}

/* Why the element is not ready, for the error message. */
static void state_text(const char *s, int n, const char *why, char *out, size_t len)
{
    if (!strcmp(s, "missing"))
        snprintf(out, len, "no element matches");
    else if (!strcmp(s, "hidden"))
        snprintf(out, len, "%d element%s match%s but %s hidden", n, n == 1 ? "" : "s",
                 n == 1 ? "es" : "", n == 1 ? "it is" : "all are");
    else if (!strcmp(s, "ambiguous"))
        snprintf(out, len, "%d elements match (%s%s); say which with index = n", n, why,
                 n > 3 ? ", ..." : "");
    else if (!strcmp(s, "disabled"))
        snprintf(out, len, "the element is disabled");
    else if (!strcmp(s, "moving"))
        snprintf(out, len, "the element is still moving (an animation runs)");
    else if (!strcmp(s, "covered"))
        snprintf(out, len, "the element is covered by %s", why);
    else if (!strcmp(s, "readonly"))
        snprintf(out, len, "the element cannot be typed into (%s)", why);
    else if (!strcmp(s, "bad"))
        snprintf(out, len, "the target cannot be looked for: %s", why);
    else if (!strcmp(s, "nooption"))
        snprintf(out, len, "the list has no such option (it has: %s)", why);
    else
        snprintf(out, len, "%s%s%s", s, why[0] ? ": " : "", why);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The page went away under the script (a navigation): try again. */
static int transient(const wd_conn *w, const drudge_err *err)
{
    return !strcmp(w->error, "javascript error") &&
           (strstr(err->msg, "context") || strstr(err->msg, "navigat") ||
            strstr(err->msg, "detached"));
}

drudge_code locate(wd_conn *w, const char *query, lmode mode, const char *op, double timeout_s,
                   lresult *out, drudge_err *err)
{
    pthread_once(&once, make_script_json);
    memset(out, 0, sizeof *out);
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{\"script\":");
    drudge_buf_puts(&body, script_json);
    drudge_buf_printf(&body, ",\"args\":[%s,\"%s\",%s]}", query, mode_name(mode), op ? op : "null");
    int64_t t0 = drudge_mono_us(), until = t0 + (int64_t)(timeout_s * 1e6);
    static const int backoff[] = {0, 20, 50, 100, 100, 200};
    char why[600] = "", state[32] = "";
    int n = 0;
    drudge_code rc = DRUDGE_OK;
    for (int i = 0;; i++) {
        double left = (double)(until - drudge_mono_us()) / 1e6;
        rc = wd_call(w, "POST", "/execute/sync", body.data, (left > 0 ? left : 0) + 10, err);
        if (rc != DRUDGE_OK && !transient(w, err))
            break;
        if (rc == DRUDGE_OK) {
            wd_json_str(w->value, w->vlen, "s", state, sizeof state);
            why[0] = '\0';
            wd_json_str(w->value, w->vlen, "why", why, sizeof why);
            size_t nlen;
            const char *nv = wd_json_member(w->value, w->vlen, "n", &nlen);
            n = nv ? atoi(nv) : 0;
            if (!strcmp(state, "ok"))
                break;
            if (!strcmp(state, "bad") || !strcmp(state, "nooption") || mode == LM_NOW) {
                rc = DRUDGE_EINPUT;
                break;
            }
        }
        if (drudge_mono_us() >= until) {
            rc = DRUDGE_ENOTFOUND;
            break;
        }
        int ms = backoff[i < 5 ? i : 5];
        int64_t left_ms = (until - drudge_mono_us()) / 1000;
        sleep_ms(left_ms < ms ? (int)(left_ms > 0 ? left_ms : 0) : ms);
    }
    drudge_buf_free(&body);
    out->waited_ms = (drudge_mono_us() - t0) / 1000;
    snprintf(out->state, sizeof out->state, "%s", state);
    if (rc == DRUDGE_OK) {
        size_t elen;
        const char *ev = wd_json_member(w->value, w->vlen, "e", &elen);
        if (ev)
            wd_json_str(ev, elen, WD_ELEMENT_KEY, out->elem, sizeof out->elem);
        wd_json_str(w->value, w->vlen, "tag", out->tag, sizeof out->tag);
        out->count = n;
        out->read = wd_json_member(w->value, w->vlen, "r", &out->rlen);
        return DRUDGE_OK;
    }
    if (rc == DRUDGE_EINPUT || rc == DRUDGE_ENOTFOUND) {
        char text[800];
        state_text(state[0] ? state : "missing", n, why, text, sizeof text);
        if (rc == DRUDGE_EINPUT || mode == LM_NOW)
            return drudge_seterr(err, DRUDGE_EINPUT, "%s", text);
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "%s after waiting %.3g s", text, timeout_s);
    }
    if (!strcmp(w->error, "stale element reference") || !strcmp(w->error, "no such element"))
        return drudge_seterr(err, DRUDGE_ESTATE,
                             "the element is no longer on the page (it changed since the "
                             "element was found; find it again)");
    return rc;
}
