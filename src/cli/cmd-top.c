/* cmd-top.c: `llmem top`: a live view of the machine's memory and the
 * models in it. The pools with bars (system RAM, swap, each GPU's memory
 * from the probe, a unified GPU's shared RAM counted once), the memory
 * pressure (/proc/pressure/memory) and the OOM kills since boot
 * (/proc/vmstat); then each model of a running `llmem serve` (GET
 * /llmem/status: state, size, processor split, keep-alive countdown,
 * requests in flight and queued) or, when no daemon answers, each
 * llama-server process in /proc with its resident memory and the GPU
 * memory NVML or amdgpu (fdinfo) lists for it. ncurses, refreshed every -d seconds; keys: s
 * or F6 sort, up/down select, u unload the selected model, q quit. With
 * -n N, or when stdout is not a terminal, it prints plain snapshots. */
#include "base/compat.h"

#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-client.h"
#include "cli/cmd-top.h"
#include "probe/doctor.h"
#include "probe/probe.h"

#define TOP_STATUS_TIMEOUT_S 2

/* ---- the pure part (cmd-top.h) ---- */

static uint64_t json_u64(const json_t *j)
{
	json_int_t v = json_integer_value(j);

	return v > 0 ? (uint64_t)v : 0;
}

static bool holds_memory(const char *state)
{
	return !strcmp(state, "ready") || !strcmp(state, "loading") || !strcmp(state, "unloading");
}

static int64_t until_of(const json_t *m, const char *state, time_t now)
{
	const json_t *ka = json_object_get(m, "keep_alive_ms");
	const char *exp;
	struct tm tm;
	time_t t;

	if (strcmp(state, "ready"))
		return TOP_UNTIL_NA;
	if (json_is_true(json_object_get(m, "pin")) || (json_is_integer(ka) && json_integer_value(ka) < 0))
		return TOP_UNTIL_FOREVER;
	if (json_integer_value(json_object_get(m, "busy")) > 0 || json_integer_value(json_object_get(m, "queued")) > 0)
		return TOP_UNTIL_BUSY;
	exp = json_string_value(json_object_get(m, "expires_at"));
	memset(&tm, 0, sizeof(tm));
	if (!exp || !strptime(exp, "%Y-%m-%dT%H:%M:%S", &tm))
		return TOP_UNTIL_NA;
	t = timegm(&tm);
	return t > now ? (int64_t)(t - now) : 0;
}

int cmd_top_status_parse(const char *text, size_t n, time_t now, struct top_models *m)
{
	json_t *st = json_loadb(text, n, 0, NULL), *models, *pools;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(st) || !json_is_array(models = json_object_get(st, "models"))) {
		json_decref(st);
		return -EBADMSG;
	}
	m->daemon = true;
	snprintf(m->version, sizeof(m->version), "%s",
		 json_string_value(json_object_get(st, "version")) ? json_string_value(json_object_get(st, "version"))
								    : "");
	m->uptime_ms = (int64_t)json_integer_value(json_object_get(st, "uptime_ms"));
	pools = json_object_get(st, "pools");
	for (size_t p = 0; p < json_array_size(pools) && m->n_budgets < TOP_MAX_POOLS; p++) {
		const json_t *po = json_array_get(pools, p);
		struct top_budget *b = &m->budgets[m->n_budgets++];
		const char *nm = json_string_value(json_object_get(po, "name"));

		snprintf(b->name, sizeof(b->name), "%s", nm ? nm : "?");
		b->used = json_u64(json_object_get(po, "used"));
		b->budget = json_u64(json_object_get(po, "budget"));
	}
	for (size_t i = 0; i < json_array_size(models); i++) {
		const json_t *j = json_array_get(models, i), *fp = json_object_get(j, "footprint");
		const char *nm = json_string_value(json_object_get(j, "name"));
		const char *state = json_string_value(json_object_get(j, "state"));
		struct top_model *tm;

		if (m->n == TOP_MAX_MODELS) {
			m->truncated = true;
			break;
		}
		tm = &m->v[m->n++];
		memset(tm, 0, sizeof(*tm));
		snprintf(tm->name, sizeof(tm->name), "%s", nm ? nm : "?");
		snprintf(tm->state, sizeof(tm->state), "%s", state ? state : "?");
		if (holds_memory(tm->state)) {
			for (size_t p = 0; p < json_array_size(fp); p++) {
				uint64_t v = json_u64(json_array_get(fp, p));

				tm->size += v;
				if (p > 0)
					tm->gpu += v;
			}
			tm->ctx = (int64_t)json_integer_value(json_object_get(j, "ctx_size"));
			tm->pid = (uint32_t)json_u64(json_object_get(j, "pid"));
		}
		tm->busy = (uint32_t)json_u64(json_object_get(j, "busy"));
		tm->queued = (uint32_t)json_u64(json_object_get(j, "queued"));
		tm->until_s = until_of(j, tm->state, now);
		tm->gpu_known = true;
	}
	json_decref(st);
	return 0;
}

