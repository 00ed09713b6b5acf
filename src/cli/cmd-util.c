/* cmd-util.c: error reporting and probe set-up shared by the commands. */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "probe/probe.h"
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

void cmd_probe_options(const char *root, struct probe_options *po)
{
	const char *nvml = getenv("LLMEM_NVML");

	if (!root || !*root)
		root = "/";
	po->root = root;
	po->nvml_path = NULL;
	po->nvml_skip = NULL;
	/* the GPUs llama-server will see, numbered as it will number them */
	po->cuda_visible = getenv("CUDA_VISIBLE_DEVICES");
	po->rocr_visible = getenv("ROCR_VISIBLE_DEVICES");
	po->hip_visible = getenv("HIP_VISIBLE_DEVICES");
	po->cuda_order = getenv("CUDA_DEVICE_ORDER");
	if (nvml && (!*nvml || !strcmp(nvml, "none"))) {
		po->nvml_skip = "not used (LLMEM_NVML=none)";
	} else if (nvml) {
		po->nvml_path = nvml;
	} else if (strcmp(root, "/")) {
		/* the library would describe this machine, not the tree */
		po->nvml_skip = "not used with --root (set LLMEM_NVML to a library)";
	} else {
		po->nvml_path = CMD_NVML_SONAME;
	}
}

void cmd_report_probe_error(const struct diag *d)
{
	/* the message quotes the root, which may hold anything */
	fputs("llmem: ", stderr);
	out_print_escaped(stderr, d->msg, strlen(d->msg));
	fputc('\n', stderr);
}
