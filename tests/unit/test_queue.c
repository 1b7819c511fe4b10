/* test_queue.c - the queue's pure helpers (no database): token hashing and
 * format, RFC 3339 times, the backoff base, the user-facing JSON of a job,
 * and the embedded migrations (same bytes as schema/NNN_name.sql, in order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "queue/queue.h"
#include "schema/schema.h"

static void test_token_hash(void **state)
{
    char hex[65];
    (void)state;
    /* FIPS 180-2 example */
    queue_token_hash("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    queue_token_hash("", hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_token_well_formed(void **state)
{
    char t[80];
    (void)state;
    snprintf(t, sizeof t, "eqt_%s", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_true(queue_token_well_formed(t));
    t[10] = 'A'; /* upper case is not ours */
    assert_false(queue_token_well_formed(t));
    t[10] = '0';
    t[67] = '\0'; /* one digit short */
    assert_false(queue_token_well_formed(t));
    assert_false(queue_token_well_formed(NULL));
    assert_false(queue_token_well_formed(""));
    assert_false(queue_token_well_formed("eqt_"));
    assert_false(queue_token_well_formed("Bearer eqt_0123"));
    snprintf(t, sizeof t, "eqt_%s0", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_false(queue_token_well_formed(t)); /* one too many */
}

static void test_time_iso(void **state)
{
    char out[32];
    (void)state;
    queue_time_iso(0, out, sizeof out);
    assert_string_equal(out, "");
    queue_time_iso(1700000000, out, sizeof out);
    assert_string_equal(out, "2023-11-14T22:13:20Z");
    queue_time_iso(951782400, out, sizeof out); /* a leap day */
    assert_string_equal(out, "2000-02-29T00:00:00Z");
    queue_time_iso(1700000000, out, 5); /* too small: empty, not truncated garbage */
    assert_string_equal(out, "");
}

static void test_backoff_base(void **state)
{
    (void)state;
    assert_int_equal(queue_backoff_base(-3), 5);
    assert_int_equal(queue_backoff_base(0), 5);
    assert_int_equal(queue_backoff_base(1), 10);
    assert_int_equal(queue_backoff_base(2), 20);
    assert_int_equal(queue_backoff_base(6), 320);
    assert_int_equal(queue_backoff_base(7), 600); /* 640 capped at 10 min */
    assert_int_equal(queue_backoff_base(1000), 600);
}

static void test_status_json(void **state)
{
    queue_status_row s;
    (void)state;
    memset(&s, 0, sizeof s);
    s.id = 42;
    snprintf(s.kind, sizeof s.kind, "activity");
    snprintf(s.state, sizeof s.state, "queued");
    s.position = 3;
    s.attempts = 1;
    s.rows = 10;
    s.bytes = 2048;
    s.created_at = 1700000000;
    snprintf(s.last_error, sizeof s.last_error, "S3 503 \"SlowDown\"\n");
    snprintf(s.upload_id, sizeof s.upload_id, "secret-upload");
    snprintf(s.object_key, sizeof s.object_key, "exports/u/42/rnd/a.csv");
    json_t *o = queue_status_json(&s);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 42);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "queued");
    assert_int_equal(json_integer_value(json_object_get(o, "position")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "created_at")), "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(o, "last_error")), "S3 503 \"SlowDown\"\n");
    assert_true(json_is_null(json_object_get(o, "owner")));
    assert_true(json_is_null(json_object_get(o, "started_at")));
    /* internals never leak to users */
    assert_null(json_object_get(o, "upload_id"));
    assert_null(json_object_get(o, "object_key"));
    json_decref(o);
    /* progress: unknown is null, known is a number */
    s.rows_estimate = -1;
    s.percent = -1;
    s.eta_seconds = 42;
    o = queue_status_json(&s);
    assert_true(json_is_null(json_object_get(o, "rows_estimate")));
    assert_true(json_is_null(json_object_get(o, "percent")));
    assert_int_equal(json_integer_value(json_object_get(o, "eta_seconds")), 42);
    json_decref(o);
    /* finished: position null */
    s.position = -1;
    snprintf(s.state, sizeof s.state, "succeeded");
    o = queue_status_json(&s);
    assert_true(json_is_null(json_object_get(o, "position")));
    /* round trip through text */
    char *text = json_dumps(o, JSON_COMPACT);
    json_error_t jerr;
    json_t *back = json_loads(text, 0, &jerr);
    assert_non_null(back);
    assert_true(json_equal(o, back));
    json_decref(back);
    free(text);
    json_decref(o);
}

static void test_embedded_migrations(void **state)
{
    const char *src = getenv("EXPORTQ_SOURCE_DIR");
    (void)state;
    assert_true(schema_migrations_count >= 1);
    for (size_t i = 0; i < schema_migrations_count; i++) {
        const schema_migration *m = &schema_migrations[i];
        char path[1024];
        if (i > 0)
            assert_true(m->version > schema_migrations[i - 1].version);
        assert_true(m->version >= 1);
        assert_non_null(strstr(m->sql, ";"));
        if (!src)
            continue;
        /* the binary carries exactly the file's bytes */
        snprintf(path, sizeof path, "%s/schema/%03d_%s.sql", src, m->version, m->name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        fclose(f);
        assert_int_equal(strlen(m->sql), (size_t)n);
        assert_memory_equal(m->sql, buf, (size_t)n);
        free(buf);
    }
    assert_int_equal(schema_migrations[0].version, 1);
    assert_string_equal(schema_migrations[0].name, "queue");
    assert_true(schema_migrations_count >= 2);
    assert_int_equal(schema_migrations[1].version, 2);
    assert_string_equal(schema_migrations[1].name, "orphan_uploads");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_hash),
        cmocka_unit_test(test_token_well_formed),
        cmocka_unit_test(test_time_iso),
        cmocka_unit_test(test_backoff_base),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_embedded_migrations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
