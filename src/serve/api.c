/* api.c: the daemon's HTTP front: request safety (Host, Origin, API key,
 * sizes), routing, and the handlers of the OpenAI, llama.cpp-router,
 * Ollama and llmem endpoints. Requests that need a model become a struct
 * rq handed to the scheduler; the rest are answered here. A model name
 * from a request is only looked up in the registry. */
#include "base/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strings.h>

#include "serve/daemon-int.h"
#include "serve/reqscan.h"

_Static_assert(REQSCAN_MODEL_MAX == TR_MODEL_MAX, "reqscan's model buffer");

void api_format_time(int64_t unix_ns, char *buf, size_t n)
{
	time_t t = (time_t)(unix_ns / 1000000000);
	struct tm tm;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%09lldZ", base, (long long)(unix_ns % 1000000000));
}

void api_reply_json(struct hreq *req, int status, json_t *body)
{
	char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t n = txt ? strlen(txt) : 0;

	json_decref(body);
	if (!req) {
		free(txt);
		return;
	}
	hreq_add_header(req, "Content-Type", "application/json");
	if (txt) {
		/* the dump's terminator becomes its newline */
		txt[n] = '\n';
		hreq_reply(req, status, txt, n + 1);
	} else {
		hreq_reply(req, status, NULL, 0);
	}
	free(txt);
}

json_t *api_error_json(int status, bool ollama, const char *msg)
{
	return ollama ? tr_error_ollama(msg) : tr_error_openai(status, msg);
}

void api_reply_error(struct hreq *req, int status, bool ollama, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply_json(req, status, api_error_json(status, ollama, msg));
}

static json_t *pools_json(struct srv *s)
{
	json_t *a = json_array();

	for (size_t p = 0; p < s->o->n_pools; p++) {
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(s->o->pool_names[p]));
		json_object_set_new(o, "budget", json_integer((json_int_t)s->sch.opt.budget[p]));
		json_object_set_new(o, "used", json_integer((json_int_t)sched_used(&s->sch, p)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *bytes_array(const uint64_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)v[i]));
	return a;
}

static uint64_t total_of(const uint64_t *v, size_t n)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += v[i];
	return t;
}

/* When the model expires, as wall time in ns (0 = never). */
/* wall time (ns) ms milliseconds from now, saturated: a keep-alive may be
 * up to 292 years */
static int64_t wall_after_ms(int64_t ms)
{
	int64_t now = srv_wall_ns();

	if (ms <= 0)
		return now;
	if (ms > (INT64_MAX - now) / 1000000)
		return INT64_MAX;
	return now + ms * 1000000;
}

/* When the model expires, as wall time in ns (0 = never). */
static int64_t expires_wall_ns(struct srv *s, const struct sched_model *m)
{
	(void)s;
	if (m->busy || m->n_queued)
		return wall_after_ms(m->keep_alive_ms > 0 ? m->keep_alive_ms : 0);
	if (m->cfg.pin || m->expires_at == INT64_MAX || m->keep_alive_ms < 0)
		return 0;
	return wall_after_ms(m->expires_at - srv_now());
}

