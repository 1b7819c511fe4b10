/* test_export_kind.c - kind names, options and parameters (no database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "export/export_kind.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(export_kind_name_valid("user_activity"));
    assert_true(export_kind_name_valid("_v2_orders"));
    /* the SQL rule (exportq.kinds CHECK): no capitals, dots or dashes */
    assert_false(export_kind_name_valid("v2.orders-daily"));
    assert_false(export_kind_name_valid("Activity"));
    assert_false(export_kind_name_valid(""));
    assert_false(export_kind_name_valid(NULL));
    assert_false(export_kind_name_valid("a b"));
    assert_false(export_kind_name_valid("x'; DROP TABLE t; --"));
    assert_false(export_kind_name_valid("../etc"));
    assert_false(export_kind_name_valid("-x"));
    assert_false(export_kind_name_valid("caf\xc3\xa9"));
    char longname[80];
    memset(longname, 'a', sizeof longname);
    longname[65] = '\0';
    assert_false(export_kind_name_valid(longname));
    longname[64] = '\0';
    assert_true(export_kind_name_valid(longname));
}

static void test_options(void **state)
{
    export_options o;
    eq_err err;
    (void)state;
    assert_int_equal(export_options_parse(NULL, &o, &err), 0);
    assert_false(o.gzip);
    assert_false(o.bom);
    assert_false(o.formula_guard);
    assert_true(o.header);
    assert_int_equal(o.gzip_level, 6);

    assert_int_equal(export_options_parse("{\"formula_guard\": true, \"bom\": false}", &o, &err), 0);
    assert_true(o.formula_guard);
    assert_false(o.bom);
    assert_true(o.header);

    assert_int_equal(
        export_options_parse("{\"gzip\":true,\"gzip_level\":9,\"bom\":true,\"header\":false}", &o, &err), 0);
    assert_true(o.gzip);
    assert_int_equal(o.gzip_level, 9);
    assert_true(o.bom);
    assert_false(o.header);

    assert_int_equal(export_options_parse("{\"gzp\": true}", &o, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "\"gzp\""));
    assert_int_equal(export_options_parse("{\"gzip\": \"yes\"}", &o, &err), -1);
    assert_non_null(strstr(err.msg, "\"gzip\""));
    assert_int_equal(export_options_parse("{\"gzip_level\": 0}", &o, &err), -1);
    assert_int_equal(export_options_parse("[true]", &o, &err), -1);
    assert_int_equal(export_options_parse("{", &o, &err), -1);
}

static void test_params_owner_is_forced(void **state)
{
    char *out = NULL;
    eq_err err;
    (void)state;
    assert_int_equal(export_params_build("{\"owner\":\"mallory\",\"since\":\"2024-01-01\"}", "alice", &out, &err), 0);
    assert_string_equal(out, "{\"owner\":\"alice\",\"since\":\"2024-01-01\"}");
    free(out);
    assert_int_equal(export_params_build(NULL, "bob", &out, &err), 0);
    assert_string_equal(out, "{\"owner\":\"bob\"}");
    free(out);
    assert_int_equal(export_params_build("{\"q\":\"x'); DROP TABLE t; --\"}", NULL, &out, &err), 0);
    assert_string_equal(out, "{\"q\":\"x'); DROP TABLE t; --\"}");
    free(out);
    assert_int_equal(export_params_build("[1]", NULL, &out, &err), -1);
    assert_null(out);
    assert_int_equal(export_params_build("{\"a\":1,\"a\":2}", NULL, &out, &err), -1);
}

static void test_filename(void **state)
{
    export_kind k;
    char out[300];
    eq_err err;
    (void)state;
    memset(&k, 0, sizeof k);
    export_options_default(&k.options);
    snprintf(k.name, sizeof k.name, "user_activity");
    assert_int_equal(export_kind_filename(&k, out, sizeof out, &err), 0);
    assert_string_equal(out, "user_activity.csv");
    k.options.gzip = true;
    assert_int_equal(export_kind_filename(&k, out, sizeof out, &err), 0);
    assert_string_equal(out, "user_activity.csv.gz");
    snprintf(k.filename, sizeof k.filename, "activity.csv.gz");
    assert_int_equal(export_kind_filename(&k, out, sizeof out, &err), 0);
    assert_string_equal(out, "activity.csv.gz");
    k.options.gzip = false;
    snprintf(k.filename, sizeof k.filename, "activity.csv");
    assert_int_equal(export_kind_filename(&k, out, sizeof out, &err), 0);
    assert_string_equal(out, "activity.csv");
    assert_int_equal(export_kind_filename(&k, out, 5, &err), -1);
    assert_string_equal(out, "acti");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_params_owner_is_forced),
        cmocka_unit_test(test_filename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
