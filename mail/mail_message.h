/* mail_message.h - the emails exportq sends: building them and validating the
 * addresses that go into them. Pure functions, no I/O (unit-tested without a
 * server).
 *
 * A built message is a complete RFC 5322 message with CRLF line endings: Date,
 * Message-ID (stable per job and mail kind, unique per installation, in the
 * sender's domain: <export-42-success.INSTALLATION@example.com>, so a resend
 * after a crash can be de-duplicated while two installations' job 42 never
 * collide), From, To, Subject (RFC 2047 encoded when not plain ASCII),
 * MIME-Version and a multipart/alternative body: a text/plain part and a
 * text/html part (with a download button), both UTF-8 and quoted-printable
 * (every line <= 76 characters; a long presigned URL is split by soft line
 * breaks and comes back byte-exact when decoded), both with the link. The
 * bodies come from mail_template (EXPORTQ_MAIL_TEMPLATES); the boundary
 * starts with "=_", which quoted-printable text can never contain.
 *
 * User text never reaches a header unchecked: addresses must pass
 * mail_address_valid(); kinds and file names are stripped of control
 * characters, bounded and RFC 2047 encoded.
 *
 * Ownership: the caller owns `info` and every string in it, and the output
 * eq_buf (init it with a maximum, e.g. MAIL_MESSAGE_MAX; the builders reset it
 * first and append the message; the caller cleans it up).
 */
#ifndef EXPORTQ_WORKER_MAIL_MESSAGE_H
#define EXPORTQ_WORKER_MAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/error.h"
#include "mail/mail_template.h"

/* A sensible eq_buf maximum for one message (two parts of templates up to
 * 64 KiB each, quoted-printable, URLs of a few KiB). */
#define MAIL_MESSAGE_MAX (512 * 1024)
#define MAIL_INSTALLATION_MAX 64
/* Longest address accepted (RFC 5321: 254 for a forward path). */
#define MAIL_ADDRESS_MAX 254

typedef struct mail_export_info {
    long long job_id;       /* > 0; goes into the Message-ID */
    const char *kind;       /* export kind name, e.g. "user_activity" */
    const char *filename;   /* friendly file name, e.g. "activity.csv"; NULL: none */
    long long rows;         /* data rows exported (success mail) */
    long long bytes;        /* object size in bytes (success mail) */
    const char *url;        /* presigned download link (success mail); <= 8 KiB */
    time_t link_expires_at; /* when the link stops working (success mail) */
    const char *to;         /* recipient; must pass mail_address_valid() */
    time_t date;            /* Date header; 0: now */
    const char *product;    /* EXPORTQ_PRODUCT_NAME; NULL: "exportq" */
    const char *installation; /* the installation id ([0-9a-f]+, exportq.installation): Message-ID */
    const char *format;     /* csv, tsv, jsonl, xlsx; NULL: csv */
    const mail_templates *templates; /* NULL: the built-in ones */
} mail_export_info;

/* true when `addr` is a plain "local@domain" address safe to put in a header
 * and an SMTP envelope: printable ASCII only, exactly one '@', no spaces, no
 * CR/LF or other control characters, no , ; < > " ( ) [ ] \ , local part 1..64,
 * domain of two or more dot-separated labels (letters, digits, '-'), total
 * <= 254. The one address rule of exportq in C; exportq.valid_email() is the
 * same rule in SQL. */
bool mail_address_valid(const char *addr);

/* The "your export is ready" mail: what was exported (kind, file name), row
 * count, human-readable size, the link and when it expires (UTC). */
int mail_build_success(const mail_export_info *info, const char *from, eq_buf *out, eq_err *err) EQ_MUST;

/* The final-failure mail: a generic reason only (job id, kind, file name and
 * mail_failure_code(error)); never the error text itself, which can quote
 * user parameters (details are in the logs and the job's status). Uses
 * info->job_id, kind, filename, to, date. */
int mail_build_failure(const mail_export_info *info, const char *error, const char *from, eq_buf *out,
                       eq_err *err) EQ_MUST;

/* The short reason code a failure mail shows for a job's last error:
 * "worker_lost", "storage_error", "timeout", "export_failed" or "unknown". */
const char *mail_failure_code(const char *error);

/* When a success mail's link stops working: now + link_ttl, but never after
 * the object is deleted (object_expires_at, 0 = unknown); at least now + 1. */
time_t mail_link_expiry(time_t now, long link_ttl, long long object_expires_at);

/* EXPORTQ_MAIL_ALLOWED_DOMAINS: true when `allowed` is NULL or empty, or the
 * domain of `addr` is one of its comma-separated domains or a subdomain of
 * one (case-insensitive). The same rule as exportq.email_domain_allowed(). */
bool mail_domain_allowed(const char *addr, const char *allowed);

/* --- building blocks, public for the unit tests --- */

/* "0 B", "999 B", "1.5 KiB", "12.0 MiB", "3.2 GiB" ... into out (always NUL-terminated). */
void mail_human_size(long long bytes, char *out, size_t outsz);

/* Appends `s` (n bytes) quoted-printable encoded (RFC 2045) with CRLF hard
 * breaks where `s` has "\n" or "\r\n", soft breaks keeping lines <= 76. */
int mail_qp_append(eq_buf *out, const char *s, size_t n, eq_err *err) EQ_MUST;

/* Appends a header "Name: value" + CRLF where value is user text: control
 * characters are dropped, and if anything is not printable ASCII the value is
 * written as RFC 2047 encoded-words (=?utf-8?B?...?=), folded to short lines. */
int mail_header_append_text(eq_buf *out, const char *name, const char *value, eq_err *err) EQ_MUST;

#endif
