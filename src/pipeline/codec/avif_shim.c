/* AVIF encoding for src/pipeline/encode/avif.rs: 8-bit RGB or RGBA in, an AVIF file out, through
 * libavif (built against the system's header, so no struct layout is copied into Rust).
 * libavif 0.11 (Debian bookworm) and 1.x both have these calls and fields. */
#include <avif/avif.h>
#include <stdio.h>
#include <string.h>

/* The YUV image an encode starts from: 8-bit 4:2:0 (with an alpha plane for RGBA), full-range
 * BT.601 YCbCr of sRGB, as JPEG has it, from `pixels` (rows of width * channels bytes; 1: gray,
 * 3: RGB, 4: RGBA with straight alpha). Gray goes straight into the luma plane (full-range luma
 * of R = G = B = v is v, and its chroma 128), without an RGB copy. The caller's pixels are not
 * needed once this returns. NULL with a message when it fails. */
avifImage *image_server_avif_image(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                                   char *error, size_t error_len) {
    avifImage *image = avifImageCreate(width, height, 8, AVIF_PIXEL_FORMAT_YUV420);
    if (!image) {
        snprintf(error, error_len, "avifImageCreate failed");
        return NULL;
    }
    image->yuvRange = AVIF_RANGE_FULL;
    image->colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
    image->transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
    image->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
    if (channels == 1) {
        avifImageAllocatePlanes(image, AVIF_PLANES_YUV);
        for (uint32_t y = 0; y < height; y++) {
            memcpy(image->yuvPlanes[AVIF_CHAN_Y] + (size_t)y * image->yuvRowBytes[AVIF_CHAN_Y],
                   pixels + (size_t)y * width, width);
        }
        uint32_t chroma_height = (height + 1) / 2;
        for (int plane = AVIF_CHAN_U; plane <= AVIF_CHAN_V; plane++) {
            memset(image->yuvPlanes[plane], 128, (size_t)image->yuvRowBytes[plane] * chroma_height);
        }
        return image;
    }
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, image);
    rgb.format = channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.pixels = (uint8_t *)pixels; /* read only */
    rgb.rowBytes = width * channels;
    avifResult result = avifImageRGBToYUV(image, &rgb);
    if (result != AVIF_RESULT_OK) {
        snprintf(error, error_len, "avifImageRGBToYUV: %s", avifResultToString(result));
        avifImageDestroy(image);
        return NULL;
    }
    return image;
}

void image_server_avif_image_free(avifImage *image) {
    avifImageDestroy(image);
}

/* Encodes `image` with aom at a constant quantizer (0 best .. 63 worst), one thread. On success
 * returns 0 and sets *out / *out_len, to be released with image_server_avif_free; else writes a
 * message into `error` and returns -1. The image stays the caller's. */
int image_server_avif_write(const avifImage *image, int quantizer, int alpha_quantizer, int speed, uint8_t **out,
                            size_t *out_len, char *error, size_t error_len) {
    int status = -1;
    avifRWData output = AVIF_DATA_EMPTY;
    avifEncoder *encoder = avifEncoderCreate();
    if (!encoder) {
        snprintf(error, error_len, "avifEncoderCreate failed");
        return -1;
    }
    encoder->codecChoice = AVIF_CODEC_CHOICE_AOM;
    encoder->maxThreads = 1;
    encoder->speed = speed;
    encoder->minQuantizer = quantizer;
    encoder->maxQuantizer = quantizer;
    encoder->minQuantizerAlpha = alpha_quantizer;
    encoder->maxQuantizerAlpha = alpha_quantizer;
    avifResult result = avifEncoderWrite(encoder, image, &output);
    if (result != AVIF_RESULT_OK) {
        snprintf(error, error_len, "avifEncoderWrite: %s: %s", avifResultToString(result), encoder->diag.error);
        goto done;
    }
    *out = output.data;
    *out_len = output.size;
    output.data = NULL; /* handed to the caller */
    status = 0;

done:
    avifEncoderDestroy(encoder);
    return status;
}

/* Releases what image_server_avif_write handed out. */
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

/* ---- Reading AVIF originals (src/pipeline/codec/avif.rs) ---- */

/* What the caller learns before decoding (kept in step with `Info` in avif.rs). */
struct image_server_avif_info {
    uint32_t width; /* after the clean aperture (clap), before irot/imir */
    uint32_t height;
    int32_t alpha;
    int32_t angle;  /* irot: anticlockwise quarter turns, 0 when none */
    int32_t mirror; /* imir: 0 top-bottom, 1 left-right, -1 none */
    uint64_t icc_len;
    int32_t primaries; /* CICP colour primaries and transfer characteristics */
    int32_t transfer;
    uint32_t frames;
};

/* A decoder over `data` that refuses images above `size_limit` pixels and files of more than
 * `count_limit` frames, one thread, metadata other than colour left alone; parsed. */
static avifDecoder *open_decoder(const uint8_t *data, size_t len, uint32_t size_limit, uint32_t count_limit,
                                 char *error, size_t error_len) {
    avifDecoder *dec = avifDecoderCreate();
    if (!dec) {
        snprintf(error, error_len, "avifDecoderCreate failed");
        return NULL;
    }
    dec->maxThreads = 1;
    dec->imageSizeLimit = size_limit;
    dec->imageCountLimit = count_limit;
    dec->ignoreExif = AVIF_TRUE;
    dec->ignoreXMP = AVIF_TRUE;
    dec->strictFlags = AVIF_STRICT_DISABLED;
    avifResult r = avifDecoderSetIOMemory(dec, data, len);
    if (r == AVIF_RESULT_OK) r = avifDecoderParse(dec);
    if (r != AVIF_RESULT_OK) {
        snprintf(error, error_len, "%s: %s", avifResultToString(r), dec->diag.error);
        avifDecoderDestroy(dec);
        return NULL;
    }
    return dec;
}

