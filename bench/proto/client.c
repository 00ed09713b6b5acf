/* client.c: blocking HTTP/1.1 load client for the HTTP-stack prototypes.
 *
 *   client lat  PORT N                 N x GET /small on one keep-alive connection: p50/p99 us
 *   client tput PORT MB                POST /stream of MB MiB in 16 KiB events: MB/s
 *   client slow PORT PID UPPORT MB     POST /stream of MB MiB, read 64 KiB, stop reading
 *                                      for 3 s sampling VmRSS of PID and the bytes the
 *                                      upstream has sent, then read the rest
 *   client disc PORT UPPORT DELAY_US   stream events DELAY_US apart, read 4 KiB, close;
 *                                      ms until the upstream reports that its client left
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    char buf[65536];
    size_t pos, len;
    int chunked, done;
    long left; /* content-length left, or bytes left in the current chunk */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *m)
{
    fprintf(stderr, "client: %s\n", m);
    exit(1);
}

static void dial(struct conn *c, int port, int rcvbuf)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (rcvbuf > 0) /* before connect(), or the window scale does not match */
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
}

static int fill(struct conn *c)
{
    if (c->pos < c->len)
        return 1;
    ssize_t r = recv(c->fd, c->buf, sizeof c->buf, 0);
    if (r <= 0)
        return 0;
    c->pos = 0;
    c->len = (size_t)r;
    return 1;
}

static void line(struct conn *c, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (!fill(c))
            die("eof in header");
        char ch = c->buf[c->pos++];
        if (ch == '\n')
            break;
        if (ch != '\r' && n + 1 < cap)
            out[n++] = ch;
    }
    out[n] = 0;
}

static void request(struct conn *c, const char *method, const char *path)
{
    char req[1024];
    const char *body = strcmp(method, "POST") == 0 ? "{\"prompt\":\"hi\"}" : "";
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, strlen(body), body);
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        die("send");
    char l[4096];
    line(c, l, sizeof l);
    if (strncmp(l, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "client: status line '%s'\n", l);
        exit(1);
    }
    c->chunked = 0;
    c->left = -1;
    c->done = 0;
    for (;;) {
        line(c, l, sizeof l);
        if (!l[0])
            break;
        if (strncasecmp(l, "content-length:", 15) == 0)
            c->left = atol(l + 15);
        if (strncasecmp(l, "transfer-encoding:", 18) == 0 && strstr(l, "chunked"))
            c->chunked = 1;
    }
    if (c->chunked)
        c->left = 0;
    else if (c->left == 0)
        c->done = 1;
}

/* consume up to max body bytes; returns bytes consumed, 0 at end of body */
static long body(struct conn *c, long max)
{
    if (c->done)
        return 0;
    if (c->chunked && c->left == 0) {
        char l[64];
        line(c, l, sizeof l);
        if (!l[0])
            line(c, l, sizeof l); /* CRLF after previous chunk */
        c->left = strtol(l, NULL, 16);
        if (c->left == 0) {
            line(c, l, sizeof l); /* trailer end */
            c->done = 1;
            return 0;
        }
    }
    if (!fill(c))
        die("eof in body");
    long n = (long)(c->len - c->pos);
    if (c->left >= 0 && n > c->left)
        n = c->left;
    if (n > max)
        n = max;
    c->pos += (size_t)n;
    if (c->left >= 0)
        c->left -= n;
    if (!c->chunked && c->left == 0)
        c->done = 1;
    return n;
}

static long drain(struct conn *c)
{
    long t = 0, n;
    while ((n = body(c, 1L << 30)) > 0)
        t += n;
    return t;
}

static long rss_kb(int pid)
{
    char p[64], l[256];
    snprintf(p, sizeof p, "/proc/%d/status", pid);
    FILE *f = fopen(p, "r");
    long v = -1;
    while (f && fgets(l, sizeof l, f))
        if (strncmp(l, "VmRSS:", 6) == 0)
            v = atol(l + 6);
    if (f)
        fclose(f);
    return v;
}

