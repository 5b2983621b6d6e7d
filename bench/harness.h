/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/harness.h - write Google Benchmark benchmarks in C.
 *
 * A benchmark body is a C function that loops while sq_bench_running()
 * says so; it registers itself at load time with SQ_BENCH(). The one C++
 * file bench/main.cc walks the registry and hands every entry to Google
 * Benchmark. Names are "area/what/variant"; a baseline measured in the same
 * run is registered like any other benchmark and named in the docs and in
 * bench/compare's pairs.
 *
 *   static void bm_crc(struct sq_bench *b)
 *   {
 *       ... set-up ...
 *       while (sq_bench_running(b))
 *           sink ^= sq_crc64(buf, n);
 *       sq_bench_set_bytes(b, n);   // bytes per iteration -> bytes_per_second
 *   }
 *   SQ_BENCH("state/crc64/isal", bm_crc);
 *
 * Set-up before the loop and tear-down after it are not timed.
 */
#ifndef SQ_BENCH_HARNESS_H
#define SQ_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sq_bench; /* wraps benchmark::State */

typedef void (*sq_bench_fn)(struct sq_bench *b);

struct sq_bench_def {
	const char *name;
	sq_bench_fn fn;
	int threads;        /* 0 or 1 = single thread; N = run fn in N threads */
	int64_t arg;        /* available through sq_bench_arg(); 0 if unused */
	int iterations;     /* fixed iteration count; 0 = let the library decide */
	double min_time_s;  /* 0 = library default */
	int manual_time;    /* 1 = times come from sq_bench_set_iteration_time() */
	int real_time;      /* 1 = report wall-clock time (multi-threaded, IO) */
	/* Name of the baseline measured in the same run that this result is
	 * read against (bench/compare uses the ratio); NULL = none, or listed
	 * in bench/baselines.tsv. Recorded in the JSON context as
	 * "baseline:<name>". */
	const char *baseline;
	struct sq_bench_def *next;
};

void sq_bench_register(struct sq_bench_def *def);
struct sq_bench_def *sq_bench_registry(void);

#define SQ_BENCH_CAT_(a, b) a##b
#define SQ_BENCH_CAT(a, b) SQ_BENCH_CAT_(a, b)

/* SQ_BENCH_DEF(def-initializer...): register a fully specified benchmark. */
#define SQ_BENCH_DEF(...)                                                              \
	static struct sq_bench_def SQ_BENCH_CAT(sq_bench_def_, __LINE__) = { __VA_ARGS__ }; \
	__attribute__((constructor)) static void SQ_BENCH_CAT(sq_bench_reg_, __LINE__)(void) \
	{                                                                              \
		sq_bench_register(&SQ_BENCH_CAT(sq_bench_def_, __LINE__));             \
	}

/* SQ_BENCH(name, fn): the common case. */
#define SQ_BENCH(name_, fn_) SQ_BENCH_DEF(.name = (name_), .fn = (fn_))

/* Loop control and reporting; call from the body. */
int sq_bench_running(struct sq_bench *b);
int64_t sq_bench_arg(struct sq_bench *b);
int sq_bench_thread_index(struct sq_bench *b);
int sq_bench_threads(struct sq_bench *b);
int64_t sq_bench_iterations(struct sq_bench *b);
void sq_bench_pause(struct sq_bench *b);
void sq_bench_resume(struct sq_bench *b);
/* Bytes / items processed per iteration (rates are computed by the library). */
void sq_bench_set_bytes(struct sq_bench *b, double bytes_per_iter);
void sq_bench_set_items(struct sq_bench *b, double items_per_iter);
/* A counter reported as is (e.g. "pages_written", "downtime_ms"). */
void sq_bench_counter(struct sq_bench *b, const char *name, double value);
/* A counter reported as a rate per second. */
void sq_bench_rate(struct sq_bench *b, const char *name, double value);
void sq_bench_set_iteration_time(struct sq_bench *b, double seconds);
void sq_bench_label(struct sq_bench *b, const char *label);
/* Skip with a message (feature missing here); return from the body after. */
void sq_bench_skip(struct sq_bench *b, const char *why);
/* Add a key/value to the JSON "context" (machine, backend, device). */
void sq_bench_context(const char *key, const char *value);

/* Keep a value alive so the compiler cannot drop the work. */
static inline void sq_bench_keep(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

/* Monotonic seconds. */
double sq_bench_now(void);

#ifdef __cplusplus
}
#endif

#endif /* SQ_BENCH_HARNESS_H */
