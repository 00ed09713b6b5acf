/* lora-synth.c: writes a LoRA adapter for a given base model (GGUF), in
 * the layout llama.cpp's llama_adapter_lora_init reads: general.type
 * "adapter", adapter.type "lora", the base model's architecture, and for
 * every base tensor named blk.N.<target>.weight a pair <name>.lora_a
 * [n_in, rank] and <name>.lora_b [rank, n_out]. So that `llmem estimate
 * --lora` can be checked against the buffers llama-server reports ("LoRA
 * buffer size"). The weights are a hole (zeros).
 *
 * usage: lora-synth BASE.gguf [--rank N] [--targets attn_q,attn_v,...]
 *                   [--f32] OUT.gguf   (default rank 8, attn_q,attn_v, F16) */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "io/io.h"

/* whether name is blk.N.<one of the comma-separated targets>.weight */
static bool targeted(const char *name, size_t len, const char *targets)
{
	const char *p = name, *end = name + len, *t = targets;
	size_t n;

	if (len < 11 || strncmp(p, "blk.", 4) != 0)
		return false;
	p += 4;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == name + 4 || p >= end || *p != '.')
		return false;
	p++;
	if ((size_t)(end - p) < 8 || memcmp(end - 7, ".weight", 7) != 0)
		return false;
	n = (size_t)(end - 7 - p);
	while (*t) {
		size_t k = strcspn(t, ",");

		if (k == n && memcmp(t, p, n) == 0)
			return true;
		t += k + (t[k] == ',');
	}
	return false;
}

int main(int argc, char **argv)
{
	const char *base = NULL, *out = NULL, *targets = "attn_q,attn_v";
	uint32_t wt = GGML_TYPE_F16, rank = 8;
	struct io_gguf *g = NULL;
	struct gguf_writer *w = NULL;
	struct gguf_str arch = { NULL, 0 };
	struct diag d;
	int64_t ia;
	int e = 0, n = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rank") && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (!*argv[i] || *end || v == 0 || v > 65536)
				goto usage;
			rank = (uint32_t)v;
		} else if (!strcmp(argv[i], "--targets") && i + 1 < argc) {
			targets = argv[++i];
		} else if (!strcmp(argv[i], "--f32")) {
			wt = GGML_TYPE_F32;
		} else if (argv[i][0] != '-' && !base) {
			base = argv[i];
		} else if (argv[i][0] != '-' && !out) {
			out = argv[i];
		} else {
			goto usage;
		}
	}
	if (!base || !out)
		goto usage;
	diag_init(&d);
	if (io_gguf_open(base, &g, &d) < 0) {
		fprintf(stderr, "lora-synth: %s: %s\n", base, d.msg);
		return 1;
	}
	ia = gguf_kv_find(g->gf, "general.architecture");
	if (ia < 0 || gguf_kv_get_str(g->gf, (uint64_t)ia, &arch) < 0) {
		fprintf(stderr, "lora-synth: %s: no general.architecture\n", base);
		io_gguf_free(g);
		return 1;
	}
	w = gguf_writer_new();
	if (!w) {
		io_gguf_free(g);
		return 1;
	}
	{
		const float alpha = 16.0f;

		e |= gguf_writer_add_str(w, "general.architecture", arch.p, arch.n);
		e |= gguf_writer_add_str(w, "general.type", "adapter", 7);
		e |= gguf_writer_add_str(w, "adapter.type", "lora", 4);
		e |= gguf_writer_add_scalar(w, "adapter.lora.alpha", GGUF_TYPE_FLOAT32, &alpha);
	}
	for (uint64_t i = 0; i < g->gf->n_tensors && !e; i++) {
		const struct gguf_tensor *t = &g->gf->tensors[i];
		struct gguf_str nm = gguf_tensor_name(g->gf, i);
		char name[160];
		int64_t na[4], nb[4];

		if (t->n_dims != 2 || !targeted(nm.p, nm.n, targets) || nm.n + 8 >= sizeof(name))
			continue;
		/* llama-adapter.cpp: the model tensor's ne[0] is a's ne[0], its
		 * ne[1] b's ne[1]; a's ne[1] is b's ne[0] (the rank) */
		na[0] = t->ne[0], na[1] = rank, na[2] = na[3] = 1;
		nb[0] = rank, nb[1] = t->ne[1], nb[2] = nb[3] = 1;
		snprintf(name, sizeof(name), "%.*s.lora_a", (int)nm.n, nm.p);
		e |= gguf_writer_add_tensor(w, name, wt, 2, na);
		snprintf(name, sizeof(name), "%.*s.lora_b", (int)nm.n, nm.p);
		e |= gguf_writer_add_tensor(w, name, wt, 2, nb);
		n++;
	}
	if (!e && n == 0) {
		fprintf(stderr, "lora-synth: %s: no tensor matches %s\n", base, targets);
		e = 1;
	}
	if (!e)
		e = io_gguf_write(out, w, NULL, NULL);
	gguf_writer_free(w);
	io_gguf_free(g);
	if (e) {
		fprintf(stderr, "lora-synth: %s: %s\n", out, e < 0 ? strerror(-e) : "cannot build the adapter");
		return 1;
	}
	return 0;
usage:
	fputs("usage: lora-synth BASE.gguf [--rank N] [--targets attn_q,attn_v,...] [--f32] OUT.gguf\n", stderr);
	return 2;
}
