/* cmd-model.c: opens MODEL for every command: a GGUF file through src/io,
 * or a catalog name through a header written in memory with the project's
 * GGUF writer and parsed back, so both paths give the same parts and the
 * same struct model. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/cmd-model.h"
#include "gguf/ggml-type.h"

struct cmd_model *cmd_model_free(struct cmd_model *cm)
{
	if (!cm)
		return NULL;
	if (cm->has_model)
		model_release(&cm->m);
	free(cm->parts);
	free(cm->paths);
	free(cm->sizes);
	io_model_free(cm->im);
	gguf_file_free(cm->gf);
	free(cm->hdr);
	free(cm);
	return NULL;
}

/* The file a SIGBUS is about: the one mapped last (a split model's
 * parts share a directory and a name, which is what the message needs). */
static const char *sigbus_path;

static void sigbus_handler(int sig)
{
	static const char a[] = "llmem: ", b[] = ": the file was truncated while it was read; nothing was computed from it\n";
	ssize_t r;

	(void)sig;
	r = write(2, a, sizeof(a) - 1);
	if (sigbus_path)
		r = write(2, sigbus_path, strlen(sigbus_path));
	r = write(2, b, sizeof(b) - 1);
	(void)r;
	_exit(CMD_EXIT_INPUT);
}

static void sigbus_guard(const char *path)
{
	struct sigaction sa;

	sigbus_path = path;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigbus_handler;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGBUS, &sa, NULL);
}

static int alloc_parts(struct cmd_model *cm, size_t n)
{
	cm->n_parts = n;
	cm->parts = calloc(n, sizeof(*cm->parts));
	cm->paths = calloc(n, sizeof(*cm->paths));
	cm->sizes = calloc(n, sizeof(*cm->sizes));
	return cm->parts && cm->paths && cm->sizes ? 0 : -ENOMEM;
}

static int build_model(struct cmd_model *cm, const char *label, unsigned flags)
{
	struct diag d;
	int e;

	if (flags & CMD_MODEL_NO_MODEL)
		return 0;
	diag_init(&d);
	e = model_from_gguf_flags(cm->parts, cm->n_parts, flags & CMD_MODEL_NO_RSS ? MODEL_NO_HEAP : 0,
				  &cm->m, &d);
	if (e < 0) {
		cmd_report_diag(label, &d);
		return e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
	}
	cm->has_model = true;
	return 0;
}

int cmd_model_open_catalog(const struct catalog_model *cat, uint32_t ftype, unsigned flags,
			   struct cmd_model **ret)
{
	struct cmd_model *cm = calloc(1, sizeof(*cm));
	struct gguf_writer *w = gguf_writer_new();
	struct sbuf sb;
	struct diag d;
	uint64_t need = 0;
	size_t hdr_len = 0;
	int e, rc;

	sbuf_init(&sb, GGUF_MAX_HEADER_BYTES);
	if (!cm || !w) {
		e = -ENOMEM;
		goto fail;
	}
	cm->cat = cat;
	cm->ftype = ftype;
	e = catalog_build(cat, ftype, w);
	if (!e)
		e = gguf_writer_header(w, &sb, NULL, NULL);
	if (e)
		goto fail;
	cm->file_size = gguf_writer_file_size(w);
	cm->hdr = (uint8_t *)sbuf_detach(&sb, &hdr_len);
	diag_init(&d);
	/* the header, then a hole: the parser reads only the header */
	e = gguf_parse(cm->hdr, hdr_len, cm->file_size, &cm->gf, &need, &d);
	if (e)
		goto fail;
	if (alloc_parts(cm, 1) < 0) {
		e = -ENOMEM;
		goto fail;
	}
	cm->parts[0] = cm->gf;
	cm->paths[0] = cat->name;
	cm->sizes[0] = cm->file_size;
	gguf_writer_free(w);
	rc = build_model(cm, cat->name, flags);
	if (rc) {
		cmd_model_free(cm);
		return rc;
	}
	*ret = cm;
	return 0;
fail:
	sbuf_release(&sb);
	gguf_writer_free(w);
	cmd_model_free(cm);
	cmd_error("%s: cannot build the catalog model: %s", cat->name, strerror(-e));
	return e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
}

