/* cmd.h: the subcommand table and the helpers every command shares. */
#ifndef LLMEM_CLI_CMD_H
#define LLMEM_CLI_CMD_H

#include "base/compat.h"
#include "base/diag.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses, documented in llmem(1) and the README. */
enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_FAIL = 1,   /* something failed at run time */
	CMD_EXIT_INPUT = 2,  /* bad input: a usage error, or a file that is
	                      * not a valid model */
	CMD_EXIT_NOFIT = 3,  /* fit: the model does not fit this machine */
};

struct cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *fp);
	/* reads and answers once, in milliseconds: main.c sets its heap up
	 * for that (heap_one_shot()) */
	bool one_shot;
};

extern const struct cmd cmd_inspect;
extern const struct cmd cmd_estimate;
extern const struct cmd cmd_fit;
extern const struct cmd cmd_devices;
extern const struct cmd cmd_doctor;
extern const struct cmd cmd_quants;
extern const struct cmd cmd_synth;
extern const struct cmd cmd_recommend;
extern const struct cmd cmd_serve;
extern const struct cmd cmd_ps;
extern const struct cmd cmd_load;
extern const struct cmd cmd_unload;
extern const struct cmd cmd_top;

/* Prints "llmem: PATH: offset N: MESSAGE" (or without the offset) as one
 * line on stderr. */
void cmd_report_diag(const char *path, const struct diag *d);

/* NVML's library, loaded with dlopen */
#define CMD_NVML_SONAME "libnvidia-ml.so.1"

struct probe_options;

/* Probe options for root (NULL or "" = "/") and $LLMEM_NVML: a library
 * path, "none" to skip NVML; with a root other than / NVML is skipped
 * unless LLMEM_NVML names a library (it would describe this machine). */
void cmd_probe_options(const char *root, struct probe_options *po);

/* Prints a probe's error (it may quote the root: escaped) on stderr. */
void cmd_report_probe_error(const struct diag *d);

/* Prints "llmem: MESSAGE" on stderr. */
void cmd_error(const char *fmt, ...) ATTR_PRINTF(1, 2);

#endif
