/* cmd-synth.c: `llmem synth MODEL[:TYPE] -o FILE.gguf [--vocab-from FILE]`:
 * writes a catalog model as a sparse GGUF file that llama.cpp loads: the
 * metadata its loader requires, every tensor it creates typed as
 * llama-quantize would, and the tensor data left as a hole (zeros; fine
 * for loading and for memory measurements, not for generating text). The
 * tokenizer is copied from a vocabulary GGUF: --vocab-from, else the
 * matching models/ggml-vocab-*.gguf of the llama.cpp source that
 * scripts/setup-peers.sh recorded in $LLMEM_CACHE/peers.env, else a
 * stand-in of the right size. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "gguf/ggml-type.h"
#include "io/io.h"
#include "model/catalog.h"

static void synth_usage(FILE *fp)
{
	fputs("usage: llmem synth MODEL[:TYPE] -o FILE.gguf [--vocab-from VOCAB.gguf]\n"
	      "\n"
	      "Writes catalog MODEL ('llmem quants --list') as file type TYPE (default\n"
	      "Q4_K_M) to a sparse GGUF file that llama.cpp loads; its weights are zeros.\n"
	      "The tokenizer comes from VOCAB.gguf, else from the llama.cpp source named in\n"
	      "$LLMEM_CACHE/peers.env (models/ggml-vocab-*.gguf), else a stand-in.\n", fp);
}

/* LLMEM_PEERS_SRC from $LLMEM_CACHE/peers.env (default ~/.cache/llmem) */
static int peers_vocab(const char *vocab, char *buf, size_t bufsz)
{
	const char *cache = getenv("LLMEM_CACHE"), *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char path[1024], line[1024];
	FILE *fp;
	int found = -ENOENT;

	if (!vocab[0])
		return -ENOENT;
	if (cache && *cache)
		snprintf(path, sizeof(path), "%s/peers.env", cache);
	else if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/llmem/peers.env", xdg);
	else
		snprintf(path, sizeof(path), "%s/.cache/llmem/peers.env", home ? home : "/");
	fp = fopen(path, "r");
	if (!fp)
		return -ENOENT;
	while (fgets(line, sizeof(line), fp)) {
		char *v;
		size_t n;

		if (strncmp(line, "LLMEM_PEERS_SRC=", 16))
			continue;
		v = line + 16;
		n = strcspn(v, "\r\n");
		v[n] = '\0';
		if (n >= 2 && (v[0] == '\'' || v[0] == '"') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		snprintf(buf, bufsz, "%s/models/ggml-vocab-%s.gguf", v, vocab);
		if (access(buf, R_OK) == 0)
			found = 0;
	}
	fclose(fp);
	return found;
}

/* Copies every tokenizer.* key of a GGUF file into w; *n_vocab gets its
 * token count. */
static int copy_vocab(struct gguf_writer *w, const struct gguf_file *f, uint32_t *n_vocab)
{
	uint64_t n_tok = 0;
	int e = 0;

	for (uint64_t i = 0; i < f->n_kv && e == 0; i++) {
		const struct gguf_kv *kv = &f->kvs[i];
		struct gguf_str k = gguf_kv_key(f, i);
		char key[256];

		if (k.n >= sizeof(key) || k.n < 10 || memcmp(k.p, "tokenizer.", 10))
			continue;
		memcpy(key, k.p, k.n);
		key[k.n] = '\0';
		if (kv->type == GGUF_TYPE_STRING) {
			struct gguf_str v;

			e = gguf_kv_get_str(f, i, &v);
			if (e == 0)
				e = gguf_writer_add_str(w, key, v.p, v.n);
		} else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
			char **strs = calloc(kv->n ? kv->n : 1, sizeof(*strs));
			uint64_t pos = 0, j = 0;
			struct gguf_str v;

			if (!strs)
				e = -ENOMEM;
			for (; e == 0 && j < kv->n; j++) {
				e = gguf_kv_arr_next_str(f, i, &pos, &v);
				if (e == 0 && memchr(v.p, '\0', v.n))
					e = -EINVAL;
				if (e == 0 && !(strs[j] = malloc(v.n + 1)))
					e = -ENOMEM;
				if (e == 0) {
					memcpy(strs[j], v.p, v.n);
					strs[j][v.n] = '\0';
				}
			}
			if (e == 0)
				e = gguf_writer_add_arr_str(w, key, (const char *const *)strs, kv->n);
			for (uint64_t x = 0; strs && x < kv->n; x++)
				free(strs[x]);
			free(strs);
			if (e == 0 && !strcmp(key, "tokenizer.ggml.tokens"))
				n_tok = kv->n;
		} else if (kv->type == GGUF_TYPE_ARRAY) {
			e = gguf_writer_add_arr(w, key, kv->arr_type, f->buf + kv->val_off, kv->n);
		} else {
			e = gguf_writer_add_scalar(w, key, kv->type, f->buf + kv->val_off);
		}
	}
	if (e == 0 && (n_tok == 0 || n_tok > UINT32_MAX))
		e = -EINVAL;
	if (e == 0)
		*n_vocab = (uint32_t)n_tok;
	return e;
}

