/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vCPU capture and restore through function tables, as the original's
 * vcpu_save tests: sys_regs round trip, unreadable registers skipped, PSCI
 * normalisation on restore, unknown key -> Incompatible; plus GIC and MMDS
 * capture/restore and error propagation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>
#include <squib/state.h>
#include <squib/vcpu.h>

#include "helpers.h"

/* A fake vCPU: 48 register slots (index = key), "readable" flags, PSCI. */
struct fake_vcpu {
	uint64_t mpidr;
	struct sq_gp_regs gp;
	struct sq_fpsimd_regs fp;
	uint64_t sys[SQ_SYSREG_COUNT + 1];
	bool readable[SQ_SYSREG_COUNT + 1];
	enum sq_psci_state psci;
	int psci_sets;
	uint64_t writes[64];
	int n_writes;
	int fail_at_key; /* read/write of this key fails with SQ_E_CAPTURE */
};

static uint64_t f_mpidr(void *ctx)
{
	return ((struct fake_vcpu *)ctx)->mpidr;
}

static int f_read_gp(void *ctx, struct sq_gp_regs *out)
{
	*out = ((struct fake_vcpu *)ctx)->gp;
	return 0;
}

static int f_read_fp(void *ctx, struct sq_fpsimd_regs *out)
{
	*out = ((struct fake_vcpu *)ctx)->fp;
	return 0;
}

static int f_read_sys(void *ctx, uint64_t key, uint64_t *value)
{
	struct fake_vcpu *f = ctx;

	if ((int)key == f->fail_at_key)
		return SQ_E_CAPTURE;
	if (!f->readable[key])
		return 0;
	*value = f->sys[key];
	return 1;
}

static enum sq_psci_state f_psci(void *ctx)
{
	return ((struct fake_vcpu *)ctx)->psci;
}

static int f_write_gp(void *ctx, const struct sq_gp_regs *r)
{
	((struct fake_vcpu *)ctx)->gp = *r;
	return 0;
}

static int f_write_fp(void *ctx, const struct sq_fpsimd_regs *r)
{
	((struct fake_vcpu *)ctx)->fp = *r;
	return 0;
}

static int f_write_sys(void *ctx, uint64_t key, uint64_t value)
{
	struct fake_vcpu *f = ctx;

	if ((int)key == f->fail_at_key)
		return SQ_E_CAPTURE;
	f->sys[key] = value;
	f->writes[f->n_writes++] = key;
	return 0;
}

static int f_set_psci(void *ctx, enum sq_psci_state s)
{
	struct fake_vcpu *f = ctx;

	f->psci = s;
	f->psci_sets++;
	return 0;
}

static const struct sq_vcpu_source_ops src_ops = {
	.mpidr = f_mpidr, .read_gp_regs = f_read_gp, .read_fp_regs = f_read_fp,
	.read_sys_reg = f_read_sys, .psci_state = f_psci,
};
static const struct sq_vcpu_target_ops dst_ops = {
	.write_gp_regs = f_write_gp, .write_fp_regs = f_write_fp, .write_sys_reg = f_write_sys,
	.set_psci_state = f_set_psci,
};

static void sysregs_round_trip(void **state)
{
	struct fake_vcpu a = { .mpidr = 0x100, .psci = SQ_PSCI_ON, .fail_at_key = -1 };
	struct fake_vcpu b = { .fail_at_key = -1 };
	struct sq_vcpu_state v = { 0 };
	uint64_t x;

	(void)state;
	a.gp.x[3] = 33;
	a.gp.pc = 0xffff800010081000;
	a.fp.v[7][1] = 77;
	a.fp.fpcr = 0x3000000;
	a.sys[1] = 0x30d0199d; /* SCTLR_EL1 */
	a.sys[2] = 0x41234000; /* TTBR0_EL1 */
	a.readable[1] = a.readable[2] = true;
	assert_int_equal(sq_vcpu_capture(&src_ops, &a, &v), 0);
	assert_int_equal(v.mpidr, 0x100);
	assert_int_equal(v.n_sys_regs, 2);
	assert_int_equal(sq_vcpu_sysreg_get(&v, 1, &x), 0);
	assert_int_equal(x, 0x30d0199d);
	assert_int_equal(v.psci_state, SQ_PSCI_ON);
	assert_int_equal(sq_vcpu_restore(&dst_ops, &b, &v, 3), 0);
	assert_int_equal(b.sys[1], 0x30d0199d);
	assert_int_equal(b.sys[2], 0x41234000);
	assert_int_equal(b.gp.x[3], 33);
	assert_int_equal(b.gp.pc, 0xffff800010081000);
	assert_int_equal(b.fp.v[7][1], 77);
	assert_int_equal(b.fp.fpcr, 0x3000000);
	assert_int_equal(b.n_writes, 2);
	assert_int_equal(b.writes[0], 1); /* ascending key order */
	assert_int_equal(b.writes[1], 2);
	free(v.sys_regs);
}