json_t *api_status_json(struct srv *s)
{
	json_t *o = json_object(), *models = json_array();
	size_t np = s->o->n_pools;

	json_object_set_new(o, "version", json_string(s->o->version));
	json_object_set_new(o, "uptime_ms", json_integer(srv_now() - s->started_ms));
	json_object_set_new(o, "pools", pools_json(s));
	for (size_t i = 0; i < s->o->reg->n; i++) {
		const struct sched_model *m = &s->sch.models[i];
		const struct bk *b = &s->bks[i];
		json_t *j = json_object();
		char ts[64];

		json_object_set_new(j, "name", json_string(s->o->reg->v[i].name));
		json_object_set_new(j, "path", json_string(s->o->reg->v[i].path));
		json_object_set_new(j, "state", json_string(sched_state_name(m->state)));
		json_object_set_new(j, "busy", json_integer(m->busy));
		json_object_set_new(j, "draining", json_boolean(m->draining));
		json_object_set_new(j, "queued", json_integer(m->n_queued));
		json_object_set_new(j, "pin", json_boolean(m->cfg.pin));
		json_object_set_new(j, "priority", json_integer(m->cfg.priority));
		json_object_set_new(j, "keep_alive_ms", json_integer(m->keep_alive_ms));
		if (m->state == SCHED_READY) {
			int64_t e = expires_wall_ns(s, m);

			if (e) {
				api_format_time(e, ts, sizeof(ts));
				json_object_set_new(j, "expires_at", json_string(ts));
			} else {
				json_object_set_new(j, "expires_at", json_null());
			}
		}
		if (m->state == SCHED_LOADING || m->state == SCHED_READY || m->state == SCHED_UNLOADING) {
			json_object_set_new(j, "pid", json_integer(b->proc.pid));
			json_object_set_new(j, "port", json_integer(b->port));
			json_object_set_new(j, "plan", json_string(b->plan.summary));
			json_object_set_new(j, "ctx_size", json_integer(b->plan.n_ctx));
			json_object_set_new(j, "n_gpu_layers", json_integer(b->plan.n_gpu_layers));
			json_object_set_new(j, "n_layer", json_integer(b->plan.n_layer));
			json_object_set_new(j, "predicted", bytes_array(b->plan.need, np));
			json_object_set_new(j, "predicted_total", json_integer((json_int_t)total_of(b->plan.need, np)));
			if (b->has_measured) {
				json_object_set_new(j, "measured", bytes_array(b->measured, np));
				json_object_set_new(j, "measured_total",
						    json_integer((json_int_t)total_of(b->measured, np)));
			}
			if (b->healthy) {
				json_object_set_new(j, "rss_anon", json_integer((json_int_t)b->rss_anon));
				json_object_set_new(j, "rss_file", json_integer((json_int_t)b->rss_file));
				json_object_set_new(j, "load_ms", json_integer(b->ready_ms - b->started_ms));
			}
			{
				json_t *bufs = json_array();

				srv_bk_log_lock(b);
				for (size_t k = 0; k < b->rep.n_bufs; k++) {
					json_t *bo = json_object();

					json_object_set_new(bo, "device", json_string(b->rep.bufs[k].device));
					json_object_set_new(bo, "kind", json_string(backend_buf_kind_name(b->rep.bufs[k].kind)));
					json_object_set_new(bo, "bytes", json_integer((json_int_t)b->rep.bufs[k].bytes));
					json_array_append_new(bufs, bo);
				}
				json_object_set_new(j, "buffers", bufs);
				json_object_set_new(j, "log_lines", json_integer((json_int_t)b->rep.n_lines));
				srv_bk_log_unlock(b);
			}
			if (b->plan.tokens_per_s > 0)
				json_object_set_new(j, "tokens_per_s", json_real(b->plan.tokens_per_s));
		}
		json_object_set_new(j, "footprint", bytes_array(m->need, np));
		json_object_set_new(j, "requests", json_integer((json_int_t)b->n_requests));
		json_object_set_new(j, "loads", json_integer((json_int_t)m->n_loads));
		json_object_set_new(j, "evictions", json_integer((json_int_t)m->n_evictions));
		json_object_set_new(j, "crashes", json_integer((json_int_t)m->n_crashes));
		json_object_set_new(j, "ooms", json_integer((json_int_t)m->n_ooms));
		json_object_set_new(j, "failures", json_integer(m->failures));
		json_object_set_new(j, "reason", json_string(m->reason));
		json_array_append_new(models, j);
	}
	json_object_set_new(o, "models", models);
	json_object_set_new(o, "requests_open", json_integer((json_int_t)s->n_rqs));
	json_object_set_new(o, "rejected", json_integer((json_int_t)s->n_rejected));
	json_object_set_new(o, "pressure", srv_pressure_json(s));
	json_object_set_new(o, "cgroup", srv_cgroup_json(s));
	return o;
}

/* ---- helpers ---- */

static const char *req_path(struct hreq *req, char *buf, size_t n)
{
	const char *uri = hreq_uri(req);
	size_t k = 0;

	while (uri[k] && uri[k] != '?' && k + 1 < n) {
		buf[k] = uri[k];
		k++;
	}
	buf[k] = '\0';
	/* one trailing slash is the same path */
	if (k > 1 && buf[k - 1] == '/')
		buf[k - 1] = '\0';
	return buf;
}

static void reply_no_body(struct hreq *req, bool ollama)
{
	api_reply_error(req, 400, ollama, "the request needs a JSON body");
}

/* why: jansson's error text, or reqscan's */
static void reply_not_object(struct hreq *req, bool ollama, const char *why)
{
	api_reply_error(req, 400, ollama, "the body is not a JSON object: %s", why);
}

