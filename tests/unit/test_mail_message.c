/* test_mail_message.c - the emails: well-formed, CRLF, QP, RFC 2047, injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/mail_message.h"

#define FROM "exports@example.com"

/* ------------------------------------------------------------ helpers */

/* The header block (up to the blank line), NUL-terminated, caller frees. */
static char *headers_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return strndup(msg, (size_t)(end - msg) + 2);
}

static const char *body_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return end + 4;
}

/* Value of header `name` with folding undone ("" + NUL if absent: test fails). */
static char *header_value(const char *msg, const char *name)
{
    char *h = headers_of(msg), *out = calloc(1, 4096), *p = h;
    size_t nl = strlen(name), o = 0;
    bool found = false;
    while (*p) {
        char *eol = strstr(p, "\r\n");
        assert_non_null(eol);
        if (!found && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            found = true;
            p += nl + 1;
            while (*p == ' ')
                p++;
            for (;;) {
                memcpy(out + o, p, (size_t)(eol - p));
                o += (size_t)(eol - p);
                p = eol + 2;
                if (*p != ' ' && *p != '\t')
                    break;
                eol = strstr(p, "\r\n");
            }
            continue;
        }
        p = eol + 2;
    }
    free(h);
    if (!found)
        fail_msg("header %s missing", name);
    return out;
}

/* Decodes RFC 2047 B encoded-words (utf-8) separated by white space. */
static char *decode_ew(const char *v)
{
    char *out = calloc(1, 4096);
    size_t o = 0;
    while (*v) {
        if (strncmp(v, "=?utf-8?B?", 10) == 0) {
            const char *start = v + 10, *end = strstr(start, "?=");
            unsigned char tmp[1024];
            int n;
            assert_non_null(end);
            n = EVP_DecodeBlock(tmp, (const unsigned char *)start, (int)(end - start));
            assert_true(n >= 0);
            /* EVP_DecodeBlock counts padding as zero bytes */
            for (const char *q = end - 1; q >= start && *q == '='; q--)
                n--;
            memcpy(out + o, tmp, (size_t)n);
            o += (size_t)n;
            v = end + 2;
            while (*v == ' ')
                v++;
        } else {
            out[o++] = *v++;
        }
    }
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Quoted-printable decoding (RFC 2045), CRLF kept as \n. */
static char *qp_decode(const char *s)
{
    char *out = calloc(1, strlen(s) + 1);
    size_t o = 0;
    while (*s) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 3;
        } else if (s[0] == '=') {
            int hi = hexval(s[1]), lo = hexval(s[2]);
            assert_true(hi >= 0 && lo >= 0);
            out[o++] = (char)(hi * 16 + lo);
            s += 3;
        } else if (s[0] == '\r' && s[1] == '\n') {
            out[o++] = '\n';
            s += 2;
        } else {
            out[o++] = *s++;
        }
    }
    return out;
}

/* Every line ends in CRLF, no bare CR or LF, header lines <= 998, body lines
 * <= 76 (QP), only 7-bit bytes in the whole message. */
static void assert_wire_format(const char *msg, size_t len)
{
    const char *body = body_of(msg);
    size_t col = 0;
    assert_int_equal(strlen(msg), len);
    assert_true(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        assert_true(c != 0 && c < 0x80);
        if (c == '\r') {
            assert_int_equal(msg[i + 1], '\n');
            assert_true(col <= (msg + i > body ? 76u : 998u));
            col = 0;
            i++;
            continue;
        }
        assert_int_not_equal(c, '\n');
        col++;
    }
}

static mail_export_info sample(void)
{
    mail_export_info info = {
        .job_id = 42,
        .kind = "user_activity",
        .filename = "activity-2024.csv",
        .rows = 1234567,
        .bytes = 12894000,
        .url = "https://s3.example.com/b/exports/u1/42/Zx9/activity-2024.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        .link_expires_at = 1714573800, /* 2024-05-01 14:30:00 UTC */
        .to = "alice@example.org",
        .date = 1714487400,
        .installation = "0123456789abcdef0123456789abcdef",
    };
    return info;
}

/* The decoded body of the MIME part whose Content-Type starts with ctype
 * (text/plain or text/html) of a multipart/alternative message; caller frees. */
