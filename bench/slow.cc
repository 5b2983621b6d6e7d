// SPDX-License-Identifier: Apache-2.0
//
// bench/slow.cc - SQ_BENCH_SLOW, the planted regression (see slow.h).
#include "slow.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <utility>
#include <vector>

static std::vector<std::pair<std::regex, double>> rules;
static double read_cost; /* seconds per now() */

static double now()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
	if (!rules.empty()) {
		const int n = 10000;
		double t0 = now(), t = t0;
		for (int i = 0; i < n; i++)
			t = now();
		read_cost = (t - t0) / n;
	}
	return true;
}

struct sq_bench_slow sq_bench_slow_for(const char *name)
{
	struct sq_bench_slow s = {};
	for (const auto &r : rules)
		if (std::regex_search(name, r.first)) s.frac = r.second;
	if (s.frac > 0)
		benchmark::AddCustomContext(std::string("slowed:") + name,
					    std::to_string(s.frac * 100) + "%");
	return s;
}

void sq_bench_slow_spin(struct sq_bench_slow *s)
{
	double t = now();
	if (s->last > 0) {
		double body = t - s->last - s->paused - read_cost;
		double until = t + s->frac * body - 2 * read_cost;
		while (now() < until) {
		}
	}
	s->paused = 0;
	s->last = now();
}

void sq_bench_slow_pause(struct sq_bench_slow *s)
{
	if (s->frac > 0) s->paused_at = now();
}

void sq_bench_slow_resume(struct sq_bench_slow *s)
{
	if (s->frac > 0) s->paused += now() - s->paused_at;
}
