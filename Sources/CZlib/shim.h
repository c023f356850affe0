#ifndef ALBATROSS_CZLIB_SHIM_H
#define ALBATROSS_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2 is a macro; raw deflate streams (zip entries) use windowBits -15.
static inline int albatross_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}

/// windowBits 15 + 32: a zlib or a gzip stream, told apart by its header (HTTP's `deflate` and `gzip`).
static inline int albatross_inflate_init_auto(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);
}
#endif
