// SPDX-License-Identifier: Apache-2.0
//
// bench/slow.cc - SQ_BENCH_SLOW, the planted regression (see slow.h).
#include "slow.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <regex>
#include <string>
#include <utility>
#include <vector>

static std::vector<std::pair<std::regex, double>> rules;
static double loops_per_s;          /* busy-loop speed, per CPU second */
static double cost_cpu, cost_wall;  /* seconds per clock read */

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void busy(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		__asm__ volatile("" : : : "memory");
}

/* The busy loop's speed and the clock reads' cost, best of five tries. */
static void calibrate()
{
	const uint64_t n = 1u << 21;
	const int reads = 2000;
	double best = 1e9, best_cpu = 1e9, best_wall = 1e9;
	for (int k = 0; k < 5; k++) {
		double t0 = now(CLOCK_THREAD_CPUTIME_ID);
		busy(n);
		double t1 = now(CLOCK_THREAD_CPUTIME_ID);
		for (int i = 0; i < reads; i++)
			now(CLOCK_THREAD_CPUTIME_ID);
		double t2 = now(CLOCK_THREAD_CPUTIME_ID);
		for (int i = 0; i < reads; i++)
			now(CLOCK_MONOTONIC);
		double t3 = now(CLOCK_THREAD_CPUTIME_ID);
		best = std::min(best, t1 - t0);
		best_cpu = std::min(best_cpu, (t2 - t1) / reads);
		best_wall = std::min(best_wall, (t3 - t2) / reads);
	}
	loops_per_s = (double)n / best;
	cost_cpu = best_cpu;
	cost_wall = best_wall;
}

bool sq_bench_slow_parse()
{
	const char *env = getenv("SQ_BENCH_SLOW");
	std::string s = env ? env : "";
	size_t start = 0;
	while (start < s.size()) {
		size_t end = s.find(';', start);
		std::string item = s.substr(start, end == std::string::npos ? end : end - start);
		size_t eq = item.rfind('=');
		char *rest = nullptr;
		double pct = eq == std::string::npos ? -1 : strtod(item.c_str() + eq + 1, &rest);
		bool ok = pct >= 0 && rest && rest != item.c_str() + eq + 1 && *rest == '\0';
		try {
			if (ok) rules.emplace_back(std::regex(item.substr(0, eq)), pct / 100.0);
		} catch (const std::regex_error &) {
			ok = false;
		}
		if (!ok) {
			fprintf(stderr, "SQ_BENCH_SLOW: bad item '%s' (expected REGEX=PERCENT)\n",
				item.c_str());
			return false;
		}
		start = end == std::string::npos ? s.size() : end + 1;
	}
	if (!rules.empty()) calibrate();
	return true;
}

struct sq_bench_slow sq_bench_slow_for(const char *name, bool real_time)
{
	struct sq_bench_slow s = {};
	s.clock = real_time ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
	s.read_cost = real_time ? cost_wall : cost_cpu;
	s.every = 1;
	for (const auto &r : rules)
		if (std::regex_search(name, r.first)) s.frac = r.second;
	if (s.frac > 0)
		benchmark::AddCustomContext(std::string("slowed:") + name,
					    std::to_string(s.frac * 100) + "%");
	return s;
}

void sq_bench_slow_spin(struct sq_bench_slow *s)
{
	/* The clock is read once per window of iterations, the window doubled
	 * until it spans WINDOW_S, so that the reads (a system call for the CPU
	 * clock) stay a small part of what is measured; the extra work for the
	 * whole window is done at its end. */
	const double WINDOW_S = 200e-6;
	if (++s->count < s->every) return;
	s->count = 0;
	double t = now(s->clock);
	double extra = 0;
	if (s->last > 0) {
		double body = t - s->last - s->paused - s->read_cost;
		extra = s->frac * body - s->read_cost;
		if (extra > 0) busy((uint64_t)(extra * loops_per_s));
		else extra = 0;
		if (body < WINDOW_S && s->every < (1 << 20)) s->every *= 2;
	}
	s->paused = 0;
	s->last = t + extra;
}

void sq_bench_slow_pause(struct sq_bench_slow *s)
{
	if (s->frac > 0) s->paused_at = now(s->clock);
}

void sq_bench_slow_resume(struct sq_bench_slow *s)
{
	if (s->frac > 0) s->paused += now(s->clock) - s->paused_at;
}