static char *part_of(const char *msg, const char *ctype)
{
    char *top = header_value(msg, "Content-Type"), boundary[128], delim[160], *res;
    const char *b = strstr(top, "boundary=\""), *p, *end;
    assert_non_null(b);
    assert_true(strncmp(top, "multipart/alternative;", 22) == 0);
    b += 10;
    snprintf(boundary, sizeof boundary, "%.*s", (int)(strchr(b, '"') - b), b);
    free(top);
    snprintf(delim, sizeof delim, "\r\n--%s\r\n", boundary);
    for (p = strstr(msg, delim); p; p = strstr(p + 1, delim)) {
        const char *h = p + strlen(delim), *hend = strstr(h, "\r\n\r\n");
        char want[96];
        snprintf(want, sizeof want, "Content-Type: %s; charset=utf-8\r\n", ctype);
        assert_non_null(hend);
        if (strncmp(h, want, strlen(want)) != 0)
            continue;
        assert_non_null(strstr(h, "Content-Transfer-Encoding: quoted-printable\r\n"));
        {
            char close[160];
            snprintf(close, sizeof close, "\r\n--%s", boundary);
            end = strstr(hend + 4, close);
            assert_non_null(end);
        }
        {
            char *raw = strndup(hend + 4, (size_t)(end - hend - 4));
            res = qp_decode(raw);
            free(raw);
        }
        return res;
    }
    fail_msg("no %s part", ctype);
    return NULL;
}

/* ------------------------------------------------------------ tests */

static void test_address_valid(void **state)
{
    static const char *const good[] = {
        "alice@example.org", "a.b+tag@sub.example.co.uk", "x_y-z@a-b.example", "o'brien@example.ie", "1@2.io",
    };
    static const char *const bad[] = {
        "", "alice", "@example.org", "alice@", "alice@@example.org", "a@b@example.org",
        "alice@example.org\r\nBcc: evil@example.net", "alice@example.org\n", "alice\r@example.org",
        "Alice <alice@example.org>", "<alice@example.org>", "alice@example.org, bob@example.org",
        "\"alice\"@example.org", "al ice@example.org", "alice@exa mple.org", "alice@example..org",
        ".alice@example.org", "alice.@example.org", "al..ice@example.org", "alice@-example.org",
        "alice@example-.org", "alice@example.org.", "alice;bob@example.org", "alice@[127.0.0.1]",
        "al\tice@example.org", "alice@ex\x7f" "ample.org", "ali\xc3\xa7" "e@example.org", "alice(x)@example.org",
        "ali\\ce@example.org",
    };
    char longlocal[80], longaddr[300];
    assert_false(mail_address_valid(NULL));
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!mail_address_valid(good[i]))
            fail_msg("rejected good address '%s'", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (mail_address_valid(bad[i]))
            fail_msg("accepted bad address #%zu '%s'", i, bad[i]);
    memset(longlocal, 'a', 65);
    snprintf(longlocal + 65, sizeof longlocal - 65, "@x.io");
    assert_false(mail_address_valid(longlocal));
    memset(longaddr, 'b', 250);
    memcpy(longaddr, "a@", 2);
    memcpy(longaddr + 250, ".io", 4);
    assert_false(mail_address_valid(longaddr));
}

