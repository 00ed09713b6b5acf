/* proto-raw.c: a reverse proxy on libevent's loop alone, with its own HTTP/1.1 framing:
 * the question it answers is what a proxy path that writes at once costs, next to evhttp
 * (proto-libevent.c) and nginx, before serve/ gets such a path.
 *
 *   proto-raw LISTEN_PORT UPSTREAM_PORT
 *
 * Every request is forwarded to 127.0.0.1:UPSTREAM_PORT byte for byte over a pooled
 * keep-alive connection, and the response is passed back byte for byte (a chunked body
 * stays chunked), each write made as soon as the bytes are in: the events stay registered
 * for reading (EV_PERSIST), and EV_WRITE is added only after a short write. So a request
 * costs two wake-ups, two reads and two writes. Framing: a request's end from its headers
 * and Content-Length (no chunked requests), a response's from Content-Length or the chunk
 * sizes of a chunked body. A prototype: no header limits, timeouts or backpressure. */
#define _GNU_SOURCE
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

static struct event_base *base;
static int up_port;

struct up;

struct cl {
	int fd;
	struct event *ev;
	char in[BUF];
	size_t in_len;
	char *out; /* unsent bytes for the client (after a short write) */
	size_t out_len, out_cap;
	struct event *ev_w;
	struct up *up; /* the upstream connection of the request in flight */
};

struct up {
	int fd;
	struct event *ev;
	struct cl *cl;
	char hdr[16384];
	size_t hdr_len;
	int in_body, chunked;
	long long left;      /* body bytes left (Content-Length), or of the current chunk */
	int chunk_state;     /* 0: size line, 1: data, 2: CRLF after data, 3: trailer */
	char line[64];
	size_t line_len;
	struct up *next;
};

static struct up *pool;

static void cl_free(struct cl *c);

/* writes at once; keeps what does not fit and waits for EV_WRITE */
static void cl_send(struct cl *c, const char *p, size_t n)
{
	if (c->out_len == 0) {
		ssize_t w = write(c->fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return;
	}
	if (c->out_len + n > c->out_cap) {
		c->out_cap = (c->out_len + n) * 2;
		c->out = realloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	event_add(c->ev_w, NULL);
}

static void cl_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct cl *c = arg;
	ssize_t w = write(fd, c->out, c->out_len);

	(void)ev;
	if (w > 0) {
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
	if (c->out_len == 0)
		event_del(c->ev_w);
}

static void up_close(struct up *u)
{
	event_free(u->ev);
	close(u->fd);
	free(u);
}

/* the response is complete: the connection goes back to the pool */
static void up_done(struct up *u)
{
	if (u->cl)
		u->cl->up = NULL;
	u->cl = NULL;
	u->hdr_len = 0;
	u->in_body = u->chunked = 0;
	u->chunk_state = 0;
	u->line_len = 0;
	u->next = pool;
	pool = u;
}

/* walks body bytes of a chunked response; returns 1 at its end */
static int chunk_scan(struct up *u, const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		switch (u->chunk_state) {
		case 0: /* size line */
		case 3: /* trailer line (empty ends it) */
			if (p[i] == '\n') {
				u->line[u->line_len < sizeof(u->line) ? u->line_len : sizeof(u->line) - 1] = 0;
				if (u->chunk_state == 3) {
					if (u->line_len <= 1)
						return 1;
				} else {
					u->left = strtoll(u->line, NULL, 16);
					u->chunk_state = u->left ? 1 : 3;
				}
				u->line_len = 0;
			} else if (u->line_len < sizeof(u->line)) {
				u->line[u->line_len++] = p[i];
			}
			i++;
			break;
		case 1: {
			size_t take = (size_t)u->left < n - i ? (size_t)u->left : n - i;

			u->left -= (long long)take;
			i += take;
			if (u->left == 0)
				u->chunk_state = 2;
			break;
		}
		case 2: /* CRLF */
			if (p[i] == '\n')
				u->chunk_state = 0;
			i++;
			break;
		}
	}
	return 0;
}

static void up_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct up *u = arg;
	char buf[BUF];
	ssize_t r = read(fd, buf, sizeof(buf));
	const char *body;
	size_t nb;

	(void)ev;
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		/* closed: drop it (from the pool, or mid-response) */
		if (u->cl) {
			u->cl->up = NULL;
			cl_free(u->cl);
		} else {
			struct up **pp = &pool;

			while (*pp && *pp != u)
				pp = &(*pp)->next;
			if (*pp)
				*pp = u->next;
		}
		up_close(u);
		return;
	}
	if (!u->cl)
		return;
	cl_send(u->cl, buf, (size_t)r);
	body = buf;
	nb = (size_t)r;
	if (!u->in_body) {
		/* the headers, maybe split over reads */
		size_t keep = (size_t)r < sizeof(u->hdr) - u->hdr_len ? (size_t)r : sizeof(u->hdr) - u->hdr_len;
		char *end;

		memcpy(u->hdr + u->hdr_len, buf, keep);
		u->hdr_len += keep;
		end = memmem(u->hdr, u->hdr_len, "\r\n\r\n", 4);
		if (!end)
			return;
		u->in_body = 1;
		{
			size_t hl = (size_t)(end + 4 - u->hdr), before = u->hdr_len - keep;

			body = buf + (hl - before);
			nb = (size_t)r - (hl - before);
			u->hdr[hl - 1] = 0;
			for (char *l = strstr(u->hdr, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
				if (!strncasecmp(l + 2, "Content-Length:", 15))
					u->left = strtoll(l + 17, NULL, 10);
				if (!strncasecmp(l + 2, "Transfer-Encoding:", 18) && strstr(l, "chunked"))
					u->chunked = 1;
			}
		}
	}
	if (u->chunked) {
		if (chunk_scan(u, body, nb))
			up_done(u);
	} else {
		u->left -= (long long)nb;
		if (u->left <= 0)
			up_done(u);
	}
}

