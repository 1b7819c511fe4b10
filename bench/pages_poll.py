#!/usr/bin/python3
"""pages_poll.py - N open status pages, simulated: each keeps one keep-alive
connection to `exportq serve` and polls GET /exports/{id}/status?t= as the
page's script does (If-None-Match with the last ETag, then waits the
poll_after the server sent; 0 = final: stops). Prints one JSON line:
requests, 200s, 304s, errors, latency p50/p99 (ms).

  pages_poll.py HOST PORT SECONDS SECRET JOB_ID...   (one page per job id
  given; repeat an id for several pages of one job)

Tokens are minted here with the format of common/link.h. Loopback only.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import struct
import sys
import time


def token(secret, job, exp):
    payload = struct.pack(">BBQQ", 1, 2, job, exp)
    mac = hmac.new(secret.encode(), b"exportq-link\0" + payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


async def page(host, port, path, until, stats):
    reader, writer = await asyncio.open_connection(host, port)
    etag = None
    await asyncio.sleep(stats["rnd"].pop() if stats["rnd"] else 0)
    while time.time() < until:
        hdr = "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n" % (path, host)
        if etag:
            hdr += "If-None-Match: %s\r\n" % etag
        t0 = time.time()
        writer.write((hdr + "\r\n").encode())
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:  # the server closed an idle keep-alive connection: reconnect, as a browser does
            stats["reconnects"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            continue
        code = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
            elif k.lower() == "etag":
                etag = v.strip()
        body = await reader.readexactly(length) if length else b""
        stats["lat"].append((time.time() - t0) * 1000)
        stats["requests"] += 1
        wait = stats["last_poll_after"].get(path, 2)
        if code == 200:
            stats["ok"] += 1
            wait = json.loads(body).get("poll_after", 2)
            stats["last_poll_after"][path] = wait
        elif code == 304:
            stats["not_modified"] += 1
        else:
            stats["errors"] += 1
            wait = 5
        if wait == 0:
            break
        await asyncio.sleep(wait)
    writer.close()


async def main():
    host, port, secs, secret = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    ids = [int(x) for x in sys.argv[5:]]
    exp = int(time.time()) + 3600
    until = time.time() + secs
    import random
    rnd = random.Random(1)
    stats = {"reconnects": 0, "requests": 0, "ok": 0, "not_modified": 0, "errors": 0, "lat": [], "last_poll_after": {},
             "rnd": [rnd.random() * 2 for _ in ids]}
    tasks = [page(host, port, "/exports/%d/status?t=%s" % (i, token(secret, i, exp)), until, stats) for i in ids]
    await asyncio.gather(*tasks, return_exceptions=False)
    lat = sorted(stats["lat"]) or [0]
    print(json.dumps({"pages": len(ids), "seconds": secs, "requests": stats["requests"], "ok": stats["ok"],
                      "not_modified": stats["not_modified"], "errors": stats["errors"],
                      "reconnects": stats["reconnects"], "p50_ms": round(lat[len(lat) // 2], 1), "p99_ms": round(lat[int(len(lat) * 0.99)], 1)}))


asyncio.run(main())
