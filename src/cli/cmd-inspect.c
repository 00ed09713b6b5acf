/* cmd-inspect.c: `llmem inspect FILE [--json] [--kv] [--tensors]`. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/cmd-model.h"
#include "io/io.h"
#include "model/model-info.h"
#include "output/output.h"

static void inspect_usage(FILE *fp)
{
	fputs("usage: llmem inspect FILE [--json] [--kv] [--tensors]\n"
	      "\n"
	      "Reads a GGUF model's header (every part of a split model) and prints its\n"
	      "architecture, file type, parameter count, bytes per tensor type and the\n"
	      "hyperparameters that decide memory.\n"
	      "\n"
	      "  --json      one JSON object (schema: docs/inspect-json.md)\n"
	      "  --kv        also every metadata key (long arrays summarized)\n"
	      "  --tensors   also the tensor table\n"
	      "\n"
	      "Exit status: 0 ok, 2 the file is not a valid GGUF model or the usage is\n"
	      "wrong (one line on stderr names the file, the byte offset and the fault),\n"
	      "1 any other failure.\n", fp);
}

static int inspect_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "kv", no_argument, NULL, 'k' },
		{ "tensors", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	unsigned flags = 0;
	struct cmd_model *m = NULL;
	struct model_info mi;
	struct diag d;
	int c, e, rc = CMD_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'k': flags |= OUT_INSPECT_KV; break;
		case 't': flags |= OUT_INSPECT_TENSORS; break;
		case 'h': inspect_usage(stdout); return CMD_EXIT_OK;
		default: inspect_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc - 1) {
		inspect_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	const char *path = argv[optind];

	diag_init(&d);
	e = cmd_model_open(path, CMD_MODEL_NO_MODEL, &m);
	if (e)
		return e;

	const struct gguf_file **parts = m->parts;
	const char **paths = m->paths;
	uint64_t *sizes = m->sizes;

	e = model_info_from_gguf(parts, m->n_parts, &mi, &d);
	if (e < 0) {
		cmd_report_diag(path, &d);
		rc = CMD_EXIT_INPUT;
		goto out;
	}

	struct out_inspect in = { m->n_parts, paths, sizes, parts, &mi };

	if (json) {
		json_t *j = out_inspect_json(&in, flags);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0) {
			cmd_error("cannot write JSON");
			rc = CMD_EXIT_FAIL;
		} else {
			fputc('\n', stdout);
		}
		json_decref(j);
	} else {
		out_inspect_text(stdout, &in, flags);
	}
	if (fflush(stdout) != 0) {
		cmd_error("cannot write output: %s", strerror(errno));
		rc = CMD_EXIT_FAIL;
	}
out:
	cmd_model_free(m);
	return rc;
}

const struct cmd cmd_inspect = {
	.name = "inspect",
	.summary = "read a GGUF model's header: type, size, hyperparameters",
	.run = inspect_run,
	.usage = inspect_usage,
	.one_shot = true,
};
