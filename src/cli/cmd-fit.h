/* cmd-fit.h: the parts of `llmem fit` that `llmem serve` plans with: the
 * machine's devices and budgets, bandwidths, and a plan's llama-server
 * arguments. */
#ifndef LLMEM_CLI_CMD_FIT_H
#define LLMEM_CLI_CMD_FIT_H

#include "cli/cmd-opts.h"
#include "place/place.h"

/* Devices and budgets into q: the ones given by hand (mo->c.devices), or
 * the probed machine (mo->root), less the headroom (mo->headroom).
 * models[i] gets each device's model name. Prints and returns a negative
 * errno on failure. */
int cmd_fit_machine(const struct cmd_model_opts *mo, struct place_request *q, char models[][64],
		    bool *probed);
/* The same, with the headroom kept free in system RAM (bytes) into
 * *host_headroom (`llmem serve` keeps it under memory pressure). */
int cmd_fit_machine_headroom(const struct cmd_model_opts *mo, struct place_request *q, char models[][64],
			     bool *probed, uint64_t *host_headroom);

/* Memory bandwidths into q (mo->bandwidth, else measured/tabled).
 * Prints and returns -EINVAL on a bad --bandwidth. */
int cmd_fit_set_bandwidths(const struct cmd_model_opts *mo, struct place_request *q,
			   char models[][64]);

/* The llama-server arguments of plan p, after "-m MODEL", space-separated
 * (no argument contains a space: cmd_model_opts_parse() refuses an -ot
 * pattern with one). A buffer of CMD_PLAN_ARGS_MAX holds any plan's:
 * EST_MAX_OVERRIDES patterns of up to 127 bytes with their devices, and
 * the rest. */
#define CMD_PLAN_ARGS_MAX 8192
void cmd_fit_plan_args(char *buf, size_t bufsz, const struct place_plan *p);

#endif
