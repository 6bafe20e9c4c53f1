#!/usr/bin/env python3
"""Time to first SSE chunk: from sending a streaming chat request to receiving the first
`data:` bytes of the body. `warm` reuses one keep-alive connection (what SDKs do); `cold` opens
a new connection per request (includes the TCP handshake and the server's accept path).
Prints the medians in microseconds as JSON.   usage: ttfc.py PORT KEY [N]"""
import json, socket, sys, time

port, key = int(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "user", "content": "Hello!"}]}).encode()
request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
           b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " +
           str(len(body)).encode() + b"\r\n\r\n" + body)


def connect():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def one(s):
    """Sends one request; returns seconds to the first `data:` and reads the response to its end."""
    t0 = time.perf_counter()
    s.sendall(request)
    buf, first = b"", None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
        if first is None and b"data:" in buf:
            first = time.perf_counter() - t0
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            continue
        head = buf[:head_end].lower()
        rest = buf[head_end + 4:]
        if b"transfer-encoding: chunked" in head:
            if rest.endswith(b"0\r\n\r\n"):
                return first
        else:
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                return first


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


warm_conn = connect()
for _ in range(20):
    one(warm_conn)
warm = [one(warm_conn) for _ in range(n)]
cold = []
for _ in range(n):
    c = connect()
    t0 = time.perf_counter()
    s = one(c)
    cold.append(s)
    c.close()
print(json.dumps({"warm": int(median(warm) * 1e6), "cold": int(median(cold) * 1e6)}))
