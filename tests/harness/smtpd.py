#!/usr/bin/python3
"""SMTP sink for exportq's tests (started by smtp.sh; needs Debian's python3-aiosmtpd).

Behaves like a strict submission server:
  * offers STARTTLS and refuses every command but EHLO/HELO/NOOP/RSET/QUIT/STARTTLS
    before it (530),
  * requires AUTH (PLAIN or LOGIN, only after STARTTLS) before MAIL (530),
  * keeps the RFC 5321 line length limit and a message size limit.

Each accepted message is stored in MAILDIR as NNNNNN.eml (the bytes of the DATA
section as received, dot-stuffing removed, CRLF line ends kept) and its envelope
as NNNNNN.env (KEY=VALUE lines: MAIL_FROM, one RCPT_TO per recipient, AUTH_USER,
TLS, PEER, RECEIVED_AT). Both are written to a temp file and renamed; the .env
first, so a visible .eml always has its .env.

--delay-final SECONDS: the reply to the final "." of DATA comes that much
later (the message is stored then, even if the client left meanwhile, as a
real server would deliver it): a slow server for lease and interrupt tests.

--hold-final-reply SECONDS: after a message is stored, its final reply (the
250 to the end of DATA) is held back that long. A client killed in that
window has had its message delivered without learning it: the window in
which an exactly-once sender must resend with the same Message-ID (or not at
all). Tests run such a server of their own (lib.sh smtpd_start).
"""

import argparse
import asyncio
import hmac
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("exportq-smtpd")


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), ".%s.tmp" % os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
    os.replace(tmp, path)


class MaildirHandler:
    def __init__(self, maildir, delay_final=0.0, hold=0.0):
        self.maildir = maildir
        self.delay_final = delay_final
        self.hold = hold
        os.makedirs(maildir, exist_ok=True)
        taken = [int(n[:-4]) for n in os.listdir(maildir) if n.endswith(".eml") and n[:-4].isdigit()]
        self.next_seq = max(taken, default=0) + 1

    async def handle_DATA(self, server, session, envelope):
        if self.delay_final:
            log.info("holding the reply to the final '.' for %.1f s", self.delay_final)
            await asyncio.sleep(self.delay_final)
        seq = self.next_seq
        self.next_seq += 1
        name = "%06d" % seq
        login = getattr(session.auth_data, "login", b"") or b""
        lines = ["MAIL_FROM=%s" % envelope.mail_from]
        lines += ["RCPT_TO=%s" % r for r in envelope.rcpt_tos]
        lines += [
            "AUTH_USER=%s" % login.decode("utf-8", "replace"),
            "TLS=%d" % (1 if session.ssl is not None else 0),
            "PEER=%s:%s" % tuple(session.peer[:2]),
            "RECEIVED_AT=%s" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ]
        write_atomic(os.path.join(self.maildir, name + ".env"), ("\n".join(lines) + "\n").encode())
        write_atomic(os.path.join(self.maildir, name + ".eml"), envelope.original_content)
        log.info("stored %s.eml: %d bytes from=%s to=%s", name,
                 len(envelope.original_content), envelope.mail_from, ",".join(envelope.rcpt_tos))
        if self.hold > 0:
            log.info("holding the reply to %s.eml for %.1f s", name, self.hold)
            await asyncio.sleep(self.hold)
        return "250 2.0.0 OK queued as %s" % name


def make_authenticator(user, password):
    user_b, password_b = user.encode(), password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, user_b) & hmac.compare_digest(auth_data.password, password_b)
        log.info("AUTH %s as %r: %s", mechanism, auth_data.login, "ok" if ok else "refused")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticator


async def serve(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    handler = MaildirHandler(args.maildir, args.delay_final, args.hold_final_reply)
    authenticator = make_authenticator(args.user, args.password)

    def factory():
        return SMTP(
            handler,
            hostname="smtp.exportq.test",
            ident="exportq-test-smtpd",
            data_size_limit=args.max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=ctx,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host=args.host, port=args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening on %s:%d, maildir %s", args.host, args.port, args.maildir)
    if args.ready_file:
        write_atomic(args.ready_file, b"%d\n" % args.port)
    await stop.wait()
    log.info("stopping")
    server.close()
    await server.wait_closed()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", default="exportq")
    p.add_argument("--password", default="smtp-secret")
    p.add_argument("--max-size", type=int, default=64 << 20, help="SIZE limit in bytes")
    p.add_argument("--log", help="log file (default stderr)")
    p.add_argument("--ready-file", help="written (port number) once listening")
    p.add_argument("--delay-final", type=float, default=0.0,
                   help="seconds before answering the final '.' of DATA (a slow server)")
    p.add_argument("--hold-final-reply", type=float, default=0.0, metavar="SECONDS",
                   help="store each message, then hold its final 250 reply this long")
    args = p.parse_args()
    logging.basicConfig(
        filename=args.log, level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(serve(args))
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, e)
        print("smtpd: cannot listen on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 98 if "in use" in str(e) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
