/* Decode time of AVIF files through libavif (dav1d) and through libheif (its AV1 decoder), to
 * RGB(A) 8-bit, the way the server reads originals: one thread where the library lets us say
 * so. Built and run by avif_decode.sh: avif_decode FILE RUNS prints "libavif MS libheif MS"
 * (the median of RUNS decodes each). */
#include <avif/avif.h>
#include <libheif/heif.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double with_libavif(const uint8_t *data, size_t len) {
    double start = now_ms();
    avifDecoder *dec = avifDecoderCreate();
    dec->maxThreads = 1;
    dec->strictFlags = AVIF_STRICT_DISABLED;
    avifResult r = avifDecoderSetIOMemory(dec, data, len);
    if (r == AVIF_RESULT_OK) r = avifDecoderParse(dec);
    if (r == AVIF_RESULT_OK) r = avifDecoderNextImage(dec);
    if (r != AVIF_RESULT_OK) {
        fprintf(stderr, "libavif failed: %s\n", avifResultToString(r));
        exit(1);
    }
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, dec->image);
    rgb.depth = 8;
    avifRGBImageAllocatePixels(&rgb);
    avifImageYUVToRGB(dec->image, &rgb);
    avifRGBImageFreePixels(&rgb);
    avifDecoderDestroy(dec);
    return now_ms() - start;
}

static double with_libheif(const uint8_t *data, size_t len) {
    double start = now_ms();
    struct heif_context *ctx = heif_context_alloc();
    heif_context_set_max_decoding_threads(ctx, 0);
    struct heif_image_handle *handle;
    struct heif_image *image;
    struct heif_decoding_options *options = heif_decoding_options_alloc();
    options->convert_hdr_to_8bit = 1;
    if (heif_context_read_from_memory_without_copy(ctx, data, len, NULL).code ||
        heif_context_get_primary_image_handle(ctx, &handle).code ||
        heif_decode_image(handle, &image, heif_colorspace_RGB,
                          heif_image_handle_has_alpha_channel(handle) ? heif_chroma_interleaved_RGBA
                                                                      : heif_chroma_interleaved_RGB,
                          options)
            .code) {
        fprintf(stderr, "libheif failed\n");
        exit(1);
    }
    heif_image_release(image);
    heif_image_handle_release(handle);
    heif_decoding_options_free(options);
    heif_context_free(ctx);
    return now_ms() - start;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    size_t len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(len);
    if (fread(data, 1, len, f) != len) return 1;
    fclose(f);
    int runs = atoi(argv[2]);
    double *a = calloc(runs, sizeof *a), *h = calloc(runs, sizeof *h);
    for (int i = 0; i < runs; i++) {
        a[i] = with_libavif(data, len);
        h[i] = with_libheif(data, len);
    }
    qsort(a, runs, sizeof *a, cmp);
    qsort(h, runs, sizeof *h, cmp);
    printf("%.1f %.1f\n", a[runs / 2], h[runs / 2]);
    return 0;
}
