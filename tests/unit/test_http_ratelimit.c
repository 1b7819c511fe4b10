/* test_http_ratelimit.c - the per-token buckets (time passed in, no sleeping)
 * and the Prometheus text of the server's metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_metrics.h"
#include "http/http_ratelimit.h"

static void test_bucket_empties_and_refills(void **state)
{
    http_ratelimit *rl = http_ratelimit_new(60, 16); /* 60/min: 1 token a second */
    int ra = 0;
    (void)state;
    assert_non_null(rl);
    for (int i = 0; i < 60; i++)
        assert_true(http_ratelimit_take(rl, "t1", 100.0, &ra));
    assert_false(http_ratelimit_take(rl, "t1", 100.0, &ra));
    assert_int_equal(ra, 1);
    assert_false(http_ratelimit_take(rl, "t1", 100.5, &ra)); /* half a token back */
    assert_int_equal(ra, 1);
    assert_true(http_ratelimit_take(rl, "t1", 101.0, &ra)); /* one token back */
    assert_false(http_ratelimit_take(rl, "t1", 101.0, &ra));
    /* a long pause refills to the capacity, not beyond */
    for (int i = 0; i < 60; i++)
        assert_true(http_ratelimit_take(rl, "t1", 10000.0, &ra));
    assert_false(http_ratelimit_take(rl, "t1", 10000.0, &ra));
    http_ratelimit_free(rl);
}

static void test_keys_are_separate(void **state)
{
    http_ratelimit *rl = http_ratelimit_new(2, 16);
    int ra = 0;
    (void)state;
    assert_true(http_ratelimit_take(rl, "a", 0, &ra));
    assert_true(http_ratelimit_take(rl, "a", 0, &ra));
    assert_false(http_ratelimit_take(rl, "a", 0, &ra));
    assert_int_equal(ra, 30); /* 2/min: a token every 30 s */
    assert_true(http_ratelimit_take(rl, "b", 0, &ra));
    http_ratelimit_free(rl);
}

static void test_table_is_bounded(void **state)
{
    http_ratelimit *rl = http_ratelimit_new(1, 2);
    int ra = 0;
    (void)state;
    assert_true(http_ratelimit_take(rl, "a", 0, &ra));
    assert_false(http_ratelimit_take(rl, "a", 1, &ra));
    assert_true(http_ratelimit_take(rl, "b", 2, &ra));
    /* a third key evicts the longest idle ("a"), whose bucket starts full again */
    assert_true(http_ratelimit_take(rl, "c", 3, &ra));
    assert_false(http_ratelimit_take(rl, "c", 3, &ra));
    assert_false(http_ratelimit_take(rl, "b", 3, &ra)); /* b was kept */
    http_ratelimit_free(rl);
    http_ratelimit_free(NULL);
    assert_null(http_ratelimit_new(0, 2));
}

static void test_metrics_text(void **state)
{
    http_metrics m;
    queue_state_count jobs[] = {{"queued", 3, 0}, {"succeeded", 2, 12345}};
    eq_buf out;
    eq_err err;
    (void)state;
    http_metrics_init(&m);
    http_metrics_request(&m, 200);
    http_metrics_request(&m, 200);
    http_metrics_request(&m, 404);
    http_metrics_stream_done(&m, HTTP_STREAM_OK, 1000);
    http_metrics_stream_done(&m, HTTP_STREAM_CANCELLED, 10);
    atomic_store(&m.streams_active, 2);
    atomic_store(&m.streams_rejected, 5);
    eq_buf_init(&out, 64 * 1024);
    assert_int_equal(http_metrics_render(&m, jobs, 2, &out, &err), 0);
    assert_non_null(strstr(out.data, "\nexportq_jobs{state=\"queued\"} 3\n"));
    assert_non_null(strstr(out.data, "\nexportq_jobs{state=\"running\"} 0\n"));
    assert_non_null(strstr(out.data, "\nexportq_job_bytes{state=\"succeeded\"} 12345\n"));
    assert_non_null(strstr(out.data, "\nexportq_queue_up 1\n"));
    assert_non_null(strstr(out.data, "\nexportq_stream_exports_total{outcome=\"ok\"} 1\n"));
    assert_non_null(strstr(out.data, "\nexportq_stream_bytes_total{outcome=\"cancelled\"} 10\n"));
    assert_non_null(strstr(out.data, "\nexportq_streams_active 2\n"));
    assert_non_null(strstr(out.data, "\nexportq_streams_rejected_total 5\n"));
    assert_non_null(strstr(out.data, "\nexportq_http_requests_total{code=\"200\"} 2\n"));
    assert_non_null(strstr(out.data, "\nexportq_http_requests_total{code=\"404\"} 1\n"));
    assert_non_null(strstr(out.data, "# TYPE exportq_http_requests_total counter\n"));
    eq_buf_reset(&out);
    assert_int_equal(http_metrics_render(&m, NULL, 0, &out, &err), 0);
    assert_non_null(strstr(out.data, "\nexportq_queue_up 0\n"));
    eq_buf_cleanup(&out);
}

static void test_metrics_many_codes(void **state)
{
    http_metrics m;
    eq_buf out;
    eq_err err;
    (void)state;
    http_metrics_init(&m);
    for (int code = 200; code < 200 + HTTP_METRICS_STATUSES + 4; code++)
        http_metrics_request(&m, code);
    eq_buf_init(&out, 64 * 1024);
    assert_int_equal(http_metrics_render(&m, NULL, 0, &out, &err), 0);
    assert_non_null(strstr(out.data, "exportq_http_requests_total{code=\"other\"} 5\n"));
    eq_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_empties_and_refills), cmocka_unit_test(test_keys_are_separate),
        cmocka_unit_test(test_table_is_bounded),          cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_metrics_many_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
