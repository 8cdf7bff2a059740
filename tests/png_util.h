/* png_util.h: the tests' look at rendered figures: rsvg-convert renders an
 * SVG, libpng decodes the PNG, and the pixels near a colour are counted
 * against the figure's plot area (the rect with id "plot-area"). */
#ifndef LST_TEST_PNG_UTIL_H
#define LST_TEST_PNG_UTIL_H

#include <png.h>

typedef struct {
    png_image im;
    unsigned char *px; /* RGB */
} image_t;

/* Writes svg_text (NULL: the file is already there) to TMP/name.svg and
 * renders TMP/name.png into img (free img->px); 0, or -1 after a CHECK. */
int fig_render(const char *svg_text, const char *name, image_t *img);
/* The plot-area rect's x, y, width, height from the SVG text. */
int fig_plot_area(const char *svg, double box[4]);

/* Pixels within tol of colour rgb: how many, their bounding box, and how
 * many fall outside box grown by margin. */
typedef struct {
    long n, outside;
    int x0, y0, x1, y1;
} hits_t;
hits_t fig_find(const image_t *img, const int rgb[3], int tol, const double box[4], double margin);

#endif
