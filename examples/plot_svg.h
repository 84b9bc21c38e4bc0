/* A small SVG line-chart writer for training curves (loss vs step): axes
 * with "nice" ticks and labels, title, legend; opens in any browser. */
#ifndef PLOT_SVG_H
#define PLOT_SVG_H

typedef struct {
    const char *name;     /* legend label */
    const double *x, *y;  /* n points, x ascending; a non-finite y breaks the line */
    int n;
    const char *color;    /* CSS colour; NULL picks from a palette */
    int markers;          /* nonzero: a dot at each point (for sparse eval curves) */
} svg_series;

typedef struct {
    const char *title, *xlabel, *ylabel;
    int width, height;    /* pixels; 0 means 800 x 480 */
} svg_chart;

/* Writes the chart of ns series to path atomically. Series without finite
 * points are listed in the legend but not drawn; with no finite point at
 * all the axes span [0, 1]. Text is XML-escaped. Returns TG_OK, TG_ERR_ARG
 * (bad sizes, ns < 0) or TG_ERR_IO. */
int svg_line_chart(const char *path, const svg_chart *chart, const svg_series *s, int ns);

/* Tick spacing for a range: 1, 2 or 5 times a power of ten giving about
 * `target` intervals. */
double svg_nice_step(double range, int target);

#endif
