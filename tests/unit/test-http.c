/* test-http.c: serve/http, the daemon's HTTP/1.1 server and backend
 * client, on loopback in one thread: raw sockets on the client side (the
 * event loop is pumped while they wait), so every byte on the wire is
 * checked: framing, keep-alive and pipelining, HEAD, HTTP/1.0, Expect,
 * the limits (431, 413 by Content-Length and by a chunked body), the
 * refusals of ambiguous framing, the head deadline, a reply streamed,
 * cut, or stalled by a client that does not read, a client leaving; and
 * hcli against hsrv and against a server that drops a kept-alive
 * connection as the next request arrives. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "serve/http.h"

static struct event_base *base;
static struct hsrv *srv;

/* what the handler saw and does */
enum mode { M_ECHO, M_HOLD, M_STREAM, M_BIG };
static enum mode mode;
static struct hreq *held;
static int n_handled;
static char last_uri[256], last_body[4096], last_x[64];
static int n_gone, n_drained;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void handler(struct hreq *q, void *arg)
{
	size_t n;
	const char *b = hreq_body(q, &n);
	const char *x = hreq_header(q, "x-test");
	char out[8192];
	int k;

	(void)arg;
	n_handled++;
	snprintf(last_uri, sizeof(last_uri), "%s", hreq_uri(q));
	snprintf(last_body, sizeof(last_body), "%.*s", (int)n, b);
	snprintf(last_x, sizeof(last_x), "%s", x ? x : "(none)");
	switch (mode) {
	case M_ECHO:
		k = snprintf(out, sizeof(out), "uri=%s body=%.*s", hreq_uri(q), (int)n, b);
		hreq_add_header(q, "Content-Type", "text/plain");
		hreq_add_header(q, "X-Bad", "a\r\nInjected: 1"); /* dropped */
		hreq_reply(q, 200, out, (size_t)k);
		break;
	case M_HOLD:
	case M_STREAM:
	case M_BIG:
		held = q;
		break;
	}
}

static void on_gone(void *arg)
{
	(void)arg;
	n_gone++;
	held = NULL;
}

static void on_drained(void *arg)
{
	(void)arg;
	n_drained++;
}

static void pump(int ms)
{
	int64_t end = now_ms() + ms;

	do
		event_base_loop(base, EVLOOP_NONBLOCK);
	while (now_ms() < end && (usleep(1000), 1));
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);

		if (w < 0 && errno == EAGAIN) {
			pump(1);
			continue;
		}
		assert_true(w > 0);
		off += (size_t)w;
	}
}

/* Reads for up to ms (pumping the loop), until want is in the bytes or
 * EOF; returns the bytes (static), *eof set. */
static char rbuf[1 << 20];
static size_t rlen;

static const char *recv_until(int fd, const char *want, int ms, bool *eof)
{
	int64_t end = now_ms() + ms;

	rlen = 0;
	rbuf[0] = 0;
	*eof = false;
	while (now_ms() < end) {
		ssize_t n;

		event_base_loop(base, EVLOOP_NONBLOCK);
		n = read(fd, rbuf + rlen, sizeof(rbuf) - 1 - rlen);
		if (n == 0) {
			*eof = true;
			break;
		}
		if (n < 0 && errno == ECONNRESET) {
			*eof = true;
			break;
		}
		if (n > 0) {
			rlen += (size_t)n;
			rbuf[rlen] = 0;
			if (want && strstr(rbuf, want))
				break;
			continue;
		}
		usleep(500);
	}
	return rbuf;
}

static int count(const char *hay, const char *needle)
{
	int k = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		k++;
	return k;
}

static int setup(void **state)
{
	struct hsrv_limits lim = { 1024, 4096, 1 };

	(void)state;
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(hsrv_new(base, "127.0.0.1", 0, &lim, handler, NULL, &srv), 0);
	assert_true(hsrv_port(srv) > 0);
	mode = M_ECHO;
	held = NULL;
	n_handled = n_gone = n_drained = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hsrv_free(srv);
	event_base_free(base);
	return 0;
}

