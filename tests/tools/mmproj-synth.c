/* mmproj-synth.c: writes a small multimodal projector (a Gemma 3 style
 * SigLIP vision tower, clip.cpp's "gemma3" projector) that llama-server's
 * clip.cpp loads beside a text model of the given embedding width, so that
 * `llmem estimate --mmproj` can be checked against the projector buffer
 * llama.cpp reports ("model size"). The weights are a hole (zeros).
 *
 * With --type idefics3 (SmolVLM's): the same tower, then a pixel shuffle
 * by --scale and one projection (mm.model.fc).
 *
 * usage: mmproj-synth --text-embd N [--embd N] [--ff N] [--layers N]
 *                     [--heads N] [--image N] [--patch N] [--f32]
 *                     [--type gemma3|idefics3] [--scale N] OUT.gguf */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "io/io.h"

static int add_t(struct gguf_writer *w, const char *name, uint32_t type, uint32_t nd, int64_t a, int64_t b,
		 int64_t c, int64_t d)
{
	int64_t ne[4] = { a, b, c, d };
	int e = gguf_writer_add_tensor(w, name, type, nd, ne);

	if (e < 0)
		fprintf(stderr, "mmproj-synth: tensor %s: %s\n", name, strerror(-e));
	return e;
}

static int add_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	return gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &v);
}

