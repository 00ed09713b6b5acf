/* reqscan-oracle.h: the reference that serve/reqscan.c must agree with,
 * shared by fuzz/fuzz-reqscan.c and tests/unit/test-reqscan.c (header-only).
 * It is what src/serve/api.c decided on an OpenAI body with a jansson tree
 * before reqscan (commit 3b140cc): body_json() (json_loadb with
 * JSON_REJECT_DUPLICATES, an object), find_model() ("model" a string),
 * keep_alive_of() (the "keep_alive" value), "stream" (json_is_true) and
 * check_body() with ollama false, copied as they were, the num_fields table
 * too, so that the product keeps one implementation and this the old one.
 * reqscan_differs() runs both on a body and says where they part. */
#ifndef LLMEM_FUZZ_REQSCAN_ORACLE_H
#define LLMEM_FUZZ_REQSCAN_ORACLE_H

#include "base/compat.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/reqscan.h"
#include "serve/translate.h"

/* ---- copied from src/serve/api.c (3b140cc) ---- */

static const struct {
	const char *name;
	int64_t min, max;
} oracle_num_fields[] = {
	{ "n_predict", -1, INT32_MAX }, { "max_tokens", -1, INT32_MAX },
	{ "max_completion_tokens", -1, INT32_MAX }, { "n_keep", -1, INT32_MAX },
	{ "n_discard", 0, INT32_MAX }, { "n_indent", 0, INT32_MAX },
	{ "n_probs", 0, 1024 }, { "top_logprobs", 0, 1024 }, { "logprobs", 0, 1024 },
	{ "n_cmpl", 1, 1024 }, { "n", 1, 1024 }, { "n_cache_reuse", 0, INT32_MAX },
	{ "id_slot", -1, INT32_MAX }, { "min_keep", 0, INT32_MAX },
	{ "repeat_last_n", -1, INT32_MAX }, { "penalty_last_n", -1, INT32_MAX },
	{ "dry_penalty_last_n", -1, INT32_MAX }, { "top_k", INT32_MIN, INT32_MAX },
	{ "mirostat", 0, 2 },
};

static inline bool oracle_num_in(const json_t *v, int64_t min, int64_t max)
{
	double x;

	if (json_is_integer(v))
		return json_integer_value(v) >= min && json_integer_value(v) <= max;
	x = json_real_value(v);
	return x >= (double)min && x <= (double)max;
}

static inline bool oracle_token_ok(const json_t *v)
{
	return !json_is_number(v) || oracle_num_in(v, 0, INT32_MAX);
}

static inline bool oracle_tokens_ok(const json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return oracle_token_ok(v);
	json_array_foreach (v, i, e)
		if (!oracle_tokens_ok(e))
			return false;
	return true;
}

static inline bool oracle_logit_bias_ok(const json_t *v)
{
	const char *k;
	json_t *e;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, k, e) {
			char *end;
			long long id;

			errno = 0;
			id = strtoll(k, &end, 10);
			if (*k && !*end && (errno || id < 0 || id > INT32_MAX))
				return false;
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, e)
			if (json_is_array(e) && !oracle_token_ok(json_array_get(e, 0)))
				return false;
	}
	return true;
}

static inline bool oracle_media_url_ok(const json_t *v)
{
	const char *u = json_string_value(v);

	return !u || !strncmp(u, "data:", 5) || !strchr(u, ':');
}

static inline bool oracle_media_ok(const json_t *body)
{
	const json_t *msgs = json_object_get(body, "messages"), *m, *c, *part;
	size_t i, j;

	json_array_foreach (msgs, i, m) {
		c = json_object_get(m, "content");
		json_array_foreach (c, j, part) {
			const char *type = json_string_value(json_object_get(part, "type"));
			const json_t *o;

			if (!type)
				continue;
			if (!strcmp(type, "image_url")) {
				o = json_object_get(part, "image_url");
				if (!oracle_media_url_ok(json_is_object(o) ? json_object_get(o, "url") : o))
					return false;
			} else if (!strcmp(type, "input_audio") || !strcmp(type, "input_video") ||
				   !strcmp(type, "video_url")) {
				o = json_object_get(part, type);
				if (!oracle_media_url_ok(json_object_get(o, "data")) ||
				    !oracle_media_url_ok(json_object_get(o, "url")))
					return false;
			}
		}
	}
	return true;
}

/* check_body(): the first check that fails (its reply, as an enum). */
static inline enum reqscan_check oracle_check_body(const json_t *body, size_t *field)
{
	*field = 0;
	for (size_t i = 0; i < ARRAY_SIZE(oracle_num_fields); i++) {
		const json_t *v = json_object_get(body, oracle_num_fields[i].name);

		if (json_is_number(v) && !oracle_num_in(v, oracle_num_fields[i].min, oracle_num_fields[i].max)) {
			*field = i;
			return REQSCAN_CHECK_NUM;
		}
	}
	if (!oracle_tokens_ok(json_object_get(body, "prompt")) || !oracle_tokens_ok(json_object_get(body, "input")))
		return REQSCAN_CHECK_TOKENS;
	if (!oracle_logit_bias_ok(json_object_get(body, "logit_bias")))
		return REQSCAN_CHECK_LOGIT_BIAS;
	if (!oracle_media_ok(body))
		return REQSCAN_CHECK_MEDIA;
	return REQSCAN_CHECK_OK;
}

