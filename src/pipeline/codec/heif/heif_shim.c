/* HEIC and AVIF reading for src/pipeline/codec/heif/: the primary image of a HEIF file through
 * the system libheif (1.15 on Debian bookworm: HEVC through libde265, AV1 through dav1d/aom),
 * built against its header so no struct layout is copied into Rust. libheif applies the
 * file's irot/imir/clap transforms itself; EXIF orientation is left to nobody (HEIF readers
 * ignore it). Pixels come out as 8-bit RGB or RGBA (deeper images reduced here), straight
 * alpha, into a buffer the caller owns, converted from libheif's own planes: libheif's
 * interleaved output would be a third copy of the image (its planes, its interleaved image,
 * ours). */
#include <libheif/heif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* What the caller learns before decoding (kept in step with `Info` in mod.rs). */
struct image_server_heif_info {
    uint32_t width;  /* after irot/imir/clap */
    uint32_t height;
    int32_t alpha;   /* 1 when the primary image has an alpha plane */
    int32_t luma_bits;
    uint64_t icc_len; /* bytes of its ICC profile, 0 when none */
    int32_t has_nclx;
    int32_t primaries; /* nclx colour primaries (ITU-T H.273), when has_nclx */
    int32_t transfer;  /* nclx transfer characteristics */
};

static void set_error(char *error, size_t error_len, const char *what, struct heif_error err) {
    snprintf(error, error_len, "%s: %s", what, err.message ? err.message : "failed");
}

/* Opens `data` with every image at most `max_side` pixels on a side and libheif's own tile
 * threads off (renders run on the server's pool), and takes its primary image. */
static int open_primary(const uint8_t *data, size_t len, int max_side, struct heif_context **ctx,
                        struct heif_image_handle **handle, char *error, size_t error_len) {
    *ctx = heif_context_alloc();
    *handle = NULL;
    if (!*ctx) {
        snprintf(error, error_len, "heif_context_alloc failed");
        return -1;
    }
    heif_context_set_maximum_image_size_limit(*ctx, max_side);
    heif_context_set_max_decoding_threads(*ctx, 0);
    struct heif_error err = heif_context_read_from_memory_without_copy(*ctx, data, len, NULL);
    if (err.code != heif_error_Ok) {
        set_error(error, error_len, "unreadable file", err);
        return -1;
    }
    err = heif_context_get_primary_image_handle(*ctx, handle);
    if (err.code != heif_error_Ok) {
        set_error(error, error_len, "no primary image", err);
        return -1;
    }
    return 0;
}

static void close_primary(struct heif_context *ctx, struct heif_image_handle *handle) {
    if (handle) heif_image_handle_release(handle);
    if (ctx) heif_context_free(ctx);
}

/* Reads the primary image's size and colour without decoding it. 0, or -1 with a message. */
int image_server_heif_info(const uint8_t *data, size_t len, int max_side, struct image_server_heif_info *info,
                           char *error, size_t error_len) {
    struct heif_context *ctx;
    struct heif_image_handle *handle;
    memset(info, 0, sizeof *info);
    if (open_primary(data, len, max_side, &ctx, &handle, error, error_len) != 0) {
        close_primary(ctx, handle);
        return -1;
    }
    int width = heif_image_handle_get_width(handle), height = heif_image_handle_get_height(handle);
    info->width = width > 0 ? (uint32_t)width : 0;
    info->height = height > 0 ? (uint32_t)height : 0;
    info->alpha = heif_image_handle_has_alpha_channel(handle);
    info->luma_bits = heif_image_handle_get_luma_bits_per_pixel(handle);
    info->icc_len = heif_image_handle_get_raw_color_profile_size(handle);
    struct heif_color_profile_nclx *nclx = NULL;
    struct heif_error nclx_err = heif_image_handle_get_nclx_color_profile(handle, &nclx);
    if (nclx_err.code == heif_error_Ok && nclx) {
        info->has_nclx = 1;
        info->primaries = nclx->color_primaries;
        info->transfer = nclx->transfer_characteristics;
    }
    /* libheif 1.15 hands out the profile even when it answers an error (unknown primaries):
     * found leaking by fuzz/regressions/upload_heif/leak-88e5897c. */
    if (nclx) heif_nclx_color_profile_free(nclx);
    close_primary(ctx, handle);
    return 0;
}

/* The primary image decoded by libheif, held between image_server_heif_decode and
 * image_server_heif_copy. */
struct image_server_heif_decoded {
    struct heif_context *ctx;
    struct heif_image_handle *handle;
    struct heif_image *image;
};

void image_server_heif_release(struct image_server_heif_decoded *decoded) {
    if (!decoded) return;
    if (decoded->image) heif_image_release(decoded->image);
    close_primary(decoded->ctx, decoded->handle);
    free(decoded);
}

/* Decodes the primary image as libheif holds it after its transforms: its planes, without the
 * conversion to interleaved RGB (a grid is assembled in planar RGB; a single image is planar
 * RGB, or gray), so that image_server_heif_copy writes them straight into the caller's buffer
 * and no interleaved copy of the image is ever made by libheif. Copies the ICC profile into
 * `icc` when `icc_cap` holds it. NULL with a message when it fails. */
