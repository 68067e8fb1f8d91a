/* HEIC and AVIF reading for src/pipeline/codec/heif/: the primary image of a HEIF file through
 * the system libheif (1.15 on Debian bookworm: HEVC through libde265, AV1 through dav1d/aom),
 * built against its header so no struct layout is copied into Rust. libheif applies the
 * file's irot/imir/clap transforms itself; EXIF orientation is left to nobody (HEIF readers
 * ignore it). Pixels come out as 8-bit RGB or RGBA (deeper images are reduced by libheif),
 * straight alpha, into a buffer the caller owns. */
#include <libheif/heif.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* Decodes the primary image into `out` (height rows of `stride` bytes, `channels` 3 or 4, the
 * size image_server_heif_info gave), and its ICC profile into `icc` when `icc_cap` holds it.
 * 0, or -1 with a message. */
int image_server_heif_decode(const uint8_t *data, size_t len, int max_side, uint8_t *out, size_t stride,
                             uint32_t width, uint32_t height, uint32_t channels, uint8_t *icc, size_t icc_cap,
                             char *error, size_t error_len) {
    struct heif_context *ctx;
    struct heif_image_handle *handle;
    struct heif_image *image = NULL;
    struct heif_decoding_options *options = NULL;
    int status = -1;
    if (open_primary(data, len, max_side, &ctx, &handle, error, error_len) != 0) goto done;
    if (icc && icc_cap > 0 && heif_image_handle_get_raw_color_profile_size(handle) == icc_cap) {
        struct heif_error err = heif_image_handle_get_raw_color_profile(handle, icc);
        if (err.code != heif_error_Ok) memset(icc, 0, icc_cap);
    }
    options = heif_decoding_options_alloc();
    if (!options) {
        snprintf(error, error_len, "heif_decoding_options_alloc failed");
        goto done;
    }
    options->convert_hdr_to_8bit = 1;
    enum heif_chroma chroma = channels == 4 ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB;
    struct heif_error err = heif_decode_image(handle, &image, heif_colorspace_RGB, chroma, options);
    if (err.code != heif_error_Ok) {
        set_error(error, error_len, "undecodable image", err);
        goto done;
    }
    int w = heif_image_get_width(image, heif_channel_interleaved);
    int h = heif_image_get_height(image, heif_channel_interleaved);
    int bits = heif_image_get_bits_per_pixel_range(image, heif_channel_interleaved);
    if (w != (int)width || h != (int)height || bits != 8) {
        snprintf(error, error_len, "decoded %dx%d at %d bits, the header said %ux%u", w, h, bits, width, height);
        goto done;
    }
    int plane_stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(image, heif_channel_interleaved, &plane_stride);
    if (!plane || plane_stride < (int)(width * channels)) {
        snprintf(error, error_len, "no interleaved plane");
        goto done;
    }
    for (uint32_t y = 0; y < height; y++) {
        memcpy(out + (size_t)y * stride, plane + (size_t)y * (size_t)plane_stride, (size_t)width * channels);
    }
    if (channels == 4 && heif_image_handle_is_premultiplied_alpha(handle)) {
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
    status = 0;

done:
    if (image) heif_image_release(image);
    if (options) heif_decoding_options_free(options);
    close_primary(ctx, handle);
    return status;
}

/* libheif's version and whether it has decoders for HEVC and AV1. */
void image_server_heif_versions(char *buffer, size_t len) {
    snprintf(buffer, len, "libheif %s (hevc: %s, av1: %s)", heif_get_version(),
             heif_have_decoder_for_format(heif_compression_HEVC) ? "yes" : "no",
             heif_have_decoder_for_format(heif_compression_AV1) ? "yes" : "no");
}
