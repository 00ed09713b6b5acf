/* names.c: the names of the probe's enums ("unified", "vram",
 * "madvise", ...), for the reports. Pure. */
#include "base/compat.h"

#include "probe/probe.h"

const char *probe_dev_kind_name(uint8_t kind)
{
	return kind == PROBE_DEV_HOST ? "host" : kind == PROBE_DEV_UNIFIED ? "unified" : "discrete";
}

const char *probe_pool_kind_name(uint8_t kind)
{
	return kind == PROBE_POOL_SYSTEM ? "system" : "vram";
}

const char *probe_vendor_name(uint8_t vendor)
{
	return vendor == PROBE_VENDOR_NVIDIA ? "nvidia" : vendor == PROBE_VENDOR_AMD ? "amd" : "none";
}

const char *probe_thp_name(uint8_t thp)
{
	switch (thp) {
	case PROBE_THP_ALWAYS: return "always";
	case PROBE_THP_MADVISE: return "madvise";
	case PROBE_THP_NEVER: return "never";
	default: return "unknown";
	}
}

const char *probe_src_state_name(uint8_t state)
{
	switch (state) {
	case PROBE_SRC_SKIPPED: return "skipped";
	case PROBE_SRC_ABSENT: return "absent";
	case PROBE_SRC_FAILED: return "failed";
	default: return "ok";
	}
}