static void unreadable_registers_are_skipped(void **state)
{
	struct fake_vcpu a = { .fail_at_key = -1 };
	struct sq_vcpu_state v = { 0 };

	(void)state;
	/* What HVF exposes: all but CNTFRQ, the PMU registers, OSLAR, OSDLR. */
	for (int k = 1; k <= (int)SQ_SYSREG_COUNT; k++) {
		a.readable[k] = !(k == 22 || (k >= 26 && k <= 32) || k == 46 || k == 47);
		a.sys[k] = 1000 + (uint64_t)k;
	}
	assert_int_equal(sq_vcpu_capture(&src_ops, &a, &v), 0);
	assert_int_equal(v.n_sys_regs, 37);
	for (size_t i = 0; i < v.n_sys_regs; i++) {
		assert_true(a.readable[v.sys_regs[i].key]);
		assert_int_equal(v.sys_regs[i].value, 1000 + v.sys_regs[i].key);
		if (i)
			assert_true(v.sys_regs[i].key > v.sys_regs[i - 1].key);
	}
	/* Capturing again into the same struct releases the old map. */
	assert_int_equal(sq_vcpu_capture(&src_ops, &a, &v), 0);
	assert_int_equal(v.n_sys_regs, 37);
	free(v.sys_regs);
}

static void bsp_saved_off_is_restored_on(void **state)
{
	struct fake_vcpu b = { .psci = SQ_PSCI_OFF, .fail_at_key = -1 };
	struct sq_vcpu_state v = { .psci_state = SQ_PSCI_OFF };

	(void)state;
	assert_int_equal(sq_vcpu_restore(&dst_ops, &b, &v, 0), 0);
	assert_int_equal(b.psci, SQ_PSCI_ON);
	assert_int_equal(b.psci_sets, 1);
}

static void secondary_saved_on_is_restored_off(void **state)
{
	struct fake_vcpu b = { .psci = SQ_PSCI_ON, .fail_at_key = -1 };
	struct sq_vcpu_state v = { .psci_state = SQ_PSCI_ON };

	(void)state;
	assert_int_equal(sq_vcpu_restore(&dst_ops, &b, &v, 1), 0);
	assert_int_equal(b.psci, SQ_PSCI_OFF);
}

static void unknown_key_is_incompatible(void **state)
{
	struct fake_vcpu b = { .fail_at_key = -1 };
	struct sq_sysreg regs[] = { { 1, 5 }, { UINT64_MAX, 1 } };
	struct sq_vcpu_state v = { .sys_regs = regs, .n_sys_regs = 2 };

	(void)state;
	assert_int_equal(sq_vcpu_restore(&dst_ops, &b, &v, 0), SQ_E_INCOMPATIBLE);
	assert_string_equal(sq_last_error(),
			    "snapshot is from a different VMM (sysreg or GIC blob shape mismatch)");
	assert_int_equal(b.sys[1], 5); /* earlier writes stay, as in the original */
	assert_int_equal(b.psci_sets, 0);
	regs[1].key = 0;
	assert_int_equal(sq_vcpu_restore(&dst_ops, &b, &v, 0), SQ_E_INCOMPATIBLE);
}

static void normalized_psci(void **state)
{
	(void)state;
	assert_int_equal(sq_psci_normalized(0), SQ_PSCI_ON);
	assert_int_equal(sq_psci_normalized(1), SQ_PSCI_OFF);
	assert_int_equal(sq_psci_normalized(31), SQ_PSCI_OFF);
}

