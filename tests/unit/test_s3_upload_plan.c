/* test_s3_upload_plan.c - the uploader's part-size and memory plan
 * (s3_upload_plan): parts grow past 1,000 parts without the buffers ever
 * exceeding the upload memory, every part is >= 5 MiB, no export needs more
 * than 10,000 parts up to the advertised largest object, and fewer parts fly
 * as they grow; the uploader's default memory is EXPORTQ_UPLOAD_MEMORY's
 * default. Pure: no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/error.h"
#include "s3/s3_upload.h"

#define MiB ((size_t)1024 * 1024)

static void check_plan(size_t first, size_t memory, int conc)
{
    size_t prev = 0;
    for (unsigned n = 1; n <= S3_MAX_PARTS; n++) {
        s3_part_plan p = s3_upload_plan(first, memory, conc, n);
        assert_true(p.part_size >= S3_MIN_PART_SIZE);
        assert_true(p.part_size >= prev); /* never shrinks */
        assert_true(p.part_size <= memory / 2 || p.part_size == S3_MIN_PART_SIZE);
        assert_true(p.buffers >= 1 && p.buffers <= conc + 1);
        assert_true((size_t)p.buffers * p.part_size <= memory); /* the budget holds */
        prev = p.part_size;
    }
}

static void test_defaults_grow_past_1000_parts(void **state)
{
    (void)state;
    /* 8 MiB first parts, 40 MiB, 4 in flight: today's 5 x 8 MiB at first */
    s3_part_plan a = s3_upload_plan(8 * MiB, 40 * MiB, 4, 1);
    s3_part_plan b = s3_upload_plan(8 * MiB, 40 * MiB, 4, 1000);
    s3_part_plan c = s3_upload_plan(8 * MiB, 40 * MiB, 4, 1001);
    s3_part_plan d = s3_upload_plan(8 * MiB, 40 * MiB, 4, 2001);
    s3_part_plan z = s3_upload_plan(8 * MiB, 40 * MiB, 4, 10000);
    assert_int_equal(a.part_size, 8 * MiB);
    assert_int_equal(a.buffers, 5);
    assert_int_equal(b.part_size, 8 * MiB);
    assert_int_equal(c.part_size, 16 * MiB); /* grows past 1,000 parts */
    assert_int_equal(c.buffers, 2);          /* and fewer fly */
    assert_int_equal(d.part_size, 20 * MiB); /* capped at half the memory */
    assert_int_equal(d.buffers, 2);
    assert_int_equal(z.part_size, 20 * MiB);
    check_plan(8 * MiB, 40 * MiB, 4);
}

static void test_default_budget(void **state)
{
    (void)state;
    /* the default (32 MiB): 4 x 8 MiB (3 in flight while one fills), then
     * 2 x 16 MiB past 1,000 parts; about 148 GiB at most */
    s3_part_plan a = s3_upload_plan(8 * MiB, S3_DEFAULT_UPLOAD_MEMORY, 4, 1);
    s3_part_plan c = s3_upload_plan(8 * MiB, S3_DEFAULT_UPLOAD_MEMORY, 4, 1001);
    assert_int_equal(S3_DEFAULT_UPLOAD_MEMORY, 32 * MiB);
    assert_int_equal(a.part_size, 8 * MiB);
    assert_int_equal(a.buffers, 4);
    assert_int_equal(c.part_size, 16 * MiB);
    assert_int_equal(c.buffers, 2);
    assert_int_equal(s3_upload_max_object(8 * MiB, S3_DEFAULT_UPLOAD_MEMORY), (uint64_t)(8000 + 144000) * MiB);
    check_plan(8 * MiB, S3_DEFAULT_UPLOAD_MEMORY, 4);
    /* the setting's default (common/config.c) is the uploader's (two places
     * write the number: the config table holds strings) */
    unsetenv("EXPORTQ_UPLOAD_MEMORY");
    unsetenv("EXPORTQ_PART_SIZE");
    eq_config cfg;
    eq_err err;
    assert_int_equal(eq_config_load(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.upload_memory, (long)S3_DEFAULT_UPLOAD_MEMORY);
    assert_int_equal(cfg.part_size, (long)(8 * MiB));
    eq_config_cleanup(&cfg);
}

static void test_budgets(void **state)
{
    (void)state;
    check_plan(5 * MiB, 10 * MiB, 1);
    check_plan(5 * MiB, 10 * MiB, 64);
    check_plan(8 * MiB, 41943040, 4);
    check_plan(512 * MiB, 40 * MiB, 4); /* a first part bigger than the budget is cut down */
    check_plan(5 * MiB, 1024 * MiB, 16);
    check_plan(7 * MiB + 3, 33 * MiB + 1, 3);
    assert_int_equal(s3_upload_plan(512 * MiB, 40 * MiB, 4, 1).part_size, 20 * MiB);
    /* a generous budget keeps the old growth: 8 MiB x 2^9 at part 10,000 */
    assert_int_equal(s3_upload_plan(8 * MiB, (size_t)64 * 1024 * MiB, 4, 10000).part_size, 4096 * MiB);
}

static void test_largest_object(void **state)
{
    (void)state;
    /* 1,000 x 8 + 1,000 x 16 + 8,000 x 20 MiB */
    assert_int_equal(s3_upload_max_object(8 * MiB, 40 * MiB), (uint64_t)(8000 + 16000 + 160000) * MiB);
    assert_true(s3_upload_max_object(8 * MiB, 40 * MiB) > (uint64_t)150 * 1024 * MiB);
    assert_true(s3_upload_max_object(5 * MiB, 10 * MiB) >= (uint64_t)10000 * 5 * MiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_grow_past_1000_parts),
        cmocka_unit_test(test_default_budget),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_largest_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
