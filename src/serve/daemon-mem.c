/* daemon-mem.c: the daemon's side of memory pressure and of the backends'
 * cgroups (issue #7 items 4 and 5). Every second, and at once when a PSI
 * trigger fires, the budget hook (serve/pressure.h) reads MemAvailable and
 * gives the budgets the scheduler is held to (sched_set_budget_why(): idle
 * models go while other programs need the memory). Where the daemon's
 * cgroup is delegated (serve/cgroup.h), each backend starts in a cgroup
 * of its own limited to its planned footprint and a margin; a backend the
 * kernel's OOM killer kills there is reported as out of memory, and the
 * cgroup is removed once the backend has exited. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/cgroup.h"
#include "serve/daemon-int.h"
#include "serve/pressure.h"

#define MEM_PERIOD_MS 1000
#define MAX_PENDING 32
#define MIB (UINT64_C(1) << 20)

/* The readings are taken by a thread of its own. On the loop, one reading
 * (MemAvailable, the cgroup and each of its parents, PSI, each backend's
 * /proc/PID/status: some 40 files) held every request that came in
 * meanwhile, once a second, and only on llmem's path: about 1 ms here
 * (2 ms under perf trace), a tail that a proxy such as nginx does not
 * have. The loop now only applies a reading (budget_apply, pure) when
 * the thread says one is ready. */
struct srv_mem {
	struct event *ev_timer;     /* every MEM_PERIOD_MS, when there is no thread */
	struct event *ev_psi;       /* the PSI trigger fired */
	struct event *ev_ready;     /* the thread has a reading */
	bool psi_on;                /* ev_psi is waited on */
	struct serve_pressure pr;   /* the last reading applied */
	struct cgroup_model *cg;    /* per model: its backend's cgroup */
	char *cg_err;               /* per model: why its backend has none */
	size_t n;
	/* cgroups whose removal failed (a process still in them): retried */
	struct cgroup_model pending[MAX_PENDING];
	size_t n_pending;
	uint64_t n_cg_made, n_cg_failed, n_cg_ooms;
	/* the reading thread: wake (loop to thread: 'r' read now, 'q'
	 * stop), ready (thread to loop); under mu, the running backends'
	 * pids and their generation (bumped by the loop whenever a backend
	 * starts or ends), the thread's last reading and the generation it
	 * was taken with: a reading of another set of backends than the
	 * scheduler's held is not applied (their mapped weights would be
	 * counted in one and not the other) */
	pthread_t th;
	bool th_on;
	int wake[2], ready[2];
	pthread_mutex_t mu;
	pid_t *pids, *th_pids; /* the loop's; the thread's copy */
	size_t n_pids;
	uint64_t gen, fresh_gen;
	struct serve_pressure fresh;
	bool fresh_set;
	const struct serve_hooks *hooks;
};

#define CG_ERR_LEN 200

static void retry_pending(struct srv_mem *m)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n_pending; i++)
		if (cgroup_model_remove(&m->pending[i]) < 0)
			m->pending[k++] = m->pending[i];
	m->n_pending = k;
}

/* Removes c, or keeps it to try again later. */
static void cg_drop(struct srv_mem *m, struct cgroup_model *c)
{
	if (!c->active)
		return;
	if (cgroup_model_remove(c) == 0)
		return;
	if (m->n_pending < MAX_PENDING)
		m->pending[m->n_pending++] = *c;
	c->active = false;
}

/* The backends' mapped weights (in MemAvailable and in held both) and the
 * reading; thread-safe: pids is the caller's. */
static int mem_read(const struct serve_hooks *h, const pid_t *pids, size_t n, struct serve_pressure *p)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n; i++) {
		uint64_t anon, file;

		if (backend_rss(pids[i], NULL, &anon, &file) == 0)
			p->mapped += file;
	}
	return h->budget_read(h->budget_ctx, p);
}

/* the running backends' pids, for the thread (the loop's, under m->mu) */
static size_t pids_collect(struct srv *s, pid_t *out)
{
	size_t k = 0;

	for (size_t i = 0; i < s->o->reg->n; i++)
		if (s->bks[i].running && s->bks[i].proc.pid > 0)
			out[k++] = s->bks[i].proc.pid;
	return k;
}

