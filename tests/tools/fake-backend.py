#!/usr/bin/env python3
# fake-backend.py: a stand-in for llama-server in `llmem serve`'s security
# and reliability tests (tests/integration/t-serve-security.sh). It takes
# llama-server's arguments (-m PATH, --port N, --api-key KEY or
# LLAMA_API_KEY), says "listening" as llama-server does, answers GET /health,
# checks the bearer key on everything else, and answers POST
# /v1/chat/completions and /v1/completions by a behaviour picked from the
# model file's name (-m PATH):
#   dies*      streams 3 events, then kills itself (SIGKILL): a backend
#              that dies mid-stream
#   early*     exits (SIGKILL) on a POST before sending anything
#   garbage*   answers a POST with bytes that are not HTTP
#   badchunk*  starts a chunked SSE answer, then sends a bad chunk size
#   stubborn*  ignores SIGTERM, and so does a child it forks (both stay)
#   orphaner*  exits on SIGTERM, but leaves a child that ignores SIGTERM
#   hangs*     streams one event (or, not streamed, nothing), then sleeps
#              without end: a backend hung mid-answer
#   spins*     on a POST sends nothing and spins a CPU without end, and
#              GET /slots never answers: llama-server stuck in a decode call
#              that busy-waits (a lost GPU); its main loop answers no task
#   crunch*    on a POST spins a CPU for "fake_spin" seconds (default 8)
#              before it answers, sending nothing meanwhile, while GET
#              /slots answers: a long computation that is not a hang
#   bindfail*  the first start (no PATH.bound file yet) logs llama-server's
#              "couldn't bind" line and exits 1; later starts serve
#   loadhang*  logs one line, then sleeps without end before it listens: a
#              load that stalls (no log line, no CPU time)
#   loadslow*  logs a loading line every second for 5 s, then serves as
#              "other": a slow load that keeps working
#   nolisten*  serves (GET /health answers 200) but never says where it
#              listens: what a process that took the port would look like
#   other      streams (or not, per "stream") max_tokens events: "fake_pad"
#              bytes of text each (default 8), "fake_delay" seconds apart
#              (default 0), then finish, usage and "data: [DONE]"
# Every POST is appended to PATH.requests (its path and body), so a test
# can tell what reached the backend.
import json
import os
import signal
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler

args = sys.argv[1:]


def arg(*names, default=None):
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
    return default


MODEL = arg("-m", "--model", default="")
PORT = int(arg("--port", default="8080"))
KEY = arg("--api-key", default=os.environ.get("LLAMA_API_KEY", ""))
NAME = os.path.basename(MODEL)


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def ignore_term_child():
    """Forks a child that ignores SIGTERM and sleeps (it keeps the command
    line, so it names the model)."""
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)


if NAME.startswith("bindfail") and not os.path.exists(MODEL + ".bound"):
    open(MODEL + ".bound", "w").close()
    log("srv    start: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: %d" % PORT)
    sys.exit(1)
if NAME.startswith("loadhang"):
    log("llama_model_loader: loading model tensors, this can take a while...")
    while True:
        time.sleep(3600)
if NAME.startswith("loadslow"):
    for i in range(5):
        log("llama_model_loader: still loading (%d s)" % i)
        time.sleep(1)
if NAME.startswith("stubborn"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ignore_term_child()
elif NAME.startswith("orphaner"):
    ignore_term_child()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))


def record(path, body):
    with open(MODEL + ".requests", "a") as f:
        f.write("%s %s\n" % (path, body.decode("utf-8", "replace")))


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path.startswith("/slots"):
            if NAME.startswith("spins"):
                time.sleep(3600)
            self.reply(200, [{"id": 0, "is_processing": True}])
        else:
            self.reply(404, {"error": {"message": "not found", "code": 404}})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj):
        self.chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        if KEY and self.headers.get("Authorization", "") != "Bearer " + KEY:
            self.reply(401, {"error": {"message": "Invalid API Key", "code": 401}})
            return
        record(self.path, body)
        try:
            q = json.loads(body or b"{}")
        except ValueError:
            q = {}
        if NAME.startswith("early"):
            os.kill(os.getpid(), signal.SIGKILL)
        if NAME.startswith("garbage"):
            self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return
        chat = "chat" in self.path
        stream = bool(q.get("stream"))
        count = int(q.get("max_tokens") or q.get("n_predict") or 4)
        pad = int(q.get("fake_pad", 8))
        delay = float(q.get("fake_delay", 0))
        text = "x" * pad

        def piece(i):
            if chat:
                return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
                        "object": "chat.completion.chunk", "created": 0, "id": "f", "model": NAME}
            return {"choices": [{"index": 0, "text": text, "finish_reason": None}],
                    "object": "text_completion", "created": 0, "id": "f", "model": NAME}

        if not stream and NAME.startswith("hangs"):
            time.sleep(3600)
        if NAME.startswith(("spins", "crunch")):
            end = time.time() + (3600 if NAME.startswith("spins") else float(q.get("fake_spin", 8)))
            while time.time() < end:
                sum(range(10000))
        if not stream and not NAME.startswith(("dies", "badchunk")):
            if chat:
                c = {"index": 0, "message": {"role": "assistant", "content": text * count},
                     "finish_reason": "length"}
            else:
                c = {"index": 0, "text": text * count, "finish_reason": "length"}
            self.reply(200, {"choices": [c], "object": "chat.completion" if chat else "text_completion",
                             "created": 0, "id": "f", "model": NAME,
                             "usage": {"prompt_tokens": 1, "completion_tokens": count,
                                       "total_tokens": count + 1}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if NAME.startswith("badchunk"):
            self.event(piece(0))
            self.wfile.write(b"zz-not-a-size\r\nxx\r\n")
            self.wfile.flush()
            time.sleep(0.5)
            self.close_connection = True
            return
        if NAME.startswith("hangs"):
            self.event(piece(0))
            time.sleep(3600)
        for i in range(count):
            if NAME.startswith("dies") and i == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            self.event(piece(i))
            if delay:
                time.sleep(delay)
        fin = piece(count)
        fin["choices"][0]["finish_reason"] = "length"
        if chat:
            fin["choices"][0]["delta"] = {}
        else:
            fin["choices"][0]["text"] = ""
        self.event(fin)
        self.event({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": count,
                                            "total_tokens": count + 1},
                    "timings": {"prompt_n": 1, "prompt_ms": 1.0, "predicted_n": count,
                                "predicted_ms": 1.0}, "object": "chat.completion.chunk",
                    "created": 0, "id": "f", "model": NAME})
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")


class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


srv = S(("127.0.0.1", PORT), H)
log("main: fake backend: model %s" % MODEL)
if not NAME.startswith("nolisten"):
    log("main: server is listening on http://127.0.0.1:%d - starting the main loop" % PORT)
log("srv  update_slots: all slots are idle")
srv.serve_forever()
