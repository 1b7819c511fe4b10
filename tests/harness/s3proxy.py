#!/usr/bin/python3
"""s3proxy.py - a fault-injecting HTTP proxy in front of the test S3 server.

Forwards every request unchanged (the Host header too, so SigV4 signatures
stay valid) to --upstream, except that a share (--ratio) of the requests of
the operations named in --ops fail, cycling through --modes:
  500       HTTP 500 <Error><Code>InternalError</Code>
  503       HTTP 503 <Error><Code>ServiceUnavailable</Code>
  slowdown  HTTP 503 <Error><Code>SlowDown</Code>
  error200  HTTP 200 whose body is an <Error> (InternalError): what S3 may
            answer to a CompleteMultipartUpload
  drop      the connection is closed without a reply
  slow      the reply is held back --slow-seconds before being forwarded
Operations (--ops, comma-separated, default UploadPart; "all" = the four):
  PutObject   PUT without uploadId (an export smaller than one part)
  Create      POST ?uploads (CreateMultipartUpload)
  UploadPart  PUT ?partNumber=N&uploadId=...
  Complete    POST ?uploadId=... (CompleteMultipartUpload)
(Abort, GET, HEAD and listings are never failed.) A failed request never
reaches S3, except `slow`, which forwards it late.

With --stall OP=SECONDS (repeatable; OP is create, complete, put, part, list
or abort: CreateMultipartUpload, CompleteMultipartUpload, PutObject,
UploadPart, ListMultipartUploads, AbortMultipartUpload) every
such request is forwarded and S3's reply held back SECONDS before it is sent
(S3 applied it; the client waits): an S3 that stalls longer than a lease.

--lose-complete-replies N forwards the first N Complete requests to S3, then
drops their replies: a retried Complete reaches the real server, which decides
what to answer.

--every K replaces the draws: requests 1, 1+K, 1+2K, ... of each operation
fail. Each operation cycles through the modes on its own, so with enough
requests every operation meets every fault.

The draws come from random.Random(--seed), so a run is repeatable. Counters
are written as JSON to --stats after every request (under "by_op" per
operation: requests, failed, and the faults by mode), and "runs": per object
key, how many uploads S3 completed (distinct upload ids, so a repeated
Complete counts once) plus how many PutObjects it stored. Every run of
an export ends in exactly one of those, so "runs" counts real runs, which the
objects cannot show (every attempt of a job writes the same key). The bound
port goes to --port-file. Python standard library only. Stop it with SIGTERM.

  /usr/bin/python3 s3proxy.py --upstream 127.0.0.1:7480 --port-file P \
      --stats S --ratio 0.4 --modes 500,503,slowdown,error200,drop,slow --ops all
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

OPS = ("PutObject", "Create", "UploadPart", "Complete")
STALL_OPS = {"create": "Create", "complete": "Complete", "put": "PutObject", "part": "UploadPart",
             "list": "ListUploads", "abort": "Abort"}
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


def error_xml(code):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
            "<Message>injected by s3proxy</Message><RequestId>s3proxy-%d</RequestId></Error>"
            % (code, int(time.time() * 1000))).encode()


def operation(method, query):
    """The S3 operation of a request, by method and query parameters."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    if method == "PUT":
        return "UploadPart" if "uploadId" in q else "PutObject"
    if method == "POST" and "uploads" in q:
        return "Create"
    if method == "POST" and "uploadId" in q:
        return "Complete"
    if method == "DELETE" and "uploadId" in q:
        return "Abort"
    if method == "GET" and "uploads" in q:
        return "ListUploads"
    return method


