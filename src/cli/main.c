/* main.c: llmem's entry point: finds the subcommand and runs it. */
#include "base/compat.h"

#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <sys/mman.h>
#endif

#include "cli/cmd.h"

#ifndef LLMEM_VERSION
#define LLMEM_VERSION "0.1.0"
#endif

static const struct cmd *const commands[] = {
	&cmd_inspect,
	&cmd_estimate,
	&cmd_fit,
	&cmd_devices,
	&cmd_doctor,
	&cmd_quants,
	&cmd_synth,
	&cmd_recommend,
	&cmd_serve,
	&cmd_ps,
	&cmd_load,
	&cmd_unload,
	&cmd_top,
};

/* A command that reads a model and answers once (estimate, fit, ...)
 * spends much of its few milliseconds on page faults: one for each 4 KiB
 * of heap it touches, the first time, and on a VM a fault can cost 10 us
 * or more (13 us each on the bench machine, where `llmem estimate` on a
 * 70B model touched about 200 pages of heap: a quarter of its run). So for
 * these the heap is made once, large enough for the run (M_TOP_PAD; and
 * every allocation from it, none mmap'ed on its own), and advised for
 * transparent huge pages: one fault, where the kernel allows them, per 2
 * MiB. Not for the daemon or `top`, which stay small and long. */
#define HEAP_ONE_SHOT ((size_t)8 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

#if defined(__GLIBC__) && UINTPTR_MAX == UINT64_MAX && !defined(__SANITIZE_ADDRESS__)
#define HEAP_ONE_SHOT_ON 1
static void *heap_gap; /* kept to the end (reachable: no leak) */
#endif

/* glibc's chunk layout (malloc/malloc.c, 64-bit): a chunk's user memory
 * starts 16 bytes after it, and a request of n bytes takes a chunk of
 * (n + 8) rounded up to 16. Used only to place the heap's next
 * allocation on a 2 MiB boundary; when the layout differs, the check
 * below finds it and nothing is advised. */
#define CHUNK_HDR 16u

static void heap_one_shot(void)
{
#ifdef HEAP_ONE_SHOT_ON
	uintptr_t top, lo, hi;
	char *q;

	if (!mallopt(M_MMAP_THRESHOLD, 32 << 20) || !mallopt(M_TOP_PAD, (int)HEAP_ONE_SHOT) ||
	    !mallopt(M_TRIM_THRESHOLD, 64 << 20))
		return;
	/* q comes from the top of the heap (no free block is this large
	 * yet), and the top now starts after it */
	q = malloc(4096);
	if (!q)
		return;
	top = (uintptr_t)q - CHUNK_HDR + ((4096 + 8 + 15) & ~(uintptr_t)15);
	/* A block from there up to 16 bytes short of the next 2 MiB
	 * boundary, never touched: the heap grows for it (by M_TOP_PAD
	 * more, all at once), and the next allocation starts on the
	 * boundary with every byte malloc writes meanwhile below it. A 2
	 * MiB stretch of which any page is touched before the advice stays
	 * in small pages. */
	lo = (top + CHUNK_HDR + 256 + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	heap_gap = malloc(lo - CHUNK_HDR - top - 16);
	hi = (uintptr_t)sbrk(0);
	if (heap_gap != (void *)(top + CHUNK_HDR) || hi == (uintptr_t)-1) {
		free(q);
		return; /* another layout: no advice */
	}
	free(q);
	hi &= ~(HUGE_PAGE - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#endif
}

static void usage(FILE *fp)
{
	fputs("usage: llmem COMMAND [OPTIONS]\n\ncommands:\n", fp);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(fp, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\n'llmem help COMMAND' or 'llmem COMMAND --help' describes one command.\n", fp);
}

int main(int argc, char **argv)
{
	const char *name;

	setlocale(LC_ALL, "C");
	if (argc < 2) {
		usage(stderr);
		return CMD_EXIT_INPUT;
	}
	name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		usage(stdout);
		return CMD_EXIT_OK;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("llmem %s\n", LLMEM_VERSION);
		return CMD_EXIT_OK;
	}
	if (!strcmp(name, "help")) {
		if (argc < 3) {
			usage(stdout);
			return CMD_EXIT_OK;
		}
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
			if (!strcmp(argv[2], commands[i]->name)) {
				commands[i]->usage(stdout);
				return CMD_EXIT_OK;
			}
		}
		cmd_error("unknown command '%s'", argv[2]);
		return CMD_EXIT_INPUT;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(name, commands[i]->name))
			continue;
		if (commands[i]->one_shot)
			heap_one_shot();
		return commands[i]->run(argc - 1, argv + 1);
	}
	cmd_error("unknown command '%s' (see 'llmem --help')", name);
	return CMD_EXIT_INPUT;
}