static json_t *body_json(struct hreq *req, bool ollama, bool required)
{
	size_t n;
	const char *in = hreq_body(req, &n);
	json_error_t je;
	json_t *j;

	if (n == 0) {
		if (required)
			reply_no_body(req, ollama);
		return required ? NULL : json_object();
	}
	j = json_loadb(in, n, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		reply_not_object(req, ollama, j ? "not an object" : je.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The model named name (NULL: none): 400 when no valid name, 404 when
 * unknown (reply sent, -1). */
static int model_index(struct srv *s, struct hreq *req, const char *name, bool ollama)
{
	int idx;

	if (!name) {
		api_reply_error(req, 400, ollama, "the request names no \"model\"");
		return -1;
	}
	if (!tr_model_name_ok(name)) {
		api_reply_error(req, 400, ollama, "invalid model name");
		return -1;
	}
	idx = registry_find(s->o->reg, name);
	if (idx < 0) {
		api_reply_error(req, 404, ollama, "model '%s' not found", name);
		return -1;
	}
	return idx;
}

/* The model a request's JSON names: as model_index(). */
static int find_model(struct srv *s, struct hreq *req, json_t *body, bool ollama,
		      const char **name_out)
{
	const char *name = json_string_value(json_object_get(body, "model"));
	int idx;

	if (!name && ollama)
		name = json_string_value(json_object_get(body, "name"));
	idx = model_index(s, req, name, ollama);
	if (idx >= 0 && name_out)
		*name_out = name;
	return idx;
}

/* Hands r to the scheduler. */
static void submit(struct srv *s, struct rq *r, int64_t keep_alive_ms)
{
	r->in_sched = true;
	srv_model_fresh(s, r->model);
	sched_request(&s->sch, srv_now(), r->model, r->id, keep_alive_ms, &s->acts);
	srv_actions_run(s);
}

/* An OpenAI body's keep_alive from its JSON text v[0..n) (reqscan found
 * it; a rare field, so read by jansson): 0, or an error sent (-1). */
static int keep_alive_of(struct hreq *req, const char *v, size_t n, int64_t *ka)
{
	json_t *j = json_loadb(v, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	struct diag d;
	bool present = false;
	int e;

	*ka = SCHED_KEEP_ALIVE_DEFAULT;
	if (!j) {
		/* valid JSON (reqscan checked it): only memory runs out */
		api_reply_error(req, 500, false, "out of memory");
		return -1;
	}
	diag_init(&d);
	e = tr_keep_alive(j, ka, &present, &d);
	json_decref(j);
	if (e < 0) {
		api_reply_error(req, 400, false, "keep_alive: %s", d.msg);
		return -1;
	}
	if (!present)
		*ka = SCHED_KEEP_ALIVE_DEFAULT;
	return 0;
}

static int reply_check(struct hreq *req, bool ollama, enum reqscan_check c, size_t field);
static int check_body(struct hreq *req, const json_t *body, bool ollama);

/* ---- OpenAI ---- */

/* The body is scanned once (serve/reqscan.c), not made a tree: the same
 * answers as jansson's tree and the checks below gave, in the same order
 * (not JSON, the model, keep_alive, then the checks), and it is forwarded
 * as it came. */
static void h_openai(struct srv *s, struct hreq *req, const char *path)
{
	struct reqscan sc;
	struct rq *r;
	int64_t ka = SCHED_KEEP_ALIVE_DEFAULT;
	int idx, e;
	size_t in_len;
	const char *in = hreq_body(req, &in_len);

	if (in_len == 0) {
		reply_no_body(req, false);
		return;
	}
	e = reqscan_openai(in, in_len, &sc);
	if (e == -ENOMEM) {
		api_reply_error(req, 500, false, "out of memory");
		return;
	}
	if (e < 0) {
		char why[96];

		snprintf(why, sizeof(why), "%s at byte %zu", sc.why, sc.why_off);
		reply_not_object(req, false, why);
		return;
	}
	idx = model_index(s, req, sc.has_model ? sc.model : NULL, false);
	if (idx < 0)
		return;
	if (sc.has_keep_alive &&
	    keep_alive_of(req, in + sc.keep_alive_off, sc.keep_alive_len, &ka) < 0)
		return;
	if (reply_check(req, false, sc.check, sc.num_field) < 0)
		return;
	r = srv_rq_new(s, req, (size_t)idx, RQ_OPENAI);
	if (!r) {
		api_reply_error(req, 500, false, "out of memory");
		return;
	}
	/* a valid name (model_index): at most TR_MODEL_MAX bytes */
	snprintf(r->model_name, sizeof(r->model_name), "%.*s", TR_MODEL_MAX, sc.model);
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->stream = sc.stream;
	r->body_len = in_len;
	r->body = malloc(r->body_len);
	if (!r->body) {
		api_reply_error(req, 500, false, "out of memory");
		r->answered = true;
		srv_rq_finish(r);
		return;
	}
	memcpy(r->body, in, r->body_len);
	submit(s, r, ka);
}

static json_t *model_entry(struct srv *s, size_t i)
{
	const struct sched_model *m = &s->sch.models[i];
	const struct serve_model_info *mi = srv_model_info(s, i, NULL);
	json_t *o = json_object(), *st = json_object();
	const char *v;

	json_object_set_new(o, "id", json_string(s->o->reg->v[i].name));
	json_object_set_new(o, "object", json_string("model"));
	json_object_set_new(o, "created", json_integer(mi ? mi->mtime : 0));
	json_object_set_new(o, "owned_by", json_string("llmem"));
	switch (m->state) {
	case SCHED_READY: v = "loaded"; break;
	case SCHED_LOADING: v = "loading"; break;
	case SCHED_UNLOADING: v = "unloading"; break;
	case SCHED_FAILED: v = "failed"; break;
	default: v = "unloaded"; break;
	}
	json_object_set_new(st, "value", json_string(v));
	if (m->state == SCHED_FAILED)
		json_object_set_new(st, "failed", json_true());
	if (m->reason[0])
		json_object_set_new(st, "reason", json_string(m->reason));
	json_object_set_new(o, "status", st);
	return o;
}

static void h_models(struct srv *s, struct hreq *req)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; i < s->o->reg->n; i++)
		json_array_append_new(a, model_entry(s, i));
	json_object_set_new(o, "object", json_string("list"));
	json_object_set_new(o, "data", a);
	api_reply_json(req, 200, o);
}

/* POST /models/load {"model"}: answers once loaded (or why not). */
static void h_load(struct srv *s, struct hreq *req, bool ollama, bool chat, int idx,
		   const char *name, int64_t ka)
{
	struct rq *r = srv_rq_new(s, req, (size_t)idx, RQ_LOAD);

	if (!r) {
		api_reply_error(req, 500, ollama, "out of memory");
		return;
	}
	r->ollama_err = ollama;
	r->chat = chat;
	snprintf(r->model_name, sizeof(r->model_name), "%s", name);
	srv_model_fresh(s, (size_t)idx);
	sched_load(&s->sch, srv_now(), (size_t)idx, ka, &s->acts);
	submit(s, r, ka);
}

static void h_router_load(struct srv *s, struct hreq *req, bool unload)
{
	json_t *body = body_json(req, false, true);
	const char *name;
	int idx;

	if (!body)
		return;
	idx = find_model(s, req, body, false, &name);
	if (idx < 0) {
		json_decref(body);
		return;
	}
	if (unload) {
		json_t *o = json_object();

		sched_unload(&s->sch, srv_now(), (size_t)idx, &s->acts);
		srv_actions_run(s);
		json_object_set_new(o, "success", json_true());
		json_object_set_new(o, "model", json_string(name));
		api_reply_json(req, 200, o);
	} else {
		h_load(s, req, false, false, idx, name, SCHED_KEEP_ALIVE_DEFAULT);
	}
	json_decref(body);
}

/* ---- Ollama ---- */

static json_t *ollama_details(const struct serve_model_info *mi)
{
	json_t *d = json_object(), *fam = json_array();
	char ps[32];

	json_object_set_new(d, "parent_model", json_string(""));
	json_object_set_new(d, "format", json_string("gguf"));
	json_object_set_new(d, "family", json_string(mi ? mi->arch : ""));
	json_array_append_new(fam, json_string(mi ? mi->arch : ""));
	json_object_set_new(d, "families", fam);
	if (mi && mi->n_params >= 1000000000)
		snprintf(ps, sizeof(ps), "%.1fB", (double)mi->n_params / 1e9);
	else if (mi)
		snprintf(ps, sizeof(ps), "%.2fM", (double)mi->n_params / 1e6);
	else
		ps[0] = '\0';
	json_object_set_new(d, "parameter_size", json_string(ps));
	json_object_set_new(d, "quantization_level", json_string(mi ? mi->ftype : ""));
	return d;
}

/* A stable identifier for a model file (not a content hash: llmem does
 * not read whole files to list them). */
static void digest_of(const char *path, const struct serve_model_info *mi, char *buf, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = path; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	if (mi) {
		h = (h ^ mi->file_size) * 1099511628211ull;
		h = (h ^ (uint64_t)mi->mtime) * 1099511628211ull;
	}
	snprintf(buf, n, "%016llx", (unsigned long long)h);
}

static json_t *tag_entry(struct srv *s, size_t i, bool ps)
{
	const struct serve_model_info *mi = srv_model_info(s, i, NULL);
	const struct reg_model *rm = &s->o->reg->v[i];
	json_t *o = json_object();
	char ts[64], dg[32];

	json_object_set_new(o, "name", json_string(rm->name));
	json_object_set_new(o, "model", json_string(rm->name));
	if (!ps) {
		api_format_time((mi ? mi->mtime : 0) * 1000000000, ts, sizeof(ts));
		json_object_set_new(o, "modified_at", json_string(ts));
	}
	digest_of(rm->path, mi, dg, sizeof(dg));
	json_object_set_new(o, "size", json_integer(mi ? (json_int_t)mi->file_size : 0));
	json_object_set_new(o, "digest", json_string(dg));
	json_object_set_new(o, "details", ollama_details(mi));
	if (ps) {
		const struct sched_model *m = &s->sch.models[i];
		const struct bk *b = &s->bks[i];
		uint64_t vram = 0;
		int64_t e = expires_wall_ns(s, m);

		for (size_t p = 1; p < s->o->n_pools; p++)
			vram += m->need[p];
		json_object_set_new(o, "size", json_integer((json_int_t)total_of(m->need, s->o->n_pools)));
		api_format_time(e ? e : srv_wall_ns() + (int64_t)100 * 365 * 86400 * 1000000000, ts, sizeof(ts));
		json_object_set_new(o, "expires_at", json_string(ts));
		json_object_set_new(o, "size_vram", json_integer((json_int_t)vram));
		json_object_set_new(o, "context_length", json_integer(b->plan.n_ctx));
	}
	return o;
}

static void h_tags(struct srv *s, struct hreq *req, bool ps)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; i < s->o->reg->n; i++) {
		enum sched_state st = s->sch.models[i].state;

		if (ps && st != SCHED_READY && st != SCHED_LOADING)
			continue;
		json_array_append_new(a, tag_entry(s, i, ps));
	}
	json_object_set_new(o, "models", a);
	api_reply_json(req, 200, o);
}

