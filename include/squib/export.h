/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/export.h - symbol visibility for libsquib.
 *
 * Every public function is declared with SQ_API. The library is compiled with
 * -fvisibility=hidden and SQ_BUILDING_LIBRARY defined, so only SQ_API symbols
 * are exported from libsquib.so; consumers see plain declarations.
 */
#ifndef SQUIB_EXPORT_H
#define SQUIB_EXPORT_H

#if defined(SQ_BUILDING_LIBRARY) && defined(__GNUC__)
#define SQ_API __attribute__((visibility("default")))
#else
#define SQ_API
#endif

/*
 * SQ_DEPRECATED(msg) - marks a name kept only for programs built against an
 * older libsquib.so.2 (docs/ARCHITECTURE.md, "ABI": naming). Empty while
 * the library is built and when the consumer defines SQ_NO_DEPRECATED.
 */
#if defined(__GNUC__) && !defined(SQ_BUILDING_LIBRARY) && !defined(SQ_NO_DEPRECATED)
#define SQ_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define SQ_DEPRECATED(msg)
#endif

#ifdef __cplusplus
#define SQ_BEGIN_DECLS extern "C" {
#define SQ_END_DECLS }
#else
#define SQ_BEGIN_DECLS
#define SQ_END_DECLS
#endif

#endif /* SQUIB_EXPORT_H */
