/* bandwidth.h: memory bandwidth of well-known GPUs by name, for the
 * decode-speed prediction. Pure table. */
#ifndef LLMEM_PLACE_BANDWIDTH_H
#define LLMEM_PLACE_BANDWIDTH_H

#include "base/compat.h"

/* Bytes per second for a GPU whose model name contains a known key
 * ("NVIDIA GeForce RTX 4090" finds "RTX 4090"), or 0 when unknown. The
 * longest matching key wins ("RTX 4070 Ti" over "RTX 4070"). */
double place_gpu_bandwidth(const char *model);

#endif
