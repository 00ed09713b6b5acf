/* probe.c: one probe of the machine: system RAM and cgroup, NVIDIA GPUs
 * through NVML, AMD GPUs through sysfs, then the pools they draw on. */
#include "base/compat.h"

#include <string.h>

#include "probe/probe.h"

int probe_run(const struct probe_options *o, struct probe_result *r, struct diag *d)
{
	const char *root = o->root && *o->root ? o->root : "/";
	int e;

	memset(r, 0, sizeof(*r));
	r->n_devices = 1; /* [0] is the CPU, filled by probe_pools_build() */
	e = probe_system_read(root, r, d);
	if (e < 0)
		return e;
	probe_nvml_read(o, root, r);
	if (r->nvml.state == PROBE_SRC_SKIPPED && o->nvml_skip)
		strncpy(r->nvml.msg, o->nvml_skip, sizeof(r->nvml.msg) - 1);
	probe_amdgpu_read(o, root, r);
	probe_pools_build(r);
	return 0;
}
