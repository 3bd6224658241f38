/* glibc_isoc23_shim.c — the two C23 entry points bochscpu-python's wheel needs from glibc 2.38+, for an older glibc.
 *
 * The wheel's _bochscpu extension was linked against glibc 2.38, whose headers map sscanf and strtoull to
 * __isoc23_sscanf and __isoc23_strtoull (C23's "0b" prefix). A glibc before 2.38 (Debian 12 has 2.36) has
 * neither, so the import fails. tests/x86_guest.py builds this file into a shared library and loads it with
 * RTLD_GLOBAL before importing bochscpu, only when the plain import failed for that reason. The difference
 * (binary "0b" numbers) never matters here: Bochs parses decimal and hex option strings with them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int __isoc23_sscanf(const char *s, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int n = vsscanf(s, format, ap);
    va_end(ap);
    return n;
}

unsigned long long __isoc23_strtoull(const char *s, char **end, int base)
{
    return strtoull(s, end, base);
}
