/* Declarations for cffi's cdef (no preprocessor). Keep in step with ktcodec.h. */
enum kt_code {
    KT_OK = 0,
    KT_NEED = 1,
    KT_SPACE = 2,
    KT_E_MAGIC = -1,
    KT_E_TOO_LARGE = -2,
    KT_E_COUNT = -3,
    KT_E_NOT_HTTP = -4,
    KT_E_HEADER_SIZE = -5,
    KT_E_STATUS_LINE = -6,
    KT_E_HEADER_LINE = -7,
    KT_E_CONTENT_LENGTH = -8,
    KT_E_CL_CONFLICT = -9,
    KT_E_TRANSFER_ENCODING = -10,
    KT_E_COLENC = -11,
    KT_E_NO_CONTENT_LENGTH = -12,
    KT_E_BASE64 = -13,
    KT_E_URL = -14,
    KT_E_QP = -15,
    KT_E_ARG = -16
};
int kt_codec_abi_version(void);
int kt_scan_ktb(const uint8_t *buf, size_t pos, size_t end, int magic, uint64_t limit,
                int64_t *res, int64_t *fields, size_t cap);
int kt_scan_tt(const uint8_t *buf, size_t pos, size_t end, int shape, uint64_t limit,
               int64_t *res, int64_t *values, size_t cap);
int kt_scan_http(const uint8_t *buf, size_t pos, size_t end, uint64_t limit, int64_t *res);
int kt_decode_tsv(const uint8_t *src, size_t len, int colenc, uint8_t *out,
                  int64_t *spans, size_t cap, int64_t *res);
int kt_split_records(const uint8_t *buf, size_t pos, size_t end, int layout, uint64_t count, uint64_t stop,
                     char *fmt, size_t cap, int64_t *res);