static void test_keepalive_pipelined(void **state)
{
	int fd = connect_to(hsrv_port(srv));
	bool eof;
	const char *r;

	(void)state;
	/* two requests in one write, the first with an empty header value */
	send_str(fd, "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Test: one\r\n\r\n"
		     "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
	r = recv_until(fd, "body=hello", 2000, &eof);
	assert_false(eof);
	assert_int_equal(count(r, "HTTP/1.1 200 OK\r\n"), 2);
	assert_non_null(strstr(r, "uri=/a?x=1 body="));
	assert_true(strstr(r, "uri=/a?x=1") < strstr(r, "uri=/b body=hello"));
	assert_non_null(strstr(r, "Content-Length: 16\r\n"));
	assert_null(strstr(r, "Injected"));
	assert_null(strstr(r, "Connection: close"));
	assert_int_equal(n_handled, 2);
	/* the connection is still open for a third */
	send_str(fd, "GET /c HTTP/1.1\r\nHost: h\r\nx-test: three\r\n\r\n");
	r = recv_until(fd, "uri=/c body=", 2000, &eof);
	assert_non_null(strstr(r, "uri=/c body="));
	assert_string_equal(last_x, "three");
	close(fd);
}

static void test_chunked_body_head_http10(void **state)
{
	int fd = connect_to(hsrv_port(srv));
	bool eof;
	const char *r;

	(void)state;
	send_str(fd, "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	r = recv_until(fd, "body=abcde", 2000, &eof);
	assert_non_null(strstr(r, "body=abcde"));
	/* HEAD: the length, no body */
	send_str(fd, "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
	r = recv_until(fd, "\r\n\r\n", 2000, &eof);
	assert_non_null(strstr(r, "Content-Length: 12\r\n")); /* "uri=/h body=" */
	pump(50);
	r = recv_until(fd, NULL, 100, &eof);
	assert_int_equal(rlen, 0);
	close(fd);
	/* HTTP/1.0 without keep-alive: closed after the reply */
	fd = connect_to(hsrv_port(srv));
	send_str(fd, "GET /old HTTP/1.0\r\n\r\n");
	r = recv_until(fd, NULL, 2000, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "Connection: close"));
	assert_non_null(strstr(r, "uri=/old"));
	close(fd);
	/* HTTP/1.0 with keep-alive: kept */
	fd = connect_to(hsrv_port(srv));
	send_str(fd, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	r = recv_until(fd, "uri=/ka body=", 2000, &eof);
	assert_false(eof);
	assert_non_null(strstr(r, "Connection: keep-alive"));
	close(fd);
}

static void test_expect_continue(void **state)
{
	int fd = connect_to(hsrv_port(srv));
	bool eof;
	const char *r;

	(void)state;
	send_str(fd, "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	r = recv_until(fd, "100 Continue\r\n\r\n", 2000, &eof);
	assert_non_null(strstr(r, "HTTP/1.1 100 Continue\r\n\r\n"));
	send_str(fd, "xyz");
	r = recv_until(fd, "body=xyz", 2000, &eof);
	assert_non_null(strstr(r, "200 OK"));
	close(fd);
	/* a body over the cap announced with Expect: 413, no 100 */
	fd = connect_to(hsrv_port(srv));
	send_str(fd, "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n");
	r = recv_until(fd, NULL, 2000, &eof);
	assert_true(eof);
	assert_null(strstr(r, "100 Continue"));
	assert_non_null(strstr(r, "HTTP/1.1 413 "));
	close(fd);
}

/* each of these: the status, then the connection closed */
static void refused(const char *req, const char *status)
{
	int fd = connect_to(hsrv_port(srv));
	bool eof;
	const char *r;
	int before = n_handled;

	send_str(fd, req);
	r = recv_until(fd, NULL, 3000, &eof);
	if (!strstr(r, status) || !eof)
		fail_msg("%s: got '%.200s' eof %d", req, r, eof);
	assert_non_null(strstr(r, "Connection: close"));
	assert_int_equal(n_handled, before);
	close(fd);
}

static void test_limits_and_framing(void **state)
{
	char big[2048];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	{
		char req[4096];

		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: %s\r\n\r\n", big);
		refused(req, "HTTP/1.1 431 ");
	}
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10737418240\r\n\r\n", "HTTP/1.1 413 ");
	{
		/* a chunked body past the cap (4096) */
		char req[8192];
		int k = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");

		for (int i = 0; i < 5; i++)
			k += snprintf(req + k, sizeof(req) - (size_t)k, "3e8\r\n%.1000s\r\n", big);
		refused(req, "HTTP/1.1 413 ");
	}
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 400 ");
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "HTTP/1.1 400 ");
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 ");
	refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", "HTTP/1.1 505 ");
	refused("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 ");
	refused("POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx", "HTTP/1.1 417 ");
	refused("garbage\r\n\r\n", "HTTP/1.1 400 ");
}

static void test_head_deadline(void **state)
{
	int fd = connect_to(hsrv_port(srv));
	int64_t t0 = now_ms();
	bool eof = false;
	const char *r = "";

	(void)state;
	/* a byte every 200 ms keeps a per-read timeout at bay, not the
	 * deadline of the whole head (1 s here) */
	send_str(fd, "GET / HTTP/1.1\r\n");
	while (!eof && now_ms() - t0 < 4000) {
		if (write(fd, "X", 1) < 0)
			break;
		r = recv_until(fd, NULL, 200, &eof);
		if (rlen)
			break;
	}
	if (!eof)
		r = recv_until(fd, NULL, 1000, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 408 "));
	assert_true(now_ms() - t0 < 3000);
	close(fd);
	/* an idle keep-alive connection is closed quietly */
	fd = connect_to(hsrv_port(srv));
	r = recv_until(fd, NULL, 3000, &eof);
	assert_true(eof);
	assert_int_equal(rlen, 0);
	close(fd);
}

/* decodes a chunked body in place: its length, or -1 when it did not end */
static long dechunk(const char *p, char *out, size_t cap)
{
	size_t k = 0;

	for (;;) {
		char *e;
		unsigned long n = strtoul(p, &e, 16);

		if (e == p || strncmp(e, "\r\n", 2))
			return -1;
		p = e + 2;
		if (n == 0)
			return strncmp(p, "\r\n", 2) ? -1 : (long)k;
		if (strlen(p) < n + 2 || k + n > cap)
			return -1;
		memcpy(out + k, p, n);
		k += n;
		p += n + 2;
	}
}

static void test_stream_and_abort(void **state)
{
	int fd = connect_to(hsrv_port(srv));
	bool eof;
	const char *r;
	char body[64];
	long n;

	(void)state;
	mode = M_STREAM;
	send_str(fd, "GET /s HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_add_header(held, "Content-Type", "text/event-stream");
	hreq_reply_start(held, 200);
	hreq_reply_chunk(held, "data: 1\n\n", 9);
	/* written at once: no loop turn needed */
	r = recv_until(fd, "data: 1", 1000, &eof);
	assert_non_null(strstr(r, "Transfer-Encoding: chunked\r\n"));
	hreq_reply_chunk(held, "data: 2\n\n", 9);
	hreq_reply_end(held);
	held = NULL;
	r = recv_until(fd, "0\r\n\r\n", 1000, &eof);
	n = dechunk(r, body, sizeof(body));
	assert_int_equal(n, 9);
	assert_memory_equal(body, "data: 2\n\n", 9);
	assert_false(eof);
	/* the next request on it: cut after one piece */
	send_str(fd, "GET /s2 HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_reply_start(held, 200);
	hreq_reply_chunk(held, "part", 4);
	hreq_abort(held, "data: {\"error\":1}\n\n", 19);
	held = NULL;
	r = recv_until(fd, NULL, 2000, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "part"));
	assert_non_null(strstr(r, "error"));
	assert_null(strstr(r, "0\r\n\r\n"));
	close(fd);
	/* a reply with its own Content-Length is passed raw */
	fd = connect_to(hsrv_port(srv));
	send_str(fd, "GET /cl HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_add_header(held, "Content-Length", "6");
	hreq_reply_start(held, 200);
	hreq_reply_chunk(held, "abc", 3);
	hreq_reply_chunk(held, "def", 3);
	hreq_reply_end(held);
	held = NULL;
	r = recv_until(fd, "abcdef", 1000, &eof);
	assert_non_null(strstr(r, "Content-Length: 6\r\n\r\nabcdef"));
	assert_null(strstr(r, "chunked"));
	/* a backend's Content-Length passed on, then no body after all:
	 * one Content-Length, the true one; a value that is not a plain
	 * decimal is not taken */
	send_str(fd, "GET /cl0 HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_add_header(held, "Content-Length", "17");
	hreq_reply(held, 200, NULL, 0);
	held = NULL;
	r = recv_until(fd, "\r\n\r\n", 1000, &eof);
	assert_int_equal(count(r, "Content-Length"), 1);
	assert_non_null(strstr(r, "Content-Length: 0\r\n"));
	send_str(fd, "GET /clbad HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_add_header(held, "Content-Length", "6, 7");
	hreq_reply_start(held, 200);
	hreq_reply_chunk(held, "xyz", 3);
	hreq_reply_end(held);
	held = NULL;
	r = recv_until(fd, "0\r\n\r\n", 1000, &eof);
	assert_null(strstr(r, "Content-Length"));
	assert_non_null(strstr(r, "Transfer-Encoding: chunked"));
	close(fd);
}

static void test_gone_and_stalled(void **state)
{
	int fd = connect_to(hsrv_port(srv));
	int64_t t0;
	static char chunk[1 << 20];

	(void)state;
	mode = M_HOLD;
	send_str(fd, "GET /g HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_watch(held, on_drained, on_gone, NULL);
	close(fd);
	pump(50);
	assert_int_equal(n_gone, 1);
	assert_null(held);
	/* a client that stops reading: past the timeout (1 s) with bytes
	 * unsent, gone */
	{
		int rcv = 4096;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		{
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hsrv_port(srv)),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

			assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		}
	}
	mode = M_BIG;
	send_str(fd, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
	pump(20);
	assert_non_null(held);
	hreq_watch(held, on_drained, on_gone, NULL);
	hreq_reply_start(held, 200);
	memset(chunk, 'z', sizeof(chunk));
	for (int i = 0; i < 16 && held; i++)
		hreq_reply_chunk(held, chunk, sizeof(chunk));
	assert_non_null(held);
	assert_true(hreq_unsent(held) > 0);
	t0 = now_ms();
	while (held && now_ms() - t0 < 4000)
		pump(10);
	assert_null(held);
	assert_int_equal(n_gone, 2);
	assert_int_equal(n_drained, 0);
	close(fd);
}

/* ---- hcli ---- */

static int c_status, c_err = 1, c_done;
static char c_body[4096];
static size_t c_len;
static char c_ctype[64];

static void c_head(struct hcli *c, void *arg)
{
	const char *ct = hcli_header(c, "content-type");

	(void)arg;
	c_status = hcli_status(c);
	snprintf(c_ctype, sizeof(c_ctype), "%s", ct ? ct : "");
}

static void c_bodycb(struct hcli *c, void *arg, const char *p, size_t n)
{
	(void)c;
	(void)arg;
	if (c_len + n < sizeof(c_body)) {
		memcpy(c_body + c_len, p, n);
		c_len += n;
		c_body[c_len] = 0;
	}
}

static void c_donecb(struct hcli *c, void *arg, int err)
{
	(void)c;
	(void)arg;
	c_err = err;
	c_done++;
}

static const struct hcli_cbs ccbs = { c_head, c_bodycb, c_donecb };

static void c_reset(void)
{
	c_status = 0;
	c_err = 1;
	c_len = 0;
	c_body[0] = 0;
}

static void c_wait(int done)
{
	int64_t t0 = now_ms();

	while (c_done < done && now_ms() - t0 < 3000)
		pump(1);
	assert_int_equal(c_done, done);
}

static void test_client(void **state)
{
	struct hcli *c = hcli_new(base, hsrv_port(srv));

	(void)state;
	c_done = 0;
	assert_non_null(c);
	c_reset();
	assert_int_equal(hcli_request(c, "POST", "/p", "Host: x\r\n", "{\"a\":1}", 7, 0, &ccbs, NULL), 0);
	assert_int_equal(hcli_request(c, "GET", "/busy", NULL, NULL, 0, 0, &ccbs, NULL), -EBUSY);
	c_wait(1);
	assert_int_equal(c_err, 0);
	assert_int_equal(c_status, 200);
	assert_string_equal(c_ctype, "text/plain");
	assert_string_equal(c_body, "uri=/p body={\"a\":1}");
	assert_true(hcli_reusable(c));
	/* the same connection again */
	c_reset();
	assert_int_equal(hcli_request(c, "GET", "/q", NULL, NULL, 0, 0, &ccbs, NULL), 0);
	c_wait(2);
	assert_string_equal(c_body, "uri=/q body=");
	/* a streamed (chunked) answer, de-chunked */
	mode = M_STREAM;
	c_reset();
	assert_int_equal(hcli_request(c, "GET", "/s", NULL, NULL, 0, 0, &ccbs, NULL), 0);
	pump(30);
	assert_non_null(held);
	hreq_reply_start(held, 201);
	hreq_reply_chunk(held, "one,", 4);
	pump(10);
	assert_int_equal(c_status, 201);
	assert_string_equal(c_body, "one,");
	hreq_reply_chunk(held, "two", 3);
	hreq_reply_end(held);
	held = NULL;
	c_wait(3);
	assert_string_equal(c_body, "one,two");
	/* a timeout */
	mode = M_HOLD;
	c_reset();
	assert_int_equal(hcli_request(c, "GET", "/slow", NULL, NULL, 0, 200, &ccbs, NULL), 0);
	c_wait(4);
	assert_int_equal(c_err, -ETIMEDOUT);
	assert_false(hcli_reusable(c));
	pump(20);
	held = NULL;
	hcli_free(c);
	/* nothing listens */
	{
		uint16_t port = hsrv_port(srv);
		struct hsrv_limits lim = { 1024, 4096, 1 };

		hsrv_free(srv);
		c = hcli_new(base, port);
		c_reset();
		{
			int e = hcli_request(c, "GET", "/", NULL, NULL, 0, 0, &ccbs, NULL);

			if (e == 0) {
				c_wait(5);
				assert_int_equal(c_err, -ECONNREFUSED);
			} else {
				assert_int_equal(e, -ECONNREFUSED);
			}
		}
		hcli_free(c);
		assert_int_equal(hsrv_new(base, "127.0.0.1", 0, &lim, handler, NULL, &srv), 0);
	}
}

/* A server that answers one request on a connection, then closes it as
 * the next request comes (a keep-alive timeout racing the request): hcli
 * sends it again on a new connection. */
static int lfd;
static int n_accepted;
static int served[4];
static struct event *raw_ev[4];

static void raw_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	int i = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)what;
	if (n <= 0 || served[i]) {
		event_del(raw_ev[i]);
		close(fd);
		served[i] = -1;
		return;
	}
	served[i] = 1;
	(void)!write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40);
}

/* A listening socket on loopback for raw_serve_until() (lfd): its port. */
static uint16_t raw_listen(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	memset(served, 0, sizeof(served));
	memset(raw_ev, 0, sizeof(raw_ev));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	return ntohs(a.sin_port);
}

/* Frees what raw_listen() and raw_serve_until() made. */
static void raw_close(void)
{
	for (int i = 0; i < 4; i++)
		if (raw_ev[i]) {
			event_free(raw_ev[i]);
			raw_ev[i] = NULL;
		}
	close(lfd);
}

/* Accepts on lfd (each connection answered once by raw_conn_cb) and runs
 * the loop until c_done reaches want, for 3 s at most. */
static void raw_serve_until(int want)
{
	int64_t t0 = now_ms();

	while (c_done < want && now_ms() - t0 < 3000) {
		struct pollfd p = { lfd, POLLIN, 0 };

		if (poll(&p, 1, 0) == 1 && n_accepted < 4) {
			int fd = accept(lfd, NULL, NULL);

			raw_ev[n_accepted] = event_new(base, fd, EV_READ | EV_PERSIST, raw_conn_cb,
						       (void *)(intptr_t)n_accepted);
			event_add(raw_ev[n_accepted], NULL);
			n_accepted++;
		}
		pump(1);
	}
}

static void test_client_retry(void **state)
{
	struct hcli *c;

	(void)state;
	c = hcli_new(base, raw_listen());
	c_done = 0;
	n_accepted = 0;
	for (int round = 0; round < 2; round++) {
		c_reset();
		assert_int_equal(hcli_request(c, "GET", "/", NULL, NULL, 0, 0, &ccbs, NULL), 0);
		raw_serve_until(round + 1);
		assert_int_equal(c_done, round + 1);
		assert_int_equal(c_err, 0);
		assert_string_equal(c_body, "ok");
	}
	/* the second request found the first connection closed under it */
	assert_int_equal(n_accepted, 2);
	raw_close();
	hcli_free(c);
}

/* hcli_open(): connected before any request, reusable while open; the
 * backend closing it before the request (its keep-alive timeout) costs a
 * resend on a new connection, as for a reused one. */
static void test_client_open(void **state)
{
	struct hcli *c;
	int first;

	(void)state;
	c = hcli_new(base, raw_listen());
	assert_non_null(c);
	assert_false(hcli_reusable(c));
	assert_int_equal(hcli_open(c), 0);
	assert_true(hcli_reusable(c));
	assert_false(hcli_answered(c));
	/* the server takes it and closes it unused */
	first = accept(lfd, NULL, NULL);
	assert_true(first >= 0);
	close(first);
	c_done = 0;
	n_accepted = 0;
	c_reset();
	assert_int_equal(hcli_request(c, "GET", "/", NULL, NULL, 0, 0, &ccbs, NULL), 0);
	raw_serve_until(1);
	assert_int_equal(c_done, 1);
	assert_int_equal(c_err, 0);
	assert_string_equal(c_body, "ok");
	assert_int_equal(n_accepted, 1); /* the resend's connection */
	assert_true(hcli_answered(c));
	raw_close();
	hcli_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keepalive_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_body_head_http10, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_and_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_and_stalled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_open, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
