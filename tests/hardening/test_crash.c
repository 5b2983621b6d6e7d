/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash consistency of snapshot pairs under SIGKILL.
 *
 * A child process saves generation g + 1 of a pair over generation g
 * (sq_snapshot_save, full, small region) and is killed with SIGKILL after
 * a random delay spread over the whole save, commit included. After each
 * kill the parent checks that:
 *   - sq_snapshot_load (which runs recovery first) succeeds and the pair
 *     is exactly generation g or exactly generation g + 1: state bytes,
 *     memory file bytes and manifest all of one generation, never a mix,
 *     and never the content of a leftover temp file;
 *   - sq_memfile_verify agrees with the load;
 *   - after a save that ran to completion, no temp file is left (the
 *     leftovers of earlier crashes were cleaned).
 * The same runs for a lone state file (sq_state_save): sq_state_load sees
 * the previous or the new state, never a temp file's content.
 * SQ_CRASH_ITERS sets the number of kills (default 300 for pairs, 200 for
 * state files); the seed is printed (SQ_TEST_SEED reruns the same delays).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <squib/error.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "core/clock.h"

#define NPAGES 48u
#define SIZE ((size_t)NPAGES * 4096u)

static char *dir, *path;

/* Generation @gen's memory: pseudo-random pages, every fifth one zero. */
static void gen_region(unsigned gen, unsigned char *buf)
{
	for (unsigned pg = 0; pg < NPAGES; pg++) {
		unsigned char *p = buf + (size_t)pg * 4096u;
		uint64_t st = (uint64_t)gen * 1000003u + pg;

		if ((pg + gen) % 5 == 0) {
			memset(p, 0, 4096);
			continue;
		}
		for (size_t i = 0; i < 4096; i += 8) {
			uint64_t v = sq_test_rand(&st);
			memcpy(p + i, &v, 8);
		}
	}
}

/* Generation @gen's state: vCPU count and GIC blob depend on it. */
static int gen_vm(unsigned gen, struct sq_microvm_state **out)
{
	unsigned char gic[128];
	int rc = sq_x_state_demo_vcpus(1 + gen % 3, out);

	for (size_t i = 0; i < sizeof(gic); i++)
		gic[i] = (unsigned char)(gen * 7 + i);
	if (!rc)
		rc = sq_state_set_gic(*out, gic, sizeof(gic));
	return rc;
}

/* Generation @gen's state file bytes. */
static int gen_state(unsigned gen, uint8_t **out, size_t *len)
{
	struct sq_microvm_state *s = NULL;
	int rc = gen_vm(gen, &s);

	if (!rc)
		rc = sq_state_encode(s, out, len);
	sq_state_destroy(s);
	return rc;
}

/* What the children save: a snapshot pair, or a lone state file. */
static int state_only;

/* In the child: save generation @gen and exit (0 = saved). */
static void __attribute__((noreturn)) child_save(unsigned gen)
{
	if (state_only) {
		struct sq_microvm_state *vm = NULL;
		int rc = gen_vm(gen, &vm);

		if (!rc)
			rc = sq_state_save(path, vm);
		_exit(rc ? 1 : 0);
	}
	unsigned char *region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *state = NULL;
	size_t state_len = 0;

	if (region == MAP_FAILED || gen_state(gen, &state, &state_len))
		_exit(2);
	gen_region(gen, region);
	struct sq_mem_source src = { .base = region, .size = SIZE };
	struct sq_snapshot_save_req req = {
		.size = sizeof(struct sq_snapshot_save_req), .state_path = path,
		.kind = SQ_SNAPSHOT_FULL,
		.state = state,
		.state_len = state_len,
		.mem = &src,
		.io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 1 },
	};
	struct sq_snapshot_report rep = SQ_INIT(struct sq_snapshot_report);
	int rc = sq_snapshot_save(&req, &rep);

	if (rc)
		fprintf(stderr, "child: save of generation %u failed: %s\n", gen, sq_last_error());
	_exit(rc ? 1 : 0);
}

