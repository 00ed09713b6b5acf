/* upstream.c: a tiny blocking HTTP/1.1 upstream for the HTTP-stack prototypes.
 *
 *   upstream PORT
 *
 * One thread per connection, keep-alive. Any method is accepted.
 *   /small                              200, 13-byte body with Content-Length
 *   /stream?n=N&size=S&delay_us=D       chunked SSE: N events "data: <S bytes>\n\n",
 *                                       D microseconds apart (0: as fast as possible)
 *   /stats                              "closes=C last_close_ns=T bytes=B"
 * When a stream's client goes away before the end (send() fails, or POLLRDHUP while
 * waiting between events), it bumps closes and records CLOCK_MONOTONIC in last_close_ns,
 * so another process can tell how long it took the upstream to notice. bytes is the
 * payload written by the latest stream so far. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long g_closes, g_last_close_ns, g_bytes;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static long qparam(const char *path, const char *key, long def)
{
    const char *q = strchr(path, '?');
    size_t kl = strlen(key);
    while (q) {
        q++;
        if (strncmp(q, key, kl) == 0 && q[kl] == '=')
            return atol(q + kl + 1);
        q = strchr(q, '&');
    }
    return def;
}

static void peer_gone(void)
{
    atomic_store(&g_last_close_ns, now_ns());
    atomic_fetch_add(&g_closes, 1);
}

/* returns 0 to keep the connection, -1 to close it */
static int do_stream(int fd, const char *path)
{
    long n = qparam(path, "n", 100), size = qparam(path, "size", 64);
    long delay = qparam(path, "delay_us", 0);
    const char *hdr = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n";
    if (send_all(fd, hdr, strlen(hdr)) < 0)
        return -1;
    /* one chunk = "<hex>\r\ndata: xxx\n\n\r\n" */
    size_t ev = (size_t)size + 8;
    char *buf = malloc(ev + 32);
    int h = sprintf(buf, "%zx\r\ndata: ", ev);
    memset(buf + h, 'x', (size_t)size);
    memcpy(buf + h + size, "\n\n\r\n", 4);
    size_t len = (size_t)h + (size_t)size + 4;
    atomic_store(&g_bytes, 0);
    for (long i = 0; i < n; i++) {
        if (delay > 0) {
            struct pollfd p = {fd, POLLRDHUP, 0};
            int r = poll(&p, 1, (int)(delay / 1000));
            if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                peer_gone();
                free(buf);
                return -1;
            }
        }
        if (send_all(fd, buf, len) < 0) {
            peer_gone();
            free(buf);
            return -1;
        }
        atomic_fetch_add(&g_bytes, ev);
    }
    free(buf);
    return send_all(fd, "0\r\n\r\n", 5);
}

/* UPSTREAM_THRASH_KB=N: before each answer, write N KiB of memory, as a
 * backend's inference does between a proxy's two halves of a request, so
 * that the proxies meet a cold cache (serve-pinned.sh COLD_KB). */
static size_t g_thrash;
static volatile unsigned char *g_thrash_buf;

static void thrash(void)
{
    static unsigned char v;
    v++;
    for (size_t i = 0; i < g_thrash; i += 64)
        g_thrash_buf[i] = v;
}

static void *conn_main(void *arg)
{
    int fd = (int)(long)arg;
    char buf[65536];
    size_t have = 0;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf)
                goto out;
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        char method[16], path[2048];
        if (sscanf(buf, "%15s %2047s", method, path) != 2)
            goto out;
        long clen = 0;
        const char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (cl && cl < end)
            clen = atol(cl + 17);
        /* drop header + body (bodies are small here) */
        size_t need = hlen + (size_t)clen;
        while (have < need) {
            if (have == sizeof buf)
                goto out;
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        memmove(buf, buf + need, have - need);
        have -= need;
        int rc;
        if (strncmp(path, "/stream", 7) == 0) {
            rc = do_stream(fd, path);
        } else if (strncmp(path, "/stats", 6) == 0) {
            char body[256], out[512];
            int bl = snprintf(body, sizeof body, "closes=%ld last_close_ns=%ld bytes=%ld\n",
                              atomic_load(&g_closes), atomic_load(&g_last_close_ns),
                              atomic_load(&g_bytes));
            int ol = snprintf(out, sizeof out,
                              "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", bl, body);
            rc = send_all(fd, out, (size_t)ol);
        } else {
            if (g_thrash)
                thrash();
            const char *r = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 13\r\n\r\nhello, world\n";
            rc = send_all(fd, r, strlen(r));
        }
        if (rc < 0)
            goto out;
    }
out:
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: upstream PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (getenv("UPSTREAM_THRASH_KB")) {
        g_thrash = (size_t)atol(getenv("UPSTREAM_THRASH_KB")) << 10;
        g_thrash_buf = g_thrash ? malloc(g_thrash) : NULL;
        if (!g_thrash_buf)
            g_thrash = 0;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 128) < 0) {
        perror("upstream: bind/listen");
        return 1;
    }
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_create(&t, &at, conn_main, (void *)(long)fd);
        pthread_attr_destroy(&at);
    }
}
