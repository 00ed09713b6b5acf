/* compat.h: the first include of every .c file. Feature macros and the few
 * attributes the project uses, so no other file has to set them. */
#ifndef LLMEM_BASE_COMPAT_H
#define LLMEM_BASE_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTR_WUR __attribute__((warn_unused_result))
#define ATTR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define UNUSED __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
