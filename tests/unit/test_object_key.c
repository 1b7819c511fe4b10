/* Object keys: layout, sanitising of user text, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "export/object_key.h"

static void test_layout(void **state)
{
    char key[OBJECT_KEY_MAX + 1];
    eq_err err;
    assert_int_equal(object_key_build("exports/", "u42", 7, "ab12-cd", "activity.csv", key, sizeof key, &err), 0);
    assert_string_equal(key, "exports/u42/7-ab12-cd/activity.csv");
}

static void test_hostile_segments(void **state)
{
    static const struct {
        const char *name, *in, *want;
    } cases[] = {
        {"traversal", "../../etc/passwd", "_._.__etc_passwd"},
        {"dots only", "..", "_."},
        {"leading dot", ".hidden", "_hidden"},
        {"slashes", "a/b\\c", "a_b_c"},
        {"control chars", "a\r\nb\tc", "a__b_c"},
        {"unicode", "r\xc3\xa9sum\xc3\xa9.csv", "r__sum__.csv"},
        {"empty", "", "FALLBACK"},
        {"spaces and quotes", "my \"file\".csv", "my__file_.csv"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[OBJECT_KEY_SEGMENT_MAX + 1];
        eq_err err;
        assert_int_equal(object_key_segment(cases[i].in, "FALLBACK", out, sizeof out, &err), 0);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case '%s': got '%s', want '%s'", cases[i].name, out, cases[i].want);
        assert_null(strstr(out, ".."));
        assert_null(strchr(out, '/'));
    }
}

static void test_bounds(void **state)
{
    char longname[5000], key[OBJECT_KEY_MAX + 1], small[20], seg[OBJECT_KEY_SEGMENT_MAX + 1];
    char owner_a[300], owner_b[300];
    eq_err err;
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    /* an oversized owner or file name is refused, never cut */
    assert_int_equal(object_key_build("p/", longname, 1, "t", "f.csv", key, sizeof key, &err), -1);
    assert_int_equal(err.code, EQ_ERR_LIMIT);
    assert_int_equal(object_key_build("p/", "o", 1, "t", longname, key, sizeof key, &err), -1);
    assert_int_equal(err.code, EQ_ERR_LIMIT);
    longname[OBJECT_KEY_SEGMENT_MAX + 1] = '\0';
    assert_int_equal(object_key_segment(longname, "F", seg, sizeof seg, &err), -1);
    assert_int_equal(err.code, EQ_ERR_LIMIT);
    /* the longest owner and file name fit whole */
    longname[OBJECT_KEY_SEGMENT_MAX] = '\0';
    assert_int_equal(object_key_build("p/", longname, 1, "t", longname, key, sizeof key, &err), 0);
    assert_int_equal(strlen(key), 2 + OBJECT_KEY_SEGMENT_MAX + 1 + 3 + 1 + OBJECT_KEY_SEGMENT_MAX);
    /* 128 x e-acute + "A" / + "B" (257 bytes): refused, not cut to one owner */
    for (int i = 0; i < 128; i++)
        memcpy(owner_a + 2 * i, "\xc3\xa9", 2);
    memcpy(owner_b, owner_a, 256);
    owner_a[256] = 'A', owner_b[256] = 'B';
    owner_a[257] = owner_b[257] = '\0';
    assert_int_equal(object_key_dir("p/", owner_a, 1, "t", key, sizeof key, &err), -1);
    assert_int_equal(err.code, EQ_ERR_LIMIT);
    assert_int_equal(object_key_dir("p/", owner_b, 1, "t", key, sizeof key, &err), -1);
    assert_int_equal(object_key_build("p/", "o", 1, "t", "f", small, 8, &err), -1);
    assert_int_equal(err.code, EQ_ERR_LIMIT);
    /* the token is ours, but never trusted blindly */
    assert_int_equal(object_key_build("p/", "o", 1, "../x", "f", key, sizeof key, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_hostile_segments),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
