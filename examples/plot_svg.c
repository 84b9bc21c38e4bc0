/* SVG line charts (training / eval loss curves). */
#include "plot_svg.h"

#include "safetensors.h"
#include "tg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b"};

double svg_nice_step(double range, int target)
{
    if (!(range > 0) || !isfinite(range))
        return 1.0;
    double raw = range / (target > 0 ? target : 5);
    double p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

typedef struct {
    double lo, hi, step;
} axis;

static axis make_axis(double mn, double mx)
{
    if (!(mn <= mx)) {
        mn = 0;
        mx = 1;
    }
    if (mx - mn < 1e-12 * (fabs(mx) + 1)) {
        double pad = fabs(mx) > 0 ? fabs(mx) * 0.1 : 1.0;
        mn -= pad;
        mx += pad;
    }
    axis a;
    a.step = svg_nice_step(mx - mn, 6);
    a.lo = floor(mn / a.step) * a.step;
    a.hi = ceil(mx / a.step) * a.step;
    return a;
}

static void tick_label(char *buf, size_t n, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-9)
        v = 0;
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4))
        snprintf(buf, n, "%.3g", v);
    else
        snprintf(buf, n, "%.*f", dec, v);
}

typedef struct {
    const svg_chart *c;
    const svg_series *s;
    int ns;
} plot;

static int emit(FILE *f, void *ctx)
{
    const plot *p = ctx;
    const svg_chart *c = p->c;
    int W = c->width > 0 ? c->width : 800, H = c->height > 0 ? c->height : 480;
    const double L = 78, R = 24, T = 44, B = 58;
    const double pw = W - L - R, ph = H - T - B;
    double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
    for (int k = 0; k < p->ns; k++)
        for (int i = 0; i < p->s[k].n; i++) {
            double x = p->s[k].x[i], y = p->s[k].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            xmn = fmin(xmn, x), xmx = fmax(xmx, x), ymn = fmin(ymn, y), ymx = fmax(ymx, y);
        }
    axis ax = make_axis(xmn, xmx), ay = make_axis(ymn, ymx);
#define PX(v) (L + ((v) - ax.lo) / (ax.hi - ax.lo) * pw)
#define PY(v) (T + ph - ((v) - ay.lo) / (ay.hi - ay.lo) * ph)
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" "
               "font-weight=\"bold\">", W / 2.0);
    xml_text(f, c->title);
    fputs("</text>\n<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n", f);
    int nx = (int)floor((ax.hi - ax.lo) / ax.step + 0.5), ny = (int)floor((ay.hi - ay.lo) / ay.step + 0.5);
    for (int i = 0; i <= nx; i++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                PX(ax.lo + i * ax.step), T, PX(ax.lo + i * ax.step), T + ph);
    for (int i = 0; i <= ny; i++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L,
                PY(ay.lo + i * ay.step), L + pw, PY(ay.lo + i * ay.step));
    fprintf(f, "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"black\"/>\n", L, T, pw, ph);
    char lab[64];
    fputs("<g text-anchor=\"middle\">\n", f);
    for (int i = 0; i <= nx; i++) {
        double v = ax.lo + i * ax.step;
        tick_label(lab, sizeof lab, v, ax.step);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                PX(v), T + ph, PX(v), T + ph + 5, PX(v), T + ph + 19, lab);
    }
    fputs("</g>\n<g text-anchor=\"end\">\n", f);
    for (int i = 0; i <= ny; i++) {
        double v = ay.lo + i * ay.step;
        tick_label(lab, sizeof lab, v, ay.step);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                L - 5, PY(v), L, PY(v), L - 8, PY(v) + 4, lab);
    }
    fputs("</g>\n", f);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, (double)H - 14);
    xml_text(f, c->xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" "
               "text-anchor=\"middle\">", T + ph / 2);
    xml_text(f, c->ylabel);
    fputs("</text>\n", f);
    fprintf(f, "<clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
               "height=\"%.1f\"/></clipPath>\n", L, T, pw, ph);
    for (int k = 0; k < p->ns; k++) {
        const svg_series *s = &p->s[k];
        const char *col = s->color ? s->color : palette[k % 6];
        fprintf(f, "<path class=\"series\" clip-path=\"url(#plot)\" fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"1.8\" d=\"", col);
        int pen = 0;
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
                pen = 0;
                continue;
            }
            fprintf(f, "%s%.2f %.2f", pen ? " L" : (i ? " M" : "M"), PX(s->x[i]), PY(s->y[i]));
            pen = 1;
        }
        fputs("\"/>\n", f);
        if (s->markers)
            for (int i = 0; i < s->n; i++)
                if (isfinite(s->x[i]) && isfinite(s->y[i]))
                    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                            PX(s->x[i]), PY(s->y[i]), col);
    }
    /* legend, top right inside the plot */
    double lx = L + pw - 170, ly = T + 10;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"160\" height=\"%d\" fill=\"white\" "
               "fill-opacity=\"0.85\" stroke=\"#999\"/>\n", lx, ly, 8 + 18 * p->ns);
    for (int k = 0; k < p->ns; k++) {
        const char *col = p->s[k].color ? p->s[k].color : palette[k % 6];
        double y = ly + 16 + 18 * k;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2.5\"/><text x=\"%.1f\" y=\"%.1f\">",
                lx + 8, y - 4, lx + 32, y - 4, col, lx + 40, y);
        xml_text(f, p->s[k].name);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
    return ferror(f) ? TG_ERR_IO : TG_OK;
}

int svg_line_chart(const char *path, const svg_chart *chart, const svg_series *s, int ns)
{
    if (!chart || ns < 0 || (ns > 0 && !s) || chart->width < 0 || chart->height < 0 ||
        (chart->width && chart->width < 200) || (chart->height && chart->height < 150))
        return tg_error(TG_ERR_ARG, "%s: bad chart arguments (at least 200 x 150 pixels)", path);
    for (int k = 0; k < ns; k++)
        if (s[k].n < 0 || (s[k].n > 0 && (!s[k].x || !s[k].y)))
            return tg_error(TG_ERR_ARG, "%s: series %d has no data", path, k);
    plot p = {chart, s, ns};
    return st_atomic_write(path, emit, &p);
}
