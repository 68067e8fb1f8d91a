/* AVIF encoding for src/pipeline/encode/avif.rs: 8-bit RGB or RGBA in, an AVIF file out, through
 * libavif (built against the system's header, so no struct layout is copied into Rust).
 * libavif 0.11 (Debian bookworm) and 1.x both have these calls and fields. */
#include <avif/avif.h>
#include <stdio.h>
#include <string.h>

/* Encodes `pixels` (rows of width * channels bytes, channels 3 or 4, alpha not premultiplied)
 * with aom at a constant quantizer (0 best .. 63 worst), one thread. On success returns 0 and
 * sets *out / *out_len, to be released with image_server_avif_free; else writes a message into
 * `error` and returns -1. */
int image_server_avif_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                             int quantizer, int alpha_quantizer, int speed, uint8_t **out, size_t *out_len,
                             char *error, size_t error_len) {
    int status = -1;
    avifEncoder *encoder = NULL;
    avifRWData output = AVIF_DATA_EMPTY;
    avifImage *image = avifImageCreate(width, height, 8, AVIF_PIXEL_FORMAT_YUV420);
    if (!image) {
        snprintf(error, error_len, "avifImageCreate failed");
        return -1;
    }
    /* Full-range BT.601 YCbCr of sRGB, as JPEG has it. */
    image->yuvRange = AVIF_RANGE_FULL;
    image->colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
    image->transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
    image->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;

    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, image);
    rgb.format = channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.pixels = (uint8_t *)pixels; /* read only */
    rgb.rowBytes = width * channels;
    avifResult result = avifImageRGBToYUV(image, &rgb);
    if (result != AVIF_RESULT_OK) {
        snprintf(error, error_len, "avifImageRGBToYUV: %s", avifResultToString(result));
        goto done;
    }

    encoder = avifEncoderCreate();
    if (!encoder) {
        snprintf(error, error_len, "avifEncoderCreate failed");
        goto done;
    }
    encoder->codecChoice = AVIF_CODEC_CHOICE_AOM;
    encoder->maxThreads = 1;
    encoder->speed = speed;
    encoder->minQuantizer = quantizer;
    encoder->maxQuantizer = quantizer;
    encoder->minQuantizerAlpha = alpha_quantizer;
    encoder->maxQuantizerAlpha = alpha_quantizer;
    result = avifEncoderWrite(encoder, image, &output);
    if (result != AVIF_RESULT_OK) {
        snprintf(error, error_len, "avifEncoderWrite: %s: %s", avifResultToString(result), encoder->diag.error);
        goto done;
    }
    *out = output.data;
    *out_len = output.size;
    output.data = NULL; /* handed to the caller */
    status = 0;

done:
    if (encoder) avifEncoderDestroy(encoder);
    avifImageDestroy(image);
    return status;
}

/* Releases what image_server_avif_encode handed out. */
void image_server_avif_free(uint8_t *data, size_t len) {
    avifRWData output = {data, len};
    avifRWDataFree(&output);
}

/* libavif's version and its codecs, for `image-server --version` and the logs. */
void image_server_avif_versions(char *buffer, size_t len) {
    char codecs[256];
    avifCodecVersions(codecs);
    snprintf(buffer, len, "libavif %s (%s)", avifVersion(), codecs);
}