struct image_server_heif_decoded *image_server_heif_decode(const uint8_t *data, size_t len, int max_side,
                                                           uint8_t *icc, size_t icc_cap, char *error,
                                                           size_t error_len) {
    struct image_server_heif_decoded *decoded = calloc(1, sizeof *decoded);
    struct heif_decoding_options *options = NULL;
    if (!decoded) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    if (open_primary(data, len, max_side, &decoded->ctx, &decoded->handle, error, error_len) != 0) goto failed;
    if (icc && icc_cap > 0 && heif_image_handle_get_raw_color_profile_size(decoded->handle) == icc_cap) {
        struct heif_error err = heif_image_handle_get_raw_color_profile(decoded->handle, icc);
        if (err.code != heif_error_Ok) memset(icc, 0, icc_cap);
    }
    options = heif_decoding_options_alloc();
    if (!options) {
        snprintf(error, error_len, "heif_decoding_options_alloc failed");
        goto failed;
    }
    struct heif_error err =
        heif_decode_image(decoded->handle, &decoded->image, heif_colorspace_undefined, heif_chroma_undefined, options);
    heif_decoding_options_free(options);
    if (err.code != heif_error_Ok) {
        set_error(error, error_len, "undecodable image", err);
        goto failed;
    }
    return decoded;

failed:
    image_server_heif_release(decoded);
    return NULL;
}

/* One 8-bit sample of a plane's row at `x`, from `bits` of precision (8, or 9 to 16 stored in
 * two bytes): shifted down, as libheif's own reduction to 8 bits does. */
static inline uint8_t sample(const uint8_t *row, uint32_t x, int bits) {
    if (bits <= 8) return row[x];
    return (uint8_t)(((const uint16_t *)row)[x] >> (bits - 8));
}

/* Rows converted between two releases of libheif's pages behind them. */
#define RELEASE_ROWS 64

/* Writes the decoded image into `out` (height rows of `stride` bytes, `channels` 3 or 4, the
 * size image_server_heif_info gave) as 8-bit interleaved RGB(A) with straight alpha, from
 * libheif's planes: R, G, B (or Y for gray) and alpha. 0, or -1 with a message. */
int image_server_heif_copy(const struct image_server_heif_decoded *decoded, uint8_t *out, size_t stride,
                           uint32_t width, uint32_t height, uint32_t channels, char *error, size_t error_len) {
    const struct heif_image *image = decoded->image;
    enum heif_colorspace space = heif_image_get_colorspace(image);
    enum heif_chroma chroma = heif_image_get_chroma_format(image);
    enum heif_channel colour[3] = {heif_channel_R, heif_channel_G, heif_channel_B};
    if (space == heif_colorspace_monochrome) {
        colour[0] = colour[1] = colour[2] = heif_channel_Y;
    } else if (space != heif_colorspace_RGB || chroma != heif_chroma_444) {
        snprintf(error, error_len, "libheif gave colorspace %d chroma %d, not planar RGB", (int)space, (int)chroma);
        return -1;
    }
    const uint8_t *planes[4] = {NULL, NULL, NULL, NULL};
    int strides[4] = {0, 0, 0, 0}, bits[4] = {8, 8, 8, 8};
    int count = channels == 4 ? 4 : 3;
    for (int c = 0; c < count; c++) {
        enum heif_channel channel = c < 3 ? colour[c] : heif_channel_Alpha;
        int w = heif_image_get_width(image, channel), h = heif_image_get_height(image, channel);
        bits[c] = heif_image_get_bits_per_pixel_range(image, channel);
        planes[c] = heif_image_get_plane_readonly(image, channel, &strides[c]);
        if (!planes[c] || w != (int)width || h != (int)height || bits[c] < 1 || bits[c] > 16 ||
            strides[c] < (int)width * (bits[c] > 8 ? 2 : 1)) {
            snprintf(error, error_len, "plane %d is %dx%d at %d bits, the header said %ux%u", c, w, h, bits[c], width,
                     height);
            return -1;
        }
    }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *row = out + (size_t)y * stride;
        for (int c = 0; c < count; c++) {
            const uint8_t *src = planes[c] + (size_t)y * (size_t)strides[c];
            for (uint32_t x = 0; x < width; x++) row[(size_t)x * channels + c] = sample(src, x, bits[c]);
        }
        if ((y + 1) % RELEASE_ROWS == 0 && page > 0) {
            /* The rows read so far are never read again, and the planes are released whole
             * once this returns: their whole pages go back to the system now, so that our
             * bitmap grows as libheif's planes shrink (the pages read as zeros until freed). */
            for (int c = 0; c < count; c++) {
                uintptr_t start = ((uintptr_t)planes[c] + page - 1) / page * page;
                uintptr_t end = ((uintptr_t)planes[c] + (uintptr_t)(y + 1) * (uintptr_t)strides[c]) / page * page;
                if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
            }
        }
    }
    if (channels == 4 && heif_image_handle_is_premultiplied_alpha(decoded->handle)) {
        for (uint32_t y = 0; y < height; y++) {
            uint8_t *row = out + (size_t)y * stride;
            for (uint32_t x = 0; x < width; x++) {
                uint8_t *px = row + (size_t)x * 4;
                if (px[3] == 0 || px[3] == 255) continue;
                for (int c = 0; c < 3; c++) {
                    unsigned v = (px[c] * 255u + px[3] / 2) / px[3];
                    px[c] = v > 255 ? 255 : (uint8_t)v;
                }
            }
        }
    }
    return 0;
}

/* libheif's version and whether it has decoders for HEVC and AV1. */
void image_server_heif_versions(char *buffer, size_t len) {
    snprintf(buffer, len, "libheif %s (hevc: %s, av1: %s)", heif_get_version(),
             heif_have_decoder_for_format(heif_compression_HEVC) ? "yes" : "no",
             heif_have_decoder_for_format(heif_compression_AV1) ? "yes" : "no");
}
