#ifndef KTCODEC_H
#define KTCODEC_H
#include <stddef.h>
#include <stdint.h>

/* Bumped when the C API changes; the Python wrapper checks it. */
#define KT_CODEC_ABI_VERSION 1

int kt_codec_abi_version(void);

#endif