static void h_show(struct srv *s, struct hreq *req)
{
	json_t *body = body_json(req, true, true), *o, *mi_j, *caps;
	const struct serve_model_info *mi;
	const char *err = NULL, *name;
	char key[96];
	int idx;

	if (!body)
		return;
	idx = find_model(s, req, body, true, &name);
	json_decref(body);
	if (idx < 0)
		return;
	mi = srv_model_info(s, (size_t)idx, &err);
	if (!mi) {
		api_reply_error(req, 500, true, "%s", err ? err : "cannot read the model");
		return;
	}
	o = json_object();
	json_object_set_new(o, "license", json_string(""));
	json_object_set_new(o, "modelfile", json_string(""));
	json_object_set_new(o, "parameters", json_string(""));
	json_object_set_new(o, "template", json_string(""));
	json_object_set_new(o, "details", ollama_details(mi));
	mi_j = json_object();
	json_object_set_new(mi_j, "general.architecture", json_string(mi->arch));
	json_object_set_new(mi_j, "general.parameter_count", json_integer((json_int_t)mi->n_params));
	snprintf(key, sizeof(key), "%s.context_length", mi->arch);
	json_object_set_new(mi_j, key, json_integer(mi->n_ctx_train));
	snprintf(key, sizeof(key), "%s.block_count", mi->arch);
	json_object_set_new(mi_j, key, json_integer(mi->n_layer));
	json_object_set_new(o, "model_info", mi_j);
	/* in Ollama's order (types/model/capability.go) */
	caps = json_array();
	json_array_append_new(caps, json_string(mi->embedding ? "embedding" : "completion"));
	if (!mi->embedding) {
		if (mi->tools)
			json_array_append_new(caps, json_string("tools"));
		if (mi->insert)
			json_array_append_new(caps, json_string("insert"));
		if (mi->vision)
			json_array_append_new(caps, json_string("vision"));
		if (mi->thinking)
			json_array_append_new(caps, json_string("thinking"));
	}
	json_object_set_new(o, "capabilities", caps);
	{
		/* RFC 3339, as /api/tags: Ollama's Go client refuses "" */
		char ts[64];

		api_format_time(mi->mtime * 1000000000, ts, sizeof(ts));
		json_object_set_new(o, "modified_at", json_string(ts));
	}
	api_reply_json(req, 200, o);
}