static void stats(int upport, long *closes, long *last_ns, long *bytes)
{
    struct conn c;
    char s[256];
    dial(&c, upport, 0);
    request(&c, "GET", "/stats");
    long n = 0, k;
    while ((k = body(&c, (long)sizeof s - 1 - n)) > 0) {
        memcpy(s + n, c.buf + c.pos - k, (size_t)k);
        n += k;
    }
    s[n] = 0;
    close(c.fd);
    if (sscanf(s, "closes=%ld last_close_ns=%ld bytes=%ld", closes, last_ns, bytes) != 3)
        die("stats");
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        die("usage: see client.c");
    int port = atoi(argv[2]);
    struct conn *c = malloc(sizeof *c);
    if (strcmp(argv[1], "lat") == 0) {
        int n = atoi(argv[3]);
        double *t = malloc(sizeof(double) * (size_t)n);
        dial(c, port, 0);
        for (int i = 0; i < 50; i++) { /* warm-up */
            request(c, "GET", "/small");
            drain(c);
        }
        for (int i = 0; i < n; i++) {
            double t0 = now_s();
            request(c, "GET", "/small");
            if (drain(c) != 13)
                die("short body");
            t[i] = (now_s() - t0) * 1e6;
        }
        qsort(t, (size_t)n, sizeof *t, cmp);
        printf("%.0f %.0f\n", t[n / 2], t[(n * 99) / 100]);
    } else if (strcmp(argv[1], "tput") == 0) {
        long mb = atol(argv[3]), n = mb * 64;
        char path[128];
        snprintf(path, sizeof path, "/stream?n=%ld&size=16376", n);
        dial(c, port, 0);
        double t0 = now_s();
        request(c, "POST", path);
        long got = drain(c);
        double dt = now_s() - t0;
        if (got != n * 16384)
            die("short stream");
        printf("%.0f\n", (double)got / dt / 1e6);
    } else if (strcmp(argv[1], "slow") == 0) {
        int pid = atoi(argv[3]), upport = atoi(argv[4]);
        long mb = atol(argv[5]), n = mb * 64, cl, ln, ub;
        char path[128];
        snprintf(path, sizeof path, "/stream?n=%ld&size=16376", n);
        dial(c, port, 4096); /* small receive buffer: the stall shows up sooner */
        request(c, "POST", path);
        long got = 0;
        while (got < 65536)
            got += body(c, 65536 - got);
        long maxrss = 0;
        for (int i = 0; i < 30; i++) { /* 3 s stalled */
            usleep(100000);
            long r = rss_kb(pid);
            if (r > maxrss)
                maxrss = r;
        }
        stats(upport, &cl, &ln, &ub);
        got += drain(c);
        printf("%ld %ld %ld %s\n", maxrss, ub / 1024, rss_kb(pid),
               got == n * 16384 ? "ok" : "SHORT");
    } else if (strcmp(argv[1], "disc") == 0) {
        int upport = atoi(argv[3]);
        long delay = atol(argv[4]), cl0, cl, ln, ub;
        char path[128];
        snprintf(path, sizeof path, "/stream?n=1000000&size=56&delay_us=%ld", delay);
        stats(upport, &cl0, &ln, &ub);
        dial(c, port, 0);
        request(c, "POST", path);
        long got = 0;
        while (got < 4096)
            got += body(c, 4096 - got);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long t0 = ts.tv_sec * 1000000000L + ts.tv_nsec;
        close(c->fd);
        double start = now_s();
        for (;;) {
            stats(upport, &cl, &ln, &ub);
            if (cl != cl0)
                break;
            if (now_s() - start > 10) {
                printf("timeout\n");
                return 0;
            }
            usleep(500);
        }
        printf("%.2f\n", (double)(ln - t0) / 1e6);
    } else {
        die("unknown mode");
    }
    return 0;
}