static int synth_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "vocab-from", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *vocab_from = NULL;
	const struct catalog_model *cm;
	char found[1100];
	uint32_t ftype, n_vocab;
	int o, e;

	optind = 1;
	while ((o = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'o': out = optarg; break;
		case 'v': vocab_from = optarg; break;
		case 'h': synth_usage(stdout); return CMD_EXIT_OK;
		default: synth_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc - 1 || !out) {
		synth_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	e = catalog_parse(argv[optind], &cm, &ftype);
	if (e == -EINVAL) {
		cmd_error("%s: unknown file type", argv[optind]);
		return CMD_EXIT_INPUT;
	}
	if (e < 0) {
		const struct catalog_model *close[4];
		size_t k = catalog_suggest(argv[optind], close, 4);

		cmd_error("%s: not a catalog model%s%s%s%s%s%s%s", argv[optind], k ? " (closest: " : "",
			  k ? close[0]->name : "", k > 1 ? ", " : "", k > 1 ? close[1]->name : "",
			  k > 2 ? ", " : "", k > 2 ? close[2]->name : "", k ? ")" : "");
		return CMD_EXIT_INPUT;
	}
	if (!vocab_from && peers_vocab(cm->vocab, found, sizeof(found)) == 0)
		vocab_from = found;

	struct gguf_writer *w = gguf_writer_new();
	struct io_gguf *g = NULL;
	struct diag d;

	if (!w)
		return CMD_EXIT_FAIL;
	n_vocab = cm->n_vocab;
	diag_init(&d);
	if (vocab_from) {
		e = io_gguf_open(vocab_from, &g, &d);
		if (e < 0) {
			cmd_report_diag(vocab_from, &d);
			gguf_writer_free(w);
			return CMD_EXIT_INPUT;
		}
		int64_t k = gguf_kv_find(g->gf, "tokenizer.ggml.tokens");

		if (k < 0 || g->gf->kvs[k].arr_type != GGUF_TYPE_STRING || !g->gf->kvs[k].n ||
		    g->gf->kvs[k].n > UINT32_MAX) {
			cmd_error("%s: no tokenizer.ggml.tokens", vocab_from);
			io_gguf_free(g);
			gguf_writer_free(w);
			return CMD_EXIT_INPUT;
		}
		n_vocab = (uint32_t)g->gf->kvs[k].n;
	}
	e = catalog_add_keys(cm, w, ftype, n_vocab);
	if (!e)
		e = g ? copy_vocab(w, g->gf, &n_vocab) : catalog_add_fake_vocab(w, n_vocab, cm->n_merges);
	if (!e)
		e = catalog_add_tensors(cm, w, ftype, n_vocab);
	io_gguf_free(g);
	if (e) {
		cmd_error("%s: cannot build the header: %s", cm->name, strerror(-e));
		gguf_writer_free(w);
		return e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
	}
	e = io_gguf_write(out, w, NULL, NULL);
	if (e < 0) {
		cmd_error("%s: %s", out, strerror(-e));
		gguf_writer_free(w);
		return CMD_EXIT_FAIL;
	}
	fprintf(stderr, "llmem: wrote %s: %s %s, %llu bytes, tokenizer %s%s\n", out, cm->name,
		llama_ftype_name(ftype), (unsigned long long)gguf_writer_file_size(w),
		vocab_from ? "from " : "stand-in", vocab_from ? vocab_from : "");
	gguf_writer_free(w);
	return CMD_EXIT_OK;
}

const struct cmd cmd_synth = {
	.name = "synth",
	.summary = "write a catalog model as a sparse GGUF file llama.cpp loads",
	.run = synth_run,
	.usage = synth_usage,
};