static void h_ollama(struct srv *s, struct hreq *req, enum rq_kind kind)
{
	size_t len;
	const char *in = hreq_body(req, &len);
	enum tr_api api = kind == RQ_OLLAMA_CHAT ? TR_API_CHAT :
			  kind == RQ_OLLAMA_GENERATE ? TR_API_GENERATE :
			  kind == RQ_OLLAMA_EMBED ? TR_API_EMBED : TR_API_EMBEDDINGS;
	struct diag d;
	struct rq *r;
	int64_t ka;
	int idx;

	r = srv_rq_new(s, req, 0, kind);
	if (!r) {
		api_reply_error(req, 500, true, "out of memory");
		return;
	}
	r->ollama_err = true;
	r->has_tq = true;
	diag_init(&d);
	if (tr_request_parse(api, in, len, &r->tq, &d) < 0) {
		api_reply_error(req, 400, true, "%s", d.msg);
		goto drop;
	}
	idx = registry_find(s->o->reg, r->tq.model);
	if (idx < 0) {
		api_reply_error(req, 404, true, "model '%s' not found", r->tq.model);
		goto drop;
	}
	r->model = (size_t)idx;
	snprintf(r->model_name, sizeof(r->model_name), "%s", r->tq.model);
	ka = r->tq.keep_alive_set ? r->tq.keep_alive_ms : SCHED_KEEP_ALIVE_DEFAULT;
	tr_meta_init(&r->meta, &r->tq, srv_wall_ns(), srv_wall_ns(), 0);
	if (r->tq.action == TR_ACT_UNLOAD) {
		sched_unload(&s->sch, srv_now(), r->model, &s->acts);
		api_reply_json(req, 200, tr_load_response(&r->meta, TR_ACT_UNLOAD));
		goto drop;
	}
	if (r->tq.action == TR_ACT_LOAD) {
		r->kind = RQ_LOAD;
		r->chat = kind == RQ_OLLAMA_CHAT;
		srv_model_fresh(s, r->model);
		sched_load(&s->sch, srv_now(), r->model, ka, &s->acts);
		submit(s, r, ka);
		return;
	}
	if (check_body(req, r->tq.body, true) < 0)
		goto drop;
	snprintf(r->path, sizeof(r->path), "%s", tr_backend_path(r->tq.backend));
	r->stream = r->tq.stream;
	r->body = tr_dump(r->tq.body, &r->body_len);
	if (!r->body) {
		api_reply_error(req, 500, true, "out of memory");
		goto drop;
	}
	submit(s, r, ka);
	return;
drop:
	r->answered = true;
	srv_rq_finish(r);
}

