#!/usr/bin/env python3
"""link_token.py SECRET SCOPE JOB_ID EXPIRY: prints a stable link token as
common/link.h defines it (scope: download or status; expiry: unix seconds),
so tests can make links exportq never issued: expired ones, ones for jobs
still queued, ones signed with another secret."""
import base64
import hashlib
import hmac
import struct
import sys

secret, scope, job, exp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
payload = struct.pack(">BBQQ", 1, {"download": 1, "status": 2}[scope], job, exp)
mac = hmac.new(secret.encode(), b"exportq-link\0" + payload, hashlib.sha256).digest()
print(base64.urlsafe_b64encode(payload + mac).decode().rstrip("="))
