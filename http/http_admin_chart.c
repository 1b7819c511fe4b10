/* http_admin_chart.c - see http_admin.h: server-rendered SVG bar charts. No
 * script and no style attribute (the CSP allows only the page's hashed
 * <style>): colours come from classes of that style sheet, sizes from SVG
 * attributes. */
#include "http/http_admin.h"

#include <stdio.h>

#include "http/http_html.h"

#define W 600.0
#define H 140.0
#define PAD_L 48.0
#define PAD_B 20.0
#define PAD_T 8.0

static void fmt_value(double v, const char *unit, char *out, size_t outsz)
{
    if (v >= 100 || v == (double)(long long)v)
        snprintf(out, outsz, "%.0f %s", v, unit);
    else
        snprintf(out, outsz, "%.1f %s", v, unit);
}

int http_admin_chart(eq_buf *b, const char *title, const char *unit, const double *values, size_t n,
                     eq_err *err)
{
    double max = 0, bw;
    size_t have = 0;
    char vmax[48], vlast[48];
    for (size_t i = 0; i < n; i++)
        if (values[i] >= 0) {
            if (values[i] > max)
                max = values[i];
            have++;
        }
    fmt_value(max, unit, vmax, sizeof vmax);
    fmt_value(n && values[n - 1] >= 0 ? values[n - 1] : 0, unit, vlast, sizeof vlast);
    if (eq_buf_puts(b, "<figure class=\"chart\"><figcaption>", err) < 0 ||
        http_html_escape(b, title, err) < 0 ||
        eq_buf_printf(b, err,
                      "</figcaption><svg viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" role=\"img\" "
                      "aria-label=\"",
                      W, H) < 0 ||
        http_html_printf(b, err, "%s over the last %zu minutes: at most %s per minute, %s in the last minute",
                         title, n, vmax, vlast) < 0 ||
        eq_buf_puts(b, "\">", err) < 0)
        return -1;
    /* axes and the max label */
    if (eq_buf_printf(b, err,
                      "<line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
                      "<line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>",
                      PAD_L, PAD_T, PAD_L, H - PAD_B, PAD_L, H - PAD_B, W, H - PAD_B) < 0 ||
        eq_buf_printf(b, err, "<text class=\"label\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">", PAD_L - 4,
                      PAD_T + 10) < 0 ||
        http_html_escape(b, vmax, err) < 0 ||
        eq_buf_printf(b, err,
                      "</text><text class=\"label\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">0</text>"
                      "<text class=\"label\" x=\"%.0f\" y=\"%.0f\">-%zu min</text>"
                      "<text class=\"label\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">now</text>",
                      PAD_L - 4, H - PAD_B, PAD_L + 2, H - 4, n, W - 2, H - 4) < 0)
        return -1;
    bw = n ? (W - PAD_L) / (double)n : 0;
    for (size_t i = 0; i < n; i++) {
        double h;
        char v[48];
        if (values[i] <= 0 || max <= 0)
            continue;
        h = (H - PAD_B - PAD_T) * values[i] / max;
        fmt_value(values[i], unit, v, sizeof v);
        if (eq_buf_printf(b, err, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>",
                          PAD_L + bw * (double)i + 1, H - PAD_B - h, bw > 2 ? bw - 2 : bw, h) < 0 ||
            http_html_printf(b, err, "-%zu min: %s", n - i - 1, v) < 0 || eq_buf_puts(b, "</title></rect>", err) < 0)
            return -1;
    }
    if ((have == 0 || max <= 0) && eq_buf_printf(b, err, "<text class=\"label\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">"
                                           "nothing in the last hour</text>",
                                   (W + PAD_L) / 2, H / 2) < 0)
        return -1;
    return eq_buf_puts(b, "</svg></figure>", err);
}
