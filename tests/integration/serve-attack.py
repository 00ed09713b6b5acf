#!/usr/bin/env python3
# serve-attack.py: the raw-socket clients of t-serve-security.sh (what curl
# cannot do: malformed framing, slow and stalled clients, floods, and a
# look at the exact bytes that end a reply). Each subcommand prints one
# line of "key=value" words for the script to test.
#
#   raw PORT TEXT [WAIT]       sends TEXT (Python escapes: \r\n, \x00) and
#                              reads until EOF or WAIT s: status=N eof=0|1
#                              secs=S
#   stream PORT PATH BODY      POSTs BODY, reads the whole reply (until EOF,
#                              30 s): status=N chunked=0|1 last_chunk=0|1
#                              done=0|1 error=0|1 eof=0|1 bytes=N
#   slowread PORT PID BODY STALL   POSTs BODY (256 KiB receive buffer),
#                              reads nothing for STALL s, then all of it:
#                              rss_before=KiB rss_stalled=KiB done=0|1
#                              bytes=N eof=0|1
#   bigchunked PORT MIB        a chunked POST of MIB MiB: status=N eof=0|1
#   slowbody PORT              half a body, then silence: closed_after=S
#   slowloris PORT N SECS      N connections dripping header bytes for SECS
#                              s, then the ones still open: open=N
#   flood PORT N HOLD          N idle connections held HOLD s: opened=N
import socket
import sys
import time


def connect(port, rcvbuf=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, wait):
    """Reads until EOF (eof=1) or wait s without data or in all."""
    out = b""
    eof = 0
    s.settimeout(wait)
    end = time.time() + wait
    try:
        while time.time() < end:
            d = s.recv(1 << 16)
            if not d:
                eof = 1
                break
            out += d
    except socket.timeout:
        pass
    except OSError:
        eof = 1
    return out, eof


def status_of(data):
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def post(path, body, extra=b""):
    b = body.encode()
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b)


def rss_kib(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_raw(port, text, wait="3"):
    s = connect(int(port))
    t0 = time.time()
    try:
        s.sendall(text.encode().decode("unicode_escape").encode("latin-1"))
    except OSError:
        pass
    data, eof = read_all(s, float(wait))
    print("status=%d eof=%d secs=%.1f" % (status_of(data), eof, time.time() - t0))


def cmd_stream(port, path, body):
    s = connect(int(port))
    s.sendall(post(path, body))
    data, eof = read_all(s, 30)
    head, _, rest = data.partition(b"\r\n\r\n")
    chunked = b"transfer-encoding: chunked" in head.lower()
    print("status=%d chunked=%d last_chunk=%d done=%d error=%d eof=%d bytes=%d" % (
        status_of(data), chunked, rest.endswith(b"0\r\n\r\n"),
        b"[DONE]" in rest or b'"done":true' in rest, b'"error"' in rest, eof, len(data)))


def cmd_slowread(port, pid, body, stall):
    before = rss_kib(pid)
    s = connect(int(port), rcvbuf=1 << 18)
    s.sendall(post("/v1/completions", body))
    time.sleep(float(stall))
    stalled = rss_kib(pid)
    data, eof = read_all(s, 60)
    print("rss_before=%d rss_stalled=%d done=%d bytes=%d eof=%d" % (
        before, stalled, b"[DONE]" in data, len(data), eof))


def cmd_bigchunked(port, mib):
    s = connect(int(port))
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"a" * (1 << 20)
    try:
        for _ in range(int(mib)):
            s.sendall(b"100000\r\n" + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    data, eof = read_all(s, 10)
    print("status=%d eof=%d" % (status_of(data), eof))


def cmd_slowbody(port):
    s = connect(int(port))
    t0 = time.time()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":")
    read_all(s, 60)
    print("closed_after=%.1f" % (time.time() - t0))


def cmd_slowloris(port, n, secs):
    socks = []
    for _ in range(int(n)):
        try:
            s = connect(int(port))
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        except OSError:
            pass
    end = time.time() + float(secs)
    while time.time() < end:
        time.sleep(1)
        for s in socks:
            try:
                s.sendall(b"X")
            except OSError:
                pass
    alive = 0
    for s in socks:
        try:
            s.sendall(b"-a: b\r\n")
            s.settimeout(0.01)
            try:
                if s.recv(1) != b"":
                    alive += 1
            except socket.timeout:
                alive += 1
        except OSError:
            pass
        s.close()
    print("opened=%d open=%d" % (len(socks), alive))


def cmd_flood(port, n, hold):
    socks = []
    for _ in range(int(n)):
        try:
            s = socket.socket()
            s.settimeout(2)
            s.connect(("127.0.0.1", int(port)))
            socks.append(s)
        except OSError:
            pass
    time.sleep(float(hold))
    for s in socks:
        s.close()
    print("opened=%d" % len(socks))


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
