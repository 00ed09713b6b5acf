/* http-bench.c: the HTTP client of bench/serve.sh. Plain blocking sockets
 * (no library between the clock and the wire), CLOCK_MONOTONIC, keep-alive
 * connections; times in microseconds.
 *
 *   http-bench lat N WARMUP PATH BODY PORT[,KEY]...
 *       Interleaved latency of several servers: WARMUP untimed rounds, then
 *       N timed ones; each round sends one request to every PORT in turn
 *       (in an order drawn for each round, a fixed seed), one at a time,
 *       each on its own keep-alive connection, so that a change in the
 *       machine's load falls on every port alike. A request is timed from
 *       just before send() to the last byte of the body. Prints one line per
 *       PORT: "n p50 p90 p99 max mean reconnects". A connection the server
 *       closes (Connection: close, as llama-server says every 100 requests)
 *       is reopened between requests, outside the timing; reconnects counts
 *       them. KEY: sent as "Authorization: Bearer KEY" to that port. A
 *       PORT written +PORT gets a new connection for every request instead,
 *       its connect() timed with the request.
 *       HB_RAW=PREFIX also writes every sample to PREFIX.0, PREFIX.1, ...
 *       and, line for line, the index of the PORT that was sent to just
 *       before it (-1 for the first) to PREFIX.prev.0, PREFIX.prev.1, ...,
 *       and the backend's own compute time for it (llama-server's
 *       "timings": prompt_ms + predicted_ms, in us; -1 without them) to
 *       PREFIX.comp.0, PREFIX.comp.1, ...
 *   http-bench stream PORT PATH BODY
 *       One request; prints "ttfb total bytes events": time to the first byte
 *       of the response, to its last byte, body bytes (chunked framing
 *       removed) and the number of lines that start with "data:".
 *   http-bench cold-llmem PORT LLMEM_PID POLL_US PATH BODY
 *       One request to llmem for a model that is not loaded. While waiting
 *       for the answer it watches for llmem's new child (the last PID in
 *       /proc/loadavg, then each new PID's parent), reads the child's --port
 *       from its command line and polls that port's GET /health every
 *       POLL_US. Prints "ttfb spawn ready total pid": first byte, when the
 *       child was seen, when its /health first answered 200 (all from the
 *       moment the request was sent; ready is -1 when the first byte came
 *       before any 200), last byte, the child's PID.
 *   http-bench cold-direct POLL_US PORT LOG PATH BODY -- ARGV...
 *       The peer: starts ARGV (a llama-server on PORT, output to LOG), polls
 *       its GET /health every POLL_US until 200, then sends the request.
 *       Prints "ttfb ready total", from the fork. Stops the server
 *       (SIGTERM, then SIGKILL after 10 s) before exiting.
 *
 * HB_KEY=KEY adds "Authorization: Bearer KEY" to the requests of the other
 * modes (llmem starts each backend with an --api-key of its own).
 * A status other than 200 or a malformed answer exits 1 with a message. */
#include "base/compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	int port;
	char buf[65536];
	size_t pos, len;
	int64_t t_first; /* when the first byte of the current response came */
};

