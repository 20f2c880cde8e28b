/* Declarations for cffi's cdef (no preprocessor). Keep in step with ktcodec.h. */
int kt_codec_abi_version(void);
