#!/usr/bin/env python3
"""jwt_mint.py - JWTs and JWKS for the tests, minted as an application would,
with the standard library (hmac) and the openssl command (RS/ES/EdDSA
signatures), so no code is shared with exportq's verifier (libjwt, OpenSSL EVP).

  jwt_mint.py token --alg ALG [--sign ALG] [--secret S | --secret-file F | --key PEM]
                    [--kid K] [--typ T] [--header JSON] PAYLOAD_JSON
      prints header.payload.signature. --sign signs with another algorithm than
      the header names (wrong-algorithm cases); alg none gets no signature.
      In PAYLOAD_JSON, "NOW+60" / "NOW-120" (quoted) become numbers.
  jwt_mint.py jwks PUBLIC_PEM:KID[:ALG] ...
      prints a JWKS of the public keys (RSA, EC P-256/384/521, Ed25519).
"""
import argparse
import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
import tempfile
import time


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_items(data, pos=0):
    """(tag, value, next) of the DER element at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + length], pos + length


def der_seq(data):
    out, pos = [], 0
    while pos < len(data):
        tag, val, pos = der_items(data, pos)
        out.append((tag, val))
    return out


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, stdout=subprocess.PIPE, check=True).stdout


def sign(alg, key, secret, msg):
    if alg == "none":
        return b""
    if alg.startswith("HS"):
        return hmac.new(secret, msg, getattr(hashlib, "sha" + alg[2:])).digest()
    if alg == "EdDSA":
        with tempfile.NamedTemporaryFile() as f:  # Ed25519 is one-shot: openssl wants a file
            f.write(msg)
            f.flush()
            return openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", f.name)
    der = openssl("dgst", "-sha" + alg[2:], "-sign", key, data=msg)
    if alg.startswith("RS"):
        return der
    size = {"ES256": 32, "ES384": 48, "ES512": 66}[alg]
    _, seq, _ = der_items(der)
    r, s = [int.from_bytes(v, "big") for _, v in der_seq(seq)]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def token(args):
    header = {"alg": args.alg}
    if args.typ:
        header["typ"] = args.typ
    if args.kid:
        header["kid"] = args.kid
    if args.header:
        header.update(json.loads(args.header))
    now = int(time.time())
    payload = re.sub(r'"NOW([+-]\d+)"', lambda m: str(now + int(m.group(1))), args.payload)
    secret = args.secret.encode() if args.secret else None
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read()
    signing = (b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(payload.encode())).encode()
    sig = sign(args.sign or args.alg, args.key, secret, signing)
    print(signing.decode() + "." + b64(sig))


def jwks(args):
    keys = []
    for spec in args.keys:
        path, kid, *alg = spec.split(":")
        der = openssl("pkey", "-pubin", "-in", path, "-outform", "DER")
        _, spki, _ = der_items(der)
        (_, algid), (_, bits) = der_seq(spki)
        oids = [v for t, v in der_seq(algid) if t == 0x06]
        pub = bits[1:]  # BIT STRING: unused-bits byte first
        if oids[0] == bytes.fromhex("2a864886f70d010101"):  # rsaEncryption
            _, seq, _ = der_items(pub)
            n, e = [v.lstrip(b"\0") for _, v in der_seq(seq)]
            jwk = {"kty": "RSA", "n": b64(n), "e": b64(e)}
        elif oids[0] == bytes.fromhex("2a8648ce3d0201"):  # id-ecPublicKey
            crv = {bytes.fromhex("2a8648ce3d030107"): "P-256", bytes.fromhex("2b81040022"): "P-384",
                   bytes.fromhex("2b81040023"): "P-521"}[oids[1]]
            half = (len(pub) - 1) // 2
            jwk = {"kty": "EC", "crv": crv, "x": b64(pub[1:1 + half]), "y": b64(pub[1 + half:])}
        elif oids[0] == bytes.fromhex("2b6570"):  # Ed25519
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}
        else:
            sys.exit("jwt_mint.py: unsupported key " + path)
        jwk["kid"] = kid
        jwk["use"] = "sig"
        if alg:
            jwk["alg"] = alg[0]
        keys.append(jwk)
    print(json.dumps({"keys": keys}, indent=1))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("token")
    t.add_argument("--alg", required=True)
    t.add_argument("--sign")
    t.add_argument("--secret")
    t.add_argument("--secret-file")
    t.add_argument("--key")
    t.add_argument("--kid")
    t.add_argument("--typ")
    t.add_argument("--header")
    t.add_argument("payload")
    j = sub.add_parser("jwks")
    j.add_argument("keys", nargs="+")
    args = p.parse_args()
    token(args) if args.cmd == "token" else jwks(args)


if __name__ == "__main__":
    main()