static int opt_u32(const char *v, uint32_t *ret)
{
	char *end;
	unsigned long x = strtoul(v, &end, 10);

	if (!*v || *end || x == 0 || x > 65536)
		return -1;
	*ret = (uint32_t)x;
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t text = 0, embd = 64, ff = 128, layers = 2, heads = 4, image = 64, patch = 8, scale = 4;
	bool idefics3 = false;
	uint32_t wt = GGML_TYPE_F16;
	const char *out = NULL;
	struct gguf_writer *w;
	char name[96];
	int e = 0;

	for (int i = 1; i < argc; i++) {
		uint32_t *p = NULL;

		if (!strcmp(argv[i], "--text-embd"))
			p = &text;
		else if (!strcmp(argv[i], "--embd"))
			p = &embd;
		else if (!strcmp(argv[i], "--ff"))
			p = &ff;
		else if (!strcmp(argv[i], "--layers"))
			p = &layers;
		else if (!strcmp(argv[i], "--heads"))
			p = &heads;
		else if (!strcmp(argv[i], "--image"))
			p = &image;
		else if (!strcmp(argv[i], "--patch"))
			p = &patch;
		else if (!strcmp(argv[i], "--scale"))
			p = &scale;
		else if (!strcmp(argv[i], "--type") && i + 1 < argc && (!strcmp(argv[i + 1], "gemma3") ||
									  !strcmp(argv[i + 1], "idefics3")))
			idefics3 = !strcmp(argv[++i], "idefics3");
		else if (!strcmp(argv[i], "--f32"))
			wt = GGML_TYPE_F32;
		else if (argv[i][0] != '-' && !out)
			out = argv[i];
		else
			goto usage;
		if (p && (i + 1 >= argc || opt_u32(argv[++i], p) < 0))
			goto usage;
	}
	if (!out || !text || image % patch || (image / patch) % (idefics3 ? scale : 4) || embd % heads || scale < 2)
		goto usage;
	w = gguf_writer_new();
	if (!w)
		return 1;
	{
		const float mean[3] = { 0.5f, 0.5f, 0.5f }, std[3] = { 0.5f, 0.5f, 0.5f };
		const uint8_t yes = 1;
		const float eps = 1e-6f;

		e |= gguf_writer_add_str(w, "general.architecture", "clip", 4);
		e |= gguf_writer_add_str(w, "general.name", "mmproj-synth", 12);
		if (idefics3) {
			e |= gguf_writer_add_str(w, "clip.projector_type", "idefics3", 8);
			e |= add_u32(w, "clip.vision.projector.scale_factor", scale);
		} else {
			e |= gguf_writer_add_str(w, "clip.projector_type", "gemma3", 6);
		}
		e |= gguf_writer_add_scalar(w, "clip.has_vision_encoder", GGUF_TYPE_BOOL, &yes);
		e |= gguf_writer_add_scalar(w, "clip.use_gelu", GGUF_TYPE_BOOL, &yes);
		e |= add_u32(w, "clip.vision.embedding_length", embd);
		e |= add_u32(w, "clip.vision.feed_forward_length", ff);
		e |= add_u32(w, "clip.vision.block_count", layers);
		e |= add_u32(w, "clip.vision.attention.head_count", heads);
		e |= add_u32(w, "clip.vision.projection_dim", text);
		e |= gguf_writer_add_scalar(w, "clip.vision.attention.layer_norm_epsilon", GGUF_TYPE_FLOAT32, &eps);
		e |= add_u32(w, "clip.vision.image_size", image);
		e |= add_u32(w, "clip.vision.patch_size", patch);
		e |= gguf_writer_add_arr(w, "clip.vision.image_mean", GGUF_TYPE_FLOAT32, mean, 3);
		e |= gguf_writer_add_arr(w, "clip.vision.image_std", GGUF_TYPE_FLOAT32, std, 3);
	}
	{
		int64_t np = (int64_t)(image / patch) * (image / patch);

		e |= add_t(w, "v.patch_embd.weight", wt, 4, patch, patch, 3, embd);
		e |= add_t(w, "v.patch_embd.bias", GGML_TYPE_F32, 1, embd, 1, 1, 1);
		e |= add_t(w, "v.position_embd.weight", wt, 2, embd, np, 1, 1);
	}
	for (uint32_t il = 0; il < layers && !e; il++) {
		static const char *const sq[] = { "attn_q", "attn_k", "attn_v", "attn_out" };
		static const char *const ln[] = { "ln1", "ln2" };

		for (size_t k = 0; k < 4; k++) {
			snprintf(name, sizeof(name), "v.blk.%u.%s.weight", il, sq[k]);
			e |= add_t(w, name, wt, 2, embd, embd, 1, 1);
			snprintf(name, sizeof(name), "v.blk.%u.%s.bias", il, sq[k]);
			e |= add_t(w, name, GGML_TYPE_F32, 1, embd, 1, 1, 1);
		}
		for (size_t k = 0; k < 2; k++) {
			snprintf(name, sizeof(name), "v.blk.%u.%s.weight", il, ln[k]);
			e |= add_t(w, name, GGML_TYPE_F32, 1, embd, 1, 1, 1);
			snprintf(name, sizeof(name), "v.blk.%u.%s.bias", il, ln[k]);
			e |= add_t(w, name, GGML_TYPE_F32, 1, embd, 1, 1, 1);
		}
		snprintf(name, sizeof(name), "v.blk.%u.ffn_up.weight", il);
		e |= add_t(w, name, wt, 2, embd, ff, 1, 1);
		snprintf(name, sizeof(name), "v.blk.%u.ffn_up.bias", il);
		e |= add_t(w, name, GGML_TYPE_F32, 1, ff, 1, 1, 1);
		snprintf(name, sizeof(name), "v.blk.%u.ffn_down.weight", il);
		e |= add_t(w, name, wt, 2, ff, embd, 1, 1);
		snprintf(name, sizeof(name), "v.blk.%u.ffn_down.bias", il);
		e |= add_t(w, name, GGML_TYPE_F32, 1, embd, 1, 1, 1);
	}
	e |= add_t(w, "v.post_ln.weight", GGML_TYPE_F32, 1, embd, 1, 1, 1);
	e |= add_t(w, "v.post_ln.bias", GGML_TYPE_F32, 1, embd, 1, 1, 1);
	if (idefics3) {
		/* [shuffled vision width, text width]: clip_n_mmproj_embd()
		 * is its ne[1] */
		e |= add_t(w, "mm.model.fc.weight", wt, 2, (int64_t)embd * scale * scale, text, 1, 1);
	} else {
		/* [text width, vision width]: clip_n_mmproj_embd() is its ne[0] */
		e |= add_t(w, "mm.input_projection.weight", wt, 2, text, embd, 1, 1);
		e |= add_t(w, "mm.soft_emb_norm.weight", GGML_TYPE_F32, 1, embd, 1, 1, 1);
	}
	if (!e)
		e = io_gguf_write(out, w, NULL, NULL);
	gguf_writer_free(w);
	if (e) {
		fprintf(stderr, "mmproj-synth: %s: %s\n", out, e < 0 ? strerror(-e) : "cannot build the header");
		return 1;
	}
	return 0;
usage:
	fputs("usage: mmproj-synth --text-embd N [--embd N] [--ff N] [--layers N] [--heads N] [--image N]\n"
	      "                    [--patch N] [--f32] [--type gemma3|idefics3] [--scale N] OUT.gguf\n"
	      "                    (image/patch a multiple of 4, or of the scale)\n", stderr);
	return 2;
}
