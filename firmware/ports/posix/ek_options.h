/* ek_options.h — the command-line parser of the host programs (edgekit-device, ek_eval): a table of options,
 * one row each, instead of a hand-written strcmp chain per program.
 *
 * Every argument that starts with "--" (or is "-h") must be a row of the table; a row either takes no value
 * (EK_OPT_SET stores `set_value`) or the next argument, checked by kind (integers against [lo, hi], whole
 * string; a bad value is an error naming the option). Other arguments go to the positional callback in order.
 * Option errors print "<prog>: <problem>" on stderr and return -1; a positional the callback refused, -2.
 * Header only (static functions): the two programs build in different CMake targets and trees. */
#ifndef EK_OPTIONS_H
#define EK_OPTIONS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    EK_OPT_SET,    /* no value: *(int *)target = set_value */
    EK_OPT_LONG,   /* *(long *)target = integer in [lo, hi] */
    EK_OPT_ULONG,  /* *(unsigned long *)target = integer in [lo, hi] (hi up to ULONG_MAX) */
    EK_OPT_U64,    /* *(unsigned long long *)target = any non-negative 64-bit integer */
    EK_OPT_FLOAT,  /* *(float *)target */
    EK_OPT_STRING, /* *(const char **)target = the argument itself */
    EK_OPT_CALL    /* call(value, target): 0 or -1 (the callback prints nothing; the parser names the option) */
} ek_opt_kind;

typedef struct {
    const char *name; /* "--ctx" */
    ek_opt_kind kind;
    void *target;
    unsigned long lo, hi;       /* EK_OPT_LONG / EK_OPT_ULONG range */
    int *also;                  /* when set: *also = set_value as well (e.g. --tcp PORT also picks the link) */
    int set_value;
    int (*call)(const char *value, void *target);
} ek_option;

/* Parse argv[0..argc) (the program name already removed). positional(arg, ctx) gets every other argument and
 * returns 0, or -1 to stop (it prints its own message). stop_at_positional: options only before the first
 * positional (the rest are all positional). Returns the index of the first argument not consumed, or < 0. */
static const ek_option *ek_opt_find(const ek_option *table, int n, const char *name)
{
    int i;
    for (i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static int ek_opt_bad_value(const char *prog, const ek_option *o, const char *text)
{
    if (o->kind == EK_OPT_LONG || o->kind == EK_OPT_ULONG)
        fprintf(stderr, "%s: %s expects an integer in %lu..%lu, got '%s'\n", prog, o->name, o->lo, o->hi, text);
    else
        fprintf(stderr, "%s: %s: bad value '%s'\n", prog, o->name, text);
    return -1;
}

static int ek_opt_store(const char *prog, const ek_option *o, const char *text)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case EK_OPT_SET:
        *(int *)o->target = o->set_value;
        return 0;
    case EK_OPT_LONG: {
        long v = strtol(text, &end, 10);
        if (errno || *end || end == text || v < (long)o->lo || v > (long)o->hi)
            return ek_opt_bad_value(prog, o, text);
        *(long *)o->target = v;
        return 0;
    }
    case EK_OPT_ULONG: {
        unsigned long v = strtoul(text, &end, 10);
        if (errno || *end || end == text || text[0] == '-' || v < o->lo || v > o->hi)
            return ek_opt_bad_value(prog, o, text);
        *(unsigned long *)o->target = v;
        return 0;
    }
    case EK_OPT_U64: {
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || *end || end == text || text[0] == '-')
            return ek_opt_bad_value(prog, o, text);
        *(unsigned long long *)o->target = v;
        return 0;
    }
    case EK_OPT_FLOAT: {
        float v = strtof(text, &end);
        if (errno || *end || end == text)
            return ek_opt_bad_value(prog, o, text);
        *(float *)o->target = v;
        return 0;
    }
    case EK_OPT_STRING:
        *(const char **)o->target = text;
        return 0;
    case EK_OPT_CALL:
        return o->call(text, o->target) == 0 ? 0 : ek_opt_bad_value(prog, o, text);
    }
    return -1;
}

static int ek_options_parse(const char *prog, const ek_option *table, int n_options, int argc, char **argv,
                     int (*positional)(const char *arg, void *ctx), void *ctx, int stop_at_positional)
{
    int i;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const ek_option *o;
        if (!(a[0] == '-' && (a[1] == '-' || strcmp(a, "-h") == 0))) {
            if (stop_at_positional)
                return i;
            if (positional == NULL || positional(a, ctx) != 0)
                return -2;
            continue;
        }
        o = ek_opt_find(table, n_options, a);
        if (o == NULL) {
            fprintf(stderr, "%s: unknown option: %s\n", prog, a);
            return -1;
        }
        if (o->kind != EK_OPT_SET && i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", prog, a);
            return -1;
        }
        if (ek_opt_store(prog, o, o->kind == EK_OPT_SET ? NULL : argv[++i]) != 0)
            return -1;
        if (o->also != NULL)
            *o->also = o->set_value;
    }
    return i;
}

#endif /* EK_OPTIONS_H */