static int state_rank(const char *s)
{
	static const char *const order[] = { "ready", "loading", "unloading", "failed", "unloaded" };

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (!strcmp(s, order[i]))
			return (int)i;
	return (int)ARRAY_SIZE(order);
}

static int by_name(const void *a, const void *b)
{
	const struct top_model *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->pid > y->pid) - (x->pid < y->pid);
}

static int by_size(const void *a, const void *b)
{
	const struct top_model *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return by_name(a, b);
}

static int by_state(const void *a, const void *b)
{
	const struct top_model *x = a, *y = b;
	int rx = state_rank(x->state), ry = state_rank(y->state);

	return rx != ry ? rx - ry : by_name(a, b);
}

void cmd_top_sort(struct top_models *m, enum top_sort by)
{
	qsort(m->v, m->n, sizeof(m->v[0]), by == TOP_SORT_SIZE ? by_size : by == TOP_SORT_STATE ? by_state : by_name);
}

const char *cmd_top_sort_name(enum top_sort by)
{
	return by == TOP_SORT_SIZE ? "size" : by == TOP_SORT_STATE ? "state" : "name";
}

void cmd_top_bar(uint64_t used, uint64_t total, size_t width, char *buf, size_t n)
{
	size_t inner, fill = 0, o = 0;

	if (n == 0)
		return;
	if (width < 3)
		width = 3;
	if (width > n - 1)
		width = n - 1;
	inner = width - 2;
	if (total > 0) {
		double f = (double)(used < total ? used : total) / (double)total;

		fill = (size_t)(f * (double)inner + 0.5);
		if (fill == 0 && used > 0)
			fill = 1;
	}
	buf[o++] = '[';
	for (size_t i = 0; i < inner; i++)
		buf[o++] = i < fill ? '|' : ' ';
	buf[o++] = ']';
	buf[o] = '\0';
}

