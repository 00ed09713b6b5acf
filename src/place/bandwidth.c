/* bandwidth.c: vendors' published memory bandwidths, GB/s. */
#include "base/compat.h"

#include <string.h>

#include "place/bandwidth.h"

static const struct { const char *key; double gbs; } table[] = {
	{ "RTX 5090", 1792 }, { "RTX 5080", 960 }, { "RTX 5070 Ti", 896 }, { "RTX 5070", 672 },
	{ "RTX 4090", 1008 }, { "RTX 4080", 717 }, { "RTX 4070 Ti", 504 }, { "RTX 4070", 504 },
	{ "RTX 4060 Ti", 288 }, { "RTX 4060", 272 }, { "RTX 3090", 936 }, { "RTX 3080", 760 },
	{ "RTX 3070", 448 }, { "RTX 3060", 360 }, { "RTX A6000", 768 }, { "RTX 6000 Ada", 960 },
	{ "L40S", 864 }, { "L4", 300 }, { "A10", 600 }, { "T4", 320 }, { "V100", 900 },
	{ "A100-SXM4-80GB", 2039 }, { "A100 80GB PCIe", 1935 }, { "A100", 1555 },
	{ "H100 PCIe", 2000 }, { "H100", 3350 }, { "H200", 4800 }, { "B200", 8000 },
	{ "GB10", 273 }, { "Jetson AGX Orin", 205 }, { "Orin", 102 },
	{ "RX 7900 XTX", 960 }, { "RX 7900 XT", 800 }, { "RX 7800 XT", 624 }, { "RX 6900 XT", 512 },
	{ "MI300X", 5300 }, { "MI250", 3277 }, { "Radeon 8060S", 256 }, { "Strix Halo", 256 },
	{ "Radeon 890M", 120 }, { "Radeon 780M", 90 },
};

double place_gpu_bandwidth(const char *model)
{
	size_t best = 0;
	double gbs = 0;

	if (!model)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		size_t n = strlen(table[i].key);

		if (n > best && strstr(model, table[i].key)) {
			best = n;
			gbs = table[i].gbs;
		}
	}
	return gbs * 1e9;
}
