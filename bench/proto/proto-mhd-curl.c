/* proto-mhd-curl.c: the same streaming reverse proxy on libuv (loop) + libmicrohttpd
 * (server) + libcurl multi (upstream client), all on one thread, the way a single-loop
 * daemon would have to integrate them:
 *   - MHD runs in external mode with MHD_USE_EPOLL: its one epoll fd sits in a uv_poll,
 *     MHD_get_timeout() drives a uv_timer, and we call MHD_run() ourselves;
 *   - curl multi uses the socket API (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION): one
 *     uv_poll per curl socket, one uv_timer, curl_multi_socket_action();
 *   - the response is MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, ...): when the
 *     reader has no data it suspends the connection; curl's write callback resumes it.
 *
 *   proto-mhd-curl LISTEN_PORT UPSTREAM_PORT
 *
 * Backpressure: the curl write callback returns CURL_WRITEFUNC_PAUSE when HIGH_WATER bytes
 * wait for the client; the MHD reader unpauses (curl_easy_pause(CURLPAUSE_CONT)) once it
 * has taken them. Client disconnect: MHD's NOTIFY_COMPLETED callback removes the curl
 * handle, which closes the upstream socket. PROTO_NO_BACKPRESSURE=1 turns pausing off. */
#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define HIGH_WATER (256 * 1024)

static uv_loop_t *loop;
static struct MHD_Daemon *mhd;
static CURLM *multi;
static uv_timer_t curl_timer, mhd_timer;
static uv_poll_t mhd_poll;
static int up_port, no_bp, mhd_kick;

struct px {
    struct MHD_Connection *conn;
    CURL *easy;
    struct curl_slist *hdrs;
    char uri[2048], method[16], ctype[128];
    char *body;
    size_t body_len;
    char *buf; /* bytes from upstream not yet taken by MHD: buf[off..len) */
    size_t off, len, cap;
    long status;
    int state; /* 0: reading request, 1: waiting for upstream headers, 2: streaming */
    int seen, have_headers, suspended, paused, up_done, up_failed;
};

static void px_resume(struct px *p)
{
    if (p->suspended) {
        p->suspended = 0;
        MHD_resume_connection(p->conn);
        mhd_kick = 1;
    }
}

static void px_suspend(struct px *p)
{
    p->suspended = 1;
    MHD_suspend_connection(p->conn);
}

/* ---- MHD driven by libuv ---- */

static void mhd_timer_cb(uv_timer_t *t);

static void mhd_run(void)
{
    mhd_kick = 0;
    MHD_run(mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(mhd, &ms) == MHD_YES)
        uv_timer_start(&mhd_timer, mhd_timer_cb, ms, 0);
    else
        uv_timer_stop(&mhd_timer);
}

static void mhd_timer_cb(uv_timer_t *t)
{
    (void)t;
    mhd_run();
}

static void mhd_poll_cb(uv_poll_t *h, int status, int events)
{
    (void)h, (void)status, (void)events;
    mhd_run();
}

/* ---- curl multi driven by libuv ---- */

static void check_multi_info(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct px *p;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        p->up_done = 1;
        p->up_failed = m->data.result != CURLE_OK;
        curl_multi_remove_handle(multi, p->easy);
        curl_easy_cleanup(p->easy);
        curl_slist_free_all(p->hdrs);
        p->easy = NULL;
        p->hdrs = NULL;
        px_resume(p);
    }
    if (mhd_kick)
        mhd_run();
}

static void curl_poll_cb(uv_poll_t *h, int status, int events)
{
    int running, flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(multi, *(curl_socket_t *)h->data, flags, &running);
    check_multi_info();
}

static void curl_timer_cb(uv_timer_t *t)
{
    (void)t;
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info();
}

static int curl_timer_fn(CURLM *m, long ms, void *u)
{
    (void)m, (void)u;
    if (ms < 0)
        uv_timer_stop(&curl_timer);
    else
        uv_timer_start(&curl_timer, curl_timer_cb, (uint64_t)ms, 0);
    return 0;
}

struct sockctx {
    uv_poll_t poll;
    curl_socket_t fd;
};

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int curl_socket_fn(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
    (void)e, (void)u;
    struct sockctx *c = sp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, free_handle); /* poll is the first member */
            curl_multi_assign(multi, s, NULL);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        c->fd = s;
        uv_poll_init_socket(loop, &c->poll, s);
        c->poll.data = &c->fd;
        curl_multi_assign(multi, s, c);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&c->poll, ev, curl_poll_cb);
    return 0;
}

/* ---- curl callbacks ---- */

