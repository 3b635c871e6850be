/* redact.c: configured redaction patterns and the credential-key safety net.
 *
 * Patterns are POSIX extended regular expressions (regex.h, with glibc's
 * \< \> \b \w extensions): no extra library in the core, and the syntax
 * operators know from grep -E. A deployment lists them in a file given by
 * --redact or $DRUDGE_REDACT:
 *
 *     # label = regex
 *     case_ref = CPS-[0-9]{6}
 *     email            # a built-in, switched on by name
 *
 * Every match in anything recorded becomes [REDACTED:<label>]. */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "drudge/error.h"
#include "drudge/record.h"
#include "recordint.h"

static const struct {
    const char *name, *regex, *what;
} builtins[] = {
    {"email", "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
     "e-mail addresses"},
    /* Two letters, six digits optionally spaced in pairs, a suffix A-D:
     * "QQ 12 34 56 C". Looser than the issuing rules (which never use D, F,
     * I, Q, U, V first): redaction errs on the side of hiding. */
    {"uk_nino", "\\<[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d]\\>",
     "UK National Insurance numbers"},
};
#define NBUILTINS (sizeof builtins / sizeof builtins[0])

int drudge_rec_enable_builtin(drudge_rec *r, const char *name)
{
    for (size_t i = 0; i < NBUILTINS; i++)
        if (!strcmp(builtins[i].name, name))
            return drudge_rec_add_pattern(r, name, builtins[i].regex);
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

size_t drudge_rec_label_len(const char *s)
{
    size_t n = 0;
    while (n <= REC_LABEL_MAX &&
           (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
        n++;
    return n;
}

static int valid_label(const char *s)
{
    size_t n = drudge_rec_label_len(s);
    return n >= 1 && n <= REC_LABEL_MAX && !s[n];
}

/* How many copies of a repeated expression glibc's regcomp makes: x{3}
 * is three, x+ two (xx*), x{2,} two and a star; * and ? none more. */
static double copies(const char **pp)
{
    const char *p = *pp;
    if (*p == '+')
        return 2;
    if (*p != '{')
        return 1;
    char *end;
    double m = strtod(p + 1, &end), k = m;
    if (*end == ',' && end[1] != '}')
        k = strtod(end + 1, &end);
    else if (*end == ',')
        k = m + 1, end++;
    if (*end == '}')
        *pp = end;
    return k < 1 ? 1 : k;
}

/* The size of regcomp's tree for an extended regex, in pattern atoms: a
 * repetition copies what it repeats, so stacked and nested repetitions
 * multiply ("5++++...+" with 44 pluses took 2 GB and more before regcomp
 * returned; the fuzzer found it). Brackets and escapes count as one.
 * *stacked is set when a repetition follows another ("a**", "a+*"): POSIX
 * leaves its meaning undefined, and glibc's regcomp spent seconds on a
 * run of stars (its closure of the empty transitions; the fuzzer again). */
static double tree_size(const char *p, int *stacked)
{
    double group[64], last = 0;
    int depth = 0, rep = 0; /* rep: the last token was a repetition */
    group[0] = 0;
    *stacked = 0;
    for (; *p; p++) {
        int is_rep = *p == '+' || *p == '{' || *p == '*' || *p == '?';
        if (is_rep && rep)
            *stacked = 1;
        rep = is_rep;
        if (*p == '(' && depth < 63) {
            group[++depth] = 0;
            last = 0;
        } else if (*p == ')' && depth > 0) {
            last = group[depth--] + 1;
            group[depth] += last;
        } else if (*p == '+' || *p == '{') {
            double k = copies(&p);
            group[depth] += last * (k - 1);
            last *= k;
        } else if (*p == '*' || *p == '?' || *p == '|') {
            continue;
        } else {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '[') /* to its closing bracket: "[]..]", "[^]..]", "[[:x:]]" */
                for (p += p[1] == '^' ? 2 : 1, p += *p == ']'; *p && *p != ']'; p++)
                    if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                        char t = p[1]; /* "[:x:]", "[.x.]", "[=x=]" end at t] */
                        for (p += 2; *p && !(p[-1] == t && *p == ']'); p++)
                            ;
                    }
            if (!*p)
                break;
            last = 1;
            group[depth] += 1;
        }
    }
    double size = 0; /* groups left open: regcomp builds them before it says so */
    for (int i = 0; i <= depth; i++)
        size += group[i];
    return size;
}

/* Checks one "label = regex" line; 0 if good, else fills why. */
static int check_pattern(const char *regex, char *why, size_t n)
{
    regex_t re;
    int stacked;
    if (tree_size(regex, &stacked) > 20000) {
        snprintf(why, n,
                 "its repetitions multiply to more than 20000 copies (nest fewer, or "
                 "give smaller bounds)");
        return -1;
    }
    if (stacked) {
        snprintf(why, n, "a repetition follows another (\"a**\", \"a+*\"): write one");
        return -1;
    }
    int rc = regcomp(&re, regex, REG_EXTENDED);
    if (rc != 0) {
        regerror(rc, &re, why, n);
        return -1;
    }
    /* A pattern that matches nothing at all would redact between every byte. */
    regmatch_t m;
    int empty = regexec(&re, "", 1, &m, 0) == 0;
    regfree(&re);
    if (empty) {
        snprintf(why, n, "it matches the empty string");
        return -1;
    }
    return 0;
}

int drudge_rec_load_patterns(drudge_rec *r, const char *path, drudge_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return drudge_seterr(err, DRUDGE_EIO, "redaction patterns %s: %s", path, strerror(errno));
    char line[4096], why[256];
    int lineno = 0;
    drudge_code rc = DRUDGE_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = drudge_seterr(err, DRUDGE_EINPUT, "%s:%d: line too long (over %zu bytes)", path,
                               lineno, sizeof line - 2);
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            /* A built-in's name; a trailing comment is allowed. */
            char *hash = strchr(s, '#');
            if (hash)
                *hash = '\0';
            s = trim(s);
            if (drudge_rec_enable_builtin(r, s) != 0) {
                rc = drudge_seterr(err, DRUDGE_EINPUT,
                                   "%s:%d: '%s' is not a built-in pattern (built-ins: email, "
                                   "uk_nino); write 'label = regex' for your own",
                                   path, lineno, s);
                break;
            }
            continue;
        }
        *eq = '\0';
        char *label = trim(s), *regex = trim(eq + 1);
        if (!valid_label(label)) {
            rc = drudge_seterr(err, DRUDGE_EINPUT,
                               "%s:%d: label '%s' must be 1-64 letters, digits, '_', '-' or '.'",
                               path, lineno, label);
            break;
        }
        if (!*regex) {
            rc = drudge_seterr(err, DRUDGE_EINPUT, "%s:%d: pattern '%s' has no regex after '='",
                               path, lineno, label);
            break;
        }
        if (check_pattern(regex, why, sizeof why) != 0 ||
            drudge_rec_add_pattern(r, label, regex) != 0) {
            rc = drudge_seterr(err, DRUDGE_EINPUT, "%s:%d: pattern '%s' (%s): %s", path, lineno,
                               label, regex, why);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = drudge_seterr(err, DRUDGE_EIO, "redaction patterns %s: read error", path);
    fclose(f);
    return rc;
}

/* --- the safety net for credentials under well-known JSON keys --- */

static const struct {
    const char *name;
    size_t len; /* strlen(name): the scan compares lengths first */
} sensitive[] = {{"authorization", 13}, {"proxy-authorization", 19},
                 {"cookie", 6},         {"set-cookie", 10},
                 {"password", 8},       {NULL, 0}};

/* End of the JSON string starting at p (the opening quote); returns the
 * position after the closing quote, or NULL if unterminated. */
static const char *string_end(const char *p)
{
    /* From quote to quote with strchr (this scans every request and
     * response recorded): a quote ends the string unless an odd run of
     * backslashes, inside the string, stands before it. */
    const char *start = p + 1;
    for (const char *q = strchr(start, '"'); q; q = strchr(q + 1, '"')) {
        size_t run = 0;
        while (q - run > start && q[-1 - (ptrdiff_t)run] == '\\')
            run++;
        if (run % 2 == 0)
            return q + 1;
    }
    return NULL;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* The sensitive name the string token [s, e) (quotes included) spells, or NULL. */
static const char *sensitive_name(const char *s, const char *e)
{
    size_t n = (size_t)(e - s) - 2;
    if (n < 6 || n > 19)
        return NULL;
    for (size_t k = 0; sensitive[k].name; k++)
        if (sensitive[k].len == n && !strncasecmp(s + 1, sensitive[k].name, n))
            return sensitive[k].name;
    return NULL;
}

/* The last structural character ([ { , :) in [from, to), or NULL. */
static const char *last_structural(const char *from, const char *to)
{
    while (to > from) {
        char c = *--to;
        if (c == '[' || c == '{' || c == ',' || c == ':')
            return to;
    }
    return NULL;
}

int drudge_redact_json_keys_to(const char *data, drudge_buf *out)
{
    const char *copied = data;
    /* From string token to string token (strchr: this runs on every request
     * and response recorded); what lies between two tokens is looked at only
     * before a sensitive name. */
    const char *p = data, *after = data; /* after: where the last token ended */
    while ((p = strchr(p, '"')) != NULL) {
        const char *e = string_end(p);
        if (!e)
            break;
        const char *name = sensitive_name(p, e);
        if (name) {
            const char *q = skip_ws(e);
            const char *prev = last_structural(after, p);
            /* An object member "Name": "v", or a pair ["Name", "v"]. */
            if (*q == ':' || (*q == ',' && prev && *prev == '[')) {
                const char *v = skip_ws(q + 1);
                const char *ve = *v == '"' ? string_end(v) : NULL;
                if (ve && strncmp(v + 1, REC_MARK, REC_MARK_LEN) != 0) {
                    drudge_buf_add(out, copied, (size_t)(v - copied));
                    drudge_buf_printf(out, "\"" REC_MARK "%s]\"", name);
                    copied = ve;
                }
                p = after = ve ? ve : e;
                continue;
            }
        }
        p = after = e;
    }
    if (copied == data) /* nothing replaced */
        return 0;
    drudge_buf_puts(out, copied);
    return 1;
}

void drudge_redact_json_keys(drudge_buf *b)
{
    drudge_buf out = {0};
    if (!b->data || !drudge_redact_json_keys_to(b->data, &out))
        return;
    drudge_buf_free(b);
    *b = out;
}
