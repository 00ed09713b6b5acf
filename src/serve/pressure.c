/* pressure.c: memory pressure for `llmem serve` (pressure.h): the budget
 * rule, the readings (meminfo and the cgroup through the probe's readers,
 * PSI through the doctor's parser) and the PSI trigger. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/checked.h"
#include "probe/doctor.h"
#include "probe/probe.h"
#include "serve/pressure.h"

#define MIB (UINT64_C(1) << 20)

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- pure ---- */

uint64_t pressure_budget_compute(uint64_t cap, uint64_t held, uint64_t available, uint64_t headroom)
{
	uint64_t room;

	if (!ck_add_u64(held, available, &room))
		room = UINT64_MAX;
	room = room > headroom ? room - headroom : 0;
	return min_u64(cap, room);
}

static unsigned long long mib(uint64_t b)
{
	return (unsigned long long)(b / MIB);
}

void pressure_reason_format(char *buf, size_t n, const struct serve_pressure *p)
{
	if (!n)
		return;
	buf[0] = '\0';
	if (!p->known || p->available >= p->headroom)
		return;
	if (p->available == p->cgroup_available && p->cgroup_available != UINT64_MAX)
		msgf(buf, n, "memory pressure: the cgroup's limit leaves %llu MiB, under the headroom of %llu MiB",
		     mib(p->cgroup_available), mib(p->headroom));
	else if (p->mapped)
		msgf(buf, n, "memory pressure: MemAvailable %llu MiB less the models' mapped files %llu MiB "
		     "is under the headroom of %llu MiB", mib(p->mem_available), mib(p->mapped), mib(p->headroom));
	else
		msgf(buf, n, "memory pressure: MemAvailable %llu MiB, under the headroom of %llu MiB",
		     mib(p->mem_available), mib(p->headroom));
}

/* ---- readings ---- */

int pressure_cfg_init(struct pressure_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->cap = UINT64_MAX;
	c->trigger_fd = c->psi_fd = -1;
	c->pr = calloc(1, sizeof(*c->pr));
	return c->pr ? 0 : -ENOMEM;
}

void pressure_cfg_release(struct pressure_cfg *c)
{
	if (c->trigger_fd >= 0)
		close(c->trigger_fd);
	if (c->psi_fd >= 0)
		close(c->psi_fd);
	c->trigger_fd = c->psi_fd = -1;
	free(c->pr);
	c->pr = NULL;
}

int pressure_read(struct pressure_cfg *c, struct serve_pressure *p, struct diag *d)
{
	const char *root = c->root ? c->root : "/";
	struct probe_psi psi;
	char *buf;
	size_t n;
	int e;

	memset(c->pr, 0, sizeof(*c->pr));
	e = probe_system_read(root, c->pr, d);
	if (e < 0)
		return e;
	p->mem_available = c->pr->mem.mem_available;
	p->cgroup_available = c->pr->cgroup.version ? c->pr->cgroup.available : UINT64_MAX;
	/* page cache counts as available, the backends' mapped weights too:
	 * they are held already */
	p->available = min_u64(p->mem_available > p->mapped ? p->mem_available - p->mapped : 0,
			       p->cgroup_available);
	p->has_psi = false;
	p->psi_some_avg10 = p->psi_full_avg10 = 0;
	if (probe_file_read(root, "proc/pressure/memory", &buf, &n) == 0) {
		if (probe_parse_psi(buf, n, &psi) == 0) {
			p->has_psi = true;
			p->psi_some_avg10 = psi.some.avg10;
			p->psi_full_avg10 = psi.full.present ? psi.full.avg10 : 0;
		}
		free(buf);
	}
	return 0;
}

int pressure_budget_read(void *ctx, struct serve_pressure *p)
{
	struct diag d;
	int e;

	diag_init(&d);
	e = pressure_read(ctx, p, &d);
	if (e == 0)
		p->known = true;
	return e;
}

void pressure_budget_apply(void *ctx, const uint64_t *held, uint64_t *budget, struct serve_pressure *p)
{
	struct pressure_cfg *c = ctx;

	p->headroom = c->headroom;
	p->held = held[0];
	p->cap = c->cap;
	p->psi_trigger = c->trigger_fd >= 0;
	for (size_t i = 0; i < c->n_pools && i < SCHED_MAX_POOLS; i++)
		budget[i] = c->budget[i];
	budget[0] = pressure_budget_compute(c->cap, held[0], p->available, c->headroom);
	p->budget = budget[0];
	pressure_reason_format(p->why, sizeof(p->why), p);
}

/* ---- the PSI trigger ---- */

/* One trigger spec: the kernel reads up to the NUL it is written with. */
static int trigger_write(int fd, const char *spec)
{
	ssize_t w;

	do
		w = write(fd, spec, strlen(spec) + 1);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : 0;
}

int pressure_trigger_open(struct pressure_cfg *c)
{
	/* 150 ms stalled in 1 s; without CAP_SYS_RESOURCE the kernel takes
	 * only windows that are multiples of 2 s (the same share) */
	static const char *const specs[] = { "some 150000 1000000", "some 300000 2000000" };
	const char *root = c->root ? c->root : "/";
	char path[4096];
	struct epoll_event ev;
	int fd, ep, e = -EINVAL;
	size_t k;

	c->trigger_fd = -1;
	msgf(path, sizeof(path), "%s%sproc/pressure/memory", root, root[strlen(root) - 1] == '/' ? "" : "/");
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		msgf(c->trigger_why, sizeof(c->trigger_why), "no PSI trigger: cannot open %s: %s", path,
			 strerror(-e));
		return e;
	}
	for (k = 0; k < ARRAY_SIZE(specs); k++) {
		e = trigger_write(fd, specs[k]);
		if (e != -EINVAL)
			break;
	}
	if (e < 0) {
		msgf(c->trigger_why, sizeof(c->trigger_why), "no PSI trigger: %s refuses one: %s", path,
			 strerror(-e));
		close(fd);
		return e;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		e = -errno;
		msgf(c->trigger_why, sizeof(c->trigger_why), "no PSI trigger: epoll: %s", strerror(-e));
		close(fd);
		return e;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLPRI;
	ev.data.fd = fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		/* a regular file (a fixture tree) cannot be polled */
		e = -errno;
		msgf(c->trigger_why, sizeof(c->trigger_why), "no PSI trigger: %s cannot be polled: %s", path,
			 strerror(-e));
		close(ep);
		close(fd);
		return e;
	}
	c->psi_fd = fd;
	c->trigger_fd = ep;
	msgf(c->trigger_why, sizeof(c->trigger_why), "PSI trigger \"%s\" on %s", specs[k], path);
	return 0;
}

int pressure_trigger_drain(int trigger_fd)
{
	struct epoll_event ev[4];
	int n;

	do
		n = epoll_wait(trigger_fd, ev, (int)ARRAY_SIZE(ev), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -EIO;
	for (int i = 0; i < n; i++)
		if (ev[i].events & (EPOLLERR | EPOLLHUP))
			return -EIO;
	return 0;
}