static size_t up_header(char *b, size_t sz, size_t n, void *arg)
{
    struct px *p = arg;
    size_t len = sz * n;
    if (len > 13 && strncasecmp(b, "content-type:", 13) == 0) {
        size_t i = 13, j = 0;
        while (i < len && b[i] == ' ')
            i++;
        while (i < len && b[i] != '\r' && b[i] != '\n' && j + 1 < sizeof p->ctype)
            p->ctype[j++] = b[i++];
        p->ctype[j] = 0;
    }
    if (len <= 2 && (b[0] == '\r' || b[0] == '\n')) { /* end of headers */
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &p->status);
        p->have_headers = 1;
        px_resume(p);
    }
    return len;
}

static size_t up_write(char *b, size_t sz, size_t n, void *arg)
{
    struct px *p = arg;
    size_t len = sz * n;
    if (!no_bp && p->len - p->off >= HIGH_WATER) {
        p->paused = 1;
        return CURL_WRITEFUNC_PAUSE; /* curl keeps this block and hands it over again */
    }
    if (p->off > 0 && p->len + len > p->cap) {
        memmove(p->buf, p->buf + p->off, p->len - p->off);
        p->len -= p->off;
        p->off = 0;
    }
    if (p->len + len > p->cap) {
        p->cap = (p->len + len) * 2;
        p->buf = realloc(p->buf, p->cap);
    }
    memcpy(p->buf + p->len, b, len);
    p->len += len;
    px_resume(p);
    return len;
}

/* ---- MHD callbacks ---- */

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct px *p = cls;
    size_t avail = p->len - p->off;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(out, p->buf + p->off, n);
        p->off += n;
        if (p->off == p->len)
            p->off = p->len = 0;
        if (p->paused && p->len - p->off < HIGH_WATER / 2) {
            p->paused = 0;
            curl_easy_pause(p->easy, CURLPAUSE_CONT); /* may call up_write right here */
        }
        return (ssize_t)n;
    }
    if (p->up_done)
        return p->up_failed ? MHD_CONTENT_READER_END_WITH_ERROR
                            : MHD_CONTENT_READER_END_OF_STREAM;
    px_suspend(p); /* returning 0 without suspending would busy-loop */
    return 0;
}

static void start_upstream(struct px *p)
{
    char url[2200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", up_port, p->uri);
    CURL *e = p->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, up_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, up_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    p->hdrs = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    if (strcmp(p->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)p->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body ? p->body : "");
        p->hdrs = curl_slist_append(p->hdrs, "Content-Type: application/json");
    } else if (strcmp(p->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, p->method);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    curl_multi_add_handle(multi, e);
}

/* MHD passes the access handler the path without the query string; the raw URI is
 * only seen here, and what this returns becomes *con_cls. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    struct px *p = calloc(1, sizeof *p);
    p->conn = conn;
    snprintf(p->uri, sizeof p->uri, "%s", uri);
    return p;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)version;
    struct px *p = *con_cls;
    if (!p->seen) { /* first call: headers only; queueing a response here closes the
                     * connection afterwards, and the body has not been read yet */
        p->seen = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        p->body = realloc(p->body, p->body_len + *upload_size);
        memcpy(p->body + p->body_len, upload, *upload_size);
        p->body_len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (p->state == 0) { /* whole request read: go upstream, wait for its headers */
        snprintf(p->method, sizeof p->method, "%s", method);
        p->state = 1;
        start_upstream(p);
        px_suspend(p);
        return MHD_YES;
    }
    if (p->state == 1 && (p->have_headers || p->up_done)) {
        p->state = 2;
        struct MHD_Response *r;
        unsigned code;
        if (!p->have_headers) {
            r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            code = 502;
        } else {
            r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, reader, p,
                                                  NULL);
            if (p->ctype[0])
                MHD_add_response_header(r, "Content-Type", p->ctype);
            code = (unsigned)p->status;
        }
        enum MHD_Result ret = MHD_queue_response(conn, code, r);
        MHD_destroy_response(r);
        return ret;
    }
    px_suspend(p); /* spurious call: keep waiting */
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct px *p = *con_cls;
    if (!p)
        return;
    if (p->easy) { /* client left mid-stream: drop the transfer, closing its socket */
        curl_multi_remove_handle(multi, p->easy);
        curl_easy_cleanup(p->easy);
        curl_slist_free_all(p->hdrs);
    }
    free(p->body);
    free(p->buf);
    free(p);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: proto-mhd-curl LISTEN_PORT UPSTREAM_PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    up_port = atoi(argv[2]);
    no_bp = getenv("PROTO_NO_BACKPRESSURE") != NULL;
    loop = uv_default_loop();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, curl_socket_fn);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, curl_timer_fn);
    uv_timer_init(loop, &curl_timer);
    uv_timer_init(loop, &mhd_timer);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &a);
    mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                           0, NULL, NULL, on_request, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                           MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                           MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                           MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                           MHD_OPTION_END);
    if (!mhd) {
        fprintf(stderr, "proto-mhd-curl: MHD_start_daemon failed\n");
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(loop, &mhd_poll, di->epoll_fd);
    uv_poll_start(&mhd_poll, UV_READABLE, mhd_poll_cb);
    mhd_run();
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
