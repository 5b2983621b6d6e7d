/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault injection at every IO call site (see fault.h for the rules).
 *
 * The sweep is driven by the site table itself (core/io_sites.def through
 * sq_io_site_name / sq_io_site_kind): a site added to the table and reached
 * by no scenario fails the test, so a new call site cannot go untested.
 * Every injected case is printed on failure as
 *   <scenario> site=<name> fault=<errno|short> skip=<n> times=<n>
 * which is enough to reproduce it with sq_fault_set().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>

#include <squib/error.h>

#include "core/sysio.h"
#include "fault.h"
#include "helpers.h"

static struct sq_scenario *scenarios;

void sq_scenario_register(struct sq_scenario *s)
{
	struct sq_scenario **p = &scenarios;

	/* Keep registration order stable (by name) whatever the link order. */
	while (*p && strcmp((*p)->name, s->name) < 0)
		p = &(*p)->next;
	s->next = *p;
	*p = s;
}

char *sq_fx_path(const struct sq_fx *fx, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", fx->dir, name) < 0)
		return NULL;
	return p;
}

int sq_fx_file_equals(const char *path, const void *buf, size_t len)
{
	unsigned char *got = NULL;
	size_t n = 0;

	if (sq_test_read_file(path, &got, &n))
		return 0;
	int eq = n == len && memcmp(got, buf, len) == 0;
	free(got);
	return eq;
}

const char *sq_fx_leftover_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	const char *msg = NULL;

	if (!d)
		return sq_fx_msg("cannot list %s", dir);
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (strstr(e->d_name, ".tmp") || e->d_name[0] == '.') {
			msg = sq_fx_msg("temp file left behind: %s", e->d_name);
			break;
		}
	}
	closedir(d);
	return msg;
}