static void h_version(struct srv *s, struct hreq *req)
{
	json_t *o = json_object();

	json_object_set_new(o, "version", json_string(s->o->version));
	api_reply_json(req, 200, o);
}

/* ---- request checks (docs/SECURITY.md) ---- */

#define API_JSON_VALUES_MAX ((size_t)1 << 20) /* values in one body */
#define API_JSON_DEPTH_MAX 256

/* Whether a JSON text's shape is within bounds, from a scan that builds
 * nothing: jansson allocates a value for every element, so 64 MiB of
 * "[0,0,..." would take 1.5 GiB before any other check could run (B10).
 * Strings are skipped; what is not JSON is left to the parser. */
static bool json_shape_ok(const char *p, size_t n, char *why, size_t wn)
{
	size_t values = 0, depth = 0;
	bool str = false;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = false;
			continue;
		}
		if (c == '"') {
			str = true;
		} else if (c == '[' || c == '{' || c == ',') {
			if (c != ',' && ++depth > API_JSON_DEPTH_MAX) {
				snprintf(why, wn, "the JSON body nests deeper than %d levels", API_JSON_DEPTH_MAX);
				return false;
			}
			if (++values > API_JSON_VALUES_MAX) {
				snprintf(why, wn, "the JSON body has over %zu values", API_JSON_VALUES_MAX);
				return false;
			}
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return true;
}

/* The checks of a body that goes to a backend, on a jansson tree: the
 * Ollama translation's (an OpenAI body's are made by serve/reqscan.c,
 * which must agree with these: fuzz/fuzz-reqscan.c). The numeric fields
 * and their ranges are reqscan_num_fields (B11). */

static bool num_in(const json_t *v, int64_t min, int64_t max)
{
	double x;

	if (json_is_integer(v))
		return json_integer_value(v) >= min && json_integer_value(v) <= max;
	x = json_real_value(v);
	return x >= (double)min && x <= (double)max;
}

/* A token id: an integer in 0..INT32_MAX (the backend checks it against
 * its vocabulary). */
static bool token_ok(const json_t *v)
{
	return !json_is_number(v) || num_in(v, 0, INT32_MAX);
}

/* prompt / input: a string, token ids, or arrays of those (any depth). */
static bool tokens_ok(const json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return token_ok(v);
	json_array_foreach (v, i, e)
		if (!tokens_ok(e))
			return false;
	return true;
}

/* logit_bias: {"id": bias} or [[id, bias], ...]; ids given as text are
 * tokenized by the backend. */
static bool logit_bias_ok(const json_t *v)
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
			if (json_is_array(e) && !token_ok(json_array_get(e, 0)))
				return false;
	}
	return true;
}

/* A media part's URL: llama-server downloads http(s) URLs itself (and
 * reads file:// ones under --media-path), so a client could make it fetch
 * from wherever the machine reaches. Only data: URLs and bare base64 (no
 * ':' at all) go through. */
static bool media_url_ok(const json_t *v)
{
	const char *u = json_string_value(v);

	return !u || !strncmp(u, "data:", 5) || !strchr(u, ':');
}