void cmd_top_until(int64_t s, char *buf, size_t n)
{
	if (s == TOP_UNTIL_FOREVER)
		snprintf(buf, n, "forever");
	else if (s == TOP_UNTIL_BUSY)
		snprintf(buf, n, "busy");
	else if (s < 0)
		snprintf(buf, n, "-");
	else if (s >= 3600)
		snprintf(buf, n, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
			 (long long)(s % 60));
	else
		snprintf(buf, n, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

/* ---- the machine ---- */

struct top_bar_line {
	char name[PROBE_ID_MAX + 8];
	char note[160];
	uint64_t used, total;
	bool none;          /* swap: none configured */
};

struct top {
	const char *host;
	struct probe_options po;
	struct probe_result *pr;
	bool have_probe;
	char probe_err[256];
	struct top_bar_line bars[PROBE_MAX_POOLS + 1];
	size_t n_bars;
	bool has_psi;
	struct probe_psi psi;
	bool has_oom;
	uint64_t oom_kills;
	struct top_models m;
	char daemon_note[200];   /* why the models are processes */
	enum top_sort sort;
	size_t sel;
	char sel_name[160];
	uint32_t sel_pid;
	char msg[200];           /* the last key's outcome */
};

static void human(uint64_t b, char *buf, size_t n)
{
	if (b >= 1000000000ull)
		snprintf(buf, n, "%.1f GB", (double)b / 1e9);
	else if (b >= 1000000ull)
		snprintf(buf, n, "%.0f MB", (double)b / 1e6);
	else if (b >= 1000ull)
		snprintf(buf, n, "%.0f kB", (double)b / 1e3);
	else
		snprintf(buf, n, "%llu B", (unsigned long long)b);
}

/* A small file's text (NUL-terminated) or NULL. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max, f);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void machine_read(struct top *t)
{
	struct diag d;
	char *txt;
	size_t n;

	t->n_bars = 0;
	diag_init(&d);
	t->have_probe = probe_run(&t->po, t->pr, &d) == 0;
	if (!t->have_probe) {
		snprintf(t->probe_err, sizeof(t->probe_err), "%s", d.msg);
	} else {
		const struct probe_result *r = t->pr;

		for (size_t p = 0; p < r->n_pools && t->n_bars < ARRAY_SIZE(t->bars); p++) {
			const struct probe_pool *pl = &r->pools[p];
			struct top_bar_line *b = &t->bars[t->n_bars++];
			size_t o = 0;

			memset(b, 0, sizeof(*b));
			snprintf(b->name, sizeof(b->name), "%s", p == 0 ? "RAM" : pl->id);
			b->total = pl->total;
			b->used = pl->total > pl->free ? pl->total - pl->free : 0;
			/* the devices that draw on it (a unified GPU on RAM) */
			for (size_t i = 1; i < r->n_devices; i++) {
				const struct probe_device *dv = &r->devices[i];

				if (!dv->n_draws || dv->draws[0].pool != p || o >= sizeof(b->note) - 1)
					continue;
				o += (size_t)snprintf(b->note + o, sizeof(b->note) - o, "%s%s%s", o ? ", " : "",
						      p == 0 ? "shared with " : "", dv->model[0] ? dv->model : dv->id);
			}
			if (p == 0 && pl->limit != PROBE_UNLIMITED && pl->limit < pl->total && o < sizeof(b->note) - 1) {
				char l[32];

				human(pl->limit, l, sizeof(l));
				snprintf(b->note + o, sizeof(b->note) - o, "%scgroup limit %s", o ? ", " : "", l);
			}
			if (p == 0 && t->n_bars < ARRAY_SIZE(t->bars)) {
				struct top_bar_line *s = &t->bars[t->n_bars++];

				memset(s, 0, sizeof(*s));
				snprintf(s->name, sizeof(s->name), "Swap");
				s->total = r->mem.swap_total;
				s->used = r->mem.swap_total > r->mem.swap_free ? r->mem.swap_total - r->mem.swap_free : 0;
				s->none = r->mem.swap_total == 0;
			}
		}
	}
	t->has_psi = false;
	if ((txt = slurp("/proc/pressure/memory", 4096, &n))) {
		t->has_psi = probe_parse_psi(txt, n, &t->psi) == 0 && (t->psi.some.present || t->psi.full.present);
		free(txt);
	}
	t->has_oom = false;
	if ((txt = slurp("/proc/vmstat", 65536, &n))) {
		t->has_oom = probe_parse_keyed_u64(txt, n, "oom_kill", &t->oom_kills) == 0;
		free(txt);
	}
}

/* ---- llama-server processes (no daemon) ---- */

