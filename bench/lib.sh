# lib.sh: what the benchmark reports say about the run, and nginx as the
# peer proxy, shared by the bench scripts (sourced). bench_describe (needs
# ROOT and LLMEM) sets
# machine (CPU, CPUs, RAM, hypervisor, OS, kernel), rev (the commit, with
# "+uncommitted changes" when the tree differs) and llmem_ver.
bench_describe() {
	cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
	hyper=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	# shellcheck disable=SC1091
	os=$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-unknown OS}")
	machine="$cpu, $(nproc) CPUs (nproc), $mem RAM${hyper:+, $hyper guest}; $os, Linux $(uname -r)"
	if rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
		git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || rev="$rev+uncommitted changes"
	else
		rev="no commit yet"
	fi
	llmem_ver=$("$LLMEM" --version 2>/dev/null | head -n 1 || true)
}

# bench_nginx_conf DIR SERVER...: an nginx.conf (on stdout) that keeps its
# files in DIR and proxies, for each SERVER "LISTEN_PORT:UPSTREAM_PORT[:KEY]",
# the listen port to the upstream over kept-alive connections, unbuffered,
# adding "Authorization: Bearer KEY" when a key is given (as llmem does);
# BENCH_NGINX_KA_REQUESTS raises nginx's 1000 requests per client connection.
bench_nginx_conf() {
	_dir=$1
	shift
	printf 'worker_processes auto;\nerror_log %s/error.log warn;\npid %s/nginx.pid;\n' "$_dir" "$_dir"
	printf 'events { worker_connections 1024; }\nhttp {\n    access_log off;\n'
	printf '    client_body_temp_path %s/body;\n    proxy_temp_path %s/proxy;\n' "$_dir" "$_dir"
	for _s in "$@"; do
		_l=${_s%%:*} _r=${_s#*:}
		_u=${_r%%:*} _k=${_r#"$_u"}
		_k=${_k#:}
		printf '    upstream u%s { server 127.0.0.1:%s; keepalive 16; }\n' "$_l" "$_u"
		printf '    server {\n        listen 127.0.0.1:%s;\n' "$_l"
		[ -z "${BENCH_NGINX_KA_REQUESTS:-}" ] ||
			printf '        keepalive_requests %s;\n' "$BENCH_NGINX_KA_REQUESTS"
		printf '        location / {\n            proxy_pass http://u%s;\n' "$_l"
		printf '            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
		[ -z "$_k" ] || printf '            proxy_set_header Authorization "Bearer %s";\n' "$_k"
		printf '            proxy_buffering off;\n            proxy_read_timeout 600s;\n        }\n    }\n'
	done
	printf '}\n'
}