static void test_human_size(void **state)
{
    static const struct { long long bytes; const char *want; } cases[] = {
        {0, "0 B"}, {1, "1 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
        {1048575, "1.0 MiB"}, {12894000, "12.3 MiB"}, {5LL << 30, "5.0 GiB"}, {-5, "0 B"},
        {3LL << 40, "3.0 TiB"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mail_human_size(cases[i].bytes, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_success_message(void **state)
{
    mail_export_info info = sample();
    eq_buf out;
    eq_err err;
    char *v, *body;
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    assert_wire_format(out.data, out.len);

    v = header_value(out.data, "Date");
    assert_string_equal(v, "Tue, 30 Apr 2024 14:30:00 +0000");
    free(v);
    v = header_value(out.data, "Message-ID");
    assert_string_equal(v, "<export-42-success.0123456789abcdef0123456789abcdef@example.com>");
    free(v);
    v = header_value(out.data, "From");
    assert_string_equal(v, FROM);
    free(v);
    v = header_value(out.data, "To");
    assert_string_equal(v, "alice@example.org");
    free(v);
    v = header_value(out.data, "Subject");
    assert_string_equal(v, "Your export is ready: activity-2024.csv");
    free(v);
    v = header_value(out.data, "MIME-Version");
    assert_string_equal(v, "1.0");
    free(v);
    v = header_value(out.data, "Content-Type");
    assert_string_equal(v, "multipart/alternative; boundary=\"=_exportq-42-success\"");
    free(v);

    body = part_of(out.data, "text/plain");
    assert_non_null(strstr(body, "user_activity"));
    assert_non_null(strstr(body, "activity-2024.csv"));
    assert_non_null(strstr(body, "1,234,567"));
    assert_non_null(strstr(body, "12.3 MiB"));
    assert_non_null(strstr(body, "2024-05-01 14:30 UTC"));
    /* the link on a line of its own, byte for byte */
    {
        char want[512];
        snprintf(want, sizeof want, "\n%s\n", info.url);
        assert_non_null(strstr(body, want));
    }
    free(body);
    /* the HTML part: a button with the link, the values escaped */
    body = part_of(out.data, "text/html");
    {
        char want[512];
        snprintf(want, sizeof want, "<a href=\"%s\" style=", info.url);
        assert_non_null(strstr(body, want));
        assert_non_null(strstr(body, ">Download activity-2024.csv</a>"));
    }
    free(body);
    eq_buf_cleanup(&out);
}

static void test_html_escapes_values(void **state)
{
    mail_export_info info = sample();
    eq_buf out;
    eq_err err;
    char *html, *text;
    (void)state;
    info.filename = "<img src=x onerror=alert(1)>&\"'.csv";
    info.kind = "k\"><script>";
    info.url = "https://s3.example.com/b/k?a=1&b=\"x\"";
    info.product = "Acme <Exports>";
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    html = part_of(out.data, "text/html");
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<Exports>"));
    assert_non_null(strstr(html, "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;.csv"));
    assert_non_null(strstr(html, "href=\"https://s3.example.com/b/k?a=1&amp;b=&quot;x&quot;\""));
    assert_non_null(strstr(html, "Acme &lt;Exports&gt;"));
    text = part_of(out.data, "text/plain");
    assert_non_null(strstr(text, "https://s3.example.com/b/k?a=1&b=\"x\""));
    free(html);
    free(text);
    eq_buf_cleanup(&out);
}

static void test_message_id_per_installation(void **state)
{
    mail_export_info a = sample(), b = sample();
    eq_buf oa, ob;
    eq_err err;
    char *ia, *ib;
    (void)state;
    b.installation = "fedcba9876543210fedcba9876543210";
    eq_buf_init(&oa, MAIL_MESSAGE_MAX);
    eq_buf_init(&ob, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&a, FROM, &oa, &err), 0);
    assert_int_equal(mail_build_success(&b, FROM, &ob, &err), 0);
    ia = header_value(oa.data, "Message-ID");
    ib = header_value(ob.data, "Message-ID");
    assert_string_not_equal(ia, ib);
    assert_non_null(strstr(ia, "@example.com>")); /* the sender's domain */
    free(ia);
    free(ib);
    /* a hostile installation id cannot break the header */
    a.installation = "ab>\r\nBcc: x@y.z";
    assert_int_equal(mail_build_success(&a, FROM, &oa, &err), 0);
    ia = header_value(oa.data, "Message-ID");
    assert_string_equal(ia, "<export-42-success.abBccxyz@example.com>");
    free(ia);
    assert_null(strstr(oa.data, "\r\nBcc:"));
    eq_buf_cleanup(&oa);
    eq_buf_cleanup(&ob);
}

static void test_templates(void **state)
{
    mail_templates t = {0};
    mail_vars v = {.product = "P", .url = "https://x/?a=1&b=2", .file = "<f>"};
    eq_buf out;
    eq_err err;
    (void)state;
    eq_buf_init(&out, 4096);
    assert_int_equal(mail_template_render("{{product}}: {{file}} {{url}}", &v, false, &out, &err), 0);
    assert_string_equal(out.data, "P: <f> https://x/?a=1&b=2");
    eq_buf_reset(&out);
    assert_int_equal(mail_template_render("{{product}}: {{file}} {{url}}", &v, true, &out, &err), 0);
    assert_string_equal(out.data, "P: &lt;f&gt; https://x/?a=1&amp;b=2");
    assert_int_equal(mail_template_check("hello {{nope}}", &err), -1);
    assert_non_null(strstr(err.msg, "{{nope}}"));
    assert_int_equal(mail_template_check("hello {{url", &err), -1);
    /* built-in templates: every placeholder known, link in both */
    assert_int_equal(mail_templates_load(NULL, &t, &err), 0);
    assert_non_null(strstr(t.text[MAIL_TPL_SUCCESS_TXT], "{{url}}"));
    assert_non_null(strstr(t.text[MAIL_TPL_SUCCESS_HTML], "href=\"{{url}}\""));
    mail_templates_cleanup(&t);
    /* a directory without the files keeps the built-in ones; a bad one is refused */
    {
        char dir[] = "/tmp/eq-mail-tpl-XXXXXX", path[64];
        FILE *f;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(mail_templates_load(dir, &t, &err), 0);
        mail_templates_cleanup(&t);
        snprintf(path, sizeof path, "%s/success.html", dir);
        f = fopen(path, "w");
        fputs("<p>{{unknown}}</p>", f);
        fclose(f);
        assert_int_equal(mail_templates_load(dir, &t, &err), -1);
        assert_non_null(strstr(err.msg, "EXPORTQ_MAIL_TEMPLATES"));
        assert_non_null(strstr(err.msg, "success.html"));
        f = fopen(path, "w");
        fputs("<p>Hi from {{product}}: <a href=\"{{url}}\">get it</a></p>", f);
        fclose(f);
        assert_int_equal(mail_templates_load(dir, &t, &err), 0);
        assert_string_equal(t.text[MAIL_TPL_SUCCESS_HTML], "<p>Hi from {{product}}: <a href=\"{{url}}\">get it</a></p>");
        assert_string_equal(t.text[MAIL_TPL_FAILURE_TXT], mail_template_builtin(MAIL_TPL_FAILURE_TXT));
        mail_templates_cleanup(&t);
        unlink(path);
        rmdir(dir);
    }
    eq_buf_cleanup(&out);
}

static void test_long_url_survives(void **state)
{
    mail_export_info info = sample();
    char url[4200], want[4300], *body;
    eq_buf out;
    eq_err err;
    size_t n;
    /* a presigned URL with a session token: long, full of '=' and '%' */
    n = (size_t)snprintf(url, sizeof url,
                         "https://bucket.s3.eu-west-1.amazonaws.com/exports/u%%201/42/abc/f.csv?"
                         "response-content-disposition=attachment%%3B%%20filename%%3D%%22f.csv%%22&"
                         "X-Amz-Security-Token=");
    for (; n < 3000; n++)
        url[n] = "AbC0+/="[n % 7];
    snprintf(url + n, sizeof url - n, "&X-Amz-Signature=%064d.", 7);
    info.url = url;
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    assert_wire_format(out.data, out.len);
    body = part_of(out.data, "text/plain");
    snprintf(want, sizeof want, "\n%s\n", url);
    assert_non_null(strstr(body, want));
    free(body);
    body = part_of(out.data, "text/html"); /* byte-exact in the href too ('&' is &amp; there) */
    {
        char esc[5000];
        size_t o = 0;
        o += (size_t)snprintf(esc, sizeof esc, "href=\"");
        for (const char *p = url; *p; p++)
            o += (size_t)snprintf(esc + o, sizeof esc - o, "%s", *p == '&' ? "&amp;" : (char[]){*p, 0});
        snprintf(esc + o, sizeof esc - o, "\"");
        assert_non_null(strstr(body, esc));
    }
    free(body);
    eq_buf_cleanup(&out);
}

static void test_subject_encoding(void **state)
{
    mail_export_info info = sample();
    eq_buf out;
    eq_err err;
    char *v, *dec;
    info.filename = "Aktivit\xc3\xa4t \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                    "\xf0\x9f\x93\x8a r\xc3\xa9sum\xc3\xa9 of a rather long file name, longer than one word.csv";
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    assert_wire_format(out.data, out.len); /* 7-bit only, folded lines */
    v = header_value(out.data, "Subject");
    assert_non_null(strstr(v, "=?utf-8?B?"));
    dec = decode_ew(v);
    assert_string_equal(dec, "Your export is ready: Aktivit\xc3\xa4t \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                             "\xf0\x9f\x93\x8a r\xc3\xa9sum\xc3\xa9 of a rather long file name, longer than one word.csv");
    free(v);
    free(dec);
    /* the body carries the name as UTF-8 through quoted-printable */
    dec = part_of(out.data, "text/plain");
    assert_non_null(strstr(dec, "Aktivit\xc3\xa4t"));
    free(dec);
    eq_buf_cleanup(&out);
}

static void test_header_injection_in_names(void **state)
{
    mail_export_info info = sample();
    eq_buf out;
    eq_err err;
    char *h, *v;
    info.filename = "x.csv\r\nBcc: victim@example.net\r\n\r\nfake body";
    info.kind = "kind\nX-Evil: 1";
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    assert_wire_format(out.data, out.len);
    h = headers_of(out.data);
    assert_null(strstr(h, "\r\nBcc:"));
    assert_null(strstr(h, "\r\nX-Evil:"));
    free(h);
    v = header_value(out.data, "Subject");
    assert_string_equal(v, "Your export is ready: x.csv Bcc: victim@example.net fake body");
    free(v);
    /* an encoded-word look-alike in user text is itself encoded */
    info.filename = "=?utf-8?B?ZXZpbA==?=.csv";
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    v = header_value(out.data, "Subject");
    h = decode_ew(v);
    assert_string_equal(h, "Your export is ready: =?utf-8?B?ZXZpbA==?=.csv");
    free(h);
    free(v);
    /* invalid UTF-8 does not reach the message raw */
    info.filename = "bad\xff\xfe\xc3.csv";
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), 0);
    assert_wire_format(out.data, out.len);
    v = header_value(out.data, "Subject");
    assert_string_equal(v, "Your export is ready: bad???.csv");
    free(v);
    eq_buf_cleanup(&out);
}

static void test_bad_addresses_refused(void **state)
{
    mail_export_info info = sample();
    eq_buf out;
    eq_err err;
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    info.to = "alice@example.org\r\nBcc: victim@example.net";
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
    assert_int_equal(mail_build_failure(&info, "boom", FROM, &out, &err), -1);
    info.to = "alice@example.org, bob@example.org";
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), -1);
    info = sample();
    assert_int_equal(mail_build_success(&info, "Exports <x@example.com>", &out, &err), -1);
    assert_int_equal(err.code, EQ_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "EXPORTQ_SMTP_FROM"));
    /* a link with a line break or a space is refused, not mangled */
    info.url = "https://h/x\r\nBcc: v@example.net";
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), -1);
    info.url = "javascript:alert(1)";
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), -1);
    info.url = NULL;
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), -1);
    info = sample();
    info.job_id = 0;
    assert_int_equal(mail_build_success(&info, FROM, &out, &err), -1);
    eq_buf_cleanup(&out);
}

