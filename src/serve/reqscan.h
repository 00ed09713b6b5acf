/* reqscan.h: the one pass the daemon makes over the body of an OpenAI
 * request (POST /v1/chat/completions, /v1/completions, /v1/embeddings)
 * instead of building a jansson tree of it. It accepts exactly the bodies
 * that jansson 2.14's json_loadb(..., JSON_REJECT_DUPLICATES) accepts and
 * that are a JSON object, and takes out what the daemon decides on: the
 * model, "stream", where "keep_alive" is, and the request checks of
 * docs/SECURITY.md B11 and B40 (number ranges, token ids, logit_bias ids,
 * media URLs). The body is forwarded as it came; nothing is built and,
 * for an ordinary body, nothing allocated. */
#ifndef LLMEM_SERVE_REQSCAN_H
#define LLMEM_SERVE_REQSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQSCAN_MODEL_MAX 200 /* bytes in a model name: TR_MODEL_MAX */
/* jansson's JSON_PARSER_MAX_DEPTH: values nested, the outermost being 1 */
#define REQSCAN_DEPTH_MAX 2048

/* The numeric fields of a body that go to llama-server, with the ranges
 * its own schema enforces (docs/SECURITY.md B11). Shared with the checks
 * of the Ollama translation (api.c). */
struct reqscan_num {
	const char *name;
	int64_t min, max;
};
extern const struct reqscan_num reqscan_num_fields[];
#define REQSCAN_N_NUM 19

/* The first check a body fails, in the order the daemon makes them. */
enum reqscan_check {
	REQSCAN_CHECK_OK,         /* none */
	REQSCAN_CHECK_NUM,        /* reqscan_num_fields[num_field] out of its range */
	REQSCAN_CHECK_TOKENS,     /* a token id of "prompt" or "input" */
	REQSCAN_CHECK_LOGIT_BIAS, /* a token id of "logit_bias" */
	REQSCAN_CHECK_MEDIA,      /* a media part's URL is not inline */
};

struct reqscan {
	/* the body is not a JSON object (reqscan_openai() -EINVAL): why,
	 * and the byte where that was found */
	const char *why;
	size_t why_off;
	/* "model" is a string: its decoded text, NUL-terminated; one over
	 * REQSCAN_MODEL_MAX is cut to REQSCAN_MODEL_MAX + 1 bytes (still too
	 * long for tr_model_name_ok()) */
	bool has_model;
	char model[REQSCAN_MODEL_MAX + 2];
	bool stream; /* "stream" is true */
	/* "keep_alive" is there (null too): its JSON value is
	 * body[keep_alive_off, keep_alive_off + keep_alive_len) */
	bool has_keep_alive;
	size_t keep_alive_off, keep_alive_len;
	enum reqscan_check check;
	size_t num_field; /* REQSCAN_CHECK_NUM: which */
};

/* Scans body[0..n), n > 0. 0: a JSON object, *out filled in; -EINVAL: not
 * (invalid JSON, a duplicate key, too deep, a number out of range, or not
 * an object), out->why says why; -ENOMEM: a large object's keys or a long
 * number could not be held. */
int reqscan_openai(const char *body, size_t n, struct reqscan *out);

#endif
