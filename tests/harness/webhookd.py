#!/usr/bin/env python3
"""webhookd.py - a webhook receiver for the tests, on 127.0.0.1 only.

Every POST is logged (one JSON line: seq, path, lower-case headers, body, and
the status it gets) to --log as soon as it is read, before it is answered.
  --plan 500,200   statuses for the 1st, 2nd, ... request (then 200)
  --hold-file F    hold every answer until file F exists (at most 120 s)
  --delay S        wait S seconds before answering
The bound port goes to --port-file.
"""
import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--plan", default="")
ap.add_argument("--hold-file", default="")
ap.add_argument("--delay", type=float, default=0.0)
args = ap.parse_args()
plan = [int(x) for x in args.plan.split(",") if x]
lock = threading.Lock()
seq = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        with lock:
            i = seq[0]
            seq[0] += 1
            status = plan[i] if i < len(plan) else 200
            with open(args.log, "a") as f:
                f.write(json.dumps({"seq": i, "path": self.path, "status": status, "received": time.time(),
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body}) + "\n")
        if args.hold_file:
            end = time.time() + 120
            while not os.path.exists(args.hold_file) and time.time() < end:
                time.sleep(0.1)
        if args.delay:
            time.sleep(args.delay)
        reply = b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
