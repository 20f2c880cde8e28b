#include "ktcodec.h"

int kt_codec_abi_version(void) { return KT_CODEC_ABI_VERSION; }
