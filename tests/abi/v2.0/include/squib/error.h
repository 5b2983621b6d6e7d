/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/error.h - the one error model of libsquib.
 *
 * Every fallible libsquib function returns 0 on success or one of the
 * negative codes below. Codes and their names are wire-stable: a value is
 * never renumbered or reused, new codes are only appended inside their block.
 * No libsquib function prints, exits, or leaves the caller to read errno.
 *
 *   block        meaning
 *   -1  .. -19   the original squib-snapshot 0.2.0 SnapshotError variants,
 *                in its declaration order (QuiesceTimeout = -1 ... Capture = -14)
 *   -20 .. -39   general and engine errors
 *   -40 .. -59   IO, memory files, manifests, snapshot pairs and chains
 *   -60 .. -79   migration stream and pre-copy loop
 *
 * Detail: besides the code, the failing call records a one-line message for
 * the calling thread (sq_last_error()). Where the original has a Display
 * string for the condition, the message is that exact text, for example
 * "snapshot magic mismatch (file: 0xdeadbeef, expected: 0x7101984aaaa0000)".
 */
#ifndef SQUIB_ERROR_H
#define SQUIB_ERROR_H

#include <squib/export.h>

SQ_BEGIN_DECLS

/*
 * X(NAME, value, generic text). The generic text is what sq_strerror()
 * returns; it never contains call-specific data.
 */
#define SQ_ERROR_LIST(X)                                                              \
	X(SQ_OK, 0, "success")                                                        \
	/* the original's SnapshotError, in declaration order */                      \
	X(SQ_E_QUIESCE_TIMEOUT, -1, "a vCPU did not ack quiesce within the timeout")  \
	X(SQ_E_MAGIC_MISMATCH, -2, "snapshot magic mismatch")                         \
	X(SQ_E_VERSION_MISMATCH, -3, "snapshot version is incompatible")              \
	X(SQ_E_CRC_MISMATCH, -4, "snapshot CRC64 mismatch")                           \
	X(SQ_E_TOO_SHORT, -5, "snapshot file is too short to contain a CRC trailer")  \
	X(SQ_E_INCOMPATIBLE, -6,                                                      \
	  "snapshot is from a different VMM (sysreg or GIC blob shape mismatch)")     \
	X(SQ_E_ATOMIC_COMMIT_FAILED, -7, "atomic commit (rename) failed")             \
	X(SQ_E_ATOMIC_COMMIT_CROSS_FS, -8,                                            \
	  "snapshot temp-file path is on a different filesystem from the destination") \
	X(SQ_E_INVALID_PATH, -9, "invalid snapshot path")                             \
	X(SQ_E_BITCODE, -10, "snapshot encoding error")                               \
	X(SQ_E_SIZE_LIMIT, -11, "snapshot exceeds the deserialization limit")         \
	X(SQ_E_MEMORY_IO, -12, "memory file I/O error")                               \
	X(SQ_E_IO, -13, "snapshot I/O error")                                         \
	X(SQ_E_CAPTURE, -14, "vCPU state capture failed")                             \
	/* general and engine */                                                      \
	X(SQ_E_NOMEM, -20, "out of memory")                                           \
	X(SQ_E_INVAL, -21, "invalid argument")                                        \
	X(SQ_E_UNSUPPORTED, -22, "kernel feature unsupported on this system")         \
	X(SQ_E_CORRUPT, -23, "corrupt data")                                          \
	X(SQ_E_RANGE, -24, "address or range outside every tracked region")           \
	X(SQ_E_OVERLAP, -25, "region overlaps an existing region")                    \
	X(SQ_E_NOT_FOUND, -26, "no such object")                                      \
	X(SQ_E_EXISTS, -27, "object already exists")                                  \
	X(SQ_E_BUSY, -28, "resource busy")                                            \
	X(SQ_E_ALIGN, -29, "address or length not page aligned")                      \
	X(SQ_E_SIZE_MISMATCH, -30, "size does not match")                             \
	X(SQ_E_INTERNAL, -31, "internal error")                                       \
	/* IO, files, manifests, pairs, chains */                                     \
	X(SQ_E_NO_SPACE, -40, "no space left on device")                              \
	X(SQ_E_SHORT_IO, -41, "short read or write")                                  \
	X(SQ_E_PAIR_MISMATCH, -42, "state file and memory file do not belong together") \
	X(SQ_E_CHAIN, -43, "snapshot chain out of order or incomplete")               \
	X(SQ_E_MANIFEST, -44, "manifest missing, malformed or inconsistent")          \
	X(SQ_E_VERIFY, -45, "memory file does not match its manifest")                \
	X(SQ_E_NO_DIRECT_IO, -46, "O_DIRECT refused by the filesystem")               \
	X(SQ_E_CANCELED, -47, "operation canceled")                                   \
	X(SQ_E_OUTPUT_BUSY, -48, "output is being written by another process")        \
	X(SQ_E_OUTPUT_IS_INPUT, -49, "output is one of the inputs")                   \
	X(SQ_E_NOT_REGULAR, -50, "not a regular file")                                \
	/* migration */                                                               \
	X(SQ_E_STREAM_MAGIC, -60, "migration stream: bad magic")                      \
	X(SQ_E_STREAM_VERSION, -61, "migration stream: unsupported version")          \
	X(SQ_E_STREAM_RANGE, -62, "migration stream: page outside the region")        \
	X(SQ_E_STREAM_CRC, -63, "migration stream: frame CRC mismatch")               \
	X(SQ_E_STREAM_TRUNCATED, -64, "migration stream: truncated frame")            \
	X(SQ_E_STREAM_OVERSIZE, -65, "migration stream: frame length too large")      \
	X(SQ_E_STREAM_ORDER, -66, "migration stream: frame out of order")             \
	X(SQ_E_STREAM_DUPLICATE, -67, "migration stream: duplicate final frame")      \
	X(SQ_E_STREAM_TOTALS, -68, "migration stream: totals do not match")           \
	X(SQ_E_STREAM_MALFORMED, -69, "migration stream: malformed frame")            \
	X(SQ_E_DISCONNECTED, -70, "migration peer disconnected")                      \
	X(SQ_E_NOT_CONVERGED, -71, "pre-copy migration did not converge")             \
	X(SQ_E_TIMEOUT, -72, "operation timed out")                                   \
	X(SQ_E_STREAM_COMPRESSION, -73, "migration stream: compressed frame does not decode") \
	X(SQ_E_TLS, -80, "TLS setup or handshake failed")                             \
	X(SQ_E_TLS_REQUIRED, -81, "peer did not start TLS (plaintext refused)")       \
	X(SQ_E_TLS_AUTH, -82, "peer authentication failed (wrong key)")               \
	X(SQ_E_CERT_UNTRUSTED, -83, "peer certificate not signed by a trusted CA")   \
	X(SQ_E_CERT_EXPIRED, -84, "peer certificate expired or not yet valid")        \
	X(SQ_E_KEY_PERMS, -85, "key file readable by others (must be mode 0600)")