static void test_failure_message(void **state)
{
    mail_export_info info = sample();
    eq_buf out;
    eq_err err;
    char *v, *body;
    info.url = NULL;
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_failure(&info, "query failed: division by zero\r\nBcc: x@y.z", FROM, &out, &err), 0);
    assert_wire_format(out.data, out.len);
    v = header_value(out.data, "Message-ID");
    assert_string_equal(v, "<export-42-failure.0123456789abcdef0123456789abcdef@example.com>");
    free(v);
    v = header_value(out.data, "Subject");
    assert_string_equal(v, "Your export failed: activity-2024.csv");
    free(v);
    v = header_value(out.data, "To");
    assert_string_equal(v, "alice@example.org");
    free(v);
    body = part_of(out.data, "text/plain");
    /* a generic reason: job id, kind, a short code; never the error text */
    assert_non_null(strstr(body, "your export failed: export_failed; try again."));
    assert_non_null(strstr(body, "mention job 42"));
    assert_null(strstr(body, "division"));
    assert_null(strstr(body, "Bcc"));
    free(body);
    body = part_of(out.data, "text/html");
    assert_null(strstr(body, "division"));
    free(body);
    /* an attacker's parameter quoted by a database error stays out of the mail */
    assert_int_equal(mail_build_failure(&info, "invalid input syntax for type timestamp: \"URGENT: log in at "
                                               "https://evil.example/login\"", FROM, &out, &err), 0);
    body = part_of(out.data, "text/plain");
    assert_null(strstr(body, "evil"));
    assert_null(strstr(body, "URGENT"));
    free(body);
    assert_string_equal(mail_failure_code("attempt 2 lost: worker w1 stopped renewing its lease"), "worker_lost");
    assert_string_equal(mail_failure_code(NULL), "unknown");
    /* no error text, no file name: still a sensible message */
    info.filename = NULL;
    assert_int_equal(mail_build_failure(&info, NULL, FROM, &out, &err), 0);
    v = header_value(out.data, "Subject");
    assert_string_equal(v, "Your export failed: user_activity");
    free(v);
    body = part_of(out.data, "text/plain");
    assert_non_null(strstr(body, "failed: unknown; try again."));
    free(body);
    eq_buf_cleanup(&out);
}

