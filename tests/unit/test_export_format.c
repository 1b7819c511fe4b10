/* test_export_format.c - format names, Accept negotiation (q-values), file
 * names, and which stages apply to which format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "export/export_format.h"
#include "export/export_split.h"
#include "export/export_kind.h"

#define ALL EXPORT_FORMATS_ALL
#define B(f) EXPORT_FORMAT_BIT(EXPORT_FORMAT_##f)

typedef struct ncase {
    const char *name;
    const char *accept;
    unsigned allowed;
    export_format dflt;
    int want; /* a format, or -1 for 406 */
} ncase;

static const ncase ncases[] = {
    {"no header: the default", NULL, ALL, EXPORT_FORMAT_CSV, EXPORT_FORMAT_CSV},
    {"empty header: the default", "  ", ALL, EXPORT_FORMAT_XLSX, EXPORT_FORMAT_XLSX},
    {"*/* is the default", "*/*", ALL, EXPORT_FORMAT_JSONL, EXPORT_FORMAT_JSONL},
    {"exact csv", "text/csv", ALL, EXPORT_FORMAT_XLSX, EXPORT_FORMAT_CSV},
    {"exact tsv", "text/tab-separated-values", ALL, EXPORT_FORMAT_CSV, EXPORT_FORMAT_TSV},
    {"ndjson", "application/x-ndjson", ALL, EXPORT_FORMAT_CSV, EXPORT_FORMAT_JSONL},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ALL, EXPORT_FORMAT_CSV,
     EXPORT_FORMAT_XLSX},
    {"case-insensitive type", "Text/CSV", ALL, EXPORT_FORMAT_TSV, EXPORT_FORMAT_CSV},
    {"q decides", "text/csv;q=0.5, application/x-ndjson;q=0.9", ALL, EXPORT_FORMAT_CSV, EXPORT_FORMAT_JSONL},
    {"q with spaces and params", "text/csv ; charset=utf-8 ; q=0.2 , text/tab-separated-values;q=0.3", ALL,
     EXPORT_FORMAT_CSV, EXPORT_FORMAT_TSV},
    {"browser header with */*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", ALL,
     EXPORT_FORMAT_TSV, EXPORT_FORMAT_TSV},
    {"text/* picks the text default", "text/*", ALL, EXPORT_FORMAT_TSV, EXPORT_FORMAT_TSV},
    {"text/* when the default is not text", "text/*", ALL, EXPORT_FORMAT_XLSX, EXPORT_FORMAT_CSV},
    {"q=0 refuses", "text/csv;q=0, */*", ALL, EXPORT_FORMAT_CSV, EXPORT_FORMAT_TSV},
    {"more specific range wins over */*", "*/*;q=0.1, text/csv;q=0", B(CSV) | B(JSONL), EXPORT_FORMAT_CSV,
     EXPORT_FORMAT_JSONL},
    {"only html: 406", "text/html", ALL, EXPORT_FORMAT_CSV, -1},
    {"asks for a format the kind does not allow: 406", "text/csv", B(XLSX), EXPORT_FORMAT_XLSX, -1},
    {"*/* with a restricted kind", "*/*", B(JSONL) | B(XLSX), EXPORT_FORMAT_XLSX, EXPORT_FORMAT_XLSX},
    {"malformed q skipped", "text/csv;q=2, text/tab-separated-values", ALL, EXPORT_FORMAT_CSV, EXPORT_FORMAT_TSV},
    {"garbage element skipped", "nonsense, text/csv", ALL, EXPORT_FORMAT_JSONL, EXPORT_FORMAT_CSV},
    {"everything q=0: 406", "*/*;q=0", ALL, EXPORT_FORMAT_CSV, -1},
};

static void test_negotiate(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ncases / sizeof ncases[0]; i++) {
        const ncase *c = &ncases[i];
        export_format got = EXPORT_FORMAT_COUNT;
        int r = export_format_negotiate(c->accept, c->allowed, c->dflt, &got);
        if (c->want < 0 ? r != -1 : (r != 0 || (int)got != c->want))
            fail_msg("case '%s': got r=%d format=%d, want %d", c->name, r, (int)got, c->want);
    }
}

static void test_names(void **state)
{
    export_format f;
    eq_err err;
    (void)state;
    assert_int_equal(export_format_parse("jsonl", &f, &err), 0);
    assert_int_equal(f, EXPORT_FORMAT_JSONL);
    assert_string_equal(export_format_mime(f), "application/x-ndjson");
    assert_int_equal(export_format_parse("XLSX", &f, &err), -1);
    assert_int_equal(export_format_parse("json", &f, &err), -1);
    assert_non_null(strstr(err.msg, "csv, tsv, jsonl, xlsx"));
    assert_true(export_format_has_bom(EXPORT_FORMAT_TSV));
    assert_false(export_format_has_bom(EXPORT_FORMAT_JSONL));
    assert_false(export_format_has_guard(EXPORT_FORMAT_XLSX));
    assert_false(export_format_has_gzip(EXPORT_FORMAT_XLSX));
    assert_true(export_format_has_gzip(EXPORT_FORMAT_JSONL));
}

