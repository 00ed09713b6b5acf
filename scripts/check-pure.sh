#!/bin/sh
# check-pure.sh: the pure core (base, gguf, model, estimate, place) does no
# I/O, logging, exit or process control and keeps no writable globals.
# Fails when the core archive references a libc symbol outside the allow
# list, or defines writable data.
set -eu
lib=${1:?usage: check-pure.sh LIBCORE.a}
allow='^(regcomp|regexec|regfree|malloc|calloc|realloc|free|strdup|strndup|memcpy|memmove|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strcasecmp|strncasecmp|strchr|strrchr|strstr|strtoul|strtoull|strtoll|strtod|snprintf|vsnprintf|__errno_location|__stack_chk_fail|qsort|bsearch|tolower|toupper|__ctype_b_loc|__ctype_tolower_loc|__ctype_toupper_loc|pow|log|log2|exp|floor|ceil|fabs|sqrt|__asan_.*|__ubsan_.*|__sanitizer_.*|__isoc99_sscanf|_GLOBAL_OFFSET_TABLE_)$'
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
# Writable data: objects in .data or .bss (const tables of pointers land in
# .data.rel.ro, which is read-only after relocation, and are fine).
data=$(objdump -t "$lib" | awk '$0 ~ / O / {
	for (i = 1; i <= NF; i++) if ($i ~ /^\./) { sec = $i; break }
	name = $NF
	if (sec ~ /^\.(data|bss|tdata|tbss)/ && sec !~ /\.rel\.ro/ && name !~ /^(__asan|__ubsan|__sanitizer|\.L|___asan|__odr_asan)/) print name " (" sec ")"
}' || true)
if [ -n "$data" ]; then
	echo "check-pure: the pure core defines writable data:" >&2
	echo "$data" >&2
	exit 1
fi
echo "check-pure: pure core ok"
