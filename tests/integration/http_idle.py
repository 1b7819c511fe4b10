#!/usr/bin/env python3
"""http_idle.py PORT N STATE_DIR [HOLD_SECONDS] - helper of http_limits.sh (not a test).

Opens N connections to 127.0.0.1:PORT that send an incomplete request (the
request line and one header, never the blank line), keeps them open, and
writes STATE_DIR/opened (how many connected), then STATE_DIR/alive with how many the server has not closed yet (every
0.2 s). Stops when STATE_DIR/stop exists or after HOLD_SECONDS (default 300).
Only ever connects to loopback.
"""
import os
import resource
import socket
import sys
import time

port, n, state = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
hold = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 64, hard), hard))

def write(name, value):
    tmp = os.path.join(state, name + ".tmp")
    with open(tmp, "w") as f:
        f.write(str(value) + "\n")
    os.replace(tmp, os.path.join(state, name))


socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    except OSError:
        s.close()
        continue
    s.setblocking(False)
    socks.append(s)


write("opened", len(socks))
deadline = time.monotonic() + hold
while True:
    alive = []
    for s in socks:
        try:  # nothing to read: still open and waiting; b"" or an answer (408): closed
            s.recv(1, socket.MSG_PEEK)
            closed = True
        except BlockingIOError:
            closed = False
        except OSError:
            closed = True
        if closed:
            s.close()
        else:
            alive.append(s)
    socks = alive
    write("alive", len(socks))
    if os.path.exists(os.path.join(state, "stop")) or time.monotonic() > deadline:
        break
    time.sleep(0.2)
for s in socks:
    s.close()