/* GPU memory the probe lists for pid (NVML, amdgpu fdinfo): the sum over the GPUs; false if none. */
static bool gpu_of(const struct top *t, uint32_t pid, uint64_t *bytes)
{
	bool found = false;

	*bytes = 0;
	if (!t->have_probe)
		return false;
	for (size_t i = 0; i < t->pr->n_devices; i++) {
		const struct probe_device *dv = &t->pr->devices[i];

		for (size_t k = 0; k < dv->n_procs; k++) {
			if (dv->procs[k].pid != pid)
				continue;
			found = true;
			if (dv->procs[k].used != PROBE_UNKNOWN)
				*bytes += dv->procs[k].used;
		}
	}
	return found;
}

/* The model a llama-server command line serves: --alias, else -m's file
 * name without ".gguf"; its -c. */
static void cmdline_model(const char *buf, size_t n, struct top_model *m)
{
	const char *prev = NULL, *model = NULL, *alias = NULL;

	for (size_t o = 0; o < n;) {
		const char *a = buf + o;
		size_t k = strnlen(a, n - o);

		if (prev && (!strcmp(prev, "-m") || !strcmp(prev, "--model")))
			model = a;
		else if (prev && (!strcmp(prev, "-a") || !strcmp(prev, "--alias")))
			alias = a;
		else if (prev && (!strcmp(prev, "-c") || !strcmp(prev, "--ctx-size")))
			m->ctx = strtoll(a, NULL, 10);
		prev = a;
		o += k + 1;
	}
	if (alias) {
		snprintf(m->name, sizeof(m->name), "%s", alias);
	} else if (model) {
		const char *b = strrchr(model, '/');
		size_t k;

		b = b ? b + 1 : model;
		k = strlen(b);
		if (k > 5 && !strcmp(b + k - 5, ".gguf"))
			k -= 5;
		snprintf(m->name, sizeof(m->name), "%.*s", (int)k, b);
	} else {
		snprintf(m->name, sizeof(m->name), "?");
	}
}

static void procs_read(struct top *t)
{
	struct top_models *m = &t->m;
	struct dirent *de;
	DIR *dir = opendir("/proc");

	memset(m, 0, sizeof(*m));
	if (!dir)
		return;
	while ((de = readdir(dir)) != NULL) {
		char path[64], *txt;
		struct probe_proc_status st;
		struct top_model *tm;
		uint64_t pid;
		size_t n;
		bool is_server;

		if (parse_u64(de->d_name, &pid) < 0 || pid == 0 || pid > UINT32_MAX)
			continue;
		snprintf(path, sizeof(path), "/proc/%llu/comm", (unsigned long long)pid);
		if (!(txt = slurp(path, 64, &n)))
			continue;
		is_server = !strcmp(txt, "llama-server\n");
		free(txt);
		if (!is_server)
			continue;
		if (m->n == TOP_MAX_MODELS) {
			m->truncated = true;
			break;
		}
		tm = &m->v[m->n];
		memset(tm, 0, sizeof(*tm));
		tm->pid = (uint32_t)pid;
		snprintf(tm->state, sizeof(tm->state), "running");
		tm->until_s = TOP_UNTIL_NA;
		snprintf(path, sizeof(path), "/proc/%llu/cmdline", (unsigned long long)pid);
		if ((txt = slurp(path, 65536, &n))) {
			cmdline_model(txt, n, tm);
			free(txt);
		}
		snprintf(path, sizeof(path), "/proc/%llu/status", (unsigned long long)pid);
		if (!(txt = slurp(path, 65536, &n)))
			continue; /* gone meanwhile */
		if (probe_parse_proc_status(txt, n, &st) == 0 && st.vm_rss != PROBE_UNKNOWN)
			tm->rss = st.vm_rss;
		free(txt);
		tm->gpu_known = gpu_of(t, tm->pid, &tm->gpu);
		tm->size = tm->rss + tm->gpu;
		m->n++;
	}
	closedir(dir);
}

/* ---- one refresh ---- */

