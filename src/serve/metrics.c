/* metrics.c: the daemon's GET /metrics, in the Prometheus text exposition
 * format (version 0.0.4): per pool (RAM, each GPU) its total, budget and
 * what the models hold; per model its state, footprints (the scheduler's,
 * the plan's prediction, the backend's measurement), requests in flight,
 * queued and served, and counters of loads, stops by reason, crashes and
 * out-of-memory exits; the daemon's HTTP counters; the machine's memory
 * pressure (/proc/pressure/memory) and OOM kills (/proc/vmstat) when they
 * can be read; llmem_build_info. Every family has HELP and TYPE lines and
 * its samples follow them; the names are documented in llmem(1). */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "probe/doctor.h"
#include "probe/probe.h"
#include "serve/daemon-int.h"

/* A label value, escaped (backslash, double quote, newline) and cut to
 * fit n, never inside an escape. Returns buf. */
static const char *label_escape(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return buf;
	for (; s && *s; s++) {
		const char *rep = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
		size_t k = rep ? 2 : 1;

		if (o + k >= n)
			break;
		if (rep) {
			buf[o++] = rep[0];
			buf[o++] = rep[1];
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* ---- the exposition ---- */

#define LBL 256 /* an escaped label value */

static void out(struct evbuffer *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void out(struct evbuffer *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
}

/* A family's HELP and TYPE lines. */
static void fam(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A small file's text, NUL-terminated; the length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

static bool holds_memory(enum sched_state st)
{
	return st == SCHED_LOADING || st == SCHED_READY || st == SCHED_UNLOADING;
}

static void pools(struct srv *s, struct evbuffer *b)
{
	size_t np = s->o->n_pools;
	char pl[LBL];

	fam(b, "llmem_pool_total_bytes", "gauge", "Memory of the pool (system RAM, or a GPU's own memory).");
	for (size_t p = 0; p < np; p++)
		if (s->o->pool_total[p])
			out(b, "llmem_pool_total_bytes{pool=\"%s\"} %llu\n",
			    label_escape(s->o->pool_names[p], pl, sizeof(pl)),
			    (unsigned long long)s->o->pool_total[p]);
	fam(b, "llmem_pool_budget_bytes", "gauge", "What llmem may use of the pool for models.");
	for (size_t p = 0; p < np; p++)
		out(b, "llmem_pool_budget_bytes{pool=\"%s\"} %llu\n",
		    label_escape(s->o->pool_names[p], pl, sizeof(pl)),
		    (unsigned long long)s->sch.opt.budget[p]);
	fam(b, "llmem_pool_used_bytes", "gauge",
	    "What the loading, ready and unloading models hold of the pool (the sum of llmem_model_footprint_bytes).");
	for (size_t p = 0; p < np; p++)
		out(b, "llmem_pool_used_bytes{pool=\"%s\"} %llu\n",
		    label_escape(s->o->pool_names[p], pl, sizeof(pl)),
		    (unsigned long long)sched_used(&s->sch, p));
}

/* One per-pool byte family for each model that has it. which: 0 the
 * scheduler's footprint, 1 predicted, 2 measured. */
static void model_bytes(struct srv *s, struct evbuffer *b, const char *name, int which, const char *help)
{
	char ml[LBL], pl[LBL];

	fam(b, name, "gauge", help);
	for (size_t i = 0; i < s->o->reg->n; i++) {
		const struct sched_model *m = &s->sch.models[i];
		const struct bk *k = &s->bks[i];
		const uint64_t *v = which == 0 ? m->need : which == 1 ? k->plan.need : k->measured;

		if (!holds_memory(m->state) || (which == 2 && !k->has_measured))
			continue;
		label_escape(s->o->reg->v[i].name, ml, sizeof(ml));
		for (size_t p = 0; p < s->o->n_pools; p++)
			out(b, "%s{model=\"%s\",pool=\"%s\"} %llu\n", name, ml,
			    label_escape(s->o->pool_names[p], pl, sizeof(pl)), (unsigned long long)v[p]);
	}
}

enum mfield { MF_BUSY, MF_QUEUED, MF_REQUESTS, MF_LOADS, MF_CRASHES, MF_OOMS, MF_FAILURES };

static uint64_t mval(struct srv *s, size_t i, enum mfield f)
{
	const struct sched_model *m = &s->sch.models[i];

	switch (f) {
	case MF_BUSY: return m->busy;
	case MF_QUEUED: return m->n_queued;
	case MF_REQUESTS: return s->bks[i].n_requests;
	case MF_LOADS: return m->n_loads;
	case MF_CRASHES: return m->n_crashes;
	case MF_OOMS: return m->n_ooms;
	case MF_FAILURES: return m->failures;
	}
	return 0;
}

static void model_simple(struct srv *s, struct evbuffer *b, const char *name, const char *type, enum mfield f,
			 const char *help)
{
	char ml[LBL];

	fam(b, name, type, help);
	for (size_t i = 0; i < s->o->reg->n; i++)
		out(b, "%s{model=\"%s\"} %llu\n", name, label_escape(s->o->reg->v[i].name, ml, sizeof(ml)),
		    (unsigned long long)mval(s, i, f));
}

static void models(struct srv *s, struct evbuffer *b)
{
	static const enum sched_state states[] = { SCHED_UNLOADED, SCHED_LOADING, SCHED_READY, SCHED_UNLOADING,
						   SCHED_FAILED };
	char ml[LBL];

	fam(b, "llmem_model_state", "gauge",
	    "1 for the state the model is in (unloaded, loading, ready, unloading, failed), 0 for the others.");
	for (size_t i = 0; i < s->o->reg->n; i++) {
		label_escape(s->o->reg->v[i].name, ml, sizeof(ml));
		for (size_t k = 0; k < ARRAY_SIZE(states); k++)
			out(b, "llmem_model_state{model=\"%s\",state=\"%s\"} %d\n", ml, sched_state_name(states[k]),
			    s->sch.models[i].state == states[k]);
	}
	model_bytes(s, b, "llmem_model_footprint_bytes", 0,
		    "What the scheduler counts the model as holding in the pool: the plan's prediction while loading, then the measurement (loading, ready and unloading models).");
	model_bytes(s, b, "llmem_model_predicted_bytes", 1,
		    "The footprint llmem predicted for the model's plan, per pool (models with a backend).");
	model_bytes(s, b, "llmem_model_measured_bytes", 2,
		    "The footprint measured from the backend's buffers once it became healthy, per pool.");
	model_simple(s, b, "llmem_model_requests_in_flight", "gauge", MF_BUSY,
		     "Requests dispatched to the model's backend and not yet answered.");
	model_simple(s, b, "llmem_model_requests_queued", "gauge", MF_QUEUED,
		     "Requests waiting for the model (its load, or a free slot).");
	model_simple(s, b, "llmem_model_requests_total", "counter", MF_REQUESTS,
		     "Requests forwarded to the model's backend.");
	model_simple(s, b, "llmem_model_loads_total", "counter", MF_LOADS, "Backend starts of the model.");
	fam(b, "llmem_model_evictions_total", "counter",
	    "Backends the scheduler stopped, by reason: keep_alive (expired), pressure (budgets lowered), make_room (to load another model), unload_request, drain (to load a model that waited for busy ones), other.");
	for (size_t i = 0; i < s->o->reg->n; i++) {
		label_escape(s->o->reg->v[i].name, ml, sizeof(ml));
		for (int r = 0; r < SCHED_STOP_N; r++)
			out(b, "llmem_model_evictions_total{model=\"%s\",reason=\"%s\"} %llu\n", ml,
			    sched_stop_name((enum sched_stop)r), (unsigned long long)s->sch.models[i].n_stops[r]);
	}
	model_simple(s, b, "llmem_model_crashes_total", "counter", MF_CRASHES,
		     "Backends of the model that exited on their own (not out of memory).");
	model_simple(s, b, "llmem_model_oom_kills_total", "counter", MF_OOMS,
		     "Backends of the model that ran out of memory (killed, or failed to allocate).");
	model_simple(s, b, "llmem_model_start_failures", "gauge", MF_FAILURES,
		     "Failed starts of the model in a row (3 make it failed).");
}

/* The machine: memory pressure and OOM kills, when readable. */
static void machine(struct evbuffer *b)
{
	char txt[16384];
	ssize_t n;
	struct probe_psi psi;
	uint64_t v;

	n = read_small("/proc/pressure/memory", txt, sizeof(txt));
	if (n > 0 && probe_parse_psi(txt, (size_t)n, &psi) == 0 && (psi.some.present || psi.full.present)) {
		const struct probe_psi_line *l[2] = { &psi.some, &psi.full };
		const char *kind[2] = { "some", "full" };

		fam(b, "llmem_memory_pressure_ratio", "gauge",
		    "Share of time some (or all, full) tasks stalled on memory over the window (/proc/pressure/memory).");
		for (int k = 0; k < 2; k++) {
			if (!l[k]->present)
				continue;
			/* the parser keeps hundredths of a percent */
			out(b, "llmem_memory_pressure_ratio{kind=\"%s\",window=\"10s\"} %.6g\n", kind[k],
			    l[k]->avg10 / 10000.0);
			out(b, "llmem_memory_pressure_ratio{kind=\"%s\",window=\"60s\"} %.6g\n", kind[k],
			    l[k]->avg60 / 10000.0);
			out(b, "llmem_memory_pressure_ratio{kind=\"%s\",window=\"300s\"} %.6g\n", kind[k],
			    l[k]->avg300 / 10000.0);
		}
		fam(b, "llmem_memory_pressure_stalled_seconds_total", "counter",
		    "Time some (or all, full) tasks stalled on memory since boot (/proc/pressure/memory).");
		for (int k = 0; k < 2; k++)
			if (l[k]->present)
				out(b, "llmem_memory_pressure_stalled_seconds_total{kind=\"%s\"} %.6f\n", kind[k],
				    (double)l[k]->total_us / 1e6);
	}
	n = read_small("/proc/vmstat", txt, sizeof(txt));
	if (n > 0 && probe_parse_keyed_u64(txt, (size_t)n, "oom_kill", &v) == 0) {
		fam(b, "llmem_system_oom_kills_total", "counter",
		    "Processes the kernel's OOM killer killed since boot (/proc/vmstat oom_kill).");
		out(b, "llmem_system_oom_kills_total %llu\n", (unsigned long long)v);
	}
}

static void daemon_part(struct srv *s, struct evbuffer *b)
{
	char vl[LBL];

	fam(b, "llmem_build_info", "gauge", "llmem's version, as a label; the value is always 1.");
	out(b, "llmem_build_info{version=\"%s\"} 1\n", label_escape(s->o->version, vl, sizeof(vl)));
	fam(b, "llmem_uptime_seconds", "gauge", "Seconds since the daemon started.");
	out(b, "llmem_uptime_seconds %.3f\n", (double)(srv_now() - s->started_ms) / 1000);
	fam(b, "llmem_http_requests_total", "counter", "HTTP requests the daemon received (this one included).");
	out(b, "llmem_http_requests_total %llu\n", (unsigned long long)s->n_http);
	fam(b, "llmem_requests_open", "gauge", "Model requests not yet answered (queued, loading or in flight).");
	out(b, "llmem_requests_open %zu\n", s->n_rqs);
	fam(b, "llmem_requests_rejected_total", "counter",
	    "Model requests the scheduler turned down (full queue, no memory in time, failed model).");
	out(b, "llmem_requests_rejected_total %llu\n", (unsigned long long)s->n_rejected);
}

void metrics_reply(struct srv *s, struct hreq *req)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		api_reply_error(req, 500, false, "out of memory");
		return;
	}
	daemon_part(s, b);
	pools(s, b);
	models(s, b);
	machine(b);
	hreq_add_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	hreq_reply(req, 200, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
}
