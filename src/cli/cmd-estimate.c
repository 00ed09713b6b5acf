/* cmd-estimate.c: `llmem estimate MODEL [llama-server options] [--json]`:
 * the bytes llama.cpp will allocate, per device, for this configuration. */
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
#include "cli/cmd-opts.h"
#include "estimate/estimate.h"
#include "gguf/ggml-type.h"
#include "io/io.h"
#include "model/model.h"
#include "output/output.h"

static void estimate_usage(FILE *fp)
{
	fputs("usage: llmem estimate MODEL.gguf [options] [--json]\n"
	      "\n"
	      "The memory llama-server allocates for MODEL with these options, per device:\n"
	      "weights, KV cache, recurrent state, compute and output buffers, overhead.\n"
	      "Options take llama-server's names, spellings and defaults; a whole llama-server\n"
	      "command line can be given (options that do not change memory are read past,\n"
	      "and those whose memory is not counted, such as control vectors, get a note):\n"
	      "  -m, --model FILE          the model (or MODEL.gguf anywhere on the line)\n"
	      "  -c, --ctx-size N          context (0 or none: the training context per slot,\n"
	      "                            as llama-server's default --fit sizes it)\n"
	      "  -ngl, --n-gpu-layers N    layers on the GPU: a number, 'all' or 'auto'\n"
	      "  -ts, --tensor-split A,B   split across GPUs\n"
	      "  -sm, --split-mode M       layer, row or none (tensor is refused: not modelled)\n"
	      "  -mg, --main-gpu N\n"
	      "  -ctk, -ctv TYPE           cache types: f16 (default), f32, bf16, q8_0, q4_0,\n"
	      "                            q4_1, iq4_nl, q5_0, q5_1\n"
	      "  -fa, --flash-attn M       on, off or auto (default)\n"
	      "  -np, --parallel N         slots (default auto: 4 with a unified KV cache)\n"
	      "  -kvu, --kv-unified / --no-kv-unified\n"
	      "  -b, --batch-size N        (2048)     -ub, --ubatch-size N  (512)\n"
	      "  -cmoe, --cpu-moe          all MoE experts on the CPU\n"
	      "  -ncmoe, --n-cpu-moe N     experts of the first N layers on the CPU\n"
	      "  -ncffn, --n-cpu-ffn N     dense FFN weights of the first N layers on the CPU\n"
	      "  -ot, --override-tensor P=DEV[,P=DEV]  tensors matching regex P on DEV\n"
	      "                            (CPU, or a device name such as CUDA0); with the three\n"
	      "                            above, one list in command-line order: first match wins\n"
	      "  -lm, --load-mode MODE     auto or mmap (weights mapped), none or dio (read in),\n"
	      "                            mlock (read in, locked), mmap+mlock (mapped, locked);\n"
	      "                            --no-mmap and --mlock as older llama.cpp spelled them\n"
	      "  -nkvo, --no-kv-offload    keep the KV cache in system RAM (-kvo: the default)\n"
	      "  --swa-full                full-size cache for sliding-window layers\n"
	      "  -nr, --no-repack          no CPU_REPACK copies of weights (--repack: the default)\n"
	      "  --embeddings, --rerank    an embedding or reranking server\n"
	      "  --pooling TYPE            none, mean, cls, last or rank (whole batches out)\n"
	      "  -fit off                  without -c, the slots share the training context\n"
	      "  -ctxcp, --ctx-checkpoints N   context checkpoints a slot keeps (32): shown\n"
	      "                            apart from the totals, for sliding-window and\n"
	      "                            recurrent models\n"
	      "  -cram, --cache-ram MiB    the prompt cache's ceiling in RAM at run time (8192;\n"
	      "                            -1 no limit, 0 off): shown apart from the totals\n"
	      "  -md, --model-draft FILE   a draft model for speculative decoding, with\n"
	      "  -ngld N, -ctkd T, -ctvd T   its layers on the GPU (all) and cache types (f16)\n"
	      "  --lora F[,F], --lora-scaled F:S[,F:S]   LoRA adapters: their tensors beside\n"
	      "                            the weights they adapt, their products in the graph\n"
	      "  -mm, --mmproj FILE        a multimodal projector: its weights and (Gemma 3, Idefics3)\n"
	      "                            compute buffer, on the first GPU (--no-mmproj-offload:\n"
	      "                            the host)\n"
	      "Devices (default: CPU only; `llmem fit` probes this machine):\n"
	      "  --gpu SIZE                one discrete GPU of SIZE, with a unit (e.g. 24GiB)\n"
	      "  --device NAME=SIZE[:unified][,NAME=SIZE...]   e.g. cuda0=24GiB,cuda1=12GiB\n"
	      "                            (without '=', llama-server's choice of devices: noted)\n"
	      "  --cpu-features LIST       avx2,avx512,neon-dotprod,neon-i8mm or none\n"
	      "                            (default: this machine's)\n"
	      "  --json                    one JSON object (schema: docs/estimate-json.md)\n", fp);
}

static int estimate_run(int argc, char **argv)
{
	struct est_config c;
	struct est_result r;
	struct cmd_model *cmm = NULL;
	struct model m;
	struct diag d;
	const char *path = NULL;
	bool json = false;
	int e, rc = CMD_EXIT_OK;

	struct cmd_model_opts mo;

	memset(&mo, 0, sizeof(mo));
	est_config_init(&mo.c);
	e = cmd_model_opts_parse(argc, argv, &mo, estimate_usage);
	if (e)
		return e > 0 ? CMD_EXIT_OK : CMD_EXIT_INPUT;
	if (cmd_model_opts_open(&mo) < 0) {
		cmd_model_opts_release(&mo);
		return CMD_EXIT_INPUT;
	}
	c = mo.c;
	json = mo.json;
	path = mo.paths[0];
	diag_init(&d);
	e = cmd_model_open(path, 0, &cmm);
	if (e) {
		cmd_model_opts_release(&mo);
		return e;
	}
	m = cmm->m;
	e = est_estimate(&m, &c, &r, &d);
	if (e < 0) {
		cmd_error("%s", d.msg);
		rc = CMD_EXIT_INPUT;
	} else if (json) {
		json_t *j = out_estimate_json(&m, &c, &r);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) < 0)
			rc = CMD_EXIT_FAIL;
		else
			fputc('\n', stdout);
		json_decref(j);
	} else {
		out_estimate_text(stdout, &m, &c, &r);
	}
	cmd_model_free(cmm);
	cmd_model_opts_release(&mo);
	return rc;
}

const struct cmd cmd_estimate = {
	.name = "estimate",
	.summary = "bytes llama-server allocates per device for a model and options",
	.run = estimate_run,
	.usage = estimate_usage,
	.one_shot = true,
};
