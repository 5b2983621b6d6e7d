/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/vcpu.c - vCPU, GIC and MMDS capture and restore through the
 * adapter's function tables (the original's vcpu_save module).
 *
 * Invariants: capture fills a fresh sys_regs array and publishes it into
 * the output only when every read succeeded (no half-captured vCPU);
 * restore never propagates the saved psci_state, it always sets the
 * normalized one; keys are written in ascending order and an unknown key
 * stops the restore with Incompatible at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/state.h>
#include <squib/vcpu.h>

#include "core/err.h"

/*
 * Set by sq_capture_error() on this thread, cleared before every callback:
 * when a callback failed with its own text, that text is the error's
 * message (the original's Capture(String) payload), never overwritten.
 */
static _Thread_local int cb_text_set;

int sq_capture_error(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cb_text_set = 1;
	return sq_err(SQ_E_CAPTURE, "%s", text);
}

/* Before each callback: its failure text, if any, is its own. */
static void cb_begin(void)
{
	cb_text_set = 0;
}

static int cb_fail(int rc, const char *what)
{
	if (rc >= 0)
		rc = SQ_E_CAPTURE;
	if (cb_text_set)
		return sq_err_keep(rc);
	return sq_err(rc, "%s: %s failed", sq_strerror(rc), what);
}

enum sq_psci_state sq_psci_normalized(size_t vcpu_index)
{
	return vcpu_index == 0 ? SQ_PSCI_ON : SQ_PSCI_OFF;
}

int sq_vcpu_capture(const struct sq_vcpu_source_ops *ops, void *ctx, struct sq_vcpu_state *out)
{
	struct sq_vcpu_state v;
	struct sq_sysreg regs[SQ_SYSREG_COUNT];
	size_t n = 0;
	int rc;

	memset(&v, 0, sizeof(v));
	cb_begin();
	rc = ops->read_gp_regs(ctx, &v.regs);
	if (rc)
		return cb_fail(rc, "read_gp_regs");
	cb_begin();
	rc = ops->read_fp_regs(ctx, &v.fp_regs);
	if (rc)
		return cb_fail(rc, "read_fp_regs");
	for (uint64_t key = 1; key <= SQ_SYSREG_COUNT; key++) {
		uint64_t value = 0;
		char what[64];

		cb_begin();
		rc = ops->read_sys_reg(ctx, key, &value);
		if (rc < 0) {
			snprintf(what, sizeof(what), "read_sys_reg(%s)", sq_sysreg_name(key));
			return cb_fail(rc, what);
		}
		if (rc == 0)
			continue; /* not available on this hypervisor: omitted */
		regs[n].key = key;
		regs[n].value = value;
		n++;
	}
	v.mpidr = ops->mpidr(ctx);
	v.psci_state = ops->psci_state(ctx);
	if (n) {
		v.sys_regs = malloc(n * sizeof(*v.sys_regs));
		if (!v.sys_regs)
			return sq_err(SQ_E_NOMEM, "out of memory");
		memcpy(v.sys_regs, regs, n * sizeof(*v.sys_regs));
		v.n_sys_regs = n;
	}
	free(out->sys_regs);
	*out = v;
	return 0;
}

int sq_vcpu_restore(const struct sq_vcpu_target_ops *ops, void *ctx,
		    const struct sq_vcpu_state *state, size_t vcpu_index)
{
	int rc;

	cb_begin();
	rc = ops->write_gp_regs(ctx, &state->regs);
	if (rc)
		return cb_fail(rc, "write_gp_regs");
	cb_begin();
	rc = ops->write_fp_regs(ctx, &state->fp_regs);
	if (rc)
		return cb_fail(rc, "write_fp_regs");
	for (size_t i = 0; i < state->n_sys_regs; i++) {
		const struct sq_sysreg *r = &state->sys_regs[i];

		if (!sq_sysreg_name(r->key))
			return sq_err(SQ_E_INCOMPATIBLE, "snapshot is from a different VMM "
							 "(sysreg or GIC blob shape mismatch)");
		char what[64];

		cb_begin();
		rc = ops->write_sys_reg(ctx, r->key, r->value);
		if (rc) {
			snprintf(what, sizeof(what), "write_sys_reg(%s)", sq_sysreg_name(r->key));
			return cb_fail(rc, what);
		}
	}
	cb_begin();
	rc = ops->set_psci_state(ctx, sq_psci_normalized(vcpu_index));
	if (rc)
		return cb_fail(rc, "set_psci_state");
	return 0;
}

int sq_gic_capture(const struct sq_gic_source_ops *ops, void *ctx, struct sq_gic_state *out)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc;

	cb_begin();
	rc = ops->capture(ctx, &bytes, &len);

	if (rc)
		return cb_fail(rc, "GIC capture");
	free(out->bytes);
	out->bytes = len ? bytes : NULL;
	if (!len)
		free(bytes);
	out->bytes_len = len;
	out->len = len;
	return 0;
}

int sq_gic_restore(const struct sq_gic_target_ops *ops, void *ctx, const struct sq_gic_state *gic)
{
	int rc;

	cb_begin();
	rc = ops->restore(ctx, gic->bytes, gic->bytes_len);

	return rc ? cb_fail(rc, "GIC restore") : 0;
}

int sq_mmds_capture(const struct sq_mmds_source_ops *ops, void *ctx, struct sq_microvm_state *s)
{
	struct sq_mmds_state m;
	bool present = false;
	int rc;

	memset(&m, 0, sizeof(m));
	cb_begin();
	rc = ops->capture(ctx, &m, &present);
	if (rc)
		return cb_fail(rc, "MMDS capture");
	sq_str_clear(&s->mmds_state.data_json);
	if (!present) {
		sq_str_clear(&m.data_json);
		memset(&s->mmds_state, 0, sizeof(s->mmds_state));
		s->has_mmds = false;
		return 0;
	}
	s->mmds_state = m;
	s->has_mmds = true;
	return 0;
}

int sq_mmds_restore(const struct sq_mmds_target_ops *ops, void *ctx,
		    const struct sq_microvm_state *s)
{
	int rc;

	cb_begin();
	rc = ops->restore(ctx, s->has_mmds ? &s->mmds_state : NULL);

	return rc ? cb_fail(rc, "MMDS restore") : 0;
}
