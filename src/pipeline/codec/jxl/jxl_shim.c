/* JPEG XL output for src/pipeline/codec/jxl/encode.rs: 8-bit gray, RGB or RGBA in, a bare JPEG XL
 * codestream out, through the system libjxl (0.7 on Debian bookworm), built against its
 * header so no struct layout is copied into Rust. One thread: renders run on the server's pool. */
#include <jxl/encode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An encoder holding its own copy of `pixels` (rows of width * channels bytes; 1: gray, 3: RGB,
 * 4: RGBA; sRGB, straight alpha) as a frame at butteraugli `distance` (0 lossless) and `effort`
 * (1 fastest .. 9): the caller's pixels are not needed once this returns. Encode it with
 * image_server_jxl_finish; NULL with a message when it fails. */
JxlEncoder *image_server_jxl_start(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                                   float distance, int effort, char *error, size_t error_len) {
    JxlEncoder *enc = JxlEncoderCreate(NULL);
    if (!enc) {
        snprintf(error, error_len, "JxlEncoderCreate failed");
        return NULL;
    }
    JxlBasicInfo info;
    JxlEncoderInitBasicInfo(&info);
    info.xsize = width;
    info.ysize = height;
    info.bits_per_sample = 8;
    info.num_color_channels = channels == 1 ? 1 : 3;
    info.uses_original_profile = distance == 0.0f ? JXL_TRUE : JXL_FALSE;
    if (channels == 4) {
        info.num_extra_channels = 1;
        info.alpha_bits = 8;
    }
    if (JxlEncoderSetBasicInfo(enc, &info) != JXL_ENC_SUCCESS) {
        snprintf(error, error_len, "JxlEncoderSetBasicInfo failed (error %d)", (int)JxlEncoderGetError(enc));
        goto failed;
    }
    JxlColorEncoding colour;
    JxlColorEncodingSetToSRGB(&colour, channels == 1 ? JXL_TRUE : JXL_FALSE);
    if (JxlEncoderSetColorEncoding(enc, &colour) != JXL_ENC_SUCCESS) {
        snprintf(error, error_len, "JxlEncoderSetColorEncoding failed");
        goto failed;
    }
    JxlEncoderFrameSettings *settings = JxlEncoderFrameSettingsCreate(enc, NULL);
    JxlEncoderFrameSettingsSetOption(settings, JXL_ENC_FRAME_SETTING_EFFORT, effort);
    if (distance == 0.0f) {
        JxlEncoderSetFrameLossless(settings, JXL_TRUE);
    } else {
        JxlEncoderSetFrameDistance(settings, distance);
    }
    JxlPixelFormat format = {channels, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
    size_t size = (size_t)width * height * channels;
    if (JxlEncoderAddImageFrame(settings, &format, pixels, size) != JXL_ENC_SUCCESS) {
        snprintf(error, error_len, "JxlEncoderAddImageFrame failed (error %d)", (int)JxlEncoderGetError(enc));
        goto failed;
    }
    JxlEncoderCloseInput(enc);
    return enc;

failed:
    JxlEncoderDestroy(enc);
    return NULL;
}

/* Encodes the frame `enc` holds and destroys `enc`. On success returns 0 and sets *out /
 * *out_len, to be released with image_server_jxl_free; else writes a message into `error` and
 * returns -1. `size_hint`: the bytes of the frame's pixels, to size the first output buffer. */
int image_server_jxl_finish(JxlEncoder *enc, size_t size_hint, uint8_t **out, size_t *out_len, char *error,
                            size_t error_len) {
    int status = -1;
    size_t capacity = 64 * 1024 + size_hint / 8, used = 0;
    uint8_t *buffer = malloc(capacity);
    for (;;) {
        if (!buffer) {
            snprintf(error, error_len, "out of memory");
            goto done;
        }
        uint8_t *next = buffer + used;
        size_t avail = capacity - used;
        JxlEncoderStatus result = JxlEncoderProcessOutput(enc, &next, &avail);
        used = (size_t)(next - buffer);
        if (result == JXL_ENC_SUCCESS) break;
        if (result != JXL_ENC_NEED_MORE_OUTPUT) {
            snprintf(error, error_len, "JxlEncoderProcessOutput failed (error %d)", (int)JxlEncoderGetError(enc));
            goto done;
        }
        capacity *= 2;
        uint8_t *grown = realloc(buffer, capacity);
        if (!grown) free(buffer);
        buffer = grown;
    }
    *out = buffer;
    *out_len = used;
    buffer = NULL; /* handed to the caller */
    status = 0;

done:
    free(buffer);
    JxlEncoderDestroy(enc);
    return status;
}

/* Destroys an encoder image_server_jxl_finish was not given. */
void image_server_jxl_abandon(JxlEncoder *enc) { JxlEncoderDestroy(enc); }

/* Releases what image_server_jxl_finish handed out. */
void image_server_jxl_free(uint8_t *data) { free(data); }

/* libjxl's version, for the logs. */
uint32_t image_server_jxl_version(void) { return JxlEncoderVersion(); }
