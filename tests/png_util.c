/* png_util.c: see png_util.h. */
#include "png_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/fileio.h"
#include "test.h"

int fig_render(const char *svg_text, const char *name, image_t *img) {
    char svg[600], png[600], cmd[1400];
    snprintf(svg, sizeof svg, "%s/%s.svg", lst_test_tmpdir(), name);
    snprintf(png, sizeof png, "%s/%s.png", lst_test_tmpdir(), name);
    lst_err_t err;
    if (svg_text) CHECK(lst_write_atomic(svg, svg_text, strlen(svg_text), &err) == 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s'", png, svg);
    if (system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
        CHECK(0, "rsvg-convert not found: install librsvg2-bin (scripts/setup.sh does)");
        return -1;
    }
    CHECK(system(cmd) == 0, "%s failed", cmd);
    memset(img, 0, sizeof *img);
    img->im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img->im, png)) {
        CHECK(0, "%s: %s", png, img->im.message);
        return -1;
    }
    img->im.format = PNG_FORMAT_RGB;
    img->px = malloc(PNG_IMAGE_SIZE(img->im));
    if (!img->px || !png_image_finish_read(&img->im, NULL, img->px, 0, NULL)) {
        CHECK(0, "%s: cannot decode: %s", png, img->im.message);
        free(img->px);
        return -1;
    }
    return 0;
}

int fig_plot_area(const char *svg, double box[4]) {
    const char *r = strstr(svg, "id=\"plot-area\"");
    return r && sscanf(r, "id=\"plot-area\" x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &box[0], &box[1],
                       &box[2], &box[3]) == 4
               ? 0
               : -1;
}

hits_t fig_find(const image_t *img, const int rgb[3], int tol, const double box[4], double margin) {
    hits_t h = {0, 0, 1 << 30, 1 << 30, -1, -1};
    for (unsigned y = 0; y < img->im.height; y++)
        for (unsigned x = 0; x < img->im.width; x++) {
            const unsigned char *p = img->px + 3 * ((size_t)y * img->im.width + x);
            if (abs(p[0] - rgb[0]) > tol || abs(p[1] - rgb[1]) > tol || abs(p[2] - rgb[2]) > tol) continue;
            h.n++;
            if (x < box[0] - margin || x > box[0] + box[2] + margin || y < box[1] - margin ||
                y > box[1] + box[3] + margin)
                h.outside++;
            if ((int)x < h.x0) h.x0 = (int)x;
            if ((int)y < h.y0) h.y0 = (int)y;
            if ((int)x > h.x1) h.x1 = (int)x;
            if ((int)y > h.y1) h.y1 = (int)y;
        }
    return h;
}

