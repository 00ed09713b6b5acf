/* fuzz-http.c: libFuzzer target over the daemon's HTTP/1.1 (serve/http.c):
 * what a client sends to the API port, and what a backend answers. The
 * first byte picks the side and how the input is cut:
 *
 *   bit 0     0: the bytes are a client's, to a server (hsrv) on one end
 *             of a socket pair; 1: a backend's answer, to a client (hcli)
 *             that sent a request to a loopback listener;
 *   bits 1-2  server: what the handler does with a request: answer at
 *             once, stream it in three pieces, hold it (then cut it), or
 *             answer with a Content-Length of its own;
 *   bits 3-7  the size of the pieces the bytes are written in (1 + n*37).
 *
 * Properties: no crash or sanitizer report, every request the handler
 * saw is answered or reported gone, a held one's gone callback is made at
 * most once, every client request ends in exactly one done callback, and
 * nothing is left open after the peer closes. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "serve/http.h"

#include "fuzz-util.h"

static struct event_base *base;
static struct hsrv *srv;
static int lfd = -1;
static uint16_t lport;
static int mode;
static struct hreq *held;
static int n_req, n_gone, n_done;

static void on_gone(void *arg)
{
	(void)arg;
	FUZZ_CHECK(held != NULL);
	held = NULL;
	n_gone++;
}

static void handler(struct hreq *q, void *arg)
{
	size_t n;
	const char *b = hreq_body(q, &n);
	const char *k, *v;

	(void)arg;
	n_req++;
	FUZZ_CHECK(b[n] == '\0');
	FUZZ_CHECK(hreq_uri(q) != NULL);
	for (size_t i = 0; hreq_header_at(q, i, &k, &v); i++)
		FUZZ_CHECK(hreq_header(q, k) != NULL);
	if (held) {
		/* the last one is still held: a pipelined request cannot
		 * come before its answer */
		FUZZ_CHECK(0);
	}
	switch (mode) {
	case 0:
		hreq_add_header(q, "Content-Type", "text/plain");
		hreq_reply(q, 200, b, n);
		break;
	case 1:
		hreq_reply_start(q, 200);
		hreq_reply_chunk(q, b, n / 2);
		hreq_reply_chunk(q, b + n / 2, n - n / 2);
		hreq_reply_chunk(q, "end", 3);
		hreq_reply_end(q);
		break;
	case 2:
		held = q;
		hreq_watch(q, NULL, on_gone, NULL);
		break;
	default: {
		char len[24];

		snprintf(len, sizeof(len), "%zu", n);
		hreq_add_header(q, "Content-Length", len);
		hreq_reply_start(q, 201);
		hreq_reply_chunk(q, b, n);
		hreq_reply_end(q);
		break;
	}
	}
}

static void init(void)
{
	struct hsrv_limits lim = { 2048, 4096, 30 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	FUZZ_CHECK(base != NULL);
	FUZZ_CHECK(hsrv_new(base, "127.0.0.1", 0, &lim, handler, NULL, &srv) == 0);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	FUZZ_CHECK(lfd >= 0);
	FUZZ_CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	FUZZ_CHECK(listen(lfd, 16) == 0);
	FUZZ_CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
	lport = ntohs(a.sin_port);
}

static void pump(int n)
{
	for (int i = 0; i < n; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* writes data in pieces of step, pumping the loop between them and
 * draining what comes back */
static void feed(int fd, const uint8_t *data, size_t size, size_t step)
{
	char sink[65536];

	for (size_t off = 0; off < size;) {
		size_t k = size - off < step ? size - off : step;
		ssize_t w = write(fd, data + off, k);

		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break;
		pump(2);
		while (read(fd, sink, sizeof(sink)) > 0)
			;
	}
	pump(4);
	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

static void server_side(const uint8_t *data, size_t size, size_t step)
{
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	FUZZ_CHECK(hsrv_adopt(srv, sv[0]) == 0);
	n_req = n_gone = 0;
	feed(sv[1], data, size, step);
	if (held) {
		/* cut a held answer after a piece */
		hreq_reply_start(held, 200);
		hreq_abort(held, "cut", 3);
		held = NULL;
	}
	close(sv[1]);
	pump(8);
	FUZZ_CHECK(held == NULL);
	FUZZ_CHECK(n_gone <= 1);
}

static void c_head(struct hcli *c, void *arg)
{
	(void)arg;
	FUZZ_CHECK(hcli_status(c) >= 100);
	(void)hcli_header(c, "Content-Type");
}

static void c_body(struct hcli *c, void *arg, const char *p, size_t n)
{
	(void)c;
	(void)arg;
	FUZZ_CHECK(n == 0 || p != NULL);
}

static void c_done(struct hcli *c, void *arg, int err)
{
	(void)c;
	(void)arg;
	FUZZ_CHECK(err == 0 || err == -ECONNRESET || err == -EPROTO || err == -ECONNREFUSED ||
		   err == -ETIMEDOUT);
	n_done++;
}

static void client_side(const uint8_t *data, size_t size, size_t step)
{
	static const struct hcli_cbs cbs = { c_head, c_body, c_done };
	struct hcli *c = hcli_new(base, lport);
	struct linger lg = { 1, 0 };
	int fd;

	FUZZ_CHECK(c != NULL);
	n_done = 0;
	FUZZ_CHECK(hcli_request(c, "POST", "/v1/x", "Host: 127.0.0.1\r\n", "{}", 2, 0, &cbs, NULL) == 0);
	fd = accept(lfd, NULL, NULL);
	FUZZ_CHECK(fd >= 0);
	/* closed with a reset: no TIME_WAIT piling up over the run */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	feed(fd, data, size, step);
	close(fd);
	for (int i = 0; i < 50 && n_done == 0; i++) {
		pump(1);
		if (n_done == 0)
			usleep(100);
	}
	FUZZ_CHECK(n_done == 1);
	hcli_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step;

	if (!base)
		init();
	if (size < 1)
		return 0;
	mode = (data[0] >> 1) & 3;
	step = 1 + (size_t)(data[0] >> 3) * 37;
	if (data[0] & 1)
		client_side(data + 1, size - 1, step);
	else
		server_side(data + 1, size - 1, step);
	return 0;
}
