/* proto-libevent.c: streaming reverse proxy on libevent alone (loop + evhttp server +
 * evhttp client).
 *
 *   proto-libevent LISTEN_PORT UPSTREAM_PORT
 *
 * Every request is forwarded to 127.0.0.1:UPSTREAM_PORT (same method, URI, body) and the
 * response is streamed back chunked, chunk by chunk, as the upstream sends it.
 * Backpressure: when the client connection's output evbuffer holds more than HIGH_WATER
 * bytes, reading from the upstream socket stops (bufferevent_disable(EV_READ) on the
 * upstream connection's bufferevent) until the client has drained it (the callback of
 * evhttp_send_reply_chunk_with_cb fires when the output buffer is empty).
 * Client disconnect: the closecb of the client connection cancels the upstream request,
 * which closes the upstream socket. PROTO_NO_BACKPRESSURE=1 turns pausing off. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIGH_WATER (256 * 1024)
#define POOL_MAX 64

static struct event_base *base;
static int up_port, no_bp;
static struct evhttp_connection *pool[POOL_MAX];
static int pool_n;

struct px {
    struct evhttp_request *creq; /* client request (owned by evhttp) */
    struct evhttp_connection *cconn, *uconn;
    struct evhttp_request *ureq; /* upstream request (owned by evhttp) */
    int started, paused, client_gone, upstream_done;
};

static struct evhttp_connection *up_get(void)
{
    if (pool_n > 0)
        return pool[--pool_n];
    struct evhttp_connection *c = evhttp_connection_base_new(base, NULL, "127.0.0.1",
                                                             (unsigned short)up_port);
    evhttp_connection_set_timeout(c, 600); /* LLM streams can be slow */
    /* bufferevents read and write at most 16 KiB per syscall by default */
    if (!getenv("PROTO_SMALL_IO"))
        bufferevent_set_max_single_read(evhttp_connection_get_bufferevent(c), 256 * 1024);
    return c;
}

static void up_put(struct evhttp_connection *c)
{
    if (pool_n < POOL_MAX)
        pool[pool_n++] = c;
    else
        evhttp_connection_free(c);
}

static struct bufferevent *up_bev(struct px *p)
{
    return evhttp_connection_get_bufferevent(p->uconn);
}

static void free_later(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd, (void)ev;
    evhttp_connection_free(arg);
}

/* the client connection's output buffer is empty again */
static void client_drained(struct evhttp_connection *c, void *arg)
{
    (void)c;
    struct px *p = arg;
    if (p->paused && !p->client_gone) {
        p->paused = 0;
        bufferevent_enable(up_bev(p), EV_READ);
    }
}

static int up_headers(struct evhttp_request *ureq, void *arg)
{
    struct px *p = arg;
    struct evkeyvalq *h = evhttp_request_get_output_headers(p->creq);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(ureq), "Content-Type");
    if (ct)
        evhttp_add_header(h, "Content-Type", ct);
    evhttp_send_reply_start(p->creq, evhttp_request_get_response_code(ureq),
                            evhttp_request_get_response_code_line(ureq));
    p->started = 1;
    return 0;
}

static void up_chunk(struct evhttp_request *ureq, void *arg)
{
    struct px *p = arg;
    if (p->client_gone)
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(ureq);
    /* evhttp drains `in` after this callback: move the bytes out (no copy) */
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_buffer(out, in);
    evhttp_send_reply_chunk_with_cb(p->creq, out, client_drained, p);
    evbuffer_free(out);
    struct bufferevent *cb = evhttp_connection_get_bufferevent(p->cconn);
    if (evbuffer_get_length(bufferevent_get_output(cb)) > HIGH_WATER && !p->paused && !no_bp) {
        p->paused = 1;
        bufferevent_disable(up_bev(p), EV_READ);
    }
}

static void up_done(struct evhttp_request *ureq, void *arg)
{
    struct px *p = arg;
    p->upstream_done = 1;
    if (p->client_gone) {
        free(p);
        return;
    }
    evhttp_connection_set_closecb(p->cconn, NULL, NULL);
    if (!ureq || evhttp_request_get_response_code(ureq) == 0) {
        /* upstream failed: before the headers, a 502; after, drop the client
         * connection so that it sees a truncated stream, not a clean end */
        if (!p->started)
            evhttp_send_error(p->creq, 502, "Bad Gateway");
        else
            evhttp_connection_free(p->cconn); /* pitfall: see DESIGN.md */
        event_base_once(base, -1, EV_TIMEOUT, free_later, p->uconn, NULL);
    } else {
        if (!p->started)
            up_headers(ureq, p);
        evhttp_send_reply_end(p->creq);
        up_put(p->uconn);
    }
    free(p);
}

static void client_closed(struct evhttp_connection *c, void *arg)
{
    (void)c;
    struct px *p = arg;
    p->client_gone = 1;
    /* evhttp detached the unfinished request from the dead connection (its evcon is
     * NULL now) and will not free it: evhttp_send_reply_end() does */
    if (evhttp_request_get_connection(p->creq) == NULL)
        evhttp_send_reply_end(p->creq);
    if (!p->upstream_done) {
        /* closes the upstream socket now; up_done is not called after a cancel */
        evhttp_cancel_request(p->ureq);
        event_base_once(base, -1, EV_TIMEOUT, free_later, p->uconn, NULL);
        free(p);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct px *p = calloc(1, sizeof *p);
    p->creq = req;
    p->cconn = evhttp_request_get_connection(req);
    if (!getenv("PROTO_SMALL_IO"))
        bufferevent_set_max_single_write(evhttp_connection_get_bufferevent(p->cconn),
                                         256 * 1024);
    p->uconn = up_get();
    p->ureq = evhttp_request_new(up_done, p);
    evhttp_request_set_header_cb(p->ureq, up_headers);
    evhttp_request_set_chunked_cb(p->ureq, up_chunk);
    struct evkeyvalq *h = evhttp_request_get_output_headers(p->ureq);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evbuffer_add_buffer(evhttp_request_get_output_buffer(p->ureq),
                        evhttp_request_get_input_buffer(req));
    evhttp_connection_set_closecb(p->cconn, client_closed, p);
    if (evhttp_make_request(p->uconn, p->ureq, evhttp_request_get_command(req),
                            evhttp_request_get_uri(req)) != 0) {
        evhttp_connection_set_closecb(p->cconn, NULL, NULL);
        evhttp_send_error(req, 502, "Bad Gateway");
        free(p);
    }
}

static void on_signal(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd, (void)ev;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: proto-libevent LISTEN_PORT UPSTREAM_PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    up_port = atoi(argv[2]);
    no_bp = getenv("PROTO_NO_BACKPRESSURE") != NULL;
    base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_max_headers_size(http, 16 * 1024);
    evhttp_set_max_body_size(http, 8 * 1024 * 1024);
    evhttp_set_timeout(http, 600);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, NULL);
    if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0) {
        fprintf(stderr, "proto-libevent: bind failed\n");
        return 1;
    }
    struct event *sig = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sig, NULL);
    event_base_dispatch(base);
    event_free(sig);
    evhttp_free(http);
    while (pool_n > 0)
        evhttp_connection_free(pool[--pool_n]);
    event_base_free(base);
    return 0;
}
