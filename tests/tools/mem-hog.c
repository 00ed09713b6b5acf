/* mem-hog.c: another program growing, for `llmem serve`'s memory-pressure
 * test (tests/integration/t-serve-pressure.sh). It allocates anonymous
 * memory STEP MiB at a time and touches every page (so MemAvailable goes
 * down by as much), one step every PERIOD ms, writing the MiB it holds to
 * CTL/size after each step. It stops growing when CTL/hold appears (it then
 * takes EXTRA MiB more, once, and holds), when it holds MAX MiB, or when
 * MemAvailable falls under FLOOR MiB (so it never drives the machine to
 * the OOM killer); it then writes CTL/held and holds until SIGTERM or
 * SIGINT, and exits 0.
 *
 * usage: mem-hog CTL STEP MAX FLOOR EXTRA [PERIOD] */
#include "base/compat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static volatile sig_atomic_t done;

static void on_term(int sig)
{
	(void)sig;
	done = 1;
}

/* MemAvailable in MiB, or -1 */
static long mem_available_mib(void)
{
	FILE *fp = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return kb < 0 ? -1 : kb / 1024;
}

static void put(const char *ctl, const char *name, long v)
{
	char path[4096], tmp[4200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", ctl, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fp = fopen(tmp, "w");
	if (!fp)
		return;
	fprintf(fp, "%ld\n", v);
	fclose(fp);
	rename(tmp, path);
}

static bool has(const char *ctl, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", ctl, name);
	return access(path, F_OK) == 0;
}

/* n MiB, touched; false when the allocation fails */
static bool grab(size_t mib)
{
	void *p = mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return false;
	memset(p, 1, mib * MIB); /* held until exit */
	return true;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct timespec ts;
	long step, max, floor_mib, extra, period = 100, held = 0;
	const char *ctl;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: mem-hog CTL STEP MAX FLOOR EXTRA [PERIOD]\n");
		return 2;
	}
	ctl = argv[1];
	step = atol(argv[2]);
	max = atol(argv[3]);
	floor_mib = atol(argv[4]);
	extra = atol(argv[5]);
	if (argc == 7)
		period = atol(argv[6]);
	if (step <= 0 || max <= 0 || floor_mib < 0 || extra < 0 || period <= 0) {
		fprintf(stderr, "mem-hog: bad numbers\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ts.tv_sec = period / 1000;
	ts.tv_nsec = (period % 1000) * 1000000;
	while (!done && !has(ctl, "hold") && held + step <= max) {
		long avail = mem_available_mib();

		if (avail >= 0 && avail - step < floor_mib) {
			fprintf(stderr, "mem-hog: MemAvailable %ld MiB: stopping at %ld MiB (floor %ld)\n", avail,
				held, floor_mib);
			break;
		}
		if (!grab((size_t)step))
			break;
		held += step;
		put(ctl, "size", held);
		nanosleep(&ts, NULL);
	}
	if (!done && has(ctl, "hold") && extra > 0) {
		long avail = mem_available_mib();

		if ((avail < 0 || avail - extra >= floor_mib) && grab((size_t)extra))
			held += extra;
	}
	put(ctl, "size", held);
	put(ctl, "held", held);
	ts.tv_sec = 0;
	ts.tv_nsec = 50000000;
	while (!done)
		nanosleep(&ts, NULL);
	return 0;
}
