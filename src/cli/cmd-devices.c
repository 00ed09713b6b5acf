/* cmd-devices.c: `llmem devices [--json] [--root DIR]`: the memory pools
 * of this machine (system RAM within the cgroup's limit, each GPU's VRAM),
 * the devices that draw on them, what uses them, and the budget llmem
 * plans with after headroom. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "output/output.h"
#include "probe/probe.h"

#define NVML_SONAME CMD_NVML_SONAME

static void devices_usage(FILE *fp)
{
	fputs("usage: llmem devices [--json] [--root DIR]\n"
	      "\n"
	      "Probes the machine: system RAM (and the memory limit of the cgroup llmem\n"
	      "runs in), NVIDIA GPUs through NVML and AMD GPUs through amdgpu's sysfs\n"
	      "files. Prints the memory pools (system RAM, each GPU's VRAM) with their\n"
	      "total, free memory and limit, the devices that draw on each (a unified GPU\n"
	      "such as GB10 or Strix Halo shares system RAM with the CPU), the processes\n"
	      "holding GPU memory, and the budget llmem plans with: what is available\n"
	      "less a headroom of 1 GiB per GPU and, on the host, the larger of 2 GiB and\n"
	      "10% of RAM.\n"
	      "\n"
	      "  --json      one JSON object (schema: docs/devices-json.md)\n"
	      "  --root DIR  read DIR/proc and DIR/sys instead of /proc and /sys (a saved\n"
	      "              or synthetic tree; also $LLMEM_ROOT)\n"
	      "\n"
	      "Environment: LLMEM_NVML=PATH loads that NVML library instead of\n"
	      NVML_SONAME " (\"none\": do not use NVML); with a --root other than /,\n"
	      "NVML is used only when LLMEM_NVML is set.\n"
	      "\n"
	      "Exit status: 0 ok, 2 a usage error or a root without a readable\n"
	      "proc/meminfo, 1 any other failure.\n", fp);
}

static int devices_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = getenv("LLMEM_ROOT");
	struct probe_options po = { 0 };
	struct probe_headroom h;
	struct probe_result *r;
	struct probe_budget *b;
	struct diag d;
	bool json = false;
	int c, e, rc = CMD_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'r': root = optarg; break;
		case 'h': devices_usage(stdout); return CMD_EXIT_OK;
		default: devices_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc) {
		devices_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	cmd_probe_options(root, &po);
	root = po.root;

	r = calloc(1, sizeof(*r));
	b = calloc(1, sizeof(*b));
	if (!r || !b) {
		cmd_error("out of memory");
		rc = CMD_EXIT_FAIL;
		goto out;
	}
	diag_init(&d);
	e = probe_run(&po, r, &d);
	if (e < 0) {
		cmd_report_probe_error(&d);
		rc = e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
		goto out;
	}
	probe_headroom_default(&h);
	probe_budget_compute(r, &h, b);
	if (json) {
		json_t *j = out_devices_json(r, b, &h, root);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0) {
			cmd_error("cannot write JSON");
			rc = CMD_EXIT_FAIL;
		} else {
			fputc('\n', stdout);
		}
		json_decref(j);
	} else {
		out_devices_text(stdout, r, b);
	}
	if (fflush(stdout) != 0) {
		cmd_error("cannot write output: %s", strerror(errno));
		rc = CMD_EXIT_FAIL;
	}
out:
	free(r);
	free(b);
	return rc;
}

const struct cmd cmd_devices = {
	.name = "devices",
	.summary = "the machine's memory pools, GPUs and the budget llmem plans with",
	.run = devices_run,
	.usage = devices_usage,
};
