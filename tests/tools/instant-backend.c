/* instant-backend.c: a stand-in for llama-server that answers at once, for
 * bench/serve.sh's latency part. Through a real backend, the p99 of the
 * latency a proxy adds is the difference of two p99s that the backend's
 * own jitter sets (a 1-2 ms slow mode in 1-2% of requests on the bench
 * machine, ten times what a proxy adds), so it flips between runs. Behind
 * this backend every request costs the same few microseconds, and what
 * is left in a path's tail is the path's own.
 *
 * It takes llama-server's arguments (--host, --port; the rest ignored),
 * says "server is listening" on stderr as llama-server does, and answers
 * every request on every keep-alive connection with one fixed answer:
 * GET /health {"status":"ok"}, GET /slots [], anything else a completion
 * whose "timings" are 0 ms. One thread, poll(2), no allocation per
 * request. */
#include "base/compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONN 256
#define BUF_MAX 65536

struct conn {
	int fd;
	size_t len;
	char buf[BUF_MAX];
};

static struct conn conns[MAX_CONN];
static struct pollfd pfd[MAX_CONN + 1];

static const char completion[] =
	"{\"choices\":[{\"text\":\"x\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}],"
	"\"created\":0,\"model\":\"instant\",\"object\":\"text_completion\","
	"\"usage\":{\"completion_tokens\":1,\"prompt_tokens\":1,\"total_tokens\":2},"
	"\"id\":\"cmpl-instant\",\"timings\":{\"prompt_n\":1,\"prompt_ms\":0.0,\"predicted_n\":1,"
	"\"predicted_ms\":0.0}}";

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd o = { fd, POLLOUT, 0 };

			(void)poll(&o, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int answer(int fd, const char *req)
{
	char out[1024];
	const char *body = completion;
	int n;

	if (!strncmp(req, "GET /health", 11))
		body = "{\"status\":\"ok\"}";
	else if (!strncmp(req, "GET /slots", 10))
		body = "[]";
	n = snprintf(out, sizeof(out),
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
		     "Keep-Alive: timeout=5, max=100000\r\nContent-Length: %zu\r\n\r\n%s",
		     strlen(body), body);
	return n > 0 && (size_t)n < sizeof(out) ? send_all(fd, out, (size_t)n) : -1;
}

/* Answers every whole request in c's buffer; -1: close it. */
static int serve(struct conn *c)
{
	for (;;) {
		char *end, *cl;
		size_t head, body = 0;

		if (c->len == 0)
			return 0;
		c->buf[c->len] = '\0';
		end = strstr(c->buf, "\r\n\r\n");
		if (!end)
			return c->len >= BUF_MAX - 1 ? -1 : 0;
		head = (size_t)(end - c->buf) + 4;
		for (cl = c->buf; (cl = strchr(cl, '\n')) != NULL && cl < end; cl++)
			if (!strncasecmp(cl + 1, "Content-Length:", 15))
				body = strtoul(cl + 16, NULL, 10);
		if (body > BUF_MAX - 1 - head)
			return -1;
		if (c->len < head + body)
			return 0;
		if (answer(c->fd, c->buf) < 0)
			return -1;
		memmove(c->buf, c->buf + head + body, c->len - head - body);
		c->len -= head + body;
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 8080, ls, one = 1;
	struct sockaddr_in a;

	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--host"))
			host = argv[++i];
	}
	signal(SIGPIPE, SIG_IGN);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (ls < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 128) < 0) {
		fprintf(stderr, "instant-backend: couldn't bind HTTP server socket, hostname: %s, port: %d: %s\n", host,
			port, strerror(errno));
		return 1;
	}
	fprintf(stderr, "main: server is listening on http://%s:%d - starting the main loop\n", host, port);
	for (int i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;
	for (;;) {
		nfds_t n = 0;
		int r;

		pfd[n++] = (struct pollfd){ ls, POLLIN, 0 };
		for (int i = 0; i < MAX_CONN; i++)
			if (conns[i].fd >= 0)
				pfd[n++] = (struct pollfd){ conns[i].fd, POLLIN, 0 };
		r = poll(pfd, n, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 1;
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			int k = 0;

			while (k < MAX_CONN && conns[k].fd >= 0)
				k++;
			if (fd >= 0 && k == MAX_CONN)
				close(fd);
			else if (fd >= 0) {
				(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				conns[k].fd = fd;
				conns[k].len = 0;
			}
		}
		for (nfds_t j = 1; j < n; j++) {
			struct conn *c = NULL;
			ssize_t got;

			if (!pfd[j].revents)
				continue;
			for (int i = 0; i < MAX_CONN && !c; i++)
				if (conns[i].fd == pfd[j].fd)
					c = &conns[i];
			if (!c)
				continue;
			got = recv(c->fd, c->buf + c->len, BUF_MAX - 1 - c->len, 0);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || (c->len += (size_t)got, serve(c) < 0)) {
				close(c->fd);
				c->fd = -1;
			}
		}
	}
}
