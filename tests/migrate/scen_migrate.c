/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of migrate/ for the sweep in tests/hardening: a two-round
 * migration over loopback (both ends in this process) saved to a directory,
 * and the same stream received into a memory file. Linked into
 * test_fault_sites by tests/migrate/CMakeLists.txt.
 *
 * Allowed outcomes: success with the destination equal to the source, or a
 * specific error (never SQ_E_INTERNAL) with every harvested set handed back
 * to the source and no temp file or partial saved file left.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/migrate.h>
#include <squib/restore.h>

#include "core/err.h"
#include "hardening/fault.h"
#include "helpers.h"

#define NPAGES 64u
#define SIZE (NPAGES * 4096u)

static const char blob[] = "state blob of the fault scenario";

struct mig_priv {
	uint8_t *src;
	int harvests, outstanding, put_backs;
	struct sq_run runs[2];
	int file;               /* 1: receive into <dir>/mem */
	int rx_rc;
	uint8_t *dst;
	size_t dst_size;
	int saved;
};

/* Harvest 0 clears, 1 returns pages 3..5 (page 4 is zero: a zero frame),
 * the final one returns page 10. */
static int src_harvest(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	struct mig_priv *p = ctx;
	int k = p->harvests++;

	p->runs[0] = (struct sq_run){ 3, 3 };
	p->runs[1] = (struct sq_run){ 10, 1 };
	*set = p;
	*runs = k == 0 ? NULL : k == 1 ? &p->runs[0] : &p->runs[1];
	*nruns = k == 0 ? 0 : 1;
	p->outstanding++;
	return 0;
}

static void src_put_back(void *ctx, void *set)
{
	struct mig_priv *p = ctx;
	(void)set;
	p->outstanding--;
	p->put_backs++;
}

static void src_release(void *ctx, void *set)
{
	struct mig_priv *p = ctx;
	(void)set;
	p->outstanding--;
}

static int no_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

static const char *mig_setup_common(struct sq_fx *fx, int file)
{
	struct mig_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->file = file;
	p->src = malloc(SIZE);
	if (!p->src)
		return "out of memory";
	sq_fx_fill(p->src, SIZE, 7);
	memset(p->src + 4 * 4096, 0, 4096);
	memset(p->src + 20 * 4096, 0, 4096);
	return NULL;
}

static const char *mig_setup_mem(struct sq_fx *fx)
{
	return mig_setup_common(fx, 0);
}

static const char *mig_setup_file(struct sq_fx *fx)
{
	return mig_setup_common(fx, 1);
}

struct rx_arg {
	struct sq_migrate_recv *r;
	int lfd, rc;
};

static void *rx_main(void *arg)
{
	struct rx_arg *a = arg;
	a->rc = sq_migrate_recv_accept(a->r, a->lfd);
	return NULL;
}

static int mig_run(struct sq_fx *fx)
{
	struct mig_priv *p = fx->priv;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 2000 };
	struct rx_arg a = { 0 };
	unsigned port;
	char addr[64], *mem = NULL;
	pthread_t thr;
	int rc;

	if (p->file) {
		mem = sq_fx_path(fx, "mem");
		ro.mem_fd = open(mem, O_RDWR | O_CREAT | O_TRUNC, 0600);
		free(mem);
	}
	rc = sq_migrate_listen("127.0.0.1:0", &a.lfd, &port);
	if (rc)
		return rc;
	rc = sq_migrate_recv_create(&ro, &a.r);
	if (rc) {
		close(a.lfd);
		return rc;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	pthread_create(&thr, NULL, rx_main, &a);
	struct sq_migrate_send_opts o = {
		.size = sizeof(struct sq_migrate_send_opts), .to = addr, .nconns = 2, .region = p->src, .region_size = SIZE,
		.source = { src_harvest, src_put_back, src_release, p },
		.pause = no_pause, .state_blob = blob, .state_len = sizeof(blob),
		.timeout_ms = 2000, .ctx = p,
	};
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	rc = sq_migrate_send(&o, &rep);
	/* A receiver refuses failed handshakes one by one and keeps waiting
	 * for the sender: once the sender has given up, stop its wait. */
	if (rc)
		shutdown(a.lfd, SHUT_RDWR);
	pthread_join(thr, NULL);
	close(a.lfd);
	p->rx_rc = a.rc;
	if (!rc)
		rc = a.rc;
	if (!rc && !p->file) {
		void *d = sq_migrate_recv_region(a.r, &p->dst_size);
		p->dst = malloc(SIZE);
		if (d && p->dst)
			memcpy(p->dst, d, SIZE);
		rc = sq_migrate_recv_save(a.r, fx->dir);
		p->saved = rc == 0;
	}
	sq_migrate_recv_destroy(a.r);
	if (ro.mem_fd >= 0)
		close(ro.mem_fd);
	return rc;
}

static const char *mig_check(struct sq_fx *fx, int rc)
{
	struct mig_priv *p = fx->priv;

	if (rc == SQ_E_INTERNAL)
		return "SQ_E_INTERNAL";
	if (p->outstanding)
		return sq_fx_msg("%d harvested sets neither sent nor put back", p->outstanding);
	/* A save whose renames failed past its commit point (the group's
	 * record is published): recovery completes it, leaving no temp. */
	if (rc < 0 && !p->file) {
		char *rec = sq_fx_path(fx, "memory.commit");
		int code = sq_last_error_code();
		char m[512];
		snprintf(m, sizeof(m), "%s", sq_last_error());
		int rr = sq_atomic_group_recover(rec, 0);
		free(rec);
		if (rr)
			return "recovery after a failed save failed";
		sq_err(code, "%s", m);
	}
	const char *t = sq_fx_leftover_temp(fx->dir);
	if (t)
		return t;
	char *mem = sq_fx_path(fx, p->file ? "mem" : "memory");
	char *st = sq_fx_path(fx, "state");
	const char *msg = NULL;
	int mem_ok = sq_fx_file_equals(mem, p->src, SIZE);
	if (rc == 0) {
		if (!mem_ok)
			msg = "succeeded but the destination differs from the source";
		else if (!p->file && !sq_fx_file_equals(st, blob, sizeof(blob)))
			msg = "succeeded but the saved state differs";
		else if (!p->file && sq_memfile_verify(mem, NULL, 1, NULL))
			msg = sq_fx_msg("the saved memory does not verify against its manifest: %s",
					sq_last_error());
	} else if (!p->file && sq_test_exists(mem) && !mem_ok) {
		msg = "failed and left a partial memory file";
	} else if (!p->file && sq_test_exists(st) && !sq_fx_file_equals(st, blob, sizeof(blob))) {
		msg = "failed and left a partial state file";
	} else if (rc != sq_last_error_code() && rc != p->rx_rc) {
		msg = sq_fx_msg("returned %s but the last error is %s", sq_error_name(rc),
				sq_error_name(sq_last_error_code()));
	}
	free(mem);
	free(st);
	return msg;
}

static void mig_teardown(struct sq_fx *fx)
{
	struct mig_priv *p = fx->priv;

	if (!p)
		return;
	free(p->src);
	free(p->dst);
	free(p);
}

SQ_SCENARIO(.name = "migrate/loopback_save", .setup = mig_setup_mem, .run = mig_run,
	    .check = mig_check, .teardown = mig_teardown)
SQ_SCENARIO(.name = "migrate/recv_file", .setup = mig_setup_file, .run = mig_run,
	    .check = mig_check, .teardown = mig_teardown)
