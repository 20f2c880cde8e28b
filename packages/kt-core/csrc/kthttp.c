/* Kyoto Tycoon HTTP reply scanner and TSV decoder. See docs/codec.md.
   Mirrors kt_core/codec/_scan_pure.py check for check. */
#include <string.h>
#include "ktcodec.h"

#define MAX_LIMIT ((uint64_t)1 << 62)
#define SATURATED (MAX_LIMIT + 1)

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static int upper(int c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ows(int c) { return c == ' ' || c == '\t'; }

/* s[0:n) equals the lowercase literal lit, ignoring ASCII case. */
static int ieq(const uint8_t *s, size_t n, const char *lit) {
    size_t i, m = strlen(lit);
    if (n != m) return 0;
    for (i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)lit[i]) return 0;
    return 1;
}

static void strip(const uint8_t **s, size_t *n) {
    while (*n && is_ows((*s)[0])) { (*s)++; (*n)--; }
    while (*n && is_ows((*s)[*n - 1])) (*n)--;
}

/* First "\r\n" in s[0:n), or n. */
static size_t find_crlf(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i + 1 < n) {
        const uint8_t *r = memchr(s + i, '\r', n - i - 1);
        if (!r) return n;
        i = (size_t)(r - s);
        if (s[i + 1] == '\n') return i;
        i++;
    }
    return n;
}

static int parse_header(const uint8_t *line, size_t n, uint64_t *length, int *colenc, int *conn_close,
                        int *keep_alive) {
    const uint8_t *colon = memchr(line, ':', n);
    const uint8_t *name = line, *value;
    size_t nlen, vlen, i;
    if (!colon || colon == line) return KT_E_HEADER_LINE;
    nlen = (size_t)(colon - line);
    for (i = 0; i < nlen; i++)
        if (name[i] <= 0x20 || name[i] == 0x7F) return KT_E_HEADER_LINE;
    value = colon + 1;
    vlen = n - nlen - 1;
    strip(&value, &vlen);
    if (ieq(name, nlen, "content-length")) {
        uint64_t cl = 0;
        if (vlen == 0) return KT_E_CONTENT_LENGTH;
        for (i = 0; i < vlen; i++)
            if (!is_digit(value[i])) return KT_E_CONTENT_LENGTH;
        if (vlen >= 20) {
            cl = SATURATED;
        } else {
            for (i = 0; i < vlen; i++) cl = cl * 10 + (uint64_t)(value[i] - '0');
            if (cl > MAX_LIMIT) cl = SATURATED;
        }
        if (*length != UINT64_MAX && cl != *length) return KT_E_CL_CONFLICT;
        *length = cl;
    } else if (ieq(name, nlen, "transfer-encoding")) {
        return KT_E_TRANSFER_ENCODING;
    } else if (ieq(name, nlen, "connection")) {
        size_t start = 0;
        while (start <= vlen) {
            const uint8_t *comma = memchr(value + start, ',', vlen - start);
            size_t stop = comma ? (size_t)(comma - value) : vlen;
            const uint8_t *tok = value + start;
            size_t tlen = stop - start;
            strip(&tok, &tlen);
            if (ieq(tok, tlen, "close")) *conn_close = 1;
            else if (ieq(tok, tlen, "keep-alive")) *keep_alive = 1;
            start = stop + 1;
        }
    } else if (ieq(name, nlen, "content-type")) {
        const uint8_t *semi = memchr(value, ';', vlen);
        while (semi) {
            size_t start = (size_t)(semi - value) + 1;
            const uint8_t *next = start < vlen ? memchr(value + start, ';', vlen - start) : NULL;
            size_t stop = next ? (size_t)(next - value) : vlen;
            const uint8_t *par = value + start;
            size_t plen = stop - start;
            strip(&par, &plen);
            if (plen >= 7 && ieq(par, 7, "colenc=")) {
                const uint8_t *enc = par + 7;
                size_t elen = plen - 7;
                int c;
                strip(&enc, &elen);
                c = elen == 1 ? upper(enc[0]) : 0;
                if (c != 'B' && c != 'U' && c != 'Q') return KT_E_COLENC;
                *colenc = c;
            }
            semi = next;
        }
    }
    return KT_OK;
}