static bool looks_like_path(const char *s)
{
	size_t n = strlen(s);

	return strchr(s, '/') || (n >= 5 && !strcasecmp(s + n - 5, ".gguf"));
}

static void unknown_name(const char *name)
{
	const struct catalog_model *close[4];
	size_t k = catalog_suggest(name, close, ARRAY_SIZE(close));
	char list[256];
	size_t o = 0;

	list[0] = '\0';
	for (size_t i = 0; i < k && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", close[i]->name);
	if (k)
		cmd_error("%s: no such file, and not a catalog model (closest: %s; "
			  "'llmem quants --list' lists them)", name, list);
	else
		cmd_error("%s: no such file, and not a catalog model ('llmem quants --list' lists them)",
			  name);
}

int cmd_model_open(const char *spec, unsigned flags, struct cmd_model **ret)
{
	struct stat st;
	const struct catalog_model *cat = NULL;
	uint32_t ftype = 0;
	int e;

	if (stat(spec, &st) < 0 && errno == ENOENT && !looks_like_path(spec)) {
		e = catalog_parse(spec, &cat, &ftype);
		if (e == 0)
			return cmd_model_open_catalog(cat, ftype, flags, ret);
		if (e == -EINVAL) {
			char list[400];
			size_t o = 0;

			for (size_t i = 0; i < quant_ftype_count() && o < sizeof(list); i++)
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
						      llama_ftype_name(quant_ftype_at(i)));
			cmd_error("%s: unknown file type (one of %s)", spec, list);
			return CMD_EXIT_INPUT;
		}
		unknown_name(spec);
		return CMD_EXIT_INPUT;
	}

	struct cmd_model *cm = calloc(1, sizeof(*cm));
	struct diag d;
	char *bad = NULL;

	if (!cm) {
		cmd_error("out of memory");
		return CMD_EXIT_FAIL;
	}
	diag_init(&d);
	if (!(flags & CMD_MODEL_READ))
		sigbus_guard(spec);
	e = io_model_open_flags(spec,
				(flags & (CMD_MODEL_NO_MODEL | CMD_MODEL_NO_RSS) ? 0 : IO_OPEN_LONG_STRINGS) |
				(flags & CMD_MODEL_READ ? 0 : IO_OPEN_MAP),
				&cm->im, &d, &bad);
	if (e < 0) {
		cmd_report_diag(bad ? bad : spec, &d);
		free(bad);
		cmd_model_free(cm);
		return e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
	}
	if (alloc_parts(cm, cm->im->n_parts) < 0) {
		cmd_error("out of memory");
		cmd_model_free(cm);
		return CMD_EXIT_FAIL;
	}
	for (size_t p = 0; p < cm->im->n_parts; p++) {
		cm->parts[p] = cm->im->parts[p]->gf;
		cm->paths[p] = cm->im->parts[p]->path;
		cm->sizes[p] = cm->im->parts[p]->file_size;
	}
	e = build_model(cm, spec, flags);
	if (e) {
		cmd_model_free(cm);
		return e;
	}
	*ret = cm;
	return 0;
}

int cmd_model_retype(const struct model *m, const struct quant_tensor *t, struct model *out,
		     uint64_t *tensor_bytes)
{
	struct model_tensor *mt = malloc(m->n_tensors * sizeof(*mt));
	uint64_t off[64] = { 0 }, sum = 0;
	bool seen[64] = { false };

	if (!mt)
		return -ENOMEM;
	memcpy(mt, m->tensors, m->n_tensors * sizeof(*mt));
	*out = *m;
	out->tensors = mt;
	out->weight_bytes = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		uint32_t p = mt[i].part < 64 ? mt[i].part : 63;

		if (!seen[p] || mt[i].file_off < off[p])
			off[p] = mt[i].file_off;
		seen[p] = true;
	}
	for (size_t i = 0; i < m->n_tensors; i++) {
		uint32_t p = mt[i].part < 64 ? mt[i].part : 63;

		mt[i].type = t[i].type;
		mt[i].nbytes = quant_tensor_bytes(&t[i]);
		mt[i].file_off = off[p];
		off[p] += (mt[i].nbytes + 31) & ~31ull;
		sum += mt[i].nbytes;
		if (!mt[i].skip)
			out->weight_bytes += mt[i].nbytes;
	}
	*tensor_bytes = sum;
	return 0;
}
