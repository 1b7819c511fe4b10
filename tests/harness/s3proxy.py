#!/usr/bin/python3
"""s3proxy.py - a fault-injecting HTTP proxy in front of the test S3 server.

Forwards every request unchanged (the Host header too, so SigV4 signatures
stay valid) to --upstream, except that a share (--ratio) of the UploadPart
requests (PUT ...?partNumber=N&uploadId=...) fail, cycling through --modes:
  500       HTTP 500 <Error><Code>InternalError</Code>
  503       HTTP 503 <Error><Code>ServiceUnavailable</Code>
  slowdown  HTTP 503 <Error><Code>SlowDown</Code>
  error200  HTTP 200 whose body is an <Error> (InternalError)
  drop      the connection is closed without a reply
  slow      the reply is held back --slow-seconds before being forwarded
With --stall OP=SECONDS (repeatable; OP is create, complete, put or part:
CreateMultipartUpload, CompleteMultipartUpload, PutObject, UploadPart) every
such request is forwarded and S3's reply held back SECONDS before it is sent
(S3 applied it; the client waits): an S3 that stalls longer than a lease.
The draws come from random.Random(--seed), so a run is repeatable. Counters
are written as JSON to --stats after every request; the bound port to
--port-file. Python standard library only. Stop it with SIGTERM.

  /usr/bin/python3 s3proxy.py --upstream 127.0.0.1:7480 --port-file P \
      --stats S --ratio 0.4 --modes 500,503,slowdown,error200,drop,slow
"""
import argparse
import http.client
import http.server
import json
import os
import random
import socket
import urllib.parse
import threading
import time

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


def error_xml(code):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
            "<Message>injected by s3proxy</Message><RequestId>s3proxy-%d</RequestId></Error>"
            % (code, int(time.time() * 1000))).encode()


class State:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.modes = [m for m in args.modes.split(",") if m]
        self.next_mode = 0
        self.stats = {"requests": 0, "upload_part": 0, "failed": 0, "by_mode": {}, "lost_complete": 0,
                      "stalled": 0}
        self.stalls = {}
        for spec in args.stall or []:
            op, _, secs = spec.partition("=")
            if op not in ("create", "complete", "put", "part"):
                raise SystemExit("--stall: unknown operation %r" % op)
            self.stalls[op] = float(secs)
        self.completed_uploads = set()

    def decide(self, is_part):
        with self.lock:
            self.stats["requests"] += 1
            if not is_part:
                return None
            self.stats["upload_part"] += 1
            if not self.modes or self.rng.random() >= self.args.ratio:
                return None
            mode = self.modes[self.next_mode % len(self.modes)]
            self.next_mode += 1
            self.stats["failed"] += 1
            self.stats["by_mode"][mode] = self.stats["by_mode"].get(mode, 0) + 1
            return mode

    def lose_complete(self, upload_id):
        """True for the first --lose-complete-replies CompleteMultipartUpload requests."""
        with self.lock:
            if self.stats["lost_complete"] >= self.args.lose_complete_replies:
                return False
            self.stats["lost_complete"] += 1
            self.completed_uploads.add(upload_id)
            return True

    def stall_for(self, op):
        """Seconds to hold back the reply of operation op (0: none); counts it."""
        secs = self.stalls.get(op, 0)
        if secs:
            with self.lock:
                self.stats["stalled"] += 1
        return secs

    def already_completed(self, upload_id):
        """Was this upload completed behind a lost reply? (S3 may then say NoSuchUpload.)"""
        with self.lock:
            return upload_id in self.completed_uploads

    def save(self):
        if not self.args.stats:
            return
        # under the lock: handler threads must not race on the temporary file
        with self.lock:
            tmp = self.args.stats + ".tmp"
            with open(tmp, "w") as f:
                f.write(json.dumps(self.stats))
            os.replace(tmp, self.args.stats)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        chunks, left = [], n
        while left > 0:
            c = self.rfile.read(min(left, 1 << 20))
            if not c:
                break
            chunks.append(c)
            left -= len(c)
        return b"".join(chunks)

    def _reply(self, status, body, headers=(), length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        # a HEAD reply carries the object's length, not its (empty) body's
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        st = self.server.state
        body = self._body()
        q = self.path.partition("?")[2]
        is_part = self.command == "PUT" and "partNumber=" in q and "uploadId=" in q
        mode = st.decide(is_part)
        st.save()
        xml = [("Content-Type", "application/xml")]
        if mode == "500":
            return self._reply(500, error_xml("InternalError"), xml)
        if mode == "503":
            return self._reply(503, error_xml("ServiceUnavailable"), xml)
        if mode == "slowdown":
            return self._reply(503, error_xml("SlowDown"), xml)
        if mode == "error200":
            return self._reply(200, error_xml("InternalError"), xml)
        if mode == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if mode == "slow":
            time.sleep(st.args.slow_seconds)
        upload_id = urllib.parse.parse_qs(q).get("uploadId", [""])[0]
        if self.command == "POST" and upload_id and st.already_completed(upload_id):
            # AWS may answer a repeated Complete of a finished upload like this
            return self._reply(404, error_xml("NoSuchUpload"), xml)
        host, _, port = st.args.upstream.partition(":")
        up = http.client.HTTPConnection(host, int(port or 80), timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                up.putheader(k, v)
            up.endheaders(body if body or self.command in ("PUT", "POST") else None)
            r = up.getresponse()
            data = r.read()
            is_complete = self.command == "POST" and "uploadId=" in q
            if is_complete and r.status == 200 and st.lose_complete(upload_id):
                # S3 applied the Complete, but its reply never reaches the client
                st.save()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            op = None
            if self.command == "POST":
                op = "complete" if "uploadId=" in q else ("create" if "uploads" in q else None)
            elif self.command == "PUT":
                op = "part" if is_part else "put"
            stall = st.stall_for(op) if op else 0
            if stall:
                st.save()
                time.sleep(stall)
            out = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP and k.lower() != "content-length"]
            length = r.getheader("Content-Length") if self.command == "HEAD" else None
            self._reply(r.status, data, out, length)
        finally:
            up.close()
        return None

    def _safe(self):
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _safe


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="host:port of the real S3 server")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--stats")
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--modes", default="500,503,slowdown,error200,drop,slow")
    ap.add_argument("--slow-seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lose-complete-replies", type=int, default=0,
                    help="forward the first N CompleteMultipartUpload requests, then drop their replies "
                         "(and answer a repeated Complete of such an upload 404 NoSuchUpload)")
    ap.add_argument("--stall", action="append", metavar="OP=SECONDS",
                    help="hold back S3's reply to every OP (create, complete, put, part) for SECONDS")
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer((args.listen, args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    srv.state.save()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.replace(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
