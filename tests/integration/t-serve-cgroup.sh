#!/bin/sh
# t-serve-cgroup.sh: a memory cgroup per backend (issue #7 item 5). Where
# the daemon's cgroup is delegated to it (cgroup v2 with the memory
# controller and no other process in it, as under systemd's Delegate=yes;
# or a writable cgroup v1 memory hierarchy, as in many containers), each
# backend runs in a cgroup of its own limited to its planned footprint and
# a margin:
#  - status says the cgroup is delegated, and why;
#  - a real backend runs in its cgroup (its pid in cgroup.procs), the
#    limit file holds the limit status shows (and memory.oom.group is 1 in
#    v2);
#  - a runaway backend (a fake that allocates 1 GiB once it finds itself
#    in a model cgroup) is killed by the kernel's OOM killer in its cgroup
#    alone: llmem reports it as out of memory with that reason, from the
#    cgroup's oom_kill count, and the other model serves on;
#  - every model cgroup is removed once its backend has exited, and all of
#    them when the daemon stops;
#  - --no-cgroups runs without, and says so.
# Without delegation every test is skipped with the reason llmem gives.
# Needs the llama.cpp build that scripts/build-llama.sh caches and curl.
. "$(dirname "$0")/serve-lib.sh"

LABELS='cgroup delegated
backend in its own cgroup with its limit
runaway backend killed by the OOM killer in its cgroup, reported as OOM
the other model serves on
cgroups removed after exits and at stop
--no-cgroups'
skip_all() {
	echo "$LABELS" | while read -r l; do
		n=$((n + 1))
		echo "ok $n # SKIP $l: $1"
	done
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
[ -n "$LLAMA_SERVER" ] && [ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] ||
	skip_all "no llama.cpp build (run scripts/build-llama.sh)"
[ -x "$TOOLS/mem-hog" ] || skip_all "no $TOOLS/mem-hog (make test-bins)"

M=$tmp/models
mkdir -p "$M"
synth "$M/tiny.gguf" 4 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
ln -s tiny.gguf "$M/runaway.gguf"
# the fake backend: the runaway model allocates 1 GiB (touching it) once
# in a model cgroup; everything else is the real llama-server
FAKE=$tmp/fake-llama-server
cat >"$FAKE" <<EOF
#!/bin/sh
model=""
prev=""
for a in "\$@"; do
	case \$prev in -m) model=\$a ;; esac
	prev=\$a
done
case \$(basename "\$model") in
*runaway*)
	if grep -q '/model-runaway-' /proc/self/cgroup; then
		echo "fake llama-server: in \$(grep -o '/model-runaway-[^/]*' /proc/self/cgroup | head -1): allocating 1 GiB" >&2
		mkdir -p "$tmp/hog.\$\$"
		exec "$TOOLS/mem-hog" "$tmp/hog.\$\$" 64 1024 0 0 10
	fi
	echo "fake llama-server: not in a model cgroup" >&2
	exit 1
	;;
esac
exec "$LLAMA_SERVER" "\$@"
EOF
chmod +x "$FAKE"

if ! serve_start "$tmp/d.log" --models-dir "$M" --backend "$FAKE" -c 2048 --keep-alive -1; then
	not_ok "llmem serve did not start"
	exit 1
fi
sed 's/^/# /' "$tmp/d.log"
D=$DPID
cget() { status "$tmp/c.json" && "$GET" "$tmp/c.json" "cgroup/$1"; }
deleg=$(cget delegated)
why=$(cget why)
if [ "$deleg" != true ]; then
	case $why in
	*"cgroup v"* | *"cgroup"*) skip_all "no delegated cgroup: $why" ;;
	*) not_ok "cgroup in status: delegated '$deleg', why '$why'"; exit 1 ;;
	esac
fi
VER=$(cget version)
CGPATH=$(cget path)
ok "cgroup delegated: $why"
if [ "$VER" = 2 ]; then LIMIT_FILE=memory.max; else LIMIT_FILE=memory.limit_in_bytes; fi

# 2. a real backend in its own cgroup
r=$(chat tiny)
dir=$(cget "models/name=tiny/dir")
limit=$(cget "models/name=tiny/limit")
bpid=$(sget tiny pid)
if [ "${r%% *}" = 200 ] && [ -d "$dir" ] && grep -qx "$bpid" "$dir/cgroup.procs" &&
	[ "$(cat "$dir/$LIMIT_FILE")" = "$limit" ] &&
	{ [ "$VER" != 2 ] || [ "$(cat "$dir/memory.oom.group")" = 1 ]; }; then
	ok "backend in its own cgroup with its limit: pid $bpid in $dir, $LIMIT_FILE $((limit / 1048576)) MiB (footprint $(sget tiny footprint))"
else
	not_ok "backend in its own cgroup: chat '$r', dir '$dir', pid $bpid, procs '$(cat "$dir/cgroup.procs" 2>/dev/null | tr '\n' ' ')', limit '$limit' vs '$(cat "$dir/$LIMIT_FILE" 2>/dev/null)'"
fi
TINY_DIR=$dir

# 3. a runaway backend
r=$(CHAT_TIMEOUT=60 chat runaway)
ooms=$(sget runaway ooms)
reason=$(sget runaway reason)
kills=$(cget oom_kills)
note "runaway: request '$r' $(head -c 200 "$tmp/chat.out"); state $(sget runaway state), ooms $ooms, crashes $(sget runaway crashes), cgroup oom_kills $kills"
case ${r%% *}/$ooms/$reason in
5[0-9][0-9]/[1-9]*/*"killed by the kernel's OOM killer in its cgroup ($LIMIT_FILE "*" MiB)"*)
	ok "runaway backend killed by the OOM killer in its cgroup, reported as OOM: '$reason'" ;;
*) not_ok "runaway backend: request '$r', ooms '$ooms', reason '$reason'; $(tail -3 "$tmp/d.log")" ;;
esac

# 4. the other model serves on, in the same cgroup as before
if chat_ok tiny && [ "$(sget tiny pid)" = "$bpid" ] && [ -d "$TINY_DIR" ] && ! gone "$D"; then
	ok "the other model serves on (pid $bpid, same cgroup)"
else
	not_ok "the other model serves on: pid $(sget tiny pid) (was $bpid), daemon $(gone "$D" && echo gone || echo alive)"
fi

# 5. no runaway cgroup is left; none at all once the daemon stops
ours() { ls -d "$(dirname "$TINY_DIR")"/model-*-"$D"-* 2>/dev/null; }
left=$(ours | grep -v "^$TINY_DIR\$")
kill -TERM "$D"
serve_wait_exit "$D" 20
after=$(ours)
if [ -z "$left" ] && [ -z "$after" ]; then
	ok "cgroups removed after exits and at stop"
else
	not_ok "cgroups left: while running '$left', after the stop '$after'"
fi

# 6. --no-cgroups
if serve_start "$tmp/n.log" --models-dir "$M" --backend "$FAKE" -c 2048 --no-cgroups; then
	r=$(chat tiny)
	d2=$(cget delegated)
	w2=$(cget why)
	if [ "${r%% *}" = 200 ] && [ "$d2" = false ] && ! grep -q '/model-' "/proc/$(sget tiny pid)/cgroup"; then
		ok "--no-cgroups: the backend runs in the daemon's cgroup ('$w2')"
	else
		not_ok "--no-cgroups: chat '$r', delegated '$d2', backend cgroup $(cat "/proc/$(sget tiny pid)/cgroup" | head -3 | tr '\n' ' ')"
	fi
else
	not_ok "--no-cgroups: the daemon did not start"
fi
