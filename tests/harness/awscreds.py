#!/usr/bin/python3
"""awscreds.py - AWS credential plumbing for the tests, against the harness's
radosgw with STS (tests/harness/s3_aws.sh). Python standard library only;
everything listens on and talks to 127.0.0.1.

  awscreds.py session --endpoint URL [--duration S]
      STS GetSessionToken signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY:
      prints {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}.
  awscreds.py allow-sts --endpoint URL --user UID
      IAM PutUserPolicy: lets UID call sts:GetSessionToken (radosgw asks for it).
  awscreds.py serve --mode container|imds --endpoint URL --port-file F --log F
                    [--lifetime S] [--token T | --token-file F] [--fail-after N]
      A credentials endpoint speaking the documented protocol:
        container: GET any path, "Authorization" must equal the token (if one
                   is given), answers {"AccessKeyId", "SecretAccessKey",
                   "Token", "Expiration"};
        imds:      IMDSv2 only: PUT /latest/api/token (with
                   X-aws-ec2-metadata-token-ttl-seconds) gives a token; GET
                   /latest/meta-data/iam/security-credentials/[ROLE] need it
                   (401 without: no IMDSv1).
      Every credentials answer is a fresh radosgw session (GetSessionToken), so
      radosgw itself checks that the client signs with the session token; the
      claimed Expiration is now + --lifetime (shorter than the real session) to
      make clients refresh. Each request is logged to --log as a JSON line
      (never the secret or the token). --fail-after N: 500 after N answers.
  awscreds.py idp --dir D --port-file F --log F
      An OpenID Connect identity provider for web identity: makes an RSA key
      and a self-signed certificate in D (openssl), serves
      /.well-known/openid-configuration and the JWKS (with x5c, as radosgw
      wants); its issuer is http://127.0.0.1:PORT.
  awscreds.py oidc-role --endpoint URL --idp URL --dir D --role NAME
      IAM on radosgw: CreateOpenIDConnectProvider for the idp (thumbprint of
      its certificate, client id "exportq"), CreateRole NAME trusting it for
      aud "exportq", PutRolePolicy allowing s3:* on the test bucket.
  awscreds.py jwt --idp URL --dir D [--lifetime S]
      Prints a token from the idp (RS256), as Kubernetes projects it.
  awscreds.py proxy --upstream HOST:PORT --port-file F --log F
      Forwards every request unchanged; logs per request the access key id of
      its SigV4 Authorization (or presigned X-Amz-Credential), whether an
      X-Amz-Security-Token came with it, and the status.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import socketserver
import sys
import threading
import time
import urllib.parse

REGION = "us-east-1"


def sign(method, url, service, body, ak, sk, extra=None):
    """SigV4 headers for a form POST (STS, IAM)."""
    u = urllib.parse.urlsplit(url)
    now = datetime.datetime.utcnow()
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": u.netloc, "x-amz-date": amz, "x-amz-content-sha256": payload,
               "content-type": "application/x-www-form-urlencoded"}
    headers.update(extra or {})
    names = sorted(headers)
    canon = "\n".join([method, u.path or "/", "", "".join("%s:%s\n" % (n, headers[n].strip()) for n in names),
                       ";".join(names), payload])
    scope = "%s/%s/%s/aws4_request" % (day, REGION, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + sk).encode()
    for part in (day, REGION, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ak, scope, ";".join(names), sig)
    return headers


def post(url, service, params, ak, sk):
    body = urllib.parse.urlencode(params, quote_via=urllib.parse.quote).encode()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    conn.request("POST", u.path or "/", body, sign("POST", url, service, body, ak, sk))
    r = conn.getresponse()
    data = r.read().decode()
    conn.close()
    return r.status, data


def tag(xml, name):
    m = re.search(r"<%s>(.*?)</%s>" % (name, name), xml, re.S)
    return m.group(1) if m else None


def session(endpoint, duration=900):
    ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    st, xml = post(endpoint, "sts", {"Action": "GetSessionToken", "Version": "2011-06-15",
                                      "DurationSeconds": str(duration)}, ak, sk)
    if st != 200:
        raise RuntimeError("GetSessionToken: HTTP %d %s" % (st, tag(xml, "Code")))
    return {"AccessKeyId": tag(xml, "AccessKeyId"), "SecretAccessKey": tag(xml, "SecretAccessKey"),
            "SessionToken": tag(xml, "SessionToken"), "Expiration": tag(xml, "Expiration")}


def allow_sts(endpoint, user):
    ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    pol = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": ["sts:GetSessionToken"], "Resource": "*"}]}
    st, xml = post(endpoint, "iam", {"Action": "PutUserPolicy", "Version": "2010-05-08", "UserName": user,
                                      "PolicyName": "exportq-sts", "PolicyDocument": json.dumps(pol, separators=(",", ":"))}, ak, sk)
    if st != 200:
        raise RuntimeError("PutUserPolicy: HTTP %d %s" % (st, tag(xml, "Code")))


class Log:
    def __init__(self, path):
        self.path, self.lock = path, threading.Lock()

    def write(self, **kw):
        kw["t"] = round(time.time(), 3)
        with self.lock, open(self.path, "a") as f:
            f.write(json.dumps(kw) + "\n")


def iso(t):
    return datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


class CredsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    role = "exportq-test-role"

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def creds(self):
        srv = self.server
        with srv.lock:
            srv.answers += 1
            if srv.args.fail_after and srv.answers > srv.args.fail_after:
                return None
        s = session(srv.args.endpoint)
        return {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                "AccessKeyId": s["AccessKeyId"], "SecretAccessKey": s["SecretAccessKey"],
                "Token": s["SessionToken"], "Expiration": iso(time.time() + srv.args.lifetime)}

    def expected_token(self):
        a = self.server.args
        if a.token_file:
            with open(a.token_file) as f:
                return f.read().strip()
        return a.token

    def handle_one(self):
        srv, a = self.server, self.server.args
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        entry = {"method": self.command, "path": self.path}
        if a.mode == "container":
            want = self.expected_token()
            entry["auth_ok"] = want is None or self.headers.get("Authorization") == want
            if not entry["auth_ok"]:
                srv.log.write(status=401, **entry)
                return self.reply(401, '{"message":"bad token"}')
            c = self.creds()
            if not c:
                srv.log.write(status=500, **entry)
                return self.reply(500, '{"message":"injected"}')
            srv.log.write(status=200, served=c["AccessKeyId"], **entry)
            return self.reply(200, json.dumps(c))
        # imds
        if self.command == "PUT" and self.path == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl:
                srv.log.write(status=400, **entry)
                return self.reply(400, "", "text/plain")
            tok = secrets.token_urlsafe(32)
            with srv.lock:
                srv.tokens.add(tok)
            srv.log.write(status=200, ttl=ttl, **entry)
            return self.reply(200, tok, "text/plain")
        tok = self.headers.get("X-aws-ec2-metadata-token")
        entry["token_ok"] = tok in srv.tokens
        if self.command != "GET" or not entry["token_ok"]:
            srv.log.write(status=401, **entry)
            return self.reply(401, "", "text/plain")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            srv.log.write(status=200, **entry)
            return self.reply(200, self.role, "text/plain")
        if self.path == base + self.role:
            c = self.creds()
            if not c:
                srv.log.write(status=500, **entry)
                return self.reply(500, "", "text/plain")
            srv.log.write(status=200, served=c["AccessKeyId"], **entry)
            return self.reply(200, json.dumps(c))
        srv.log.write(status=404, **entry)
        return self.reply(404, "", "text/plain")

    do_GET = do_PUT = do_POST = handle_one


def b64u(b):
    return __import__("base64").urlsafe_b64encode(b).rstrip(b"=").decode()


def openssl(*args, data=None):
    import subprocess
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, check=True).stdout


def idp_keys(d):
    key, cert = os.path.join(d, "idp-key.pem"), os.path.join(d, "idp-cert.pem")
    if not os.path.exists(cert):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "30",
                "-subj", "/CN=exportq test identity provider")
    return key, cert


class IdpHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server
        iss = "http://127.0.0.1:%d" % srv.server_address[1]
        if self.path == "/.well-known/openid-configuration":
            body = {"issuer": iss, "jwks_uri": iss + "/jwks"}
        elif self.path == "/jwks":
            body = {"keys": [{"kty": "RSA", "kid": "exportq-test", "alg": "RS256", "use": "sig", "n": srv.n,
                              "e": b64u((65537).to_bytes(3, "big")),
                              "x5c": [__import__("base64").b64encode(srv.der).decode()]}]}
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        srv.log.write(method="GET", path=self.path, status=200)
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def oidc_role(endpoint, idp, d, role):
    ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    _, cert = idp_keys(d)
    der = openssl("x509", "-in", cert, "-outform", "DER")
    host = urllib.parse.urlsplit(idp).netloc
    st, xml = post(endpoint, "iam", {"Action": "CreateOpenIDConnectProvider", "Version": "2010-05-08", "Url": idp,
                                      "ClientIDList.member.1": "exportq",
                                      "ThumbprintList.member.1": hashlib.sha1(der).hexdigest()}, ak, sk)
    if st != 200 and tag(xml, "Code") != "EntityAlreadyExists":
        raise RuntimeError("CreateOpenIDConnectProvider: HTTP %d %s" % (st, tag(xml, "Code")))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": ["arn:aws:iam:::oidc-provider/" + host]},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Condition": {"StringEquals": {host + ":app_id": "exportq"}}}]}
    st, xml = post(endpoint, "iam", {"Action": "CreateRole", "Version": "2010-05-08", "RoleName": role, "Path": "/",
                                      "AssumeRolePolicyDocument": json.dumps(trust, separators=(",", ":"))}, ak, sk)
    if st != 200 and tag(xml, "Code") != "EntityAlreadyExists":
        raise RuntimeError("CreateRole: HTTP %d %s" % (st, tag(xml, "Code")))
    pol = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"],
                                                  "Resource": ["arn:aws:s3:::exportq-test", "arn:aws:s3:::exportq-test/*"]}]}
    st, xml = post(endpoint, "iam", {"Action": "PutRolePolicy", "Version": "2010-05-08", "RoleName": role,
                                      "PolicyName": "exports", "PolicyDocument": json.dumps(pol, separators=(",", ":"))},
                   ak, sk)
    if st != 200:
        raise RuntimeError("PutRolePolicy: HTTP %d %s" % (st, tag(xml, "Code")))
    print("arn:aws:iam:::role/" + role)


def make_jwt(idp, d, lifetime):
    key, _ = idp_keys(d)
    now = int(time.time())
    head = b64u(json.dumps({"alg": "RS256", "kid": "exportq-test", "typ": "JWT"}).encode())
    body = b64u(json.dumps({"iss": idp, "sub": "system:serviceaccount:exports:exportq", "aud": "exportq",
                            "azp": "exportq", "iat": now, "nbf": now - 5, "exp": now + lifetime}).encode())
    sig = openssl("dgst", "-sha256", "-sign", key, data=(head + "." + body).encode())
    print(head + "." + body + "." + b64u(sig))


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}

    def log_message(self, *a):
        pass

    def forward(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        auth = self.headers.get("Authorization") or ""
        m = re.search(r"Credential=([^/,\s]+)/", auth)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        key = m.group(1) if m else (q.get("X-Amz-Credential", [""])[0].split("/")[0])
        has_token = bool(self.headers.get("x-amz-security-token") or q.get("X-Amz-Security-Token"))
        up = http.client.HTTPConnection(*srv.upstream, timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in self.HOP}
        up.request(self.command, self.path, body, hdrs)
        r = up.getresponse()
        data = r.read()
        up.close()
        srv.log.write(method=self.command, path=urllib.parse.urlsplit(self.path).path, key=key,
                      token=has_token, status=r.status)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in self.HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("session")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--duration", type=int, default=900)
    p = sub.add_parser("allow-sts")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--user", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--mode", choices=["container", "imds"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=int, default=3600)
    p.add_argument("--token")
    p.add_argument("--token-file")
    p.add_argument("--fail-after", type=int, default=0)
    p = sub.add_parser("idp")
    p.add_argument("--dir", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p = sub.add_parser("oidc-role")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--idp", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--role", required=True)
    p = sub.add_parser("jwt")
    p.add_argument("--idp", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--lifetime", type=int, default=3600)
    p = sub.add_parser("proxy")
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    a = ap.parse_args()
    if a.cmd == "session":
        print(json.dumps(session(a.endpoint, a.duration)))
        return
    if a.cmd == "allow-sts":
        allow_sts(a.endpoint, a.user)
        return
    if a.cmd == "oidc-role":
        oidc_role(a.endpoint, a.idp, a.dir, a.role)
        return
    if a.cmd == "jwt":
        make_jwt(a.idp, a.dir, a.lifetime)
        return
    handler = {"serve": CredsHandler, "proxy": ProxyHandler, "idp": IdpHandler}[a.cmd]
    if a.cmd == "idp":
        _, cert = idp_keys(a.dir)
    srv = Server(("127.0.0.1", 0), handler)
    if a.cmd == "idp":
        srv.der = openssl("x509", "-in", cert, "-outform", "DER")
        mod = openssl("x509", "-in", cert, "-noout", "-modulus").decode().strip().split("=", 1)[1]
        srv.n = b64u(bytes.fromhex(mod))
    srv.args, srv.log, srv.lock = a, Log(a.log), threading.Lock()
    srv.answers, srv.tokens = 0, set()
    if a.cmd == "proxy":
        host, port = a.upstream.rsplit(":", 1)
        srv.upstream = (host, int(port))
    open(a.log, "a").close()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