void sq_fx_fill(void *buf, size_t len, unsigned gen)
{
	uint64_t st = 0x5157u + gen;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = sq_test_rand(&st);

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

const char *sq_fx_msg(const char *fmt, ...)
{
	static _Thread_local char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/* ------------------------------------------------------------ the sweep */

/* A persistent fault is injected FAULT_FOREVER times in a row: enough for
 * every bounded retry loop to give up, and finite, so that code which
 * retries a persistent error without bound still completes (it is
 * reported, see retried_forever). */
#define FAULT_ONCE 1u
#define FAULT_FOREVER 200u

struct fault {
	int error;      /* errno or SQ_FAULT_SHORT */
	unsigned times; /* FAULT_ONCE or FAULT_FOREVER */
	int transient;  /* the operation must succeed despite it */
};

/* The faults that make sense for each kind of call. EINTR and a short
 * transfer are transient for data transfers: callers retry them. */
static size_t faults_for(enum sq_io_kind k, struct fault *f)
{
	size_t n = 0;

#define ADD(e, t, tr) (f[n++] = (struct fault){ (e), (t), (tr) })
	switch (k) {
	case SQ_IOK_OPEN:
		ADD(EIO, FAULT_FOREVER, 0);
		ADD(ENOSPC, FAULT_FOREVER, 0);
		ADD(EACCES, FAULT_FOREVER, 0);
		ADD(EMFILE, FAULT_ONCE, 0);
		break;
	case SQ_IOK_WRITE:
	case SQ_IOK_COPY:
		ADD(ENOSPC, FAULT_FOREVER, 0);
		ADD(EIO, FAULT_FOREVER, 0);
		ADD(EIO, FAULT_ONCE, 0);
		ADD(EINTR, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_FOREVER, 1);
		break;
	case SQ_IOK_READ:
		ADD(EIO, FAULT_FOREVER, 0);
		ADD(EINTR, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_FOREVER, 1);
		break;
	case SQ_IOK_SYNC:
	case SQ_IOK_TRUNC:
		ADD(EIO, FAULT_FOREVER, 0);
		ADD(ENOSPC, FAULT_FOREVER, 0);
		break;
	case SQ_IOK_RENAME:
		ADD(EIO, FAULT_FOREVER, 0);
		ADD(ENOSPC, FAULT_FOREVER, 0);
		ADD(EXDEV, FAULT_FOREVER, 0);
		break;
	case SQ_IOK_SEND:
		ADD(EPIPE, FAULT_FOREVER, 0);
		ADD(ECONNRESET, FAULT_FOREVER, 0);
		ADD(EINTR, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_FOREVER, 1);
		break;
	case SQ_IOK_RECV:
		ADD(ECONNRESET, FAULT_FOREVER, 0);
		ADD(EIO, FAULT_FOREVER, 0);
		ADD(EINTR, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_ONCE, 1);
		ADD(SQ_FAULT_SHORT, FAULT_FOREVER, 1);
		break;
	case SQ_IOK_OTHER:
		ADD(EIO, FAULT_FOREVER, 0);
		break;
	}
#undef ADD
	return n;
}

static const char *fault_name(int e)
{
	static _Thread_local char buf[32];

	if (e == SQ_FAULT_SHORT)
		return "short";
	snprintf(buf, sizeof(buf), "%s", strerrorname_np(e) ? strerrorname_np(e) : "?");
	return buf;
}

static unsigned failures, cases, not_fired, tolerated, retried_forever, skipped;

/* Run @s once in a fresh directory under @plan (NULL: a counting plan that
 * never fires). Returns the check's verdict; *calls gets per-site counts. */
static const char *run_once(struct sq_scenario *s, const struct sq_fault_plan *plan,
			    unsigned *calls, int *rc_out, unsigned *fired)
{
	struct sq_fx fx = { 0 };
	const char *msg;

	fx.dir = sq_test_tmpdir("fault");
	if (!fx.dir)
		return "cannot create a temp directory";
	msg = s->setup ? s->setup(&fx) : NULL;
	if (msg) {
		static _Thread_local char setup_msg[512];

		snprintf(setup_msg, sizeof(setup_msg), "%s", msg);
		msg = setup_msg;
		goto out;
	}
	struct sq_fault_plan count = { .site = -1, .error = EIO, .skip = UINT_MAX };

	sq_fault_set(plan ? plan : &count);
	int rc = s->run(&fx);

	if (fired)
		*fired = sq_fault_fired();
	if (calls)
		for (int i = 0; i < SQ_SITE_COUNT; i++)
			calls[i] = sq_fault_calls(i);
	sq_fault_set(NULL);
	*rc_out = rc;
	msg = s->check(&fx, rc);
	if (!msg && rc < 0) {
		if (rc == SQ_E_INTERNAL)
			msg = "failed with SQ_E_INTERNAL, not a specific error";
		else if (!strcmp(sq_error_name(rc), "SQ_E_UNKNOWN"))
			msg = sq_fx_msg("returned %d, which is not an error code", rc);
		else if (sq_last_error_code() != rc)
			msg = sq_fx_msg("returned %s but the last error is %s (%s)",
					sq_error_name(rc), sq_error_name(sq_last_error_code()),
					sq_last_error());
	}
	if (!msg)
		msg = sq_fx_leftover_temp(fx.dir);
	/* The verdict may live in a buffer a teardown could overwrite. */
	static _Thread_local char keep[512];

	if (msg) {
		snprintf(keep, sizeof(keep), "%s", msg);
		msg = keep;
	}
out:
	if (s->teardown)
		s->teardown(&fx);
	sq_test_rmrf(fx.dir);
	free(fx.dir);
	return msg;
}

static void inject(struct sq_scenario *s, int site, unsigned ncalls)
{
	struct fault f[8];
	size_t nf = faults_for(sq_io_site_kind(site), f);
	unsigned skips[2] = { 0, ncalls - 1 };

	for (size_t i = 0; i < nf; i++) {
		for (int k = 0; k < (ncalls > 1 ? 2 : 1); k++) {
			struct sq_fault_plan plan = { .site = site, .error = f[i].error,
						      .skip = skips[k], .times = f[i].times };
			unsigned fired = 0;
			int rc = 0;
			const char *msg = run_once(s, &plan, NULL, &rc, &fired);

			cases++;
			if (!fired) {
				not_fired++;
				continue;
			}
			if (!msg && rc < 0 && f[i].transient)
				msg = sq_fx_msg("a transient fault surfaced as %s (%s)",
						sq_error_name(rc), sq_last_error());
			if (!msg && rc < 0 && f[i].error == ENOSPC && rc != SQ_E_NO_SPACE)
				msg = sq_fx_msg("ENOSPC reported as %s, not SQ_E_NO_SPACE",
						sq_error_name(rc));
			if (!msg && rc == 0 && !f[i].transient)
				tolerated++;
			if (f[i].times == FAULT_FOREVER && fired == FAULT_FOREVER) {
				/* Not a failure by itself: the fds concerned (eventfd,
				 * userfaultfd) have no persistent errors in practice. */
				retried_forever++;
				fprintf(stderr,
					"NOTE %s site=%s fault=%s: retried a persistent error "
					"%u times (no bound on the retries)\n",
					s->name, sq_io_site_name(site), fault_name(f[i].error),
					FAULT_FOREVER);
			}
			if (msg) {
				failures++;
				fprintf(stderr,
					"FAIL %s site=%s fault=%s skip=%u times=%u: rc=%s: %s\n",
					s->name, sq_io_site_name(site), fault_name(f[i].error),
					plan.skip, plan.times, sq_error_name(rc), msg);
			}
		}
	}
}

static void every_site_survives_every_fault(void **state)
{
	(void)state;
	unsigned reached[SQ_SITE_COUNT] = { 0 };
	unsigned (*calls)[SQ_SITE_COUNT];
	size_t nscen = 0;

	for (struct sq_scenario *s = scenarios; s; s = s->next)
		nscen++;
	assert_true(nscen > 0);
	calls = calloc(nscen, sizeof(*calls));
	assert_non_null(calls);

	/* 1. Which scenario reaches which site (and a clean run passes). */
	size_t i = 0;
	for (struct sq_scenario *s = scenarios; s; s = s->next, i++) {
		int rc = 0;
		const char *msg = run_once(s, NULL, calls[i], &rc, NULL);

		if (msg && !strncmp(msg, "SKIP", 4)) {
			fprintf(stderr, "%s (%s)\n", msg, s->name);
			skipped++;
			continue;
		}
		if (!msg && rc != 0)
			msg = sq_fx_msg("failed without any fault: %s (%s)", sq_error_name(rc),
					sq_last_error());
		if (msg) {
			fprintf(stderr, "FAIL %s (no fault): %s\n", s->name, msg);
			failures++;
		}
		for (int site = 0; site < SQ_SITE_COUNT; site++)
			reached[site] += calls[i][site];
	}
	for (int site = 0; site < SQ_SITE_COUNT; site++) {
		if (!reached[site] && skipped) {
			fprintf(stderr, "NOTE site %s is not reached (a scenario was skipped)\n",
				sq_io_site_name(site));
		} else if (!reached[site]) {
			fprintf(stderr,
				"FAIL site %s is reached by no scenario: add one to "
				"tests/hardening/scen_*.c\n",
				sq_io_site_name(site));
			failures++;
		}
	}

	/* 2. Inject at the first and the last call of every reached site. */
	i = 0;
	for (struct sq_scenario *s = scenarios; s; s = s->next, i++)
		for (int site = 0; site < SQ_SITE_COUNT; site++)
			if (calls[i][site])
				inject(s, site, calls[i][site]);
	free(calls);
	fprintf(stderr,
		"fault sweep: %zu scenarios (%u skipped), %d sites, %u cases (%u did not "
		"reach the injection point, %u hard faults absorbed by a retry or "
		"fallback, %u retried without bound), %u failures\n",
		nscen, skipped, (int)SQ_SITE_COUNT, cases, not_fired, tolerated,
		retried_forever, failures);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_site_survives_every_fault),
	};
	return cmocka_run_group_tests_name("hardening/fault_sites", tests, NULL, NULL);
}
