/* test_csv_guard.c - the formula-injection guard, from a table of named cases,
 * each also fed one byte at a time (state carried across cuts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "export/csv_guard.h"

typedef struct gcase {
    const char *name;
    const char *in;
    const char *out;
} gcase;

static const gcase cases[] = {
    {"plain row unchanged", "a,b,c\n", "a,b,c\n"},
    {"unquoted equals", "=1+2,b\n", "'=1+2,b\n"},
    {"unquoted plus", "+x,b\n", "'+x,b\n"},
    {"positive number left alone", "+1,b\n", "+1,b\n"},
    {"negative number left alone", "-5,b\n", "-5,b\n"},
    {"amount left alone (sample export)", "x,-420.81,y\n", "x,-420.81,y\n"},
    {"signed numbers of every shape", "+1,-0.5,+.5,-5.,-1e5,+2E-3\n", "+1,-0.5,+.5,-5.,-1e5,+2E-3\n"},
    {"number as the last cell without newline", "a,-5", "a,-5"},
    {"sign then formula", "-1+2,b\n", "'-1+2,b\n"},
    {"sign then cell reference", "-A1,b\n", "'-A1,b\n"},
    {"sign then letters", "+cmd|' /C calc'!A0\n", "'+cmd|' /C calc'!A0\n"},
    {"lone sign", "-,+\n", "'-,'+\n"},
    {"incomplete exponent", "-5e,-5e+\n", "'-5e,'-5e+\n"},
    {"two dots", "-1.2.3\n", "'-1.2.3\n"},
    {"signed number then CRLF", "-5\r\n=a\r\n", "-5\r\n'=a\r\n"},
    {"quoted signed cell is judged by its first byte", "\"-5\"\n", "\"'-5\"\n"},
    {"unquoted at", "@SUM(A1),b\n", "'@SUM(A1),b\n"},
    {"unquoted tab", "\tx,b\n", "'\tx,b\n"},
    {"quoted equals", "\"=HYPERLINK(\"\"http://x\"\")\",b\n", "\"'=HYPERLINK(\"\"http://x\"\")\",b\n"},
    {"quoted CR at start", "\"\rx\",b\n", "\"'\rx\",b\n"},
    {"quoted tab at start", "\"\tx\"\n", "\"'\tx\"\n"},
    {"trigger in middle of cell", "a=1,b-2\n", "a=1,b-2\n"},
    {"last field", "a,b,=c\n", "a,b,'=c\n"},
    {"last field without newline", "a,=c", "a,'=c"},
    {"every field", "=a,+b,-c,@d\n", "'=a,'+b,'-c,'@d\n"},
    {"empty fields (NULL) unchanged", ",,\n", ",,\n"},
    {"empty quoted string unchanged", "\"\",\"\",x\n", "\"\",\"\",x\n"},
    {"comma inside quotes is not a cell start", "\"a,=b\",c\n", "\"a,=b\",c\n"},
    {"newline inside quotes is not a record start", "\"a\n=b\",c\n", "\"a\n=b\",c\n"},
    {"escaped quote then trigger inside quotes", "\"\"\"=x\",y\n", "\"\"\"=x\",y\n"},
    {"embedded quotes then next cell triggers", "\"a\"\"b\",=c\n", "\"a\"\"b\",'=c\n"},
    {"non-trigger punctuation", "#x,!y,'z,%w\n", "#x,!y,'z,%w\n"},
    {"unicode first byte", "\xc3\xa9t\xc3\xa9,=\xe2\x82\xac\n", "\xc3\xa9t\xc3\xa9,'=\xe2\x82\xac\n"},
    {"CRLF records", "=a,b\r\n-c,d\r\n", "'=a,b\r\n'-c,d\r\n"},
    {"CRLF after empty last cell", "a,\r\n=b\r\n", "a,\r\n'=b\r\n"},
    {"CRLF after quoted cell", "\"x\"\r\n=y\r\n", "\"x\"\r\n'=y\r\n"},
    {"two records", "a,=b\n=c,d\n", "a,'=b\n'=c,d\n"},
    {"header row", "id,title\n", "id,title\n"},
    {"empty input", "", ""},
};

static void check_case(const gcase *c)
{
    char out[256];
    size_t inlen = strlen(c->in), want = strlen(c->out);
    size_t n = csv_guard_row(c->in, inlen, out, sizeof out);
    if (n != want || memcmp(out, c->out, want) != 0)
        fail_msg("case '%s': got %zu bytes '%.*s', want '%s'", c->name, n == SIZE_MAX ? 0 : n,
                 (int)(n == SIZE_MAX ? 0 : n), out, c->out);
    assert_true(n <= CSV_GUARD_OUT_MAX(inlen));

    /* the same, one byte per feed */
    csv_guard g;
    size_t o = 0, k;
    csv_guard_init(&g);
    for (size_t i = 0; i < inlen; i++) {
        k = csv_guard_feed(&g, c->in + i, 1, out + o, sizeof out - o);
        assert_int_not_equal(k, SIZE_MAX);
        o += k;
    }
    k = csv_guard_finish(&g, out + o, sizeof out - o);
    assert_int_not_equal(k, SIZE_MAX);
    o += k;
    if (o != want || memcmp(out, c->out, want) != 0)
        fail_msg("case '%s' fed bytewise: got '%.*s'", c->name, (int)o, out);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

