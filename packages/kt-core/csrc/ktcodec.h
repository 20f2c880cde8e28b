#ifndef KTCODEC_H
#define KTCODEC_H
#include <stddef.h>
#include <stdint.h>

/* Bumped when the C API changes; the Python wrapper checks it. */
#define KT_CODEC_ABI_VERSION 3

/* Return codes. >= 0: no error; < 0: the Python wrapper raises (see _scan_c.py's table). */
enum kt_code {
    KT_OK = 0,              /* complete frame; res[] filled */
    KT_NEED = 1,            /* incomplete; res[0] = absolute position needed */
    KT_SPACE = 2,           /* the int64 output array is too small: grow it and call again */
    KT_E_MAGIC = -1,        /* unexpected KT binary reply magic */
    KT_E_TOO_LARGE = -2,    /* the frame would exceed limit */
    KT_E_COUNT = -3,        /* a record/element count exceeds what limit allows */
    KT_E_NOT_HTTP = -4,     /* reply does not start with HTTP/1. */
    KT_E_HEADER_SIZE = -5,  /* HTTP header block over KT_HTTP_MAX_HEADER bytes */
    KT_E_STATUS_LINE = -6,  /* malformed HTTP status line */
    KT_E_HEADER_LINE = -7,  /* malformed HTTP header line */
    KT_E_CONTENT_LENGTH = -8,   /* malformed Content-Length */
    KT_E_CL_CONFLICT = -9,      /* conflicting Content-Length headers */
    KT_E_TRANSFER_ENCODING = -10, /* Transfer-Encoding present */
    KT_E_COLENC = -11,          /* unknown colenc in Content-Type */
    KT_E_NO_CONTENT_LENGTH = -12, /* no Content-Length */
    KT_E_BASE64 = -13,
    KT_E_URL = -14,
    KT_E_QP = -15,
    KT_E_ARG = -16              /* bad argument (caller bug) */
};

#define KT_HTTP_MAX_HEADER 65536

int kt_codec_abi_version(void);

/* All scanners read only buf[pos:end) and take 0 <= pos <= end, limit <= 2**62.
   res[0] is next_pos (KT_OK) or need (KT_NEED). */

/* res: next, rmagic, count, nfields; fields: up to cap int64s. */
int kt_scan_ktb(const uint8_t *buf, size_t pos, size_t end, int magic, uint64_t limit,
                int64_t *res, int64_t *fields, size_t cap);

/* res: next, code, nvalues; values: up to cap int64s. */
int kt_scan_tt(const uint8_t *buf, size_t pos, size_t end, int shape, uint64_t limit,
               int64_t *res, int64_t *values, size_t cap);

/* res: next, status, body_off, body_len, colenc, close. */
int kt_scan_http(const uint8_t *buf, size_t pos, size_t end, uint64_t limit, int64_t *res);

/* Decode the TSV body src[0:len) with colenc (0, 'B', 'U', 'Q') into out (len bytes).
   spans: 4 int64s per record (koff, klen, voff, vlen), offsets into out, or into src when
   colenc is 0 (nothing is written to out then). res: nrecords, bytes written to out. */
int kt_decode_tsv(const uint8_t *src, size_t len, int colenc, uint8_t *out,
                  int64_t *spans, size_t cap, int64_t *res);

/* Record layouts for kt_split_records. */
#define KT_REC_GET_BULK 0  /* dbidx u16, ksiz u32, vsiz u32, xt i64, key, value (KT get_bulk reply) */
#define KT_REC_KV 1        /* ksiz u32, vsiz u32, key, value (KT play_script reply, TT key/value lists) */
#define KT_SPLIT_FMT_PER_RECORD 26  /* "18x" + two "<u32>s": the most format bytes one record takes */

/* Walk up to count whole records of `layout` from buf[pos:end) and write, into fmt, a struct
   format ("=" then "18x<klen>s<vlen>s" or "8x<klen>s<vlen>s" per record) that Python's struct
   module unpacks from pos into key, value, key, value, ... (so CPython builds the bytes objects;
   this side owns none). Stops before the first incomplete record, and when fmt has no room for
   another record. A record header or body reaching past `stop` is KT_E_TOO_LARGE.
   res: [0] position after the last record walked, [1] records walked, [2] format length,
        [3] position the next record needs when it is incomplete, else 0. */
int kt_split_records(const uint8_t *buf, size_t pos, size_t end, int layout, uint64_t count, uint64_t stop,
                     char *fmt, size_t cap, int64_t *res);

#endif