static bool media_ok(const json_t *body)
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
				if (!media_url_ok(json_is_object(o) ? json_object_get(o, "url") : o))
					return false;
			} else if (!strcmp(type, "input_audio") || !strcmp(type, "input_video") ||
				   !strcmp(type, "video_url")) {
				o = json_object_get(part, type);
				if (!media_url_ok(json_object_get(o, "data")) || !media_url_ok(json_object_get(o, "url")))
					return false;
			}
		}
	}
	return true;
}

/* The answer to a failed check (c, and for REQSCAN_CHECK_NUM which
 * field): 0 when none failed, else 400 sent (-1). */
static int reply_check(struct hreq *req, bool ollama, enum reqscan_check c, size_t field)
{
	const struct reqscan_num *f = &reqscan_num_fields[field < REQSCAN_N_NUM ? field : 0];

	switch (c) {
	case REQSCAN_CHECK_OK:
		return 0;
	case REQSCAN_CHECK_NUM:
		api_reply_error(req, 400, ollama, "\"%s\" must be between %lld and %lld", f->name,
				(long long)f->min, (long long)f->max);
		break;
	case REQSCAN_CHECK_TOKENS:
		api_reply_error(req, 400, ollama, "token ids must be between 0 and %d", INT32_MAX);
		break;
	case REQSCAN_CHECK_LOGIT_BIAS:
		api_reply_error(req, 400, ollama, "logit_bias token ids must be between 0 and %d", INT32_MAX);
		break;
	case REQSCAN_CHECK_MEDIA:
		api_reply_error(req, 400, ollama,
				"media must be sent inline (a data: URL or base64), not as a URL to fetch");
		break;
	}
	return -1;
}

/* The checks of a body that goes to a backend: 0, or 400 sent (-1). */
static int check_body(struct hreq *req, const json_t *body, bool ollama)
{
	for (size_t i = 0; i < REQSCAN_N_NUM; i++) {
		const struct reqscan_num *f = &reqscan_num_fields[i];
		const json_t *v = json_object_get(body, f->name);

		if (json_is_number(v) && !num_in(v, f->min, f->max))
			return reply_check(req, ollama, REQSCAN_CHECK_NUM, i);
	}
	if (!tokens_ok(json_object_get(body, "prompt")) || !tokens_ok(json_object_get(body, "input")))
		return reply_check(req, ollama, REQSCAN_CHECK_TOKENS, 0);
	if (!logit_bias_ok(json_object_get(body, "logit_bias")))
		return reply_check(req, ollama, REQSCAN_CHECK_LOGIT_BIAS, 0);
	if (!media_ok(body))
		return reply_check(req, ollama, REQSCAN_CHECK_MEDIA, 0);
	return 0;
}

/* Request framing a proxy in front of llmem could read differently
 * (smuggling, B19): more than one Content-Length or Transfer-Encoding,
 * both, or a Transfer-Encoding other than "chunked". http_parser refuses
 * most of these before a handler runs (400, the connection closed); it
 * takes "gzip, chunked" as chunked, which this refuses. */
static bool framing_ok(const struct hreq *req)
{
	const char *k, *v;
	int cl = 0, te = 0;

	for (size_t i = 0; hreq_header_at(req, i, &k, &v); i++) {
		if (!strcasecmp(k, "Content-Length")) {
			cl++;
		} else if (!strcasecmp(k, "Transfer-Encoding")) {
			te++;
			if (strcasecmp(v, "chunked"))
				return false;
		}
	}
	return cl <= 1 && te <= 1 && !(cl && te);
}

/* A browser's cross-site "simple" POST (text/plain, a form) has no CORS
 * preflight: a compute or state-changing endpoint takes JSON only when
 * the request comes from a page (has an Origin), B3. */
static bool json_content_type(const char *ct)
{
	static const char want[] = "application/json";

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	return !strncasecmp(ct, want, sizeof(want) - 1) &&
	       (ct[sizeof(want) - 1] == '\0' || ct[sizeof(want) - 1] == ';' || ct[sizeof(want) - 1] == ' ');
}

/* The checks of every POST before its handler: 0, or an error sent. */
static int check_post(struct hreq *req, bool ollama)
{
	size_t n;
	const char *in = hreq_body(req, &n);
	char why[96];

	if (!framing_ok(req)) {
		hreq_add_header(req, "Connection", "close");
		api_reply_error(req, 400, ollama, "ambiguous request framing (Content-Length and Transfer-Encoding)");
		return -1;
	}
	if (hreq_header(req, "Origin") && !json_content_type(hreq_header(req, "Content-Type"))) {
		api_reply_error(req, 415, ollama, "a request from a web page must be Content-Type: application/json");
		return -1;
	}
	if (n && !json_shape_ok(in, n, why, sizeof(why))) {
		api_reply_error(req, 400, ollama, "%s", why);
		return -1;
	}
	return 0;
}