static void callback_errors_abort(void **state)
{
	struct fake_vcpu a = { .fail_at_key = 5 };
	struct sq_vcpu_state v = { 0 };

	(void)state;
	for (int k = 1; k <= (int)SQ_SYSREG_COUNT; k++)
		a.readable[k] = true;
	assert_int_equal(sq_vcpu_capture(&src_ops, &a, &v), SQ_E_CAPTURE);
	assert_null(v.sys_regs);
	assert_non_null(strstr(sq_last_error(), "AMAIR_EL1"));
	struct sq_sysreg regs[] = { { 4, 1 }, { 5, 2 } };
	struct sq_vcpu_state w = { .sys_regs = regs, .n_sys_regs = 2 };
	assert_int_equal(sq_vcpu_restore(&dst_ops, &a, &w, 0), SQ_E_CAPTURE);
}

/* GIC and MMDS through their tables. */
static uint8_t gic_blob[4] = { 9, 8, 7, 6 };
static uint8_t gic_seen[8];
static size_t gic_seen_len;

static int g_capture(void *ctx, uint8_t **bytes, size_t *len)
{
	(void)ctx;
	*bytes = malloc(sizeof(gic_blob));
	memcpy(*bytes, gic_blob, sizeof(gic_blob));
	*len = sizeof(gic_blob);
	return 0;
}

static int g_restore(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	memcpy(gic_seen, bytes, len);
	gic_seen_len = len;
	return 0;
}

static int m_capture(void *ctx, struct sq_mmds_state *out, bool *present)
{
	*present = ctx != NULL;
	if (*present) {
		sq_str_set(&out->data_json, "{}", 2);
		out->has_token_ttl = true;
		out->token_ttl_seconds = 60;
	}
	return 0;
}

static const struct sq_mmds_state *m_seen;
static int m_calls;

static int m_restore(void *ctx, const struct sq_mmds_state *st)
{
	(void)ctx;
	m_seen = st;
	m_calls++;
	return 0;
}

static void gic_and_mmds(void **state)
{
	const struct sq_gic_source_ops gs = { .capture = g_capture };
	const struct sq_gic_target_ops gt = { .restore = g_restore };
	const struct sq_mmds_source_ops ms = { .capture = m_capture };
	const struct sq_mmds_target_ops mt = { .restore = m_restore };
	struct sq_microvm_state *s;

	(void)state;
	assert_int_equal(sq_state_create(1, &s), 0);
	assert_int_equal(sq_gic_capture(&gs, NULL, &s->gic_state), 0);
	assert_int_equal(s->gic_state.len, 4);
	assert_int_equal(s->gic_state.bytes_len, 4);
	assert_int_equal(sq_state_verify_compatible(s), 0);
	assert_int_equal(sq_gic_restore(&gt, NULL, &s->gic_state), 0);
	assert_int_equal(gic_seen_len, 4);
	assert_memory_equal(gic_seen, gic_blob, 4);
	assert_int_equal(sq_mmds_capture(&ms, (void *)1, s), 0);
	assert_true(s->has_mmds);
	assert_string_equal(s->mmds_state.data_json.s, "{}");
	assert_int_equal(sq_mmds_restore(&mt, NULL, s), 0);
	assert_ptr_equal(m_seen, &s->mmds_state);
	assert_int_equal(sq_mmds_capture(&ms, NULL, s), 0); /* disabled */
	assert_false(s->has_mmds);
	assert_int_equal(sq_mmds_restore(&mt, NULL, s), 0);
	assert_null(m_seen); /* None: leave the target's state alone */
	assert_int_equal(m_calls, 2);
	sq_state_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sysregs_round_trip),
		cmocka_unit_test(unreadable_registers_are_skipped),
		cmocka_unit_test(bsp_saved_off_is_restored_on),
		cmocka_unit_test(secondary_saved_on_is_restored_off),
		cmocka_unit_test(unknown_key_is_incompatible),
		cmocka_unit_test(normalized_psci),
		cmocka_unit_test(callback_errors_abort),
		cmocka_unit_test(gic_and_mmds),
	};

	return cmocka_run_group_tests_name("state/vcpu", tests, NULL, NULL);
}
