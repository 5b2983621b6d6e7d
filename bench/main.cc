// SPDX-License-Identifier: Apache-2.0
//
// bench/main.cc - the one C++ file of the benchmark suite: it hands every
// benchmark registered from C (bench/harness.h) to Google Benchmark and
// records the machine context (CPU flags, IO backend, allocator) in the
// JSON output.
#include <benchmark/benchmark.h>

#include <cpuid.h>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>

#include "slow.h"

extern "C" {
#include "harness.h"
#include <squib/alloc.h>
#include <squib/version.h>
#include "core/clock.h"
}

struct sq_bench {
	benchmark::State *st;
	int64_t arg;
	struct sq_bench_slow slow; /* SQ_BENCH_SLOW (slow.h) */
};

static struct sq_bench_def *registry_head;

extern "C" void sq_bench_register(struct sq_bench_def *def)
{
	def->next = registry_head;
	registry_head = def;
}

extern "C" struct sq_bench_def *sq_bench_registry(void)
{
	return registry_head;
}

extern "C" int sq_bench_running(struct sq_bench *b)
{
	sq_bench_slow_tick(&b->slow);
	return b->st->KeepRunning() ? 1 : 0;
}
extern "C" int64_t sq_bench_arg(struct sq_bench *b) { return b->arg; }
extern "C" int sq_bench_thread_index(struct sq_bench *b) { return (int)b->st->thread_index(); }
extern "C" int sq_bench_threads(struct sq_bench *b) { return (int)b->st->threads(); }
extern "C" int64_t sq_bench_iterations(struct sq_bench *b) { return (int64_t)b->st->iterations(); }
extern "C" void sq_bench_pause(struct sq_bench *b)
{
	sq_bench_slow_pause(&b->slow);
	b->st->PauseTiming();
}

extern "C" void sq_bench_resume(struct sq_bench *b)
{
	b->st->ResumeTiming();
	sq_bench_slow_resume(&b->slow);
}

extern "C" void sq_bench_set_bytes(struct sq_bench *b, double bytes_per_iter)
{
	b->st->counters["bytes_per_second"] = benchmark::Counter(
		bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate,
		benchmark::Counter::OneK::kIs1024);
}

extern "C" void sq_bench_set_items(struct sq_bench *b, double items_per_iter)
{
	b->st->counters["items_per_second"] =
		benchmark::Counter(items_per_iter, benchmark::Counter::kIsIterationInvariantRate);
}

extern "C" void sq_bench_counter(struct sq_bench *b, const char *name, double value)
{
	b->st->counters[name] = benchmark::Counter(value);
}

extern "C" void sq_bench_rate(struct sq_bench *b, const char *name, double value)
{
	b->st->counters[name] = benchmark::Counter(value, benchmark::Counter::kIsRate);
}

extern "C" void sq_bench_set_iteration_time(struct sq_bench *b, double seconds)
{
	b->st->SetIterationTime(seconds);
}

extern "C" void sq_bench_label(struct sq_bench *b, const char *label) { b->st->SetLabel(label); }

extern "C" void sq_bench_skip(struct sq_bench *b, const char *why)
{
	b->st->SkipWithError(why);
}

extern "C" void sq_bench_context(const char *key, const char *value)
{
	benchmark::AddCustomContext(key, value);
}

extern "C" double sq_bench_now(void)
{
	return sq_clock_s();
}

static std::string cpu_flags()
{
	unsigned a, b, c, d;
	std::string s;
	if (__get_cpuid(1, &a, &b, &c, &d)) {
		if (c & bit_SSE4_2) s += "sse4.2 ";
		if (c & bit_PCLMUL) s += "pclmul ";
		if (c & bit_AVX) s += "avx ";
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		if (b & bit_AVX2) s += "avx2 ";
		if (b & bit_AVX512F) s += "avx512f ";
		if (b & bit_AVX512BW) s += "avx512bw ";
		if (c & bit_VPCLMULQDQ) s += "vpclmulqdq ";
	}
	if (!s.empty()) s.pop_back();
	return s;
}

static std::string cpu_model()
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	std::string m = "unknown";
	if (!f) return m;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			const char *p = strchr(line, ':');
			if (p) {
				m = p + 2;
				if (!m.empty() && m.back() == '\n') m.pop_back();
			}
			break;
		}
	}
	fclose(f);
	return m;
}

int main(int argc, char **argv)
{
	if (!sq_bench_slow_parse()) return 2;
	for (struct sq_bench_def *d = registry_head; d; d = d->next) {
		struct sq_bench_def *def = d;
		struct sq_bench_slow slow = sq_bench_slow_for(def->name,
							      def->real_time || def->threads > 1);
		auto *bm = benchmark::RegisterBenchmark(def->name, [def, slow](benchmark::State &st) {
			struct sq_bench b = { &st, def->arg, slow };
			def->fn(&b);
		});
		if (def->threads > 1) bm->Threads(def->threads);
		if (def->iterations > 0) bm->Iterations(def->iterations);
		if (def->min_time_s > 0) bm->MinTime(def->min_time_s);
		if (def->manual_time) bm->UseManualTime();
		else if (def->real_time || def->threads > 1) bm->UseRealTime();
		bm->Unit(benchmark::kMicrosecond);
	}
	benchmark::Initialize(&argc, argv);
	for (struct sq_bench_def *d = registry_head; d; d = d->next)
		if (d->baseline)
			benchmark::AddCustomContext(std::string("baseline:") + d->name, d->baseline);
	if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
	benchmark::AddCustomContext("squib_version", sq_version());
	benchmark::AddCustomContext("cpu_model", cpu_model());
	benchmark::AddCustomContext("cpu_flags", cpu_flags());
	benchmark::AddCustomContext("online_cpus", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)));
	benchmark::AddCustomContext("allocator", sq_allocator_name());
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