/* Applies reading p (on the loop). */
static void mem_apply(struct srv *s, struct serve_pressure *p)
{
	struct srv_mem *m = s->mem;
	uint64_t held[SCHED_MAX_POOLS] = { 0 }, budget[SCHED_MAX_POOLS];

	for (size_t i = 0; i < s->o->n_pools; i++)
		held[i] = sched_used(&s->sch, i);
	memcpy(budget, s->sch.opt.budget, sizeof(budget));
	s->o->hooks.budget_apply(s->o->hooks.budget_ctx, held, budget, p);
	p->n_triggers = m->pr.n_triggers;
	m->pr = *p;
	sched_set_budget_why(&s->sch, srv_now(), budget, p->why, &s->acts);
	srv_actions_run(s);
}

/* Reads and applies now, on the loop: at the start, and without a thread. */
void srv_mem_update(struct srv *s)
{
	struct srv_mem *m = s->mem;
	struct serve_pressure p;
	size_t n;

	if (!m)
		return;
	retry_pending(m);
	if (!s->o->hooks.budget_read || s->stopping)
		return;
	n = pids_collect(s, m->pids);
	if (mem_read(&s->o->hooks, m->pids, n, &p) < 0)
		return;
	mem_apply(s, &p);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	srv_mem_update(arg);
}

/* Empties pipe fd; true when 'q' (stop) was in it. */
static bool drain(int fd)
{
	char buf[64];
	bool stop = false;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && memchr(buf, 'q', (size_t)r))
			stop = true;
	return stop;
}

static void poke(int fd, char c)
{
	ssize_t w;

	do
		w = write(fd, &c, 1);
	while (w < 0 && errno == EINTR);
	/* EAGAIN: the pipe is full, so the other side will wake anyway */
}

/* The thread: reads every MEM_PERIOD_MS and when poked, until told to
 * stop. It never ends on its own: the budgets would stand still. */
static void *mem_main(void *arg)
{
	struct srv_mem *m = arg;
	struct pollfd pf = { m->wake[0], POLLIN, 0 };

	for (;;) {
		struct serve_pressure p;
		uint64_t gen;
		size_t n;
		int r = poll(&pf, 1, MEM_PERIOD_MS);

		if (r > 0 && drain(m->wake[0]))
			break;
		if (r < 0 && errno != EINTR)
			(void)poll(NULL, 0, MEM_PERIOD_MS); /* not to spin */
		pthread_mutex_lock(&m->mu);
		n = m->n_pids;
		gen = m->gen;
		memcpy(m->th_pids, m->pids, n * sizeof(*m->th_pids));
		pthread_mutex_unlock(&m->mu);
		if (mem_read(m->hooks, m->th_pids, n, &p) < 0)
			continue;
		pthread_mutex_lock(&m->mu);
		m->fresh = p;
		m->fresh_gen = gen;
		m->fresh_set = true;
		pthread_mutex_unlock(&m->mu);
		poke(m->ready[1], 'x');
	}
	return NULL;
}

void srv_mem_backends_changed(struct srv *s)
{
	struct srv_mem *m = s->mem;

	if (!m || !m->th_on)
		return; /* srv_mem_update() collects them itself */
	pthread_mutex_lock(&m->mu);
	m->n_pids = pids_collect(s, m->pids);
	m->gen++;
	pthread_mutex_unlock(&m->mu);
}

static void ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	struct srv_mem *m = s->mem;
	struct serve_pressure p;
	bool set, stale;

	(void)what;
	(void)drain(fd);
	retry_pending(m);
	pthread_mutex_lock(&m->mu);
	set = m->fresh_set;
	stale = m->fresh_gen != m->gen;
	p = m->fresh;
	m->fresh_set = false;
	pthread_mutex_unlock(&m->mu);
	if (set && stale)
		poke(m->wake[1], 'r'); /* a backend came or went meanwhile */
	else if (set && !s->stopping)
		mem_apply(s, &p);
}

static void psi_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	struct srv_mem *m = s->mem;

	(void)what;
	m->pr.n_triggers++;
	if (pressure_trigger_drain(fd) < 0) {
		/* gone: the periodic reading goes on */
		event_del(m->ev_psi);
		m->psi_on = false;
	}
	if (m->th_on)
		poke(m->wake[1], 'r');
	else
		srv_mem_update(s);
}

