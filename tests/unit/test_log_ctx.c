/* test_log_ctx.c - log context as a value (issue 12): rendered and escaped in
 * one place, so user text in an owner or a kind stays one field, in JSON and
 * in text lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/log_ctx.h"

/* Runs eq_log once with stderr sent to a temporary file; returns the line. */
static char *capture(eq_log_format fmt, const char *ctx, const char *msg)
{
    static char line[8192];
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;
    assert_non_null(f);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    eq_log_setup(EQ_LOG_INFO, fmt);
    eq_info(ctx, "%s", msg);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(f);
    n = fread(line, 1, sizeof line - 1, f);
    line[n] = '\0';
    fclose(f);
    eq_log_setup(EQ_LOG_INFO, EQ_LOG_TEXT);
    return line;
}

static void test_format(void **state)
{
    char out[EQ_LOGCTX_MAX];
    (void)state;
    eq_logctx_format(&(eq_logctx){.job = 42, .attempt = 2, .owner = "u1", .kind = "activity", .part = 3}, out,
                     sizeof out);
    assert_string_equal(out, "job=42 attempt=2 owner=u1 kind=activity part=3");
    eq_logctx_format(&(eq_logctx){.owner = "Jane Doe kind=forged"}, out, sizeof out);
    assert_string_equal(out, "owner=\"Jane Doe kind=forged\"");
    eq_logctx_format(&(eq_logctx){.owner = "a\"b\\c\nd"}, out, sizeof out);
    assert_string_equal(out, "owner=\"a\\\"b\\\\c\\u000ad\"");
    eq_logctx_format(&(eq_logctx){0}, out, sizeof out);
    assert_string_equal(out, "");
    /* too small: whole pairs only */
    eq_logctx_format(&(eq_logctx){.job = 42, .owner = "someone"}, out, 12);
    assert_string_equal(out, "job=42");
}

static void test_roundtrip(void **state)
{
    static const char *const owners[] = {"Jane Doe kind=forged", "a\"b\\c", "x\ny\r\tz", "=", "", "plain"};
    (void)state;
    for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
        char ctx[EQ_LOGCTX_MAX], val[512];
        const char *p = ctx, *key;
        size_t keylen;
        eq_logctx_format(&(eq_logctx){.job = 7, .owner = owners[i], .kind = "k"}, ctx, sizeof ctx);
        assert_true(eq_logctx_next(&p, &key, &keylen, val, sizeof val));
        assert_memory_equal(key, "job", 3);
        assert_string_equal(val, "7");
        if (owners[i][0]) {
            assert_true(eq_logctx_next(&p, &key, &keylen, val, sizeof val));
            assert_int_equal(keylen, 5);
            assert_memory_equal(key, "owner", 5);
            assert_string_equal(val, owners[i]);
        }
        assert_true(eq_logctx_next(&p, &key, &keylen, val, sizeof val));
        assert_memory_equal(key, "kind", 4);
        assert_string_equal(val, "k");
        assert_false(eq_logctx_next(&p, &key, &keylen, val, sizeof val));
    }
}

/* issue 12: in JSON mode an owner `Jane Doe kind=forged` logged as
 * "owner":"Jane","kind":"forged" */
static void test_json_owner_is_one_field(void **state)
{
    char ctx[EQ_LOGCTX_MAX];
    json_error_t jerr;
    json_t *doc;
    char *line;
    (void)state;
    eq_logctx_format(&(eq_logctx){.job = 5, .owner = "Jane Doe kind=forged", .kind = "activity"}, ctx, sizeof ctx);
    line = capture(EQ_LOG_JSON, ctx, "export started");
    doc = json_loads(line, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "owner")), "Jane Doe kind=forged");
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "activity");
    assert_string_equal(json_string_value(json_object_get(doc, "job")), "5");
    assert_string_equal(json_string_value(json_object_get(doc, "msg")), "export started");
    assert_null(json_object_get(doc, "Doe"));
    json_decref(doc);

    /* a newline or quote in the owner cannot end the JSON line or the field */
    eq_logctx_format(&(eq_logctx){.owner = "x\"}\n{\"level\":\"forged"}, ctx, sizeof ctx);
    line = capture(EQ_LOG_JSON, ctx, "m");
    assert_non_null(strchr(line, '\n'));
    assert_true(strchr(line, '\n') == line + strlen(line) - 1);
    doc = json_loads(line, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "owner")), "x\"}\n{\"level\":\"forged");
    assert_string_equal(json_string_value(json_object_get(doc, "level")), "info");
    json_decref(doc);

    /* text mode: the quoted value, on one line */
    eq_logctx_format(&(eq_logctx){.owner = "Jane Doe kind=forged"}, ctx, sizeof ctx);
    line = capture(EQ_LOG_TEXT, ctx, "m");
    assert_non_null(strstr(line, "[owner=\"Jane Doe kind=forged\"] m\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_json_owner_is_one_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
