/* screenshot.c: an X image to PNG, in memory (libpng), for screenshots kept
 * as audit evidence. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "desktopint.h"
#include "connectors/desktop/desktop.h"

static void png_write_buf(png_structp png, png_bytep data, png_size_t len)
{
    drudge_buf_add(png_get_io_ptr(png), data, len);
}

static void png_flush_none(png_structp png)
{
    (void)png;
}

drudge_code drudge_png_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height,
                                  drudge_buf *out, drudge_err *err)
{
    if (!width || !height || width > 32768 || height > 32768)
        return drudge_seterr(err, DRUDGE_EUSAGE, "png: bad image size %ux%u", width, height);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return drudge_seterr(err, DRUDGE_ENOMEM, "png: out of memory");
    }
    size_t start = out->len;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return drudge_seterr(err, DRUDGE_ENOMEM, "png: encoding failed");
    }
    png_set_write_fn(png, out, png_write_buf, png_flush_none);
    /* zlib's default level with the SUB filter: on a screen full of text,
     * level 1 is only ~15 ms faster but the PNG 2.5 times as big, and
     * screenshots are kept as evidence for years (tests/bench/desktop.sh). */
    png_set_compression_level(png, 6);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (unsigned y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return DRUDGE_OK;
}

/* Position and width of the bits of mask. */
static void mask_shift(unsigned long mask, int *shift, int *bits)
{
    *shift = 0;
    *bits = 0;
    if (!mask)
        return;
    while (!(mask & 1)) {
        mask >>= 1;
        (*shift)++;
    }
    while (mask & 1) {
        mask >>= 1;
        (*bits)++;
    }
}

static unsigned char channel(unsigned long pixel, unsigned long mask, int shift, int bits)
{
    unsigned long v = (pixel & mask) >> shift;
    if (bits >= 8)
        return (unsigned char)(v >> (bits - 8));
    /* Scale a short channel (5 or 6 bits) to the full 0..255 range. */
    return bits ? (unsigned char)(v * 255 / ((1UL << bits) - 1)) : 0;
}

void drudge_ximage_to_rgb(XImage *img, unsigned char *rgb)
{
    int rs, rb, gs, gb, bs, bb;
    mask_shift(img->red_mask, &rs, &rb);
    mask_shift(img->green_mask, &gs, &gb);
    mask_shift(img->blue_mask, &bs, &bb);
    int fast = img->bits_per_pixel == 32 && img->byte_order == LSBFirst && rs == 16 && rb == 8 &&
               gs == 8 && gb == 8 && bs == 0 && bb == 8;
    for (int y = 0; y < img->height; y++) {
        unsigned char *o = rgb + (size_t)y * (size_t)img->width * 3;
        if (fast) { /* the usual TrueColor depth 24: B G R x in memory */
            const unsigned char *p =
                (const unsigned char *)img->data + (size_t)y * img->bytes_per_line;
            for (int x = 0; x < img->width; x++, p += 4, o += 3) {
                o[0] = p[2];
                o[1] = p[1];
                o[2] = p[0];
            }
            continue;
        }
        for (int x = 0; x < img->width; x++, o += 3) {
            unsigned long px = XGetPixel(img, x, y);
            o[0] = channel(px, img->red_mask, rs, rb);
            o[1] = channel(px, img->green_mask, gs, gb);
            o[2] = channel(px, img->blue_mask, bs, bb);
        }
    }
}
