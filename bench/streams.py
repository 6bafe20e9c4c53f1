#!/usr/bin/env python3
"""Concurrency: what a gateway holding many connections at once does, against nginx's
proxy_pass in the same run and against the same slow provider.

  streams  C concurrent streamed answers of about 5 s each (20 chunks, 250 ms apart, the shape
           of an LLM answer): how many arrive intact, time to the first chunk (p50/p90), wall time.
  idle     I idle keep-alive connections (each made one request and then waits, as an SDK's
           connection pool does), then one new client's request: does it get an answer, how fast.

It starts the slow provider itself on PROVIDER_PORT; nginx and Warden must route model "slow"
to it (bench/run.sh sets that up). Prints one JSON line per measurement.
usage: streams.py PROVIDER_PORT NGINX_PORT WARDEN_PORT KEY [C ...] [--idle I ...]"""
import asyncio, json, statistics, sys, time

CHUNKS, GAP = 20, 0.25
BODY = b'{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}'


async def provider(reader, writer):
    """The slow provider: one streamed answer per request, keep-alive."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(CHUNKS):
                ev = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
                      b'[{"index":0,"delta":{"content":"w%d "},"finish_reason":null}]}\n\n' % i)
                writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                await writer.drain()
                await asyncio.sleep(GAP)
            ev = b"data: [DONE]\n\n"
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(ev), ev))
            await writer.drain()
    except (Exception, asyncio.CancelledError):  # a client gone, or the run over
        pass
    writer.close()


def request(key, close=True):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n"
            b"Connection: %s\r\n\r\n%s" % (key.encode(), len(BODY), b"close" if close else b"keep-alive", BODY))


async def stream(port, key, out):
    t0 = time.monotonic()
    first = None
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        w.write(request(key))
        await w.drain()
        data = b""
        while True:
            chunk = await asyncio.wait_for(r.read(65536), 60)
            if not chunk:
                break
            if first is None and b"w0" in data + chunk:
                first = time.monotonic() - t0
            data += chunk
        w.close()
        out.append((data.startswith(b"HTTP/1.1 200") and b"[DONE]" in data and data.count(b"chat.completion.chunk") >= CHUNKS, first))
    except Exception:
        out.append((False, None))


async def hold_idle(port, key, ready, release):
    """One request to completion on a keep-alive connection, then idle until released."""
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        w.write(request(key, close=False))
        await w.drain()
        data = b""
        while b"0\r\n\r\n" not in data:
            chunk = await asyncio.wait_for(r.read(65536), 60)
            if not chunk:
                break
            data += chunk
        ready.append(b"[DONE]" in data)
        await release.wait()
        w.close()
    except Exception:
        ready.append(False)


def pct(xs, p):
    return statistics.quantiles(xs, n=100)[p - 1] * 1000 if len(xs) >= 2 else (xs[0] * 1000 if xs else None)


async def main():
    args = sys.argv[1:]
    provider_port, targets, key = int(args[0]), {"nginx": int(args[1]), "warden": int(args[2])}, args[3]
    conc, idle = [], []
    mode = None  # which list the numbers go to
    for a in args[4:]:
        if a == "--idle":
            mode = idle
        else:
            (mode if mode is not None else conc).append(int(a))
    srv = await asyncio.start_server(provider, "127.0.0.1", provider_port, backlog=8192)
    for c in conc:
        for name, port in targets.items():
            out = []
            t0 = time.monotonic()
            await asyncio.gather(*(stream(port, key, out) for _ in range(c)))
            firsts = sorted(f for ok, f in out if f is not None)
            print(json.dumps({"measure": "streams", "target": name, "concurrent": c, "intact": sum(ok for ok, _ in out),
                              "first_chunk_p50_ms": pct(firsts, 50), "first_chunk_p90_ms": pct(firsts, 90),
                              "wall_s": round(time.monotonic() - t0, 2)}), flush=True)
    for n in idle:
        for name, port in targets.items():
            ready, release = [], asyncio.Event()
            holders = [asyncio.ensure_future(hold_idle(port, key, ready, release)) for _ in range(n)]
            while len(ready) < n:
                await asyncio.sleep(0.05)
            out = []
            t0 = time.monotonic()
            await stream(port, key, out)
            release.set()
            await asyncio.gather(*holders)
            ok, first = out[0]
            print(json.dumps({"measure": "idle", "target": name, "idle_connections": n, "idle_served": sum(ready),
                              "new_request_intact": ok, "new_first_chunk_ms": first * 1000 if first else None,
                              "new_wall_s": round(time.monotonic() - t0, 2)}), flush=True)
    srv.close()


asyncio.run(main())