static void models_read(struct top *t)
{
	struct cmd_call c;
	int e = cmd_daemon_call(t->host, "GET", "/llmem/status", NULL, TOP_STATUS_TIMEOUT_S, true, &c);

	t->daemon_note[0] = '\0';
	if (e == 0 && c.status == 200 && c.body &&
	    cmd_top_status_parse(c.body, c.len, time(NULL), &t->m) == 0) {
		free(c.body);
		return;
	}
	if (e == -EINVAL)
		snprintf(t->daemon_note, sizeof(t->daemon_note), "bad host '%s'", t->host);
	else if (e < 0)
		snprintf(t->daemon_note, sizeof(t->daemon_note), "no llmem serve at %s", t->host);
	else
		snprintf(t->daemon_note, sizeof(t->daemon_note), "llmem serve at %s answered %d", t->host, c.status);
	free(c.body);
	procs_read(t);
}

/* Keeps the selection on the same model across refreshes and sorts. */
static void select_fix(struct top *t)
{
	if (t->sel_name[0]) {
		for (size_t i = 0; i < t->m.n; i++) {
			if (!strcmp(t->m.v[i].name, t->sel_name) && (!t->sel_pid || t->m.v[i].pid == t->sel_pid)) {
				t->sel = i;
				return;
			}
		}
	}
	if (t->sel >= t->m.n)
		t->sel = t->m.n ? t->m.n - 1 : 0;
	if (t->m.n) {
		snprintf(t->sel_name, sizeof(t->sel_name), "%s", t->m.v[t->sel].name);
		t->sel_pid = t->m.daemon ? 0 : t->m.v[t->sel].pid;
	}
}

static void select_set(struct top *t, size_t i)
{
	if (!t->m.n)
		return;
	t->sel = i < t->m.n ? i : t->m.n - 1;
	snprintf(t->sel_name, sizeof(t->sel_name), "%s", t->m.v[t->sel].name);
	t->sel_pid = t->m.daemon ? 0 : t->m.v[t->sel].pid;
}

static void refresh_all(struct top *t)
{
	machine_read(t);
	models_read(t);
	cmd_top_sort(&t->m, t->sort);
	select_fix(t);
}

/* ---- drawing: the same lines on a terminal (curses) or as text ---- */

struct sink {
	bool curses;
	FILE *fp;
	int row, rows, cols;
};

static void line(struct sink *s, int attr, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void line(struct sink *s, int attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!s->curses) {
		size_t k = strlen(buf);

		while (k && buf[k - 1] == ' ')
			buf[--k] = '\0';
		fprintf(s->fp, "%s\n", buf);
		return;
	}
	if (s->row >= s->rows - 1) /* the last row is the key line */
		return;
	if (attr)
		attron(attr);
	mvaddnstr(s->row, 0, buf, s->cols);
	if (attr & A_REVERSE) {
		int len = (int)strlen(buf);

		for (int x = len; x < s->cols; x++)
			mvaddch(s->row, x, ' ');
	}
	if (attr)
		attroff(attr);
	s->row++;
}