class State:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.modes = [m for m in args.modes.split(",") if m]
        ops = [o for o in args.ops.split(",") if o]
        self.ops = set(OPS) if ops == ["all"] else set(ops)
        unknown = self.ops - set(OPS)
        if unknown:
            raise SystemExit("s3proxy: unknown --ops %s (known: %s, all)" % (",".join(sorted(unknown)), ",".join(OPS)))
        self.stats = {"requests": 0, "upload_part": 0, "failed": 0, "by_mode": {}, "lost_complete": 0,
                      "by_op": {}, "runs": {}, "stalled": 0}
        self.stalls = {}
        for spec in args.stall or []:
            op, _, secs = spec.partition("=")
            if op not in STALL_OPS:
                raise SystemExit("--stall: unknown operation %r" % op)
            self.stalls[STALL_OPS[op]] = float(secs)
        self.completed = {}  # key -> upload ids S3 completed
        self.puts = {}       # key -> PutObjects S3 stored

    def decide(self, op):
        with self.lock:
            self.stats["requests"] += 1
            o = self.stats["by_op"].setdefault(op, {"requests": 0, "failed": 0, "modes": {}})
            o["requests"] += 1
            if op == "UploadPart":
                self.stats["upload_part"] += 1
            if op not in self.ops or not self.modes:
                return None
            if self.args.every:  # deterministic: requests 1, 1+K, 1+2K, ... of each operation
                if (o["requests"] - 1) % self.args.every != 0:
                    return None
            elif self.rng.random() >= self.args.ratio:
                return None
            mode = self.modes[o["failed"] % len(self.modes)]  # each operation cycles through every mode
            self.stats["failed"] += 1
            o["failed"] += 1
            o["modes"][mode] = o["modes"].get(mode, 0) + 1
            self.stats["by_mode"][mode] = self.stats["by_mode"].get(mode, 0) + 1
            return mode

    def lose_complete(self):
        """True for the first --lose-complete-replies CompleteMultipartUpload requests."""
        with self.lock:
            if self.stats["lost_complete"] >= self.args.lose_complete_replies:
                return False
            self.stats["lost_complete"] += 1
            return True

    def stall_for(self, op):
        """Seconds to hold back the reply of operation op (0: none); counts it."""
        secs = self.stalls.get(op, 0)
        if secs:
            with self.lock:
                self.stats["stalled"] += 1
        return secs

    def count_run(self, key, upload_id):
        """A Complete (of upload_id) or a PutObject (upload_id None) that S3 applied.
        A repeated Complete of the same upload is the same run."""
        with self.lock:
            if upload_id:
                self.completed.setdefault(key, set()).add(upload_id)
            else:
                self.puts[key] = self.puts.get(key, 0) + 1
            self.stats["runs"][key] = len(self.completed.get(key, ())) + self.puts.get(key, 0)

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
        path, _, q = self.path.partition("?")
        op = operation(self.command, q)
        mode = st.decide(op)
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
            if op in ("Complete", "PutObject") and 200 <= r.status < 300 and b"<Error>" not in data:
                # path-style /bucket/key: the key, decoded
                st.count_run(urllib.parse.unquote(path.lstrip("/").partition("/")[2]),
                             urllib.parse.parse_qs(q).get("uploadId", [None])[0])
            if op == "Complete" and r.status == 200 and st.lose_complete():
                # S3 applied the Complete, but its reply never reaches the client
                st.save()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            stall = st.stall_for(op)
            st.save()
            if stall:
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
    ap.add_argument("--stall", action="append", metavar="OP=SECONDS",
                    help="hold back S3's reply to every OP (create, complete, put, part, list, abort) for SECONDS")
    ap.add_argument("--every", type=int, default=0,
                    help="instead of --ratio: fail requests 1, 1+K, 1+2K, ... of each operation in --ops "
                         "(K >= 2 never fails two in a row, so every request succeeds on a retry)")
    ap.add_argument("--ops", default="UploadPart",
                    help="operations to fail: PutObject,Create,UploadPart,Complete or all")
    ap.add_argument("--lose-complete-replies", type=int, default=0,
                    help="forward the first N CompleteMultipartUpload requests, then drop their replies "
                         "(a repeated Complete goes to S3 like any request)")
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
