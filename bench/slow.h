// SPDX-License-Identifier: Apache-2.0
//
// bench/slow.h - a planted regression for testing performance gates.
//
// SQ_BENCH_SLOW="REGEX=PCT[;REGEX=PCT...]": every benchmark whose name
// matches a REGEX (std::regex, searched) spins after each iteration for PCT %
// of that iteration's time (CLOCK_MONOTONIC, paused time left out, less the
// calibrated cost of the two clock reads the slowdown itself adds). Spinning
// uses the CPU, so CPU-time and wall-clock figures both grow by about PCT %;
// manual-time benchmarks are not affected. It is the known slowdown bench/ab's
// self-test must detect. The JSON context records each slowed benchmark as
// "slowed:<name>" = "PCT%". Unset, it costs one branch per iteration.
//
// Calling context: sq_bench_slow_parse() once in main() before registering;
// the rest from the benchmark body's thread, one sq_bench_slow per thread.
#ifndef SQ_BENCH_SLOW_H
#define SQ_BENCH_SLOW_H

struct sq_bench_slow {
	double frac;        /* extra time as a fraction of the body; 0 = off */
	double last;        /* clock at the end of the previous iteration; 0 = none */
	double paused_at;   /* clock at the last sq_bench_slow_pause() */
	double paused;      /* paused time in the current iteration */
};

/* Read SQ_BENCH_SLOW. Returns false (and prints why) when it is malformed. */
bool sq_bench_slow_parse();

/* The slowdown for benchmark @name (frac 0 when none applies). */
struct sq_bench_slow sq_bench_slow_for(const char *name);

/* Spin for the planted share of the iteration that just ended. */
void sq_bench_slow_spin(struct sq_bench_slow *s);

/* Call before every loop test (sq_bench_running). */
static inline void sq_bench_slow_tick(struct sq_bench_slow *s)
{
	if (s->frac > 0) sq_bench_slow_spin(s);
}

/* Leave time spent with the timer paused out of the measured body. */
void sq_bench_slow_pause(struct sq_bench_slow *s);
void sq_bench_slow_resume(struct sq_bench_slow *s);

#endif /* SQ_BENCH_SLOW_H */
