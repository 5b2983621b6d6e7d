/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/hardening/fault.h - scenarios for the fault-injection sweep.
 *
 * A scenario is one library operation that does IO (replace a file, save a
 * state file, save a snapshot pair, send a migration stream ...), run in a
 * fresh directory. test_fault_sites.c first runs every scenario once with a
 * counting plan to learn which IO call sites (core/io_sites.def) it reaches
 * and how often, fails when a listed site is reached by no scenario, and
 * then injects, at the first and the last call of every reached site, the
 * faults that fit the site's kind (ENOSPC, EIO, EINTR, short transfers,
 * ...). After each injected run the scenario's check decides whether the
 * outcome is allowed:
 *
 *   rc == 0  the operation completed despite the fault (a retry or a
 *            documented fallback): the new result must be complete;
 *   rc <  0  a specific code (ENOSPC -> SQ_E_NO_SPACE, never
 *            SQ_E_INTERNAL), recorded as the thread's last error; the
 *            previous result intact; no temp file left; harvested dirty
 *            bits back in the tracker.
 *
 * Register a scenario with SQ_SCENARIO(...) in a scen_*.c file listed in
 * tests/hardening/CMakeLists.txt.
 */
#ifndef SQ_TESTS_HARDENING_FAULT_H
#define SQ_TESTS_HARDENING_FAULT_H

#include <stddef.h>
#include <stdint.h>

struct sq_fx {
	char *dir;  /* a fresh, empty directory for this run */
	void *priv; /* the scenario's own state, set by setup */
};

struct sq_scenario {
	const char *name;
	/* Build the "previous" result in fx->dir (no faults are injected
	 * while it runs). Returns 0 or a message. */
	const char *(*setup)(struct sq_fx *fx);
	/* The operation under test: 0 or a negative SQ_E_* code. */
	int (*run)(struct sq_fx *fx);
	/* Judge the outcome (see above); NULL when allowed, else a message. */
	const char *(*check)(struct sq_fx *fx, int rc);
	/* Free fx->priv (the directory is removed by the driver). */
	void (*teardown)(struct sq_fx *fx);
	struct sq_scenario *next;
};

void sq_scenario_register(struct sq_scenario *s);

#define SQ_SCEN_CAT_(a, b) a##b
#define SQ_SCEN_CAT(a, b) SQ_SCEN_CAT_(a, b)
#define SQ_SCENARIO(...)                                                                 \
	static struct sq_scenario SQ_SCEN_CAT(sq_scen_, __LINE__) = { __VA_ARGS__ };      \
	__attribute__((constructor)) static void SQ_SCEN_CAT(sq_scen_reg_, __LINE__)(void) \
	{                                                                                \
		sq_scenario_register(&SQ_SCEN_CAT(sq_scen_, __LINE__));                  \
	}

/* Helpers shared by the scenarios. */

/* "<dir>/<name>" (malloc'ed). */
char *sq_fx_path(const struct sq_fx *fx, const char *name);
/* 1 when the file at @path holds exactly @len bytes equal to @buf. */
int sq_fx_file_equals(const char *path, const void *buf, size_t len);
/* A message naming the first entry of @dir that looks like a temp file
 * (name contains ".tmp" or starts with "."), or NULL. */
const char *sq_fx_leftover_temp(const char *dir);
/* Deterministic bytes for generation @gen (pattern differs per gen). */
void sq_fx_fill(void *buf, size_t len, unsigned gen);
/* Format a message into a static buffer (one per thread). */
const char *sq_fx_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* SQ_TESTS_HARDENING_FAULT_H */