static void fmt_uptime(int64_t ms, char *buf, size_t n)
{
	long long s = (long long)(ms / 1000);

	if (s >= 86400)
		snprintf(buf, n, "%lldd %02lld:%02lld", s / 86400, s / 3600 % 24, s / 60 % 60);
	else
		snprintf(buf, n, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static void draw_machine(const struct top *t, struct sink *s)
{
	size_t barw = s->curses && s->cols > 100 ? (size_t)(s->cols - 70) : 30;
	char bar[256], u[32], tot[32];

	if (barw > 60)
		barw = 60;
	if (!t->have_probe)
		line(s, 0, "memory: cannot read this machine's memory: %s", t->probe_err);
	for (size_t i = 0; i < t->n_bars; i++) {
		const struct top_bar_line *b = &t->bars[i];

		if (b->none) {
			line(s, 0, "%-6s none", b->name);
			continue;
		}
		cmd_top_bar(b->used, b->total, barw, bar, sizeof(bar));
		human(b->used, u, sizeof(u));
		human(b->total, tot, sizeof(tot));
		line(s, 0, "%-6s %s %9s / %-9s %3.0f%%%s%s", b->name, bar, u, tot,
		     b->total ? 100.0 * (double)b->used / (double)b->total : 0.0, b->note[0] ? "  " : "", b->note);
	}
	{
		char psi[160], oom[48];

		if (t->has_psi) {
			const struct probe_psi_line *l[2] = { &t->psi.some, &t->psi.full };
			size_t o = (size_t)snprintf(psi, sizeof(psi), "PSI memory (10s/60s/300s):");

			for (int k = 0; k < 2 && o < sizeof(psi); k++)
				if (l[k]->present)
					o += (size_t)snprintf(psi + o, sizeof(psi) - o, " %s %.2f%% %.2f%% %.2f%%",
							      k ? "full" : "some", l[k]->avg10 / 100.0,
							      l[k]->avg60 / 100.0, l[k]->avg300 / 100.0);
		} else {
			snprintf(psi, sizeof(psi), "PSI memory: not available");
		}
		if (t->has_oom)
			snprintf(oom, sizeof(oom), "OOM kills since boot: %llu", (unsigned long long)t->oom_kills);
		else
			snprintf(oom, sizeof(oom), "OOM kills: unknown");
		line(s, 0, "%s   %s", psi, oom);
	}
}

static void draw_models(const struct top *t, struct sink *s)
{
	const struct top_models *m = &t->m;
	char sz[32], proc[32], ctx[16], until[24], gpu[32];

	if (m->daemon) {
		char up[32], o[512];
		size_t k = 0;

		fmt_uptime(m->uptime_ms, up, sizeof(up));
		k += (size_t)snprintf(o + k, sizeof(o) - k, "llmem serve %s at %s, up %s; models hold", m->version,
				      t->host, up);
		for (size_t p = 0; p < m->n_budgets && k < sizeof(o); p++) {
			char a[32], b[32];

			human(m->budgets[p].used, a, sizeof(a));
			human(m->budgets[p].budget, b, sizeof(b));
			k += (size_t)snprintf(o + k, sizeof(o) - k, "%s %s %s of %s", p ? "," : "", m->budgets[p].name,
					      a, b);
		}
		line(s, 0, "%s", o);
		line(s, 0, "%s", "");
		line(s, A_BOLD, "  %-28s %-10s %-9s %-16s %-7s %-9s %5s %6s", "NAME", "STATE", "SIZE", "PROCESSOR",
		     "CONTEXT", "UNTIL", "BUSY", "QUEUED");
		for (size_t i = 0; i < m->n; i++) {
			const struct top_model *x = &m->v[i];
			bool sel = s->curses && i == t->sel;

			if (x->size) {
				cmd_daemon_size(x->size, sz, sizeof(sz));
				cmd_daemon_processor(x->size, x->gpu, proc, sizeof(proc));
			} else {
				snprintf(sz, sizeof(sz), "-");
				snprintf(proc, sizeof(proc), "-");
			}
			if (x->ctx)
				snprintf(ctx, sizeof(ctx), "%lld", (long long)x->ctx);
			else
				snprintf(ctx, sizeof(ctx), "-");
			cmd_top_until(x->until_s, until, sizeof(until));
			line(s, sel ? A_REVERSE : 0, "%s %-28.28s %-10s %-9s %-16s %-7s %-9s %5u %6u", sel ? ">" : " ",
			     x->name, x->state, sz, proc, ctx, until, x->busy, x->queued);
		}
		if (!m->n)
			line(s, 0, "  (no models)");
	} else {
		line(s, 0, "%s: llama-server processes", t->daemon_note);
		line(s, 0, "%s", "");
		line(s, A_BOLD, "  %-8s %-28s %-9s %-9s %-7s", "PID", "NAME", "RSS", "GPU", "CONTEXT");
		for (size_t i = 0; i < m->n; i++) {
			const struct top_model *x = &m->v[i];
			bool sel = s->curses && i == t->sel;

			human(x->rss, sz, sizeof(sz));
			if (x->gpu_known)
				human(x->gpu, gpu, sizeof(gpu));
			else
				snprintf(gpu, sizeof(gpu), "-");
			if (x->ctx)
				snprintf(ctx, sizeof(ctx), "%lld", (long long)x->ctx);
			else
				snprintf(ctx, sizeof(ctx), "-");
			line(s, sel ? A_REVERSE : 0, "%s %-8u %-28.28s %-9s %-9s %-7s", sel ? ">" : " ", x->pid, x->name,
			     sz, gpu, ctx);
		}
		if (!m->n)
			line(s, 0, "  (none)");
	}
	if (m->truncated)
		line(s, 0, "  (more than %d: the rest not shown)", TOP_MAX_MODELS);
}

static void draw(const struct top *t, struct sink *s)
{
	char now[32];
	time_t tt = time(NULL);
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(now, sizeof(now), "%H:%M:%S", &tm);
	line(s, A_BOLD, "llmem top - %s - sort: %s", now, cmd_top_sort_name(t->sort));
	draw_machine(t, s);
	line(s, 0, "%s", "");
	draw_models(t, s);
}

static void draw_screen(const struct top *t)
{
	struct sink s = { .curses = true, .fp = NULL, .row = 0 };

	getmaxyx(stdscr, s.rows, s.cols);
	erase();
	draw(t, &s);
	{
		char keys[256];

		snprintf(keys, sizeof(keys), "s/F6 sort (%s)  up/down select  u unload  q quit%s%s",
			 cmd_top_sort_name(t->sort), t->msg[0] ? "  | " : "", t->msg);
		attron(A_REVERSE);
		mvaddnstr(s.rows - 1, 0, keys, s.cols);
		for (int x = (int)strlen(keys); x < s.cols; x++)
			mvaddch(s.rows - 1, x, ' ');
		attroff(A_REVERSE);
	}
	refresh();
}

/* ---- keys ---- */

static void unload_selected(struct top *t)
{
	struct cmd_call c;
	json_t *b;
	char *body;
	const char *name;

	if (!t->m.daemon) {
		snprintf(t->msg, sizeof(t->msg), "no llmem serve: nothing to unload");
		return;
	}
	if (!t->m.n) {
		snprintf(t->msg, sizeof(t->msg), "no model selected");
		return;
	}
	name = t->m.v[t->sel].name;
	b = json_object();
	json_object_set_new(b, "model", json_string(name));
	body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (!body)
		return;
	if (cmd_daemon_call(t->host, "POST", "/models/unload", body, 10, true, &c) < 0)
		snprintf(t->msg, sizeof(t->msg), "unload %s: no answer from %s", name, t->host);
	else if (c.status != 200)
		snprintf(t->msg, sizeof(t->msg), "unload %s: HTTP %d", name, c.status);
	else
		snprintf(t->msg, sizeof(t->msg), "unloading %s", name);
	free(c.body);
	free(body);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run_curses(struct top *t, int64_t delay_ms)
{
	int64_t next = 0;
	bool quit = false;

	if (!initscr())
		return CMD_EXIT_FAIL;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(100);
	while (!quit) {
		int ch;
		bool redraw = false;

		if (mono_ms() >= next) {
			refresh_all(t);
			next = mono_ms() + delay_ms;
			redraw = true;
		}
		if (redraw)
			draw_screen(t);
		ch = getch();
		switch (ch) {
		case ERR: {
			/* a terminal that went away without SIGHUP makes getch()
			 * return at once: stop rather than spin */
			struct pollfd pf = { STDIN_FILENO, POLLIN, 0 };

			if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR | POLLNVAL)))
				quit = true;
			break;
		}
		case 'q':
		case 'Q':
			quit = true;
			break;
		case 's':
		case 'S':
		case KEY_F(6):
			t->sort = (enum top_sort)((t->sort + 1) % TOP_SORT_N);
			cmd_top_sort(&t->m, t->sort);
			select_fix(t);
			draw_screen(t);
			break;
		case KEY_UP:
		case 'k':
			if (t->sel > 0)
				select_set(t, t->sel - 1);
			draw_screen(t);
			break;
		case KEY_DOWN:
		case 'j':
			select_set(t, t->sel + 1);
			draw_screen(t);
			break;
		case 'u':
		case 'U':
			unload_selected(t);
			next = 0; /* show it at once */
			break;
		case KEY_RESIZE:
			draw_screen(t);
			break;
		default:
			break;
		}
	}
	endwin();
	return CMD_EXIT_OK;
}