static void test_out_too_small(void **state)
{
    char out[4];
    csv_guard g;
    (void)state;
    /* "=ab\n" needs 5 bytes */
    assert_int_equal(csv_guard_row("=ab\n", 4, out, sizeof out), SIZE_MAX);
    assert_int_equal(csv_guard_row("=ab\n", 4, out, 5 > sizeof out ? sizeof out : 5), SIZE_MAX);
    /* a refused feed leaves the state alone: still at a cell start */
    csv_guard_init(&g);
    assert_int_equal(csv_guard_feed(&g, "x,", 2, out, 1), SIZE_MAX);
    assert_int_equal(csv_guard_feed(&g, "=", 1, out, sizeof out), 2);
    assert_memory_equal(out, "'=", 2);
}

static void test_worst_case_bound(void **state)
{
    /* "=,=,=,...": the densest possible input meets the documented bound */
    char in[201], out[400];
    size_t n;
    (void)state;
    for (size_t i = 0; i < 201; i++)
        in[i] = (i % 2) ? ',' : '=';
    n = csv_guard_row(in, sizeof in, out, sizeof out);
    assert_int_equal(n, 201 + 101);
    assert_true(CSV_GUARD_OUT_MAX(201) >= 201 + 101);
    assert_int_equal(csv_guard_row(in, sizeof in, out, CSV_GUARD_OUT_MAX(201)), n);
}

static void test_long_signed_cell(void **state)
{
    /* a signed "number" longer than the guard holds is prefixed, not lost */
    char in[CSV_GUARD_PEND_MAX + 8], out[2 * sizeof in];
    size_t n;
    (void)state;
    in[0] = '-';
    memset(in + 1, '7', sizeof in - 3);
    in[sizeof in - 2] = ',';
    in[sizeof in - 1] = '\n';
    n = csv_guard_row(in, sizeof in, out, sizeof out);
    assert_int_equal(n, sizeof in + 1);
    assert_int_equal(out[0], '\'');
    assert_memory_equal(out + 1, in, sizeof in);
}

static void test_tsv(void **state)
{
    /* tab-delimited: a tab ends a cell, a comma does not */
    static const char in[] = "=a\t-3.5\t\"=b\"\tx,=y\n";
    static const char want[] = "'=a\t-3.5\t\"'=b\"\tx,=y\n";
    char out[128];
    csv_guard g;
    size_t n;
    (void)state;
    csv_guard_init_delim(&g, '\t');
    n = csv_guard_feed(&g, in, sizeof in - 1, out, sizeof out);
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(out, want, n);
    assert_int_equal(csv_guard_finish(&g, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_out_too_small),
        cmocka_unit_test(test_worst_case_bound),
        cmocka_unit_test(test_long_signed_cell),
        cmocka_unit_test(test_tsv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