/* The clean aperture of the parsed image as a crop rectangle (the whole image without one). */
static int crop_of(avifDecoder *dec, avifCropRect *crop, char *error, size_t error_len) {
    const avifImage *image = dec->image;
    crop->x = 0;
    crop->y = 0;
    crop->width = image->width;
    crop->height = image->height;
    if (!(image->transformFlags & AVIF_TRANSFORM_CLAP)) return 0;
    if (!avifCropRectConvertCleanApertureBox(crop, &image->clap, image->width, image->height, image->yuvFormat,
                                             &dec->diag)) {
        snprintf(error, error_len, "invalid clean aperture: %s", dec->diag.error);
        return -1;
    }
    return 0;
}

int image_server_avif_info(const uint8_t *data, size_t len, uint32_t size_limit, uint32_t count_limit,
                           struct image_server_avif_info *info, char *error, size_t error_len) {
    memset(info, 0, sizeof *info);
    avifDecoder *dec = open_decoder(data, len, size_limit, count_limit, error, error_len);
    if (!dec) return -1;
    const avifImage *image = dec->image;
    avifCropRect crop;
    if (crop_of(dec, &crop, error, error_len) != 0) {
        avifDecoderDestroy(dec);
        return -1;
    }
    info->width = crop.width;
    info->height = crop.height;
    info->alpha = dec->alphaPresent ? 1 : 0;
    info->angle = (image->transformFlags & AVIF_TRANSFORM_IROT) ? image->irot.angle & 3 : 0;
    info->mirror = (image->transformFlags & AVIF_TRANSFORM_IMIR) ? image->imir.mode & 1 : -1;
    info->icc_len = image->icc.size;
    info->primaries = image->colorPrimaries;
    info->transfer = image->transferCharacteristics;
    info->frames = dec->imageCount > 0 ? (uint32_t)dec->imageCount : 1;
    avifDecoderDestroy(dec);
    return 0;
}

/* Decodes the first image into `out` (height rows of `stride` bytes, `channels` 3 or 4, the
 * cropped size image_server_avif_info gave), straight alpha, 8 bits, and copies its ICC profile
 * into `icc` when it is `icc_cap` bytes. 0, or -1 with a message. */
int image_server_avif_decode(const uint8_t *data, size_t len, uint32_t size_limit, uint32_t count_limit,
                             uint8_t *out, size_t stride, uint32_t width, uint32_t height, uint32_t channels,
                             uint8_t *icc, size_t icc_cap, char *error, size_t error_len) {
    int status = -1;
    avifRGBImage rgb;
    memset(&rgb, 0, sizeof rgb);
    avifDecoder *dec = open_decoder(data, len, size_limit, count_limit, error, error_len);
    if (!dec) return -1;
    avifResult r = avifDecoderNextImage(dec);
    if (r != AVIF_RESULT_OK) {
        snprintf(error, error_len, "%s: %s", avifResultToString(r), dec->diag.error);
        goto done;
    }
    avifCropRect crop;
    if (crop_of(dec, &crop, error, error_len) != 0) goto done;
    if (crop.width != width || crop.height != height || crop.x + crop.width > dec->image->width ||
        crop.y + crop.height > dec->image->height) {
        snprintf(error, error_len, "decoded %ux%u, the header said %ux%u", crop.width, crop.height, width, height);
        goto done;
    }
    if (icc && icc_cap > 0 && dec->image->icc.size == icc_cap) memcpy(icc, dec->image->icc.data, icc_cap);
    avifRGBImageSetDefaults(&rgb, dec->image);
    rgb.format = channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = 8;
    rgb.alphaPremultiplied = AVIF_FALSE;
    /* The clean aperture as a view of the decoded planes (no copy), so that the conversion goes
     * straight into the caller's buffer; a view libavif refuses (an odd corner of subsampled
     * chroma) is converted whole and cut. */
    const avifImage *source = dec->image;
    avifImage *view = avifImageCreateEmpty();
    if (view && avifImageSetViewRect(view, dec->image, &crop) == AVIF_RESULT_OK) source = view;
    int direct = source->width == width && source->height == height;
    if (direct) {
        rgb.width = width;
        rgb.height = height;
        rgb.pixels = out; /* straight into the caller's buffer */
        rgb.rowBytes = (uint32_t)stride;
    } else {
        avifRGBImageAllocatePixels(&rgb);
    }
    r = avifImageYUVToRGB(source, &rgb);
    if (view) avifImageDestroy(view);
    if (r != AVIF_RESULT_OK) {
        snprintf(error, error_len, "avifImageYUVToRGB: %s", avifResultToString(r));
        goto done;
    }
    if (!direct) {
        for (uint32_t y = 0; y < height; y++) {
            memcpy(out + (size_t)y * stride, rgb.pixels + (size_t)(crop.y + y) * rgb.rowBytes + (size_t)crop.x * channels,
                   (size_t)width * channels);
        }
    }
    status = 0;

done:
    if (rgb.pixels && rgb.pixels != out) avifRGBImageFreePixels(&rgb);
    avifDecoderDestroy(dec);
    return status;
}