static int pipe_nb(int fd[2])
{
	if (pipe2(fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		fd[0] = fd[1] = -1;
		return -errno;
	}
	return 0;
}

static void pipe_close(int fd[2])
{
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	fd[0] = fd[1] = -1;
}

/* The reading thread; false when it cannot run (the loop reads then). */
static bool thread_start(struct srv *s)
{
	struct srv_mem *m = s->mem;

	if (pipe_nb(m->wake) < 0 || pipe_nb(m->ready) < 0)
		return false;
	m->ev_ready = event_new(s->base, m->ready[0], EV_READ | EV_PERSIST, ready_cb, s);
	if (!m->ev_ready || event_add(m->ev_ready, NULL) < 0)
		return false;
	m->n_pids = pids_collect(s, m->pids);
	m->th_on = srv_thread_start(&m->th, mem_main, m) == 0;
	return m->th_on;
}

int srv_mem_start(struct srv *s)
{
	struct srv_mem *m = calloc(1, sizeof(*m));
	size_t n = s->o->reg->n;
	struct timeval tv = { MEM_PERIOD_MS / 1000, (MEM_PERIOD_MS % 1000) * 1000 };

	if (!m)
		return -ENOMEM;
	s->mem = m;
	m->n = n;
	m->wake[0] = m->wake[1] = m->ready[0] = m->ready[1] = -1;
	m->hooks = &s->o->hooks;
	pthread_mutex_init(&m->mu, NULL);
	m->cg = calloc(n ? n : 1, sizeof(*m->cg));
	m->cg_err = calloc(n ? n : 1, CG_ERR_LEN);
	m->pids = calloc(n ? n : 1, sizeof(*m->pids));
	m->th_pids = calloc(n ? n : 1, sizeof(*m->th_pids));
	if (!m->cg || !m->cg_err || !m->pids || !m->th_pids)
		return -ENOMEM;
	if (s->o->pressure_fd > 0) {
		m->ev_psi = event_new(s->base, s->o->pressure_fd, EV_READ | EV_PERSIST, psi_cb, s);
		if (!m->ev_psi)
			return -ENOMEM;
		event_add(m->ev_psi, NULL);
		m->psi_on = true;
	}
	/* the first reading before the first request */
	srv_mem_update(s);
	if (!s->o->hooks.budget_read || thread_start(s))
		return 0;
	/* no thread: the loop reads, as it must then */
	m->ev_timer = event_new(s->base, -1, EV_PERSIST, timer_cb, s);
	if (!m->ev_timer)
		return -ENOMEM;
	event_add(m->ev_timer, &tv);
	return 0;
}

void srv_mem_stop(struct srv *s)
{
	struct srv_mem *m = s->mem;

	if (!m)
		return;
	if (m->th_on) {
		poke(m->wake[1], 'q');
		pthread_join(m->th, NULL);
		m->th_on = false;
	}
	if (m->ev_ready)
		event_free(m->ev_ready);
	pipe_close(m->wake);
	pipe_close(m->ready);
	pthread_mutex_destroy(&m->mu);
	if (m->ev_timer)
		event_free(m->ev_timer);
	if (m->ev_psi)
		event_free(m->ev_psi);
	/* the backends are reaped: their cgroups go (a moment for the
	 * kernel to let go of one just emptied) */
	for (size_t i = 0; m->cg && i < m->n; i++)
		cg_drop(m, &m->cg[i]);
	for (int tries = 0; m->n_pending && tries < 50; tries++) {
		usleep(20000);
		retry_pending(m);
	}
	free(m->cg);
	free(m->cg_err);
	free(m->pids);
	free(m->th_pids);
	free(m);
	s->mem = NULL;
}

/* ---- a backend's cgroup ---- */

void srv_cgroup_prepare(struct bk *b, struct backend_spec *sp)
{
	struct srv *s = b->s;
	struct srv_mem *m = s->mem;
	struct cgroup_model *c;
	uint64_t need;

	if (!m || !s->o->cgroup || !s->o->cgroup->delegated)
		return;
	c = &m->cg[b->model];
	cg_drop(m, c); /* the last backend's, should it be there still */
	need = b->plan.need[0];
	if (s->sch.models[b->model].need[0] > need)
		need = s->sch.models[b->model].need[0];
	m->cg_err[b->model * CG_ERR_LEN] = '\0';
	if (cgroup_model_create(s->o->cgroup, s->o->reg->v[b->model].name, cgroup_limit_compute(need), c,
				m->cg_err + b->model * CG_ERR_LEN, CG_ERR_LEN) < 0) {
		m->n_cg_failed++;
		return;
	}
	m->n_cg_made++;
	sp->cgroup_procs = c->procs;
}

void srv_cgroup_failed(struct bk *b, int e)
{
	struct srv_mem *m = b->s->mem;

	if (!m)
		return;
	msgf(m->cg_err + b->model * CG_ERR_LEN, CG_ERR_LEN, "cannot move the backend into %s: %s",
		 m->cg[b->model].dir, strerror(e < 0 ? -e : e));
	m->n_cg_failed++;
	cg_drop(m, &m->cg[b->model]);
}

bool srv_cgroup_exited(struct bk *b, char *msg, size_t n)
{
	struct srv_mem *m = b->s->mem;
	struct cgroup_model *c;
	uint64_t kills = 0;
	bool oom, own = false;

	if (!m)
		return false;
	c = &m->cg[b->model];
	if (!c->active)
		return false;
	oom = cgroup_model_oom_kills(c, &kills, &own) == 0 && kills > 0;
	if (oom && own) {
		m->n_cg_ooms++;
		msgf(msg, n, "killed by the kernel's OOM killer in its cgroup (%s %llu MiB)",
		     cgroup_limit_name(c->version), (unsigned long long)(c->limit / MIB));
	} else if (oom) {
		m->n_cg_ooms++;
		msgf(msg, n, "killed by the kernel's OOM killer (a parent cgroup's or the machine's memory ran "
		     "out, not its own %s %llu MiB)", cgroup_limit_name(c->version),
		     (unsigned long long)(c->limit / MIB));
	}
	cg_drop(m, c);
	return oom;
}

/* ---- status ---- */

static json_t *bytes_or_null(uint64_t v)
{
	return v == UINT64_MAX ? json_null() : json_integer((json_int_t)v);
}

json_t *srv_pressure_json(struct srv *s)
{
	struct srv_mem *m = s->mem;
	const struct serve_pressure *p;
	json_t *o = json_object();

	json_object_set_new(o, "watched", json_boolean(m && s->o->hooks.budget_read));
	if (!m || !m->pr.known)
		return o;
	p = &m->pr;
	json_object_set_new(o, "mem_available", json_integer((json_int_t)p->mem_available));
	json_object_set_new(o, "cgroup_available", bytes_or_null(p->cgroup_available));
	json_object_set_new(o, "mapped", json_integer((json_int_t)p->mapped));
	json_object_set_new(o, "available", json_integer((json_int_t)p->available));
	json_object_set_new(o, "headroom", json_integer((json_int_t)p->headroom));
	json_object_set_new(o, "held", json_integer((json_int_t)p->held));
	json_object_set_new(o, "budget", json_integer((json_int_t)p->budget));
	json_object_set_new(o, "cap", bytes_or_null(p->cap));
	json_object_set_new(o, "under_pressure", json_boolean(p->available < p->headroom));
	if (p->has_psi)
		json_object_set_new(o, "psi", json_pack("{s:f, s:f}", "some_avg10", p->psi_some_avg10 / 100.0,
							"full_avg10", p->psi_full_avg10 / 100.0));
	else
		json_object_set_new(o, "psi", json_null());
	json_object_set_new(o, "psi_trigger", json_boolean(p->psi_trigger && m->psi_on));
	json_object_set_new(o, "triggers", json_integer((json_int_t)p->n_triggers));
	json_object_set_new(o, "reason", json_string(p->why));
	return o;
}

json_t *srv_cgroup_json(struct srv *s)
{
	const struct cgroup_tree *t = s->o->cgroup;
	struct srv_mem *m = s->mem;
	json_t *o = json_object(), *models = json_array();

	json_object_set_new(o, "delegated", json_boolean(t && t->delegated));
	json_object_set_new(o, "why", json_string(t ? t->why : "cgroups are off"));
	if (t && t->version)
		json_object_set_new(o, "version", json_integer(t->version));
	if (t && t->delegated)
		json_object_set_new(o, "path", json_string(t->path));
	for (size_t i = 0; m && i < m->n; i++) {
		const struct cgroup_model *c = &m->cg[i];
		const char *err = m->cg_err + i * CG_ERR_LEN;
		json_t *j;

		if (!c->active && !err[0])
			continue;
		j = json_object();
		json_object_set_new(j, "name", json_string(s->o->reg->v[i].name));
		if (c->active) {
			json_object_set_new(j, "dir", json_string(c->dir));
			json_object_set_new(j, "limit", json_integer((json_int_t)c->limit));
		}
		if (err[0])
			json_object_set_new(j, "error", json_string(err));
		json_array_append_new(models, j);
	}
	json_object_set_new(o, "models", models);
	if (m) {
		json_object_set_new(o, "made", json_integer((json_int_t)m->n_cg_made));
		json_object_set_new(o, "failed", json_integer((json_int_t)m->n_cg_failed));
		json_object_set_new(o, "oom_kills", json_integer((json_int_t)m->n_cg_ooms));
	}
	return o;
}