static void test_link_expiry(void **state)
{
    /* min(link TTL, retention), never in the past */
    assert_int_equal(mail_link_expiry(1000, 86400, 0), 1000 + 86400);
    assert_int_equal(mail_link_expiry(1000, 86400, 1000 + 3600), 1000 + 3600);
    assert_int_equal(mail_link_expiry(1000, 60, 1000 + 3600), 1000 + 60);
    assert_int_equal(mail_link_expiry(1000, 86400, 500), 1001);
}

static void test_domain_allowed(void **state)
{
    assert_true(mail_domain_allowed("a@b.example", NULL));
    assert_true(mail_domain_allowed("a@b.example", " , "));
    assert_true(mail_domain_allowed("a@corp.example", "other.example, corp.example"));
    assert_true(mail_domain_allowed("a@mail.CORP.example", "corp.example"));
    assert_false(mail_domain_allowed("a@evilcorp.example", "corp.example"));
    assert_false(mail_domain_allowed("a@corp.example.evil", "corp.example"));
    assert_false(mail_domain_allowed("a@b.example", "corp.example"));
    assert_false(mail_domain_allowed("nodomain", "corp.example"));
}

static void test_qp_rules(void **state)
{
    eq_buf out;
    eq_err err;
    char line[200], *dec;
    eq_buf_init(&out, 4096);
    /* '=' escaped, trailing space escaped, leading dot escaped, CRLF kept */
    assert_int_equal(mail_qp_append(&out, "a=b \n.dot\r\nend\t", 15, &err), 0);
    assert_string_equal(out.data, "a=3Db=20\r\n=2Edot\r\nend=09");
    eq_buf_reset(&out);
    /* 200 'x': soft breaks keep lines at 76, decoding gives them back */
    memset(line, 'x', sizeof line);
    assert_int_equal(mail_qp_append(&out, line, sizeof line, &err), 0);
    assert_int_equal(strcspn(out.data, "\r"), 76);
    assert_int_equal(out.data[75], '=');
    dec = qp_decode(out.data);
    assert_int_equal(strlen(dec), 200);
    free(dec);
    eq_buf_reset(&out);
    /* an escape is never split by a soft break */
    memset(line, '=', 100);
    assert_int_equal(mail_qp_append(&out, line, 100, &err), 0);
    dec = qp_decode(out.data);
    assert_int_equal(strlen(dec), 100);
    assert_int_equal(strspn(dec, "="), 100);
    free(dec);
    eq_buf_reset(&out);
    /* the hard limit of the buffer is respected */
    {
        eq_buf small;
        eq_buf_init(&small, 64);
        assert_int_equal(mail_qp_append(&small, line, 100, &err), -1);
        assert_int_equal(err.code, EQ_ERR_NOMEM);
        eq_buf_cleanup(&small);
    }
    eq_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_valid),
        cmocka_unit_test(test_human_size),
        cmocka_unit_test(test_success_message),
        cmocka_unit_test(test_html_escapes_values),
        cmocka_unit_test(test_message_id_per_installation),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_long_url_survives),
        cmocka_unit_test(test_subject_encoding),
        cmocka_unit_test(test_header_injection_in_names),
        cmocka_unit_test(test_bad_addresses_refused),
        cmocka_unit_test(test_failure_message),
        cmocka_unit_test(test_link_expiry),
        cmocka_unit_test(test_domain_allowed),
        cmocka_unit_test(test_qp_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