int kt_scan_http(const uint8_t *buf, size_t pos, size_t end, uint64_t limit, int64_t *res) {
    static const char prefix[] = "HTTP/1.";
    size_t avail, n, window, i, body_off, lstart, found = 0;
    const uint8_t *sl;
    size_t sllen, hend;
    uint64_t length = UINT64_MAX, nxt;
    int colenc = 0, conn_close = 0, keep_alive = 0, http10, rc;
    if (pos > end) return KT_E_ARG;
    avail = end - pos;
    n = avail > 7 ? 7 : avail;
    if (memcmp(buf + pos, prefix, n) != 0) return KT_E_NOT_HTTP;
    window = avail < KT_HTTP_MAX_HEADER ? end : pos + KT_HTTP_MAX_HEADER;
    i = pos;
    while (i + 4 <= window) {
        const uint8_t *r = memchr(buf + i, '\r', window - i - 3);
        if (!r) break;
        i = (size_t)(r - buf);
        if (buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') { found = 1; break; }
        i++;
    }
    if (!found) {
        if (avail >= KT_HTTP_MAX_HEADER) return KT_E_HEADER_SIZE;
        if ((uint64_t)avail + 1 > limit) return KT_E_TOO_LARGE;
        res[0] = (int64_t)end + 1;
        return KT_NEED;
    }
    hend = i; /* the header lines are buf[pos:hend) */
    body_off = i + 4;
    if ((uint64_t)(body_off - pos) > limit) return KT_E_TOO_LARGE;
    sl = buf + pos;
    sllen = find_crlf(sl, hend - pos);
    if (!(sllen >= 12 && is_digit(sl[7]) && sl[8] == ' ' && is_digit(sl[9]) && is_digit(sl[10]) &&
          is_digit(sl[11]) && (sllen == 12 || sl[12] == ' ')))
        return KT_E_STATUS_LINE;
    http10 = sl[7] == '0';
    lstart = pos + sllen + 2;
    while (lstart <= hend && pos + sllen < hend) {
        size_t llen = find_crlf(buf + lstart, hend - lstart);
        rc = parse_header(buf + lstart, llen, &length, &colenc, &conn_close, &keep_alive);
        if (rc != KT_OK) return rc;
        lstart += llen + 2;
    }
    if (length == UINT64_MAX) return KT_E_NO_CONTENT_LENGTH;
    nxt = (uint64_t)body_off + length;
    if (nxt - pos > limit) return KT_E_TOO_LARGE;
    if (end < nxt) {
        res[0] = (int64_t)nxt;
        return KT_NEED;
    }
    res[0] = (int64_t)nxt;
    res[1] = (sl[9] - '0') * 100 + (sl[10] - '0') * 10 + (sl[11] - '0');
    res[2] = (int64_t)body_off;
    res[3] = (int64_t)length;
    res[4] = colenc;
    res[5] = conn_close || (http10 && !keep_alive);
    return KT_OK;
}

/* ------------------------------------------------------------------ TSV */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode s[0:n) into out (at most n bytes); *olen gets the decoded size. */
static int decode_field(const uint8_t *s, size_t n, int colenc, uint8_t *out, size_t *olen) {
    size_t i, o = 0;
    if (colenc == 'B') {
        size_t dlen = n, pads;
        uint32_t acc = 0;
        int bits = 0;
        if (n == 0) { *olen = 0; return KT_OK; }
        while (dlen && s[dlen - 1] == '=') dlen--;
        pads = n - dlen;
        if (pads > 2 || dlen % 4 == 1 || (pads && (dlen + pads) % 4)) return KT_E_BASE64;
        for (i = 0; i < dlen; i++) {
            int v = b64val(s[i]);
            if (v < 0) return KT_E_BASE64;
            acc = (acc << 6) | (uint32_t)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[o++] = (uint8_t)(acc >> bits);
                acc &= (1u << bits) - 1;
            }
        }
    } else if (colenc == 'U') {
        for (i = 0; i < n; i++) {
            uint8_t c = s[i];
            if (c == '+') {
                out[o++] = ' ';
            } else if (c == '%') {
                int hi, lo;
                if (n - i < 3) return KT_E_URL;
                hi = hexval(s[i + 1]);
                lo = hexval(s[i + 2]);
                if (hi < 0 || lo < 0) return KT_E_URL;
                out[o++] = (uint8_t)(hi * 16 + lo);
                i += 2;
            } else {
                out[o++] = c;
            }
        }
    } else { /* 'Q' */
        for (i = 0; i < n; i++) {
            uint8_t c = s[i];
            if (c != '=') {
                out[o++] = c;
            } else if (n - i >= 3 && s[i + 1] == '\r' && s[i + 2] == '\n') {
                i += 2;
            } else if (n - i >= 2 && s[i + 1] == '\n') {
                i += 1;
            } else {
                int hi, lo;
                if (n - i < 3) return KT_E_QP;
                hi = hexval(s[i + 1]);
                lo = hexval(s[i + 2]);
                if (hi < 0 || lo < 0) return KT_E_QP;
                out[o++] = (uint8_t)(hi * 16 + lo);
                i += 2;
            }
        }
    }
    *olen = o;
    return KT_OK;
}

int kt_decode_tsv(const uint8_t *src, size_t len, int colenc, uint8_t *out,
                  int64_t *spans, size_t cap, int64_t *res) {
    size_t p = 0, o = 0, ns = 0;
    if (colenc != 0 && colenc != 'B' && colenc != 'U' && colenc != 'Q') return KT_E_ARG;
    while (p < len) {
        const uint8_t *nl = memchr(src + p, '\n', len - p);
        size_t lend = nl ? (size_t)(nl - src) : len;
        const uint8_t *tab = memchr(src + p, '\t', lend - p);
        size_t kend = tab ? (size_t)(tab - src) : lend;
        size_t vstart = tab ? kend + 1 : lend;
        if (cap - ns < 4) return KT_SPACE;
        if (colenc == 0) {
            spans[ns++] = (int64_t)p;
            spans[ns++] = (int64_t)(kend - p);
            spans[ns++] = (int64_t)vstart;
            spans[ns++] = (int64_t)(lend - vstart);
        } else {
            size_t klen, vlen;
            int rc = decode_field(src + p, kend - p, colenc, out + o, &klen);
            if (rc != KT_OK) return rc;
            spans[ns++] = (int64_t)o;
            spans[ns++] = (int64_t)klen;
            o += klen;
            rc = decode_field(src + vstart, lend - vstart, colenc, out + o, &vlen);
            if (rc != KT_OK) return rc;
            spans[ns++] = (int64_t)o;
            spans[ns++] = (int64_t)vlen;
            o += vlen;
        }
        p = nl ? lend + 1 : len;
    }
    res[0] = (int64_t)(ns / 4);
    res[1] = (int64_t)o;
    return KT_OK;
}