static void test_filename(void **state)
{
    char out[64];
    eq_err err;
    (void)state;
    assert_int_equal(export_format_filename("activity.csv", "k", EXPORT_FORMAT_XLSX, false, out, sizeof out, &err), 0);
    assert_string_equal(out, "activity.xlsx");
    /* gzip never for xlsx */
    assert_int_equal(export_format_filename("activity.csv.gz", "k", EXPORT_FORMAT_XLSX, true, out, sizeof out, &err),
                     0);
    assert_string_equal(out, "activity.xlsx");
    assert_int_equal(export_format_filename("activity.csv", "k", EXPORT_FORMAT_JSONL, true, out, sizeof out, &err), 0);
    assert_string_equal(out, "activity.jsonl.gz");
    assert_int_equal(export_format_filename(NULL, "user_activity", EXPORT_FORMAT_TSV, false, out, sizeof out, &err),
                     0);
    assert_string_equal(out, "user_activity.tsv");
    assert_int_equal(export_format_filename("report.2024", "k", EXPORT_FORMAT_CSV, false, out, sizeof out, &err), 0);
    assert_string_equal(out, "report.2024.csv");
    assert_int_equal(export_format_filename("a.CSV", "k", EXPORT_FORMAT_TSV, false, out, sizeof out, &err), 0);
    assert_string_equal(out, "a.tsv");
    assert_int_equal(export_format_filename("abcdef.csv", "k", EXPORT_FORMAT_XLSX, false, out, 8, &err), -1);
}

static void test_kind_options(void **state)
{
    export_options o;
    eq_err err;
    (void)state;
    assert_int_equal(export_options_parse("{\"format\":\"xlsx\",\"formats\":[\"csv\",\"xlsx\"]}", &o, &err), 0);
    assert_int_equal(o.format, EXPORT_FORMAT_XLSX);
    assert_int_equal(o.formats, B(CSV) | B(XLSX));
    assert_int_equal(export_options_parse("{\"format\":\"tsv\",\"formats\":[\"csv\"]}", &o, &err), -1);
    assert_int_equal(export_options_parse("{\"formats\":[]}", &o, &err), -1);
    assert_int_equal(export_options_parse("{\"formats\":[\"pdf\"]}", &o, &err), -1);
    assert_int_equal(export_options_parse("{\"format\":\"csv \"}", &o, &err), -1);
    assert_int_equal(export_options_parse("{\"webhook_url\":\"https://hooks.example.com/x\"}", &o, &err), 0);
    assert_true(o.has_webhook);
    assert_int_equal(export_options_parse("{\"webhook_url\":\"ftp://x\"}", &o, &err), -1);
    assert_int_equal(export_options_parse("{\"webhook_url\":\"https://a\\r\\nb\"}", &o, &err), -1);
    assert_int_equal(export_options_parse(NULL, &o, &err), 0);
    assert_int_equal(o.format, EXPORT_FORMAT_CSV);
    assert_int_equal(o.formats, ALL);
    assert_string_equal(o.split, "");
}

/* "split": schema.function, two lower-case unquoted identifiers; anything that
 * could carry SQL is refused before it reaches the catalog */
static void test_split_option(void **state)
{
    export_options o;
    eq_err err;
    static const char *const bad[] = {"fn", "app.", ".fn", "App.fn", "app.fn()", "app.fn; DROP TABLE x",
                                      "\"app\".fn", "a.b.c", "app.f n", "1app.fn", "app.fn--", ""};
    (void)state;
    assert_int_equal(export_options_parse("{\"split\":\"app.split_user_activity\"}", &o, &err), 0);
    assert_string_equal(o.split, "app.split_user_activity");
    assert_true(export_split_name_valid("_a1._b2"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[128];
        assert_false(export_split_name_valid(bad[i]));
        snprintf(json, sizeof json, "{\"split\":\"%s\"}", bad[i]);
        if (!strchr(bad[i], '"'))
            assert_int_equal(export_options_parse(json, &o, &err), -1);
    }
    assert_int_equal(export_options_parse("{\"split\":true}", &o, &err), -1);
    {
        char big[EXPORT_SPLIT_NAME_MAX + 8];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        big[10] = '.';
        assert_false(export_split_name_valid(big));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_filename),
        cmocka_unit_test(test_kind_options),
        cmocka_unit_test(test_split_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
