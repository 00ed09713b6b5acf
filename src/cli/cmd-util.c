/* cmd-util.c: error reporting shared by the commands. */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "output/output.h"

void cmd_report_diag(const char *path, const struct diag *d)
{
	fputs("llmem: ", stderr);
	out_print_escaped(stderr, path, strlen(path));
	if (d->offset != DIAG_NO_OFFSET)
		fprintf(stderr, ": offset %llu", (unsigned long long)d->offset);
	fputs(": ", stderr);
	/* the parser escaped the file's bytes it quotes; escape only what
	 * is left that could reach the terminal */
	out_print_safe(stderr, d->msg, strlen(d->msg), false);
	fputc('\n', stderr);
}

void cmd_error(const char *fmt, ...)
{
	va_list ap;

	fputs("llmem: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