/* Number of directory entries that look like temp files. */
static int count_temps(char *names, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	names[0] = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, ".tmp")) {
			n++;
			snprintf(names + strlen(names), len - strlen(names), " %s", e->d_name);
		}
	}
	closedir(d);
	return n;
}

/* Load the pair: the generation it holds (@a or @b), or -1 with a message. */
/* A lone state file: the generation it holds (@a or @b), or -1. */
static int identify_state(unsigned a, unsigned b)
{
	struct sq_microvm_state *vm = NULL;
	uint8_t *got = NULL;
	size_t got_len = 0;
	int rc = sq_state_load(path, &vm, NULL), gen = -1;

	if (rc) {
		fprintf(stderr, "state load failed: %s: %s\n", sq_error_name(rc), sq_last_error());
		return -1;
	}
	assert_int_equal(sq_state_encode(vm, &got, &got_len), 0);
	unsigned cand[2] = { a, b };
	for (int i = 0; i < 2 && gen < 0; i++) {
		uint8_t *st = NULL;
		size_t st_len = 0;

		assert_int_equal(gen_state(cand[i], &st, &st_len), 0);
		if (st_len == got_len && !memcmp(st, got, st_len))
			gen = (int)cand[i];
		free(st);
	}
	free(got);
	sq_state_destroy(vm);
	return gen;
}

static int identify(unsigned a, unsigned b)
{
	if (state_only)
		return identify_state(a, b);
	struct sq_snapshot_loaded *l = NULL;
	int rc = sq_snapshot_load(path, 0, &l);

	if (rc) {
		fprintf(stderr, "load failed: %s: %s\n", sq_error_name(rc), sq_last_error());
		return -1;
	}
	unsigned char *mem = NULL, *want = malloc(SIZE);
	size_t mem_len = 0;
	int gen = -1;

	assert_non_null(want);
	assert_int_equal(sq_test_read_file(l->mem_path, &mem, &mem_len), 0);
	unsigned cand[2] = { a, b };
	for (int i = 0; i < 2 && gen < 0; i++) {
		uint8_t *st = NULL;
		size_t st_len = 0;

		gen_region(cand[i], want);
		assert_int_equal(gen_state(cand[i], &st, &st_len), 0);
		int mem_eq = mem_len == SIZE && !memcmp(mem, want, SIZE);
		int st_eq = l->state_len == st_len && !memcmp(l->state, st, st_len);

		if (mem_eq && st_eq)
			gen = (int)cand[i];
		else if (mem_eq || st_eq)
			fprintf(stderr, "MIXED pair: memory %s generation %u, state %s\n",
				mem_eq ? "is" : "is not", cand[i], st_eq ? "is" : "is not");
		free(st);
	}
	if (gen < 0)
		fprintf(stderr, "the pair is neither generation %u nor %u\n", a, b);
	struct sq_verify_report vr = SQ_INIT(struct sq_verify_report);
	int vrc = sq_memfile_verify(l->mem_path, l->manifest, 1, &vr);

	if (vrc) {
		fprintf(stderr, "load accepted the pair but verify says %s: %s\n",
			sq_error_name(vrc), sq_last_error());
		gen = -1;
	}
	free(mem);
	free(want);
	sq_snapshot_loaded_destroy(l);
	return gen;
}

/* The directory as it was right after the kill (for failure messages). */
static void list_dir(char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = 0;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char p[4096];

		if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0)
			snprintf(out + strlen(out), len - strlen(out), " %s(%lld B, %lu links)",
				 e->d_name, (long long)st.st_size, (unsigned long)st.st_nlink);
	}
	closedir(d);
}

static pid_t spawn_save(unsigned gen)
{
	fflush(NULL);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		child_save(gen);
	return pid;
}

static double now_us(void)
{
	return (double)sq_clock_ns() / 1e3;
}