struct resp {
	int status;
	long clen;       /* -1: none */
	bool chunked;
	bool close;      /* the server closes the connection after it */
	long bytes;      /* body bytes */
	long events;     /* body lines starting with "data:" */
	int match;       /* that match's state: chars matched, -1 mid-line */
	char tail[512];  /* the body's last bytes (llama-server's "timings" end it) */
	size_t tail_len;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "http-bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static int dial(int port, int timeout_ms)
{
	struct sockaddr_in a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (timeout_ms > 0) {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void conn_open(struct conn *c, int port)
{
	c->port = port;
	c->pos = c->len = 0;
	c->fd = dial(port, 0);
	if (c->fd < 0)
		die("cannot connect to port %s", "(see the command line)");
}

/* 1: data; 0: EOF or error */
static int fill(struct conn *c)
{
	ssize_t r;

	if (c->pos < c->len)
		return 1;
	do
		r = recv(c->fd, c->buf, sizeof(c->buf), 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	if (!c->t_first)
		c->t_first = now_us();
	c->pos = 0;
	c->len = (size_t)r;
	return 1;
}

static int line(struct conn *c, char *out, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char ch;

		if (!fill(c))
			return -1;
		ch = c->buf[c->pos++];
		if (ch == '\n')
			break;
		if (ch != '\r' && n + 1 < cap)
			out[n++] = ch;
	}
	out[n] = '\0';
	return 0;
}

static const char *env_key(void)
{
	const char *k = getenv("HB_KEY");

	return k && k[0] ? k : NULL;
}

static int send_req(struct conn *c, const char *method, const char *path, const char *body,
		    const char *key)
{
	char req[8192];
	size_t bl = body ? strlen(body) : 0;
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
			 "%s%s%sContent-Length: %zu\r\n\r\n%s",
			 method, path, c->port, key ? "Authorization: Bearer " : "", key ? key : "",
			 key ? "\r\n" : "", bl, body ? body : "");

	if (n < 0 || (size_t)n >= sizeof(req))
		die("%s", "request too long");
	c->t_first = 0;
	return send(c->fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static void scan(struct resp *r, const char *p, size_t n)
{
	static const char key[] = "data:";
	size_t keep = sizeof(r->tail) - 1;

	if (n >= keep) {
		memcpy(r->tail, p + n - keep, keep);
		r->tail_len = keep;
	} else {
		if (r->tail_len + n > keep) {
			size_t drop = r->tail_len + n - keep;

			memmove(r->tail, r->tail + drop, r->tail_len - drop);
			r->tail_len -= drop;
		}
		memcpy(r->tail + r->tail_len, p, n);
		r->tail_len += n;
	}
	r->tail[r->tail_len] = '\0';

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			r->match = 0;
		} else if (r->match >= 0) {
			if (p[i] == key[r->match]) {
				if (++r->match == 5) {
					r->events++;
					r->match = -1;
				}
			} else {
				r->match = -1;
			}
		}
	}
}

/* n body bytes (or to EOF when n < 0) */
static int body_bytes(struct conn *c, struct resp *r, long n)
{
	while (n != 0) {
		size_t k;

		if (!fill(c))
			return n < 0 ? 0 : -1;
		k = c->len - c->pos;
		if (n > 0 && (long)k > n)
			k = (size_t)n;
		scan(r, c->buf + c->pos, k);
		c->pos += k;
		r->bytes += (long)k;
		if (n > 0)
			n -= (long)k;
	}
	return 0;
}

/* Reads one whole response; 0 or -1. */
static int read_resp(struct conn *c, struct resp *r)
{
	char l[4096];

	memset(r, 0, sizeof(*r));
	r->clen = -1;
	if (line(c, l, sizeof(l)) < 0)
		return -1;
	if (strncmp(l, "HTTP/1.", 7) != 0 || strlen(l) < 12)
		return -1;
	r->status = atoi(l + 9);
	if (!strncmp(l, "HTTP/1.0", 8))
		r->close = true;
	for (;;) {
		if (line(c, l, sizeof(l)) < 0)
			return -1;
		if (!l[0])
			break;
		if (!strncasecmp(l, "content-length:", 15))
			r->clen = atol(l + 15);
		else if (!strncasecmp(l, "transfer-encoding:", 18) && strstr(l, "chunked"))
			r->chunked = true;
		else if (!strncasecmp(l, "connection:", 11) && strcasestr(l, "close"))
			r->close = true;
	}
	if (r->chunked) {
		for (;;) {
			long n;

			if (line(c, l, sizeof(l)) < 0)
				return -1;
			n = strtol(l, NULL, 16);
			if (n == 0)
				break;
			if (body_bytes(c, r, n) < 0 || line(c, l, sizeof(l)) < 0)
				return -1;
		}
		do /* trailers */
			if (line(c, l, sizeof(l)) < 0)
				return -1;
		while (l[0]);
	} else if (r->clen >= 0) {
		if (body_bytes(c, r, r->clen) < 0)
			return -1;
	} else {
		r->close = true;
		if (body_bytes(c, r, -1) < 0)
			return -1;
	}
	return 0;
}

static void expect_ok(const struct resp *r, const char *what)
{
	char s[64];

	if (r->status != 200) {
		snprintf(s, sizeof(s), "%s: status %d", what, r->status);
		die("%s", s);
	}
	if (r->bytes == 0)
		die("%s: empty body", what);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of a sorted array */
static int64_t pct(const int64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* The backend's own compute time for the request, in us: llama-server's
 * "timings" prompt_ms + predicted_ms at the end of its answer; -1 when the
 * answer has none. */
static int64_t compute_us(const struct resp *r)
{
	const char *a = strstr(r->tail, "\"prompt_ms\":"), *b = strstr(r->tail, "\"predicted_ms\":");

	if (!a || !b)
		return -1;
	return (int64_t)((strtod(a + 12, NULL) + strtod(b + 15, NULL)) * 1000.0 + 0.5);
}

struct target {
	struct conn c;
	bool fresh;      /* a new connection for every request, timed */
	const char *key;
	int64_t *t;
	int64_t *comp;     /* the backend's compute time of each sample (compute_us) */
	signed char *prev; /* the target sent to just before each sample (-1: none) */
	long reconnects;
};

static void target_send(struct target *tg, const char *path, const char *body, struct resp *r)
{
	if (send_req(&tg->c, "POST", path, body, tg->key) < 0 || read_resp(&tg->c, r) < 0)
		die("%s", "request failed (connection closed?)");
}

static int mode_lat(long n, long warm, const char *path, const char *body, int nt, char **spec)
{
	struct target *tg = calloc((size_t)nt, sizeof(*tg));
	const char *raw = getenv("HB_RAW");
	struct resp r;

	if (!tg || n < 1 || nt < 1 || nt > 100)
		die("%s", "bad arguments or out of memory");
	for (int j = 0; j < nt; j++) {
		char *comma = strchr(spec[j], ',');

		if (spec[j][0] == '+') {
			tg[j].fresh = true;
			spec[j]++;
		}
		if (comma) {
			*comma = '\0';
			tg[j].key = comma + 1;
		}
		tg[j].t = calloc((size_t)n, sizeof(int64_t));
		tg[j].comp = calloc((size_t)n, sizeof(int64_t));
		tg[j].prev = calloc((size_t)n, 1);
		if (!tg[j].t || !tg[j].comp || !tg[j].prev)
			die("%s", "out of memory");
		conn_open(&tg[j].c, atoi(spec[j]));
	}
	/* request i goes to every target in turn, in an order drawn for each
	 * round (a fixed seed): a change in the machine's load falls on all of
	 * them alike, and each follows each other as often, so that none
	 * meets another's trailing work (a proxy's own after its reply went
	 * out) more than the rest do. (A rotation made the third target
	 * follow the second in two rounds of three.) */
	int *order = calloc((size_t)nt, sizeof(*order));
	uint64_t rng = 0x9e3779b97f4a7c15u;
	int last = -1;

	if (!order)
		die("%s", "out of memory");
	for (long i = -warm; i < n; i++) {
		for (int j = 0; j < nt; j++)
			order[j] = j;
		for (int j = nt - 1; j > 0; j--) {
			int k, tmp;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			k = (int)(rng % (uint64_t)(j + 1));
			tmp = order[j];
			order[j] = order[k];
			order[k] = tmp;
		}
		for (int jj = 0; jj < nt; jj++) {
			struct target *t = &tg[order[jj]];
			int64_t t0 = now_us();

			if (t->fresh) {
				close(t->c.fd);
				conn_open(&t->c, t->c.port);
			}
			target_send(t, path, body, &r);
			if (i >= 0) {
				t->t[i] = now_us() - t0;
				t->prev[i] = (signed char)last;
				t->comp[i] = compute_us(&r);
			}
			last = order[jj];
			expect_ok(&r, "lat");
			if (r.close && !t->fresh) {
				close(t->c.fd);
				conn_open(&t->c, t->c.port);
				if (i >= 0)
					t->reconnects++;
			}
		}
	}
	free(order);
	for (int j = 0; j < nt; j++) {
		int64_t sum = 0, *t = tg[j].t;

		close(tg[j].c.fd);
		if (raw) {
			char fn[4096];
			FILE *f;

			snprintf(fn, sizeof(fn), "%s.%d", raw, j);
			f = fopen(fn, "w");
			for (long i = 0; f && i < n; i++)
				fprintf(f, "%lld\n", (long long)t[i]);
			if (f)
				fclose(f);
			snprintf(fn, sizeof(fn), "%s.prev.%d", raw, j);
			f = fopen(fn, "w");
			for (long i = 0; f && i < n; i++)
				fprintf(f, "%d\n", tg[j].prev[i]);
			if (f)
				fclose(f);
			snprintf(fn, sizeof(fn), "%s.comp.%d", raw, j);
			f = fopen(fn, "w");
			for (long i = 0; f && i < n; i++)
				fprintf(f, "%lld\n", (long long)tg[j].comp[i]);
			if (f)
				fclose(f);
		}
		for (long i = 0; i < n; i++)
			sum += t[i];
		qsort(t, (size_t)n, sizeof(*t), cmp_i64);
		printf("%ld %lld %lld %lld %lld %lld %ld\n", n, (long long)pct(t, (size_t)n, 50),
		       (long long)pct(t, (size_t)n, 90), (long long)pct(t, (size_t)n, 99),
		       (long long)t[n - 1], (long long)(sum / n), tg[j].reconnects);
		free(t);
		free(tg[j].comp);
		free(tg[j].prev);
	}
	free(tg);
	return 0;
}

static int mode_stream(int port, const char *path, const char *body)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct resp r;
	int64_t t0;

	if (!c)
		die("%s", "out of memory");
	conn_open(c, port);
	t0 = now_us();
	if (send_req(c, "POST", path, body, env_key()) < 0 || read_resp(c, &r) < 0)
		die("%s", "stream request failed");
	expect_ok(&r, "stream");
	printf("%lld %lld %ld %ld\n", (long long)(c->t_first - t0), (long long)(now_us() - t0),
	       r.bytes, r.events);
	close(c->fd);
	free(c);
	return 0;
}

/* GET /health on port: its status, or 0 when it cannot connect */
static int health(int port)
{
	static struct conn hc;
	struct resp r;
	int st;

	hc.port = port;
	hc.pos = hc.len = 0;
	hc.fd = dial(port, 1000);
	if (hc.fd < 0)
		return 0;
	st = send_req(&hc, "GET", "/health", NULL, NULL) < 0 || read_resp(&hc, &r) < 0 ? 0 : r.status;
	close(hc.fd);
	return st;
}

static long last_pid(void)
{
	char b[256];
	ssize_t n;
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	const char *p;

	if (fd < 0)
		return -1;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = '\0';
	p = strrchr(b, ' ');
	return p ? atol(p + 1) : -1;
}

static long ppid_of(long pid)
{
	char p[64], b[512];
	const char *q;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = '\0';
	q = strrchr(b, ')'); /* "pid (comm) S ppid ..." */
	if (!q || strlen(q) < 4)
		return -1;
	return atol(q + 4);
}

/* The --port of pid's command line, once it has exec'd: its executable is
 * no longer its parent's (0: not yet). */
static int port_of(long pid, long parent)
{
	char p[64], b[8192], e1[4096], e2[4096];
	ssize_t n, k1, k2;
	int fd;

	snprintf(p, sizeof(p), "/proc/%ld/exe", pid);
	k1 = readlink(p, e1, sizeof(e1));
	snprintf(p, sizeof(p), "/proc/%ld/exe", parent);
	k2 = readlink(p, e2, sizeof(e2));
	if (k1 <= 0 || (k1 == k2 && !memcmp(e1, e2, (size_t)k1)))
		return 0;
	snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	for (ssize_t i = 0; i < n;) {
		const char *a = b + i;
		size_t l = strlen(a);

		if (!strcmp(a, "--port") && i + (ssize_t)l + 1 < n)
			return atoi(a + l + 1);
		i += (ssize_t)l + 1;
	}
	return 0;
}

static int mode_cold_llmem(int port, long llmem_pid, long poll_us, const char *path, const char *body)
{
	struct conn *c = calloc(1, sizeof(*c));
	long seen = last_pid(), child = 0;
	int bport = 0;
	int64_t t0, t_spawn = -1, t_ready = -1, next = 0, t_fb;
	struct resp r;

	if (!c)
		die("%s", "out of memory");
	conn_open(c, port);
	t0 = now_us();
	if (send_req(c, "POST", path, body, env_key()) < 0)
		die("%s", "send failed");
	for (;;) {
		struct pollfd pf = { c->fd, POLLIN, 0 };
		struct timespec ts = { 0, 100000 }; /* look every 0.1 ms */
		int64_t now;

		if (ppoll(&pf, 1, &ts, NULL) > 0)
			break;
		now = now_us();
		if (now - t0 > 600 * 1000000LL)
			die("%s", "no answer in 600 s");
		if (!child) {
			long top = last_pid();

			for (long p = seen + 1; top > seen && p <= top && p < seen + 100000; p++)
				if (ppid_of(p) == llmem_pid) {
					child = p;
					t_spawn = now - t0;
					break;
				}
			if (top > seen)
				seen = top;
		} else if (!bport) {
			bport = port_of(child, llmem_pid);
		} else if (t_ready < 0 && now >= next) {
			next = now + poll_us;
			if (health(bport) == 200)
				t_ready = now_us() - t0;
		}
	}
	if (read_resp(c, &r) < 0)
		die("%s", "cold request failed");
	t_fb = c->t_first - t0;
	expect_ok(&r, "cold-llmem");
	printf("%lld %lld %lld %lld %ld\n", (long long)t_fb, (long long)t_spawn,
	       (long long)(t_ready >= 0 && t_ready <= t_fb ? t_ready : -1),
	       (long long)(now_us() - t0), child);
	close(c->fd);
	free(c);
	return 0;
}

static int mode_cold_direct(long poll_us, int port, const char *log, const char *path,
			    const char *body, char **argv)
{
	struct conn *c = calloc(1, sizeof(*c));
	int64_t t0, t_ready, t_send, t_fb;
	struct resp r;
	int ws, st = 1;
	pid_t pid;

	if (!c)
		die("%s", "out of memory");
	t0 = now_us();
	pid = fork();
	if (pid < 0)
		die("%s", "fork failed");
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	for (long k = 1;; k++) {
		int64_t due = t0 + k * poll_us, now = now_us();

		if (due > now)
			usleep((useconds_t)(due - now));
		if (health(port) == 200)
			break;
		if (waitpid(pid, &ws, WNOHANG) == pid)
			die("%s", "the server exited before it was healthy (see its log)");
		if (now_us() - t0 > 300 * 1000000LL) {
			kill(pid, SIGKILL);
			die("%s", "not healthy in 300 s");
		}
	}
	t_ready = now_us() - t0;
	conn_open(c, port);
	t_send = now_us();
	if (send_req(c, "POST", path, body, env_key()) < 0 || read_resp(c, &r) < 0) {
		kill(pid, SIGKILL);
		die("%s", "request failed");
	}
	t_fb = c->t_first - t0;
	printf("%lld %lld %lld\n", (long long)t_fb, (long long)t_ready, (long long)(now_us() - t0));
	(void)t_send;
	st = r.status == 200 && r.bytes > 0 ? 0 : 1;
	close(c->fd);
	kill(pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &ws, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		usleep(10000);
	}
	if (pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &ws, 0);
	}
	free(c);
	if (st)
		fprintf(stderr, "http-bench: cold-direct: status %d\n", r.status);
	return st;
}

int main(int argc, char **argv)
{
	if (argc >= 7 && !strcmp(argv[1], "lat"))
		return mode_lat(atol(argv[2]), atol(argv[3]), argv[4], argv[5], argc - 6, argv + 6);
	if (argc >= 5 && !strcmp(argv[1], "stream"))
		return mode_stream(atoi(argv[2]), argv[3], argv[4]);
	if (argc >= 7 && !strcmp(argv[1], "cold-llmem"))
		return mode_cold_llmem(atoi(argv[2]), atol(argv[3]), atol(argv[4]), argv[5], argv[6]);
	if (argc >= 9 && !strcmp(argv[1], "cold-direct") && !strcmp(argv[7], "--"))
		return mode_cold_direct(atol(argv[2]), atoi(argv[3]), argv[4], argv[5], argv[6],
					argv + 8);
	fprintf(stderr, "usage: http-bench lat N WARMUP PATH BODY PORT[,KEY]...\n"
			"       http-bench stream PORT PATH BODY\n"
			"       http-bench cold-llmem PORT LLMEM_PID POLL_US PATH BODY\n"
			"       http-bench cold-direct POLL_US PORT LOG PATH BODY -- ARGV...\n");
	return 2;
}
