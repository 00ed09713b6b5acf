/* cmd-quants.c: `llmem quants MODEL [-c N] [--mem SIZE] [--json]`: for each
 * llama.cpp file type, the file size llama-quantize would write (its own
 * per-tensor rule, model/quant.h), the memory at a context with every
 * layer on the GPUs, the bits per weight and whether it fits; the largest
 * that fits entirely on the GPUs is recommended, else the best partial
 * offload place_solve finds. MODEL is a catalog name or a GGUF file ("what
 * if I re-quantized this file"). */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-model.h"
#include "estimate/estimate.h"
#include "gguf/ggml-type.h"
#include "model/catalog.h"
#include "model/quant.h"
#include "output/output.h"
#include "place/bandwidth.h"
#include "place/place.h"
#include "probe/probe.h"

#define GIB (1ull << 30)

static void quants_usage(FILE *fp)
{
	fputs("usage: llmem quants MODEL [-c N] [--mem SIZE] [--ram SIZE] [--json] [--ftype TYPE] [--tensors]\n"
	      "       llmem quants --list\n"
	      "\n"
	      "For each llama.cpp file type (BF16 ... Q2_K): the file llama-quantize would write\n"
	      "(its per-tensor type rule), its bits per weight, the memory llama-server takes at\n"
	      "the context with every layer on the GPU, and whether it fits. The largest that\n"
	      "fits entirely on the GPUs is marked; when none does, the best partial offload.\n"
	      "MODEL is a catalog name (llama-3.3-70b; --list shows them) or a GGUF file.\n"
	      "  -c, --ctx-size N   context (default 8192)\n"
	      "  --mem SIZE         one GPU of SIZE (e.g. 24GB); default: this machine's GPUs\n"
	      "  --ram SIZE         SIZE of system RAM, nothing else running (e.g. 64GB);\n"
	      "                     default: the RAM available here\n"
	      "  --ftype TYPE       only this file type\n"
	      "  --tensors          the type of every tensor\n"
	      "  --json             one JSON object (schema: docs/quants-json.md)\n", fp);
}

/* the system RAM budget and the GPUs, as `llmem fit` sees them */
static int machine(struct est_config *c, uint64_t mem, uint64_t ram, uint64_t *budget, double *bw)
{
	struct probe_result *pr = calloc(1, sizeof(*pr));
	struct probe_options po = { .root = NULL };
	struct probe_budget pb;
	struct diag d;
	int e;

	if (!pr)
		return -ENOMEM;
	if (getenv("LLMEM_NVML") && !strcmp(getenv("LLMEM_NVML"), "none"))
		po.nvml_skip = "LLMEM_NVML=none";
	else
		po.nvml_path = getenv("LLMEM_NVML") ? getenv("LLMEM_NVML") : "libnvidia-ml.so.1";
	if (mem) {
		po.nvml_path = NULL;
		po.nvml_skip = "--mem";
	}
	po.cuda_visible = getenv("CUDA_VISIBLE_DEVICES");
	po.rocr_visible = getenv("ROCR_VISIBLE_DEVICES");
	po.hip_visible = getenv("HIP_VISIBLE_DEVICES");
	po.cuda_order = getenv("CUDA_DEVICE_ORDER");
	diag_init(&d);
	e = probe_run(&po, pr, &d);
	if (e < 0) {
		cmd_error("cannot read this machine's memory: %s", d.msg);
		free(pr);
		return e;
	}
	if (ram)
		probe_system_what_if(pr, ram);
	probe_budget_compute(pr, NULL, &pb);
	budget[0] = pb.pools[0].budget;
	if (mem) {
		snprintf(c->devices[0].name, sizeof(c->devices[0].name), "GPU0");
		c->devices[0].kind = EST_DEV_DISCRETE;
		c->devices[0].total_bytes = mem;
		c->n_devices = 1;
		budget[1] = mem > GIB ? mem - GIB : 0;
		bw[1] = 0;
	} else {
		for (size_t i = 1; i < pr->n_devices && c->n_devices < EST_MAX_DEVICES; i++) {
			const struct probe_device *pd = &pr->devices[i];
			size_t k = c->n_devices++;
			uint32_t pool = pd->draws[0].pool;

			snprintf(c->devices[k].name, sizeof(c->devices[k].name), "%s", pd->id);
			c->devices[k].kind = pd->kind == PROBE_DEV_UNIFIED ? EST_DEV_UNIFIED : EST_DEV_DISCRETE;
			c->devices[k].total_bytes = pd->total;
			budget[k + 1] = c->devices[k].kind == EST_DEV_UNIFIED ? 0 : pb.pools[pool].budget;
			bw[k + 1] = place_gpu_bandwidth(pd->model);
		}
	}
	free(pr);
	return 0;
}

