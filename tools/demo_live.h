/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/demo_live.h - "squib-snap demo --live" (demo_live.c) and
 * "demo --lazy-restore" (demo_lazy.c): results and entry points.
 */
#ifndef SQ_TOOLS_DEMO_LIVE_H
#define SQ_TOOLS_DEMO_LIVE_H

#include <stdint.h>

#include "demo.h"

struct sq_tracker;

struct demo_live_snap {
	char name[32];
	int diff;
	int live;               /* 0: fell back to a paused save (fallback says why) */
	char protect[16];
	char fallback[256];
	uint64_t pages;
	uint64_t bytes_written;
	double pause_ms;        /* workload stopped: park + harvest + protect */
	double paused_ms;       /* the same set saved paused, same run: park + save */
	double total_ms;        /* live save, park to commit */
	uint64_t cow_pages;
	uint64_t faults;
	double stall_ms;
	double write_rate;      /* workload writes/s while the live save ran */
};

struct demo_live_result {
	char dir[4096];
	const char *tracking;   /* "kernel-sync" or "api" */
	struct sq_tracker *t;
	unsigned nsnaps;
	struct demo_live_snap snaps[DEMO_MAX_ROUNDS + 1];
	double undisturbed_rate; /* workload writes/s between snapshots */
	int verified;
	char why[256];
};

/* The runs; 0 or a negative SQ_E_* code. @res->dir must be set. */
int sq_demo_live_run(const struct demo_cfg *cfg, struct demo_live_result *res);
/* The commands: run, print (table or JSON), return the exit status. */
int sq_demo_live(const struct demo_cfg *cfg);
int sq_demo_lazy(const struct demo_cfg *cfg);

#endif /* SQ_TOOLS_DEMO_LIVE_H */
