// SPDX-License-Identifier: Apache-2.0
//
// bench/slow.h - a planted regression for testing performance gates.
//
// SQ_BENCH_SLOW="REGEX=PCT[;REGEX=PCT...]": every benchmark whose name
// matches a REGEX (std::regex, searched) does extra work worth PCT % of its
// iterations' time, measured on the clock the benchmark reports (thread CPU
// time; wall-clock time for real-time and threaded ones), paused time left
// out, at the end of each window of iterations (the window grows to about
// 200 us, so that the clock reads stay a small part of it). The extra work
// is a busy loop whose speed is calibrated at start-up against the thread
// CPU clock, so that time the thread spends preempted is not turned into
// extra work; the cost of a clock read is calibrated too and counted as part
// of the extra time. Manual-time benchmarks are not affected. It is the known
// slowdown bench/ab's self-test must detect. The JSON context records each
// slowed benchmark as "slowed:<name>" = "PCT%". Unset, it costs one branch
// per iteration.
//
// Calling context: sq_bench_slow_parse() once in main() before registering;
// the rest from the benchmark body's thread, one sq_bench_slow per thread.
#ifndef SQ_BENCH_SLOW_H
#define SQ_BENCH_SLOW_H

#include <ctime>

struct sq_bench_slow {
	double frac;        /* extra time as a fraction of the body; 0 = off */
	clockid_t clock;    /* the clock the benchmark reports */
	double read_cost;   /* seconds one read of that clock costs */
	double last;        /* clock when the current window began; 0 = none */
	double paused_at;   /* clock at the last sq_bench_slow_pause() */
	double paused;      /* paused time in the current window */
	int count, every;   /* iterations in the current window; its length */
};

/* Read SQ_BENCH_SLOW and calibrate. Returns false (and prints why) when it is
 * malformed. */
bool sq_bench_slow_parse();

/* The slowdown for benchmark @name (frac 0 when none applies); @real_time:
 * the benchmark reports wall-clock time. */
struct sq_bench_slow sq_bench_slow_for(const char *name, bool real_time);

/* Add the planted share of the iteration that just ended. */
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