static struct up *up_get(void)
{
	struct up *u = pool;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)up_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;

	if (u) {
		pool = u->next;
		return u;
	}
	u = calloc(1, sizeof(*u));
	u->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(u->fd);
		free(u);
		return NULL;
	}
	setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(u->fd);
	u->ev = event_new(base, u->fd, EV_READ | EV_PERSIST, up_read_cb, u);
	event_add(u->ev, NULL);
	return u;
}

static void cl_free(struct cl *c)
{
	if (c->up) {
		/* the client left mid-response: the upstream connection goes */
		c->up->cl = NULL;
		up_close(c->up);
	}
	event_free(c->ev);
	event_free(c->ev_w);
	close(c->fd);
	free(c->out);
	free(c);
}

/* a whole request in c->in: its length, or 0 */
static size_t req_len(struct cl *c)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	size_t hl;
	long long cl = 0;

	if (!end)
		return 0;
	hl = (size_t)(end + 4 - c->in);
	for (char *l = memmem(c->in, hl, "\r\n", 2); l && l < end; l = memmem(l + 2, (size_t)(end - l), "\r\n", 2))
		if (!strncasecmp(l + 2, "Content-Length:", 15))
			cl = strtoll(l + 17, NULL, 10);
	return c->in_len >= hl + (size_t)cl ? hl + (size_t)cl : 0;
}

static void cl_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct cl *c = arg;
	ssize_t r = read(fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	size_t n;

	(void)ev;
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		cl_free(c);
		return;
	}
	c->in_len += (size_t)r;
	/* one request at a time per connection (no pipelining) */
	while (!c->up && (n = req_len(c)) > 0) {
		struct up *u = up_get();

		if (!u) {
			cl_send(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 47);
		} else {
			u->cl = c;
			c->up = u;
			(void)!write(u->fd, c->in, n);
		}
		memmove(c->in, c->in + n, c->in_len - n);
		c->in_len -= n;
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct cl *c = calloc(1, sizeof(*c));
	int one = 1;

	(void)l, (void)sa, (void)len, (void)arg;
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(fd);
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, cl_read_cb, c);
	c->ev_w = event_new(base, fd, EV_WRITE | EV_PERSIST, cl_write_cb, c);
	event_add(c->ev, NULL);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if (argc != 3) {
		fprintf(stderr, "usage: proto-raw LISTEN_PORT UPSTREAM_PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	up_port = atoi(argv[2]);
	base = event_base_new();
	if (!evconnlistener_new_bind(base, accept_cb, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 128,
				     (struct sockaddr *)&a, sizeof(a))) {
		perror("bind");
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}
