/* cmd-doctor.c: `llmem doctor [--json] [--root DIR] [--model MODEL]...`:
 * checks the operating system's memory settings that decide how a local
 * model runs (swap, huge pages, overcommit, memlock, PSI, OOM kills,
 * cgroup limits, NUMA, GPU memory held by others, an APU's GTT) and says
 * for each what it found, why it matters and the command that fixes it. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/cmd-model.h"
#include "output/output.h"
#include "probe/doctor.h"


static void doctor_usage(FILE *fp)
{
	fputs("usage: llmem doctor [--json] [--verbose] [--root DIR] [--model MODEL]...\n"
	      "\n"
	      "Checks the settings of this machine that decide how a local model runs, and\n"
	      "prints one line per check with its verdict (ok, warn, bad) and what it found;\n"
	      "under each check that is not ok, why it matters and the command that fixes it:\n"
	      "\n"
	      "  swap           swap on with vm.swappiness above 10\n"
	      "  model-swap     swap used by llama-server, ollama, llamafile, llmem serve\n"
	      "  thp            transparent huge pages 'always' (or defrag 'always')\n"
	      "  hugetlb        reserved hugetlb pages no model can use\n"
	      "  fragmentation  few free 2 MiB blocks while huge pages are wanted\n"
	      "  overcommit     vm.overcommit_memory 2 and CommitLimit against the model\n"
	      "  memlock        the locked-memory limit (--mlock) against the model\n"
	      "  psi            memory pressure (PSI), or no PSI in the kernel\n"
	      "  oom            OOM kills in the kernel log and the cgroups' counters\n"
	      "  cgroup         a memory cgroup limit below RAM or the model\n"
	      "  numa           more than one NUMA node with memory\n"
	      "  gpu-procs      GPU memory held by other processes\n"
	      "  amd-gtt        an AMD APU's GTT window well below RAM\n"
	      "\n"
	      "  --json           one JSON object (schema: docs/doctor-json.md)\n"
	      "  --verbose, -v    why it matters under the ok checks too\n"
	      "  --model MODEL    a GGUF file or catalog name (llama-3.3-70b:q4_k_m) to\n"
	      "                   compare the limits with; the largest given counts\n"
	      "                   (repeatable, at most 8)\n"
	      "  --root DIR       read DIR/proc, DIR/sys and DIR/dev/kmsg instead of /proc,\n"
	      "                   /sys and /dev/kmsg (a saved or synthetic tree; also\n"
	      "                   $LLMEM_ROOT)\n"
	      "\n"
	      "The kernel log (/dev/kmsg) is read without waiting; where it is restricted\n"
	      "(kernel.dmesg_restrict) run as root to see OOM kills there. Environment:\n"
	      "LLMEM_NVML as for 'llmem devices'.\n"
	      "\n"
	      "Exit status: 0 no check is bad (warnings allowed), 1 at least one check is\n"
	      "bad (or a failure at run time), 2 a usage error, a model that cannot be\n"
	      "read, or a root without a readable proc/meminfo.\n", fp);
}

/* Opens MODEL and records the size of its files. 0 or an exit status. */
static int add_model(struct probe_doctor_facts *f, const char *spec)
{
	struct probe_doctor_model *dm;
	struct cmd_model *cm = NULL;
	uint64_t bytes = 0;
	int rc;

	if (f->n_models == PROBE_DOCTOR_MAX_MODELS) {
		cmd_error("at most %d models", PROBE_DOCTOR_MAX_MODELS);
		return CMD_EXIT_INPUT;
	}
	rc = cmd_model_open(spec, CMD_MODEL_NO_MODEL, &cm);
	if (rc)
		return rc;
	for (size_t p = 0; p < cm->n_parts; p++)
		bytes = cm->sizes[p] > UINT64_MAX - bytes ? UINT64_MAX : bytes + cm->sizes[p];
	cmd_model_free(cm);
	dm = &f->models[f->n_models++];
	snprintf(dm->name, sizeof(dm->name), "%s", spec);
	dm->bytes = bytes;
	return 0;
}

static int doctor_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "root", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = getenv("LLMEM_ROOT");
	const char *models[PROBE_DOCTOR_MAX_MODELS + 1];
	size_t n_models = 0;
	struct probe_options po = { 0 };
	struct probe_doctor_facts *f;
	struct probe_doctor_report *r;
	struct diag d;
	bool json = false, verbose = false;
	int c, e, rc = CMD_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hvm:", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'v': verbose = true; break;
		case 'r': root = optarg; break;
		case 'm':
			if (n_models == PROBE_DOCTOR_MAX_MODELS) {
				cmd_error("at most %d models", PROBE_DOCTOR_MAX_MODELS);
				return CMD_EXIT_INPUT;
			}
			models[n_models++] = optarg;
			break;
		case 'h': doctor_usage(stdout); return CMD_EXIT_OK;
		default: doctor_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc) {
		doctor_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	cmd_probe_options(root, &po);
	root = po.root;

	f = calloc(1, sizeof(*f));
	r = calloc(1, sizeof(*r));
	if (!f || !r) {
		cmd_error("out of memory");
		rc = CMD_EXIT_FAIL;
		goto out;
	}
	diag_init(&d);
	e = probe_doctor_read(&po, f, &d);
	if (e < 0) {
		cmd_report_probe_error(&d);
		rc = e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
		goto out;
	}
	for (size_t i = 0; i < n_models; i++) {
		rc = add_model(f, models[i]);
		if (rc)
			goto out;
	}
	probe_doctor_check(f, r);
	if (json) {
		json_t *j = out_doctor_json(f, r);

		/* PSI's averages have two decimals: print 14.27, not 14.269999... */
		size_t flags = JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10);

		if (!j || json_dumpf(j, stdout, flags) < 0) {
			cmd_error("cannot write JSON");
			rc = CMD_EXIT_FAIL;
		} else {
			fputc('\n', stdout);
		}
		json_decref(j);
	} else {
		out_doctor_text(stdout, r, verbose);
	}
	if (fflush(stdout) != 0) {
		cmd_error("cannot write output: %s", strerror(errno));
		rc = CMD_EXIT_FAIL;
	}
	if (rc == CMD_EXIT_OK && r->n_bad)
		rc = CMD_EXIT_FAIL;
out:
	free(f);
	free(r);
	return rc;
}

const struct cmd cmd_doctor = {
	.name = "doctor",
	.summary = "checks the OS memory settings that decide how a model runs",
	.run = doctor_run,
	.usage = doctor_usage,
};
