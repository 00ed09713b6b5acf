/* cmd-client.h: the HTTP client the commands use to talk to a running
 * `llmem serve` (ps, load, unload, top): one request at a time, with the
 * API key from LLMEM_API_KEY, to the daemon named by --host, LLMEM_HOST
 * (as Ollama's OLLAMA_HOST: "ADDR", "ADDR:PORT", "http://ADDR:PORT") or
 * 127.0.0.1:11435. */
#ifndef LLMEM_CLI_CMD_CLIENT_H
#define LLMEM_CLI_CMD_CLIENT_H

#include "base/compat.h"

#include <stddef.h>

/* A reply: status 0 when none came (refused, timed out). body is
 * NUL-terminated, malloc'ed (the caller frees it), NULL without one. */
struct cmd_call {
	int status;
	char *body;
	size_t len;
	bool done;
};

/* LLMEM_HOST, or "127.0.0.1:11435". */
const char *cmd_daemon_host(void);

/* host and port from a host spec; -EINVAL when it is malformed. */
int cmd_daemon_split_host(const char *spec, char *host, size_t n, uint16_t *port) ATTR_WUR;

/* One request (method "GET" or "POST"; body JSON or NULL) with a timeout.
 * Returns 0 with *c filled (c->status may be any HTTP status), or a
 * negative errno: -EINVAL a bad host spec, -ECONNREFUSED no answer. Unless
 * quiet, a failure is also printed (cmd_error). */
int cmd_daemon_call(const char *hostspec, const char *method, const char *path, const char *body,
		    int timeout_s, bool quiet, struct cmd_call *c);

/* "100% GPU", "48%/52% CPU/GPU", "100% CPU" for a footprint of total
 * bytes, gpu of them on GPUs (as `ollama ps`). */
void cmd_daemon_processor(uint64_t total, uint64_t gpu, char *buf, size_t n);

/* "4.9 GB" or "512 MB" (decimal, as `ollama ps`). */
void cmd_daemon_size(uint64_t bytes, char *buf, size_t n);

#endif
