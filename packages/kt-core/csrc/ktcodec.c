/* Binary-protocol scanners (Kyoto Tycoon binary, Tokyo Tyrant). See docs/codec.md.
   Mirrors kt_core/codec/_scan_pure.py check for check, so both raise the same exception class.
   Positions are uint64_t: a wire length is < 2**32 and a buffer < 2**62, so sums cannot wrap. */
#include "ktcodec.h"

int kt_codec_abi_version(void) { return KT_CODEC_ABI_VERSION; }

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint64_t be64(const uint8_t *p) { return ((uint64_t)be32(p) << 32) | (uint64_t)be32(p + 4); }

static int64_t as_signed64(uint64_t v) {
    /* Two's complement conversion without implementation-defined casts. */
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

#define NEED(q) do { res[0] = (int64_t)(q); return KT_NEED; } while (0)
/* q: absolute end the frame must reach; beyond pos + limit is too large. */
#define CHECK_LIMIT(q) do { if ((uint64_t)(q) - pos > limit) return KT_E_TOO_LARGE; } while (0)

/* `count` records of (ksiz u32, vsiz u32, key, value) from *p: KT play_script replies and TT
   key/value lists share this layout. Appends koff, klen, voff, vlen per record to fields[*nf..],
   advances *p past them; returns KT_OK, KT_NEED (res[0] = position needed), KT_SPACE or an error. */
static int scan_kv_records(const uint8_t *buf, size_t end, uint64_t stop, uint64_t count, uint64_t *p,
                           int64_t *res, int64_t *fields, size_t cap, uint64_t *nf) {
    uint64_t i, h, nxt, q = *p, n = *nf;
    for (i = 0; i < count; i++) {
        uint32_t ksiz, vsiz;
        h = q + 8;
        if (h > stop) return KT_E_TOO_LARGE;
        if (end < h) NEED(h);
        ksiz = be32(buf + q);
        vsiz = be32(buf + q + 4);
        nxt = h + ksiz + vsiz;
        if (nxt > stop) return KT_E_TOO_LARGE;
        if (end < nxt) NEED(nxt);
        if (cap - n < 4) return KT_SPACE;
        fields[n++] = (int64_t)h;
        fields[n++] = (int64_t)ksiz;
        fields[n++] = (int64_t)(h + ksiz);
        fields[n++] = (int64_t)vsiz;
        q = nxt;
    }
    *p = q;
    *nf = n;
    return KT_OK;
}

int kt_scan_ktb(const uint8_t *buf, size_t pos, size_t end, int magic, uint64_t limit,
                int64_t *res, int64_t *fields, size_t cap) {
    uint64_t p, h, nxt, count, i, stop, nf = 0;
    int rmagic;
    if (pos > end) return KT_E_ARG;
    if (magic != 0xB8 && magic != 0xB9 && magic != 0xBA && magic != 0xB4) return KT_E_ARG;
    if (end <= pos) {
        if (1 > limit) return KT_E_TOO_LARGE;
        NEED(pos + 1);
    }
    rmagic = buf[pos];
    if (rmagic == 0xBF) {
        if (1 > limit) return KT_E_TOO_LARGE;
        res[0] = (int64_t)pos + 1; res[1] = 0xBF; res[2] = 0; res[3] = 0;
        return KT_OK;
    }
    if (rmagic != magic) return KT_E_MAGIC;
    p = (uint64_t)pos + 5;
    CHECK_LIMIT(p);
    if (end < p) NEED(p);
    count = be32(buf + pos + 1);
    res[1] = magic;
    res[2] = (int64_t)count;
    if (magic == 0xB8 || magic == 0xB9) {
        res[0] = (int64_t)p; res[3] = 0;
        return KT_OK;
    }
    if (count > limit / 10) return KT_E_COUNT;
    stop = (uint64_t)pos + limit;
    if (magic == 0xBA) {
        for (i = 0; i < count; i++) {
            uint32_t ksiz, vsiz;
            h = p + 18;
            if (h > stop) return KT_E_TOO_LARGE;
            if (end < h) NEED(h);
            ksiz = be32(buf + p + 2);
            vsiz = be32(buf + p + 6);
            nxt = h + ksiz + vsiz;
            if (nxt > stop) return KT_E_TOO_LARGE;
            if (end < nxt) NEED(nxt);
            if (cap - nf < 6) return KT_SPACE;
            fields[nf++] = (int64_t)(((uint32_t)buf[p] << 8) | buf[p + 1]);
            fields[nf++] = as_signed64(be64(buf + p + 10));
            fields[nf++] = (int64_t)h;
            fields[nf++] = (int64_t)ksiz;
            fields[nf++] = (int64_t)(h + ksiz);
            fields[nf++] = (int64_t)vsiz;
            p = nxt;
        }
    } else {
        int rc = scan_kv_records(buf, end, stop, count, &p, res, fields, cap, &nf);
        if (rc != KT_OK) return rc;
    }
    res[0] = (int64_t)p;
    res[3] = (int64_t)nf;
    return KT_OK;
}

int kt_scan_tt(const uint8_t *buf, size_t pos, size_t end, int shape, uint64_t limit,
               int64_t *res, int64_t *values, size_t cap) {
    uint64_t p, h, nxt, n, i, stop, nv = 0;
    int code;
    if (pos > end || shape < 0 || shape > 6) return KT_E_ARG;
    if (1 > limit) return KT_E_TOO_LARGE;
    if (end <= pos) NEED(pos + 1);
    code = buf[pos];
    res[1] = code;
    res[2] = 0;
    if (shape == 0 || (code != 0 && shape < 5)) {
        res[0] = (int64_t)pos + 1;
        return KT_OK;
    }
    stop = (uint64_t)pos + limit;
    if (shape == 2 || shape == 3 || shape == 4) {
        p = pos + (shape == 2 ? 5 : shape == 3 ? 9 : 17);
        if (p > stop) return KT_E_TOO_LARGE;
        if (end < p) NEED(p);
        if (cap < 2) return KT_SPACE;
        if (shape == 2) {
            uint32_t v = be32(buf + pos + 1);
            values[0] = v <= (uint32_t)INT32_MAX ? (int64_t)v : (int64_t)v - 4294967296LL;
            nv = 1;
        } else if (shape == 3) {
            /* u64: the wrapper reinterprets a negative value as unsigned. */
            values[0] = as_signed64(be64(buf + pos + 1));
            nv = 1;
        } else {
            values[0] = as_signed64(be64(buf + pos + 1));
            values[1] = as_signed64(be64(buf + pos + 9));
            nv = 2;
        }
        res[0] = (int64_t)p;
        res[2] = (int64_t)nv;
        return KT_OK;
    }
    p = (uint64_t)pos + 5;
    if (p > stop) return KT_E_TOO_LARGE;
    if (end < p) NEED(p);
    n = be32(buf + pos + 1);
    if (shape == 1) {
        nxt = p + n;
        if (nxt > stop) return KT_E_TOO_LARGE;
        if (end < nxt) NEED(nxt);
        if (cap < 2) return KT_SPACE;
        values[0] = (int64_t)p;
        values[1] = (int64_t)n;
        res[0] = (int64_t)nxt;
        res[2] = 2;
        return KT_OK;
    }
    if (shape == 5) {
        if (n > limit / 4) return KT_E_COUNT;
        for (i = 0; i < n; i++) {
            uint32_t size;
            h = p + 4;
            if (h > stop) return KT_E_TOO_LARGE;
            if (end < h) NEED(h);
            size = be32(buf + p);
            nxt = h + size;
            if (nxt > stop) return KT_E_TOO_LARGE;
            if (end < nxt) NEED(nxt);
            if (cap - nv < 2) return KT_SPACE;
            values[nv++] = (int64_t)h;
            values[nv++] = (int64_t)size;
            p = nxt;
        }
    } else {
        int rc;
        if (n > limit / 8) return KT_E_COUNT;
        rc = scan_kv_records(buf, end, stop, n, &p, res, values, cap, &nv);
        if (rc != KT_OK) return rc;
    }
    res[0] = (int64_t)p;
    res[2] = (int64_t)nv;
    return KT_OK;
}

/* Decimal digits of v at *out (no terminator); returns the count. */
static size_t put_u32(char *out, uint32_t v) {
    char tmp[10];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

int kt_split_records(const uint8_t *buf, size_t pos, size_t end, int layout, uint64_t count, uint64_t stop,
                     char *fmt, size_t cap, int64_t *res) {
    uint64_t p = pos, h, nxt, i;
    size_t w = 0, head, kat;
    uint32_t ksiz, vsiz;
    if (pos > end || (layout != KT_REC_GET_BULK && layout != KT_REC_KV) || cap < 1 + KT_SPLIT_FMT_PER_RECORD)
        return KT_E_ARG;
    head = layout == KT_REC_GET_BULK ? 18 : 8;
    kat = layout == KT_REC_GET_BULK ? 2 : 0; /* ksiz, then vsiz, start here in the record header */
    fmt[w++] = '=';
    res[3] = 0;
    for (i = 0; i < count && cap - w >= KT_SPLIT_FMT_PER_RECORD; i++) {
        h = p + head;
        if (h > stop) return KT_E_TOO_LARGE;
        if (end < h) { res[3] = (int64_t)h; break; }
        ksiz = be32(buf + p + kat);
        vsiz = be32(buf + p + kat + 4);
        nxt = h + (uint64_t)ksiz + vsiz;
        if (nxt > stop) return KT_E_TOO_LARGE;
        if (end < nxt) { res[3] = (int64_t)nxt; break; }
        if (layout == KT_REC_GET_BULK) { fmt[w++] = '1'; fmt[w++] = '8'; } else { fmt[w++] = '8'; }
        fmt[w++] = 'x';
        w += put_u32(fmt + w, ksiz);
        fmt[w++] = 's';
        w += put_u32(fmt + w, vsiz);
        fmt[w++] = 's';
        p = nxt;
    }
    res[0] = (int64_t)p;
    res[1] = (int64_t)i;
    res[2] = (int64_t)w;
    return KT_OK;
}
