/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/urcu.h - how the engine includes urcu-memb.
 *
 * Include this instead of <urcu/urcu-memb.h>, before any other liburcu
 * header. It defines SQ_TSAN under ThreadSanitizer and, in normal
 * builds, _LGPL_SOURCE for liburcu's inline read-side fast path. Under
 * TSan the calls go to the (uninstrumented) library instead: its futex
 * wake-up uses plain shared accesses that TSan would report.
 */
#ifndef SQ_ENGINE_URCU_H
#define SQ_ENGINE_URCU_H

#if defined(__SANITIZE_THREAD__)
#define SQ_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SQ_TSAN 1
#endif
#endif

#ifndef SQ_TSAN
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>

#endif /* SQ_ENGINE_URCU_H */