static void list_catalog(void)
{
	for (size_t i = 0; i < catalog_count(); i++) {
		const struct catalog_model *cm = catalog_at(i);

		printf("%-18s %-10s %-32s %3u layers, %u experts\n", cm->name, cm->arch, cm->title,
		       cm->n_layer, cm->n_expert);
	}
}

static int quants_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctx-size", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "ram", required_argument, NULL, 'r' },
		{ "ftype", required_argument, NULL, 'f' },
		{ "tensors", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mem = 0, ram = 0, ctx = 8192;
	int only = -1, o, e, rc = CMD_EXIT_OK;
	bool json = false, tensors = false;

	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (parse_u64(optarg, &ctx) < 0 || ctx > UINT32_MAX) {
				cmd_error("-c '%s': expected a number of tokens", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 'm':
			if (parse_size(optarg, &mem) < 0 || !mem) {
				cmd_error("--mem '%s': expected a size such as 24GB", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 'r':
			if (parse_size(optarg, &ram) < 0 || !ram) {
				cmd_error("--ram '%s': expected a size such as 64GB", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 'f':
			only = llama_ftype_find(optarg);
			if (only < 0 || quant_ftype_default_type((uint32_t)only) < 0) {
				cmd_error("--ftype '%s': not a file type llmem models", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 't': tensors = true; break;
		case 'j': json = true; break;
		case 'l': list_catalog(); return CMD_EXIT_OK;
		case 'h': quants_usage(stdout); return CMD_EXIT_OK;
		default: quants_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc - 1) {
		quants_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	const char *spec = argv[optind];
	struct cmd_model *cmm = NULL;
	const struct catalog_model *cat = NULL;
	uint32_t ft;

	/* a catalog model is quantized from its F16 source */
	if (catalog_parse(spec, &cat, &ft) == 0)
		e = cmd_model_open_catalog(cat, 1, 0, &cmm);
	else
		e = cmd_model_open(spec, CMD_MODEL_NO_RSS, &cmm);
	if (e)
		return e;

	const struct model *m = &cmm->m;
	struct place_request *q = calloc(1, sizeof(*q));
	struct place_plan *plan = calloc(1, sizeof(*plan));
	struct est_result *est = calloc(1, sizeof(*est));
	size_t nf = quant_ftype_count();
	struct out_quants_row *rows = calloc(nf, sizeof(*rows));
	struct quant_tensor **qts = calloc(nf, sizeof(*qts));
	struct quant_model qm;
	struct out_quants out;
	size_t n_rows = 0;
	uint64_t header = cmm->parts[0]->data_offset;
	struct diag d;

	if (!q || !plan || !est || !rows || !qts) {
		rc = CMD_EXIT_FAIL;
		goto done;
	}
	/* llama-quantize adds general.quantization_version (44 bytes) */
	if (gguf_kv_find(cmm->parts[0], "general.quantization_version") < 0)
		header = (cmm->parts[0]->header_bytes + 44 + 31) & ~31ull;
	est_config_init(&q->base);
	q->base.n_ctx = (int64_t)ctx;
	q->base.n_gpu_layers = -1;
	q->ctx_fixed = true;
	if (machine(&q->base, mem, ram, q->budget, q->bandwidth) < 0) {
		rc = CMD_EXIT_FAIL;
		goto done;
	}
	memset(&qm, 0, sizeof(qm));
	snprintf(qm.arch, sizeof(qm.arch), "%s", m->arch);
	qm.n_layer = m->n_layer;
	qm.n_head = m->n_layer ? m->layers[0].n_head : 0;
	qm.n_head_kv = m->n_layer ? m->layers[0].n_head_kv : 0;
	qm.n_expert = m->n_expert;
	diag_init(&d);
	for (size_t f = 0; f < nf; f++) {
		uint32_t ftype = quant_ftype_at(f);
		struct out_quants_row *r = &rows[n_rows];
		struct quant_tensor *t;
		struct model mq;
		uint64_t need[EST_MAX_DEVICES + 1];

		if (only >= 0 && ftype != (uint32_t)only)
			continue;
		/* MXFP4_MOE only for models with experts */
		if (ftype == 38 && !m->n_expert)
			continue;
		t = qts[f] = calloc(m->n_tensors ? m->n_tensors : 1, sizeof(*t));
		if (!t) {
			rc = CMD_EXIT_FAIL;
			goto done;
		}
		for (size_t i = 0; i < m->n_tensors; i++) {
			const struct model_tensor *x = &m->tensors[i];

			snprintf(t[i].name, sizeof(t[i].name), "%s", x->name);
			t[i].n_dims = x->n_dims;
			memcpy(t[i].ne, x->ne, sizeof(t[i].ne));
			t[i].src_type = t[i].type = x->type;
		}
		e = quant_apply(&qm, ftype, t, m->n_tensors);
		if (e == 0)
			e = cmd_model_retype(m, t, &mq, &r->tensor_bytes);
		if (e < 0) {
			cmd_error("%s: %s: %s", spec, llama_ftype_name(ftype),
				  e == -ENOMEM ? "out of memory" : "a tensor row fits no type");
			rc = e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
			goto done;
		}
		r->ftype = ftype;
		r->file_bytes = header;
		for (size_t i = 0; i < m->n_tensors; i++) {
			r->file_bytes += (mq.tensors[i].nbytes + 31) & ~31ull;
			r->n_params += (uint64_t)t[i].ne[0] * (uint64_t)t[i].ne[1] * (uint64_t)t[i].ne[2] *
				       (uint64_t)t[i].ne[3];
		}
		e = place_check(&mq, &q->base, q->budget, est, need, &d);
		if (e >= 0) {
			r->fits_gpu = e == 1;
			for (size_t u = 0; u < est->n_usage; u++) {
				r->memory_bytes += est->usage[u].total;
				if (est->usage[u].kind != EST_DEV_HOST)
					r->gpu_bytes += est->usage[u].total;
			}
			e = place_solve(&mq, q, plan, &d);
		}
		if (e < 0) {
			free(mq.tensors);
			cmd_error("%s: %s", spec, d.msg);
			rc = CMD_EXIT_INPUT;
			goto done;
		}
		r->fits = plan->fits;
		r->n_gpu_layers = plan->est.n_gpu_layers;
		r->speed_ratio = plan->speed_ratio;
		r->tokens_per_s = plan->tokens_per_s;
		if (tensors) {
			r->n_tensors = m->n_tensors;
			r->tensors = t;
		}
		free(mq.tensors);
		n_rows++;
	}
	/* largest file first */
	for (size_t i = 1; i < n_rows; i++)
		for (size_t j = i; j > 0 && rows[j].file_bytes > rows[j - 1].file_bytes; j--) {
			struct out_quants_row tmp = rows[j];

			rows[j] = rows[j - 1];
			rows[j - 1] = tmp;
		}
	memset(&out, 0, sizeof(out));
	out.recommended = -1;
	for (size_t i = 0; i < n_rows && q->base.n_devices; i++)
		if (rows[i].fits_gpu) {
			out.recommended = (int)i;
			out.rec_full = true;
			break;
		}
	if (out.recommended < 0) {
		/* no full offload: the largest at or below Q4_K_M's size that
		 * some placement fits (a bigger file only runs slower), else
		 * the largest that fits at all */
		uint64_t q4 = UINT64_MAX;

		for (size_t i = 0; i < n_rows; i++)
			if (rows[i].ftype == 15)
				q4 = rows[i].file_bytes;
		for (size_t i = 0; i < n_rows && out.recommended < 0; i++)
			if (rows[i].fits && rows[i].file_bytes <= q4)
				out.recommended = (int)i;
		for (size_t i = 0; i < n_rows && out.recommended < 0; i++)
			if (rows[i].fits)
				out.recommended = (int)i;
	}
	out.model = spec;
	out.arch = m->arch;
	out.n_layer = m->n_layer;
	out.n_ctx = (uint32_t)ctx;
	out.n_gpus = q->base.n_devices;
	for (size_t i = 0; i < q->base.n_devices; i++) {
		out.gpu_total += q->base.devices[i].total_bytes;
		out.gpu_budget += q->budget[i + 1];
	}
	out.ram_budget = q->budget[0];
	out.ram_given = ram != 0;
	out.n_rows = n_rows;
	out.rows = rows;
	if (json) {
		json_t *j = out_quants_json(&out);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) < 0)
			rc = CMD_EXIT_FAIL;
		else
			fputc('\n', stdout);
		json_decref(j);
	} else {
		out_quants_text(stdout, &out);
	}
done:
	for (size_t f = 0; qts && f < nf; f++)
		free(qts[f]);
	free(qts);
	free(rows);
	free(est);
	free(plan);
	free(q);
	cmd_model_free(cmm);
	return rc;
}

const struct cmd cmd_quants = {
	.name = "quants",
	.summary = "file size, memory and fit of every quantization of a model",
	.run = quants_run,
	.usage = quants_usage,
	.one_shot = true,
};
