#!/bin/sh
# check-pure.sh: the pure core (base, gguf, model, estimate, place) does no
# I/O, logging, exit or process control and keeps no writable globals.
# Fails when the core archive references a libc symbol outside the allow
# list, or defines writable data.
set -eu
lib=${1:?usage: check-pure.sh LIBCORE.a}
allow='^(malloc|calloc|realloc|free|memcpy|memmove|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strcasecmp|strncasecmp|strchr|strrchr|strstr|strtoull|strtoll|strtod|snprintf|vsnprintf|__errno_location|__stack_chk_fail|qsort|bsearch|tolower|toupper|__ctype_b_loc|__ctype_tolower_loc|__ctype_toupper_loc|pow|log|log2|exp|floor|ceil|fabs|sqrt|__asan_.*|__ubsan_.*|__sanitizer_.*|__isoc99_sscanf|_GLOBAL_OFFSET_TABLE_)$'
# Symbols defined anywhere in the archive are internal references.
defined=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 {print $3}' | sort -u)
bad=$(nm -u "$lib" | awk '{print $2}' | sort -u | while read -r s; do
	[ -z "$s" ] && continue
	echo "$defined" | grep -qx "$s" && continue
	echo "$s" | grep -Eq "$allow" || echo "$s"
done)
if [ -n "$bad" ]; then
	echo "check-pure: the pure core uses symbols outside the allow list:" >&2
	echo "$bad" >&2
	exit 1
fi
data=$(nm "$lib" | awk '$2 ~ /^[BbDdGgSs]$/ && $3 !~ /^__(asan|ubsan|sanitizer)/ && $3 !~ /^\.L/ {print $3}' | grep -v -E '^(__odr_asan|___asan)' || true)
if [ -n "$data" ]; then
	echo "check-pure: the pure core defines writable data:" >&2
	echo "$data" >&2
	exit 1
fi
echo "check-pure: pure core ok"
