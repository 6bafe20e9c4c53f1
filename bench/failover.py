#!/usr/bin/env python3
"""Failover decision time: the median latency of a non-stream chat request to an alias whose
first deployment refuses connections (the next one serves), minus the same request to an alias
with only the serving deployment, on the same Warden and the same warm keep-alive connection.
With retries_per_deployment 0 and the circuit breaker off there is no backoff: what remains is
the refused connect, the retry decision and building the next upstream request.
Prints the medians in microseconds as JSON.   usage: failover.py PORT KEY [N]"""
import json, socket, sys, time

port, key = int(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 500


def request(model):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}]}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


def one(s, req):
    t0 = time.perf_counter()
    s.sendall(req)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            continue
        head = buf[:head_end].lower()
        if not head.startswith(b"http/1.1 200"):
            raise RuntimeError(head.split(b"\r\n")[0].decode())
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        if len(buf) - head_end - 4 >= length:
            return time.perf_counter() - t0


s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
direct, failover = request("gpt-4o-mini"), request("failover-chain")
for _ in range(50):
    one(s, direct)
    one(s, failover)
a, b = [], []
for _ in range(n):  # interleaved, so drift on a noisy machine hits both alike
    a.append(one(s, direct))
    b.append(one(s, failover))
med = lambda xs: sorted(xs)[len(xs) // 2] * 1e6
print(json.dumps({"base": med(a), "failover": med(b)}))