/* ---- routing ---- */

/* Host, Origin and (with key) the API key. A CORS preflight is checked
 * without the key: browsers send no credentials on one (Fetch standard),
 * it answers only which methods and headers are allowed, and the request
 * it clears must carry the key all the same (B4). */
static bool check_safety(struct srv *s, struct hreq *req, bool *ollama, bool key)
{
	const char *host = hreq_header(req, "Host");
	const char *origin = hreq_header(req, "Origin");

	/* a client sends the same Host on every request: the last one
	 * allowed is remembered */
	if (!host || strcmp(host, s->host_ok)) {
		if (!tr_host_allowed(host, s->o->host, s->o->port)) {
			api_reply_error(req, 403, *ollama, "Host '%s' is not allowed (DNS rebinding defence)",
					host ? host : "");
			return false;
		}
		if (host && strlen(host) < sizeof(s->host_ok))
			memcpy(s->host_ok, host, strlen(host) + 1);
	}
	if (origin && !tr_origin_allowed(origin, s->o->origins, s->o->n_origins)) {
		api_reply_error(req, 403, *ollama, "Origin '%s' is not allowed", origin);
		return false;
	}
	if (origin) {
		hreq_add_header(req, "Access-Control-Allow-Origin", origin);
		hreq_add_header(req, "Vary", "Origin");
	}
	if (key && s->o->api_key && !tr_bearer_ok(hreq_header(req, "Authorization"), s->o->api_key)) {
		hreq_add_header(req, "WWW-Authenticate", "Bearer");
		api_reply_error(req, 401, *ollama, "a valid API key is required (Authorization: Bearer KEY)");
		return false;
	}
	return true;
}

void api_handle(struct hreq *req, void *arg)
{
	struct srv *s = arg;
	char pbuf[256];
	const char *path = req_path(req, pbuf, sizeof(pbuf));
	enum hmethod m = hreq_method(req);
	bool get = m == HM_GET || m == HM_HEAD, post = m == HM_POST;
	bool ollama = !strncmp(path, "/api/", 5);

	s->n_http++;
	if (m == HM_OPTIONS) {
		/* CORS preflight */
		if (!check_safety(s, req, &ollama, false))
			return;
		hreq_add_header(req, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
		hreq_add_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type");
		hreq_reply(req, 204, NULL, 0);
		return;
	}
	if (!strcmp(path, "/health") && get) {
		json_t *o = json_object();

		json_object_set_new(o, "status", json_string("ok"));
		api_reply_json(req, 200, o);
		return;
	}
	/* GET /, /dashboard.js, ...: the dashboard (dashboard.c) */
	if (get && dashboard_reply(s, req, path))
		return;
	if (!check_safety(s, req, &ollama, true))
		return;
	if (post && check_post(req, ollama) < 0)
		return;
	if (post && !strcmp(path, "/v1/chat/completions"))
		h_openai(s, req, "/v1/chat/completions");
	else if (post && (!strcmp(path, "/v1/completions") || !strcmp(path, "/completions")))
		h_openai(s, req, "/v1/completions");
	else if (post && (!strcmp(path, "/v1/embeddings") || !strcmp(path, "/embeddings")))
		h_openai(s, req, "/v1/embeddings");
	else if (get && (!strcmp(path, "/v1/models") || !strcmp(path, "/models")))
		h_models(s, req);
	else if (post && !strcmp(path, "/models/load"))
		h_router_load(s, req, false);
	else if (post && !strcmp(path, "/models/unload"))
		h_router_load(s, req, true);
	else if (get && !strcmp(path, "/api/tags"))
		h_tags(s, req, false);
	else if (get && !strcmp(path, "/api/ps"))
		h_tags(s, req, true);
	else if (get && !strcmp(path, "/api/version"))
		h_version(s, req);
	else if (post && !strcmp(path, "/api/show"))
		h_show(s, req);
	else if (post && !strcmp(path, "/api/chat"))
		h_ollama(s, req, RQ_OLLAMA_CHAT);
	else if (post && !strcmp(path, "/api/generate"))
		h_ollama(s, req, RQ_OLLAMA_GENERATE);
	else if (post && !strcmp(path, "/api/embed"))
		h_ollama(s, req, RQ_OLLAMA_EMBED);
	else if (post && !strcmp(path, "/api/embeddings"))
		h_ollama(s, req, RQ_OLLAMA_EMBEDDINGS);
	else if (get && !strcmp(path, "/llmem/status"))
		api_reply_json(req, 200, api_status_json(s));
	else if (get && !strcmp(path, "/metrics"))
		metrics_reply(s, req);
	else
		api_reply_error(req, 404, ollama, "no such endpoint: %s", path);
}