/* ---- the comparison ---- */

struct oracle {
	json_t *body;             /* NULL: body_json() refused it (400) */
	const char *model;        /* find_model()'s json_string_value(), or NULL */
	bool stream;              /* json_is_true("stream") */
	const json_t *keep_alive; /* what keep_alive_of() read, or NULL */
	enum reqscan_check check; /* check_body() */
	size_t num_field;
};

/* body_json(), without the empty body (h_openai answers that first). */
static inline void oracle_run(const char *body, size_t n, struct oracle *o)
{
	json_error_t je;
	json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);

	memset(o, 0, sizeof(*o));
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return;
	}
	o->body = j;
	o->model = json_string_value(json_object_get(j, "model"));
	o->stream = json_is_true(json_object_get(j, "stream"));
	o->keep_alive = json_object_get(j, "keep_alive");
	o->check = oracle_check_body(j, &o->num_field);
}

static inline const char *oracle_say(char *buf, size_t bn, const char *fmt, ...) ATTR_PRINTF(3, 4);
static inline const char *oracle_say(char *buf, size_t bn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, bn, fmt, ap);
	va_end(ap);
	return buf;
}

/* Whether reqscan_openai() and the oracle decide body[0..n) (n > 0) the
 * same way: NULL, or what differs (in buf). */
static inline const char *reqscan_differs(const char *body, size_t n, char *buf, size_t bn)
{
	struct reqscan sc;
	struct oracle o;
	const char *bad = NULL;
	int rc = reqscan_openai(body, n, &sc);

	oracle_run(body, n, &o);
	if (rc == -ENOMEM)
		return oracle_say(buf, bn, "reqscan: out of memory");
	if ((rc == 0) != (o.body != NULL)) {
		bad = oracle_say(buf, bn, "reqscan %s (%s at %zu), jansson %s", rc ? "refuses" : "accepts",
				 rc ? sc.why : "", rc ? sc.why_off : 0, o.body ? "accepts" : "refuses");
		goto out;
	}
	if (rc) {
		if (rc != -EINVAL || !sc.why || sc.why_off > n)
			bad = oracle_say(buf, bn, "reqscan refuses with rc %d, why %s, at %zu", rc,
					 sc.why ? sc.why : "(null)", sc.why_off);
		goto out;
	}
	if (sc.has_model != (o.model != NULL)) {
		bad = oracle_say(buf, bn, "model: reqscan %s, jansson %s", sc.has_model ? "a string" : "none",
				 o.model ? "a string" : "none");
		goto out;
	}
	if (o.model) {
		size_t ol = strlen(o.model), cut = ol > REQSCAN_MODEL_MAX ? REQSCAN_MODEL_MAX + 1 : ol;

		if (strlen(sc.model) != cut || memcmp(sc.model, o.model, cut) ||
		    tr_model_name_ok(sc.model) != tr_model_name_ok(o.model)) {
			bad = oracle_say(buf, bn, "model: reqscan \"%.40s\" (%zu bytes), jansson \"%.40s\" (%zu)",
					 sc.model, strlen(sc.model), o.model, ol);
			goto out;
		}
	}
	if (sc.stream != o.stream) {
		bad = oracle_say(buf, bn, "stream: reqscan %d, jansson %d", sc.stream, o.stream);
		goto out;
	}
	if (sc.has_keep_alive != (o.keep_alive != NULL)) {
		bad = oracle_say(buf, bn, "keep_alive: reqscan %s, jansson %s", sc.has_keep_alive ? "present" : "absent",
				 o.keep_alive ? "present" : "absent");
		goto out;
	}
	if (o.keep_alive) {
		json_t *k = NULL;
		const char *v = body + sc.keep_alive_off;
		size_t vl = sc.keep_alive_len;

		if (sc.keep_alive_off > n || vl > n - sc.keep_alive_off || !vl || strchr(" \t\r\n", v[0]) ||
		    strchr(" \t\r\n", v[vl - 1]) ||
		    !(k = json_loadb(v, vl, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL)) ||
		    !json_equal(k, o.keep_alive)) {
			bad = oracle_say(buf, bn, "keep_alive: reqscan's span [%zu, +%zu) is not jansson's value",
					 sc.keep_alive_off, vl);
		} else {
			int64_t ms1 = 0, ms2 = 0;
			bool p1 = false, p2 = false;
			struct diag d1, d2;
			int e1, e2;

			diag_init(&d1);
			diag_init(&d2);
			e1 = tr_keep_alive(k, &ms1, &p1, &d1);
			e2 = tr_keep_alive(o.keep_alive, &ms2, &p2, &d2);
			if (e1 != e2 || ms1 != ms2 || p1 != p2 || strcmp(d1.msg, d2.msg))
				bad = oracle_say(buf, bn, "keep_alive: tr_keep_alive differs");
		}
		json_decref(k);
		if (bad)
			goto out;
	}
	if (sc.check != o.check || (o.check == REQSCAN_CHECK_NUM && sc.num_field != o.num_field)) {
		bad = oracle_say(buf, bn, "check: reqscan %d (field %zu), jansson %d (field %zu)", (int)sc.check,
				 sc.num_field, (int)o.check, o.num_field);
		goto out;
	}
out:
	json_decref(o.body);
	return bad;
}

#endif