enum sq_error {
#define SQ_ERROR_ENUM_(name, value, text) name = (value),
	SQ_ERROR_LIST(SQ_ERROR_ENUM_)
#undef SQ_ERROR_ENUM_
};

/**
 * sq_strerror() - generic text of an error code.
 * @code: a value of enum sq_error (or any int).
 *
 * Returns a static string that never changes for a given code; "unknown
 * error" for a value that is not a code. Any thread, no allocation.
 */
SQ_API const char *sq_strerror(int code);

/**
 * sq_error_name() - the stable identifier of a code, e.g. "SQ_E_CRC_MISMATCH".
 *
 * Returns a static string; "SQ_E_UNKNOWN" for a value that is not a code.
 */
SQ_API const char *sq_error_name(int code);

/**
 * sq_last_error() - detailed message of the most recent failure on the
 * calling thread.
 *
 * Returns a pointer to thread-local storage, valid until the next libsquib
 * call on this thread that fails. The text matches the original's Display
 * string where the original has one (MagicMismatch, VersionMismatch,
 * AtomicCommitCrossFs, Io, ...). Successful calls do not clear it. Returns
 * "" when nothing has failed on this thread yet.
 */
SQ_API const char *sq_last_error(void);

/**
 * sq_last_error_code() - code of the most recent failure on the calling
 * thread, 0 when none.
 */
SQ_API int sq_last_error_code(void);

SQ_END_DECLS

#endif /* SQUIB_ERROR_H */
