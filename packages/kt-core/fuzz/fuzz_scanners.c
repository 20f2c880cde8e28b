/* libFuzzer harness: every scanner entry point on every input, at every limit class.
   Build (from packages/kt-core/fuzz): see README.md. Copies each input into an exact-size heap block. */
#include <stdlib.h>
#include <string.h>
#include "ktcodec.h"

#define CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
     /* Exact-size heap copy: ASan catches any read past the end. */
    uint8_t *buf = malloc(size ? size : 1);
    uint8_t *out = malloc(size ? size : 1);
    int64_t res[8], vals[CAP];
    char fmt[1 + 3 * KT_SPLIT_FMT_PER_RECORD]; /* room for 3 records: the "format full" stop runs too */
    static const uint64_t limits[] = {0, 7, 300, (uint64_t)1 << 28, (uint64_t)1 << 62};
    static const int magics[] = {0xB8, 0xB9, 0xBA, 0xB4};
    static const int colencs[] = {0, 'B', 'U', 'Q'};
    size_t li, i, cut;
    if (kt_codec_abi_version() != KT_CODEC_ABI_VERSION) abort(); /* the header and the library agree */
    memcpy(buf, data, size);
    cut = size ? (size_t)data[0] % (size + 1) : 0;
    for (li = 0; li < sizeof limits / sizeof limits[0]; li++) {
        uint64_t lim = limits[li];
        for (i = 0; i < 4; i++) {
            kt_scan_ktb(buf, 0, size, magics[i], lim, res, vals, CAP);
            kt_scan_ktb(buf, cut, size, magics[i], lim, res, vals, 3);
        }
        for (i = 0; i < 7; i++) {
            kt_scan_tt(buf, 0, size, (int)i, lim, res, vals, CAP);
            kt_scan_tt(buf, cut, size, (int)i, lim, res, vals, 1);
        }
        if (kt_scan_http(buf, 0, size, lim, res) == KT_OK) {
            size_t off = (size_t)res[2], len = (size_t)res[3];
            if (off + len > size) abort(); /* a complete frame must lie inside the buffer */
            kt_decode_tsv(buf + off, len, (int)res[4], out, vals, CAP, res);
        }
        kt_scan_http(buf, cut, size, lim, res);
        for (i = 0; i < 2; i++) {
            uint64_t count = size ? data[size - 1] : 0;
            if (kt_split_records(buf, cut, size, (int)i, count, cut + lim, fmt, sizeof fmt, res) == KT_OK) {
                /* The records walked lie inside the window, and the format fits its buffer. */
                if ((uint64_t)res[0] < cut || (uint64_t)res[0] > size || (uint64_t)res[2] > sizeof fmt) abort();
                if (res[3] && (uint64_t)res[3] <= size) abort(); /* need lies beyond what arrived */
            }
        }
    }
    for (i = 0; i < 4; i++) {
        kt_decode_tsv(buf, size, colencs[i], out, vals, CAP, res);
        kt_decode_tsv(buf + cut, size - cut, colencs[i], out, vals, 2, res);
    }
    free(buf);
    free(out);
    return 0;
}