static void top_usage(FILE *fp)
{
	fputs("usage: llmem top [--host ADDR[:PORT]] [-d SECS] [-n N]\n"
	      "\n"
	      "A live view of the memory and the models in it: system RAM, swap and each\n"
	      "GPU's memory as bars, the memory pressure (PSI) and the OOM kills since boot;\n"
	      "then each model of a running 'llmem serve' (state, size, CPU/GPU split,\n"
	      "keep-alive countdown, requests in flight and queued), or, when no daemon\n"
	      "answers, each llama-server process with its resident and GPU memory.\n"
	      "\n"
	      "  --host ADDR[:PORT]  the daemon (LLMEM_HOST; default 127.0.0.1:11435)\n"
	      "  -d SECS             refresh every SECS seconds (default 1)\n"
	      "  -n N                print N plain snapshots, -d apart, and exit (the default\n"
	      "                      when stdout is not a terminal: one)\n"
	      "\n"
	      "Keys: s or F6 cycles the sort (name, size, state); up/down (or k/j) select;\n"
	      "u unloads the selected model; q quits.\n", fp);
}

static int top_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top *t;
	double delay = 1.0;
	uint64_t iters = 0;
	bool plain;
	int o, rc = CMD_EXIT_OK;

	t = calloc(1, sizeof(*t));
	if (!t || !(t->pr = calloc(1, sizeof(*t->pr)))) {
		free(t);
		cmd_error("out of memory");
		return CMD_EXIT_FAIL;
	}
	t->host = cmd_daemon_host();
	optind = 1;
	while ((o = getopt_long(argc, argv, "d:n:h", opts, NULL)) != -1) {
		switch (o) {
		case 'H': t->host = optarg; break;
		case 'd':
			if (parse_double(optarg, &delay) < 0 || delay < 0.1 || delay > 86400) {
				cmd_error("-d '%s': expected seconds, 0.1 or more", optarg);
				rc = CMD_EXIT_INPUT;
				goto out;
			}
			break;
		case 'n':
			if (parse_u64(optarg, &iters) < 0 || iters < 1 || iters > 1000000) {
				cmd_error("-n '%s': expected a count, 1 or more", optarg);
				rc = CMD_EXIT_INPUT;
				goto out;
			}
			break;
		case 'h': top_usage(stdout); goto out;
		default: top_usage(stderr); rc = CMD_EXIT_INPUT; goto out;
		}
	}
	if (optind != argc) {
		top_usage(stderr);
		rc = CMD_EXIT_INPUT;
		goto out;
	}
	cmd_probe_options(NULL, &t->po);
	plain = iters > 0 || !isatty(STDOUT_FILENO);
	if (plain) {
		struct sink s = { .curses = false, .fp = stdout };

		if (!iters)
			iters = 1;
		for (uint64_t i = 0; i < iters; i++) {
			if (i) {
				struct timespec ts = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };

				while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
					;
				fputc('\n', stdout);
			}
			refresh_all(t);
			draw(t, &s);
			fflush(stdout);
		}
	} else {
		rc = run_curses(t, (int64_t)(delay * 1000));
	}
out:
	free(t->pr);
	free(t);
	return rc;
}

const struct cmd cmd_top = {
	.name = "top",
	.summary = "a live view of memory, pressure and the models in it",
	.run = top_run,
	.usage = top_usage,
};
