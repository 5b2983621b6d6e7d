/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/demo.h - the snapshot demo (squib-snap demo): configuration and
 * results shared by the command (cmd_demo.c) and the run (demo_run.c).
 */
#ifndef SQ_TOOLS_DEMO_H
#define SQ_TOOLS_DEMO_H

#include <stdint.h>

#include <squib/writer.h>

#include "cli.h"

#define DEMO_MAX_ROUNDS 64

struct demo_cfg {
	uint64_t size;          /* region bytes */
	unsigned rounds;        /* diff snapshots after the full one */
	unsigned round_ms;      /* workload time between snapshots */
	unsigned workers;       /* workload threads */
	const char *dir;        /* NULL = a new temporary directory */
	int keep;               /* never remove the directory */
	int api_marks;          /* 1 = do not use kernel write tracking */
	struct sq_writer_opts io;
	const struct sq_cli *cli;
};

struct demo_snap {
	char name[32];
	int diff;
	uint64_t pages_dirty;
	uint64_t pages_written;
	uint64_t bytes_written;
	double pause_ms;        /* workload stopped: park + harvest + write + commit */
	double write_s;         /* the memory file write alone */
	double gbps;            /* bytes_written / write_s */
};

struct demo_result {
	char dir[4096];
	int kept;               /* the directory is still there */
	int signal;             /* SIGINT or SIGTERM that stopped the run, else 0 */
	const char *tracking;   /* "kernel-async", "kernel-sync" or "api" */
	const char *backend;
	int direct;
	unsigned nsnaps;
	struct demo_snap snaps[DEMO_MAX_ROUNDS + 1];
	double merge_s;
	uint64_t merge_bytes;
	double restore_s;
	uint64_t restore_bytes;
	double restore_chain_s;
	uint64_t workload_writes;
	int verified;           /* restored chain and merged file == region */
	char why[256];          /* when not verified */
	char msg[256];          /* the demo's own failure (else sq_last_error()) */
};

/*
 * sq_demo_run() - run the demo. SIGINT and SIGTERM are caught for the
 * duration (the handler only records the signal; the workers block both):
 * the run stops at the next step, cleans up and returns SQ_E_CANCELED with
 * res->signal set, and the caller then re-raises it (sq_demo_reraise).
 * The directory (the temporary one, or cfg->dir when the run created it) is
 * removed unless cfg->keep after a failure, a failed verification or a
 * signal; the temporary one also after a success. A cfg->dir that existed
 * before is never removed.
 * Returns 0, or a negative SQ_E_* code (message in res->msg when set, else
 * in sq_last_error()). Main thread only; not reentrant.
 */
int sq_demo_run(const struct demo_cfg *cfg, struct demo_result *res);
/* sq_demo_reraise() - die of @sig with its default action (exit 128 + @sig if that returns). */
void sq_demo_reraise(int sig) __attribute__((noreturn));

#endif /* SQ_TOOLS_DEMO_H */