static void kill_saves(const char *what, unsigned default_iters)
{
	uint64_t rng = sq_test_seed(what);
	const char *it = getenv("SQ_CRASH_ITERS");
	unsigned iters = it ? (unsigned)strtoul(it, NULL, 0) : default_iters;
	char temps[1024];
	int status;

	/* Generation 0 first. */
	pid_t pid = spawn_save(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(identify(0, 0), 0);
	/* The duration of a save: the median of three uninterrupted ones
	 * (generations 1 to 3), so that a slow first run does not stretch the
	 * delays past the end of most saves. */
	double dur[3];
	for (unsigned g = 1; g <= 3; g++) {
		double t0 = now_us();

		pid = spawn_save(g);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		dur[g - 1] = now_us() - t0;
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(identify(g, g), (int)g);
		assert_int_equal(count_temps(temps, sizeof(temps)), 0);
	}
	double lo = dur[0] < dur[1] ? dur[0] : dur[1], hi = dur[0] < dur[1] ? dur[1] : dur[0];
	double full_us = dur[2] < lo ? lo : dur[2] > hi ? hi : dur[2]; /* the median */

	double window = full_us * 1.5;
	unsigned cur = 3, kept_old = 0, got_new = 0, completed = 0, with_temps = 0;
	for (unsigned i = 0; i < iters; i++) {
		unsigned next = cur + 1;
		/* Uniform over a window that starts at 1.5 times the duration of
		 * a save (fork and exit included) and adapts to the machine's
		 * load: it shrinks after a save that completed before its kill and
		 * grows after a kill, so kills keep landing inside saves. */
		useconds_t delay = (useconds_t)(sq_test_rand(&rng) % (uint64_t)(window + 1));

		pid = spawn_save(next);
		usleep(delay);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		int killed = WIFSIGNALED(status);
		char listing[2048];

		list_dir(listing, sizeof(listing));

		if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			fail_msg("iteration %u: the save failed on its own (exit %d)", i,
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		if (count_temps(temps, sizeof(temps)) > 0) {
			with_temps++;
			if (!killed)
				fail_msg("iteration %u: a completed save left temp files:%s", i,
					 temps);
		}
		int gen = identify(cur, next);

		if (gen < 0)
			fail_msg("iteration %u (delay %u us, %s): the directory holds no "
				 "complete version of generation %u or %u; after the kill it held:%s",
				 i, (unsigned)delay, killed ? "killed" : "completed", cur, next,
				 listing);
		if (!killed && gen != (int)next)
			fail_msg("iteration %u: a completed save is not visible", i);
		window *= killed ? 1.05 : 0.85;
		if (window < 50)
			window = 50;
		if (window > full_us * 20)
			window = full_us * 20;
		if (!killed)
			completed++;
		else if (gen == (int)next)
			got_new++;
		else
			kept_old++;
		cur = (unsigned)gen;
	}
	/* An uninterrupted save cleans whatever the last kill left. */
	pid = spawn_save(cur + 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(identify(cur + 1, cur + 1), (int)cur + 1);
	if (count_temps(temps, sizeof(temps)) != 0)
		fail_msg("temp files left after a complete save:%s", temps);
	fprintf(stderr,
		"%s: %u kills over a %.0f us save: %u kept the previous version, %u showed "
		"the new one, %u saves completed first; %u kills left temp files, all "
		"ignored and cleaned\n",
		what, iters, full_us, kept_old, got_new, completed, with_temps);
}

/* Snapshot pairs (sq_snapshot_save): state file, memory file, manifest. */
static void sigkill_during_pair_saves(void **state)
{
	(void)state;
	state_only = 0;
	kill_saves("crash/pair", 300);
}

/* A lone state file (sq_state_save, the atomic single-file writer). */
static void sigkill_during_state_saves(void **state)
{
	(void)state;
	state_only = 1;
	kill_saves("crash/state", 200);
}

static int setup(void **state)
{
	(void)state;
	dir = sq_test_tmpdir("crash");
	if (!dir || asprintf(&path, "%s/vm.snap", dir) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sq_test_rmrf(dir);
	free(dir);
	free(path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sigkill_during_pair_saves, setup, teardown),
		cmocka_unit_test_setup_teardown(sigkill_during_state_saves, setup, teardown),
	};
	return cmocka_run_group_tests_name("hardening/crash", tests, NULL, NULL);
}
