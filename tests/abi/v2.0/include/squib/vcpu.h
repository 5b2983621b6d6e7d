/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/vcpu.h - capture and restore of vCPU, GIC and MMDS state through
 * function tables supplied by the hypervisor adapter (the original's
 * vcpu_save traits).
 *
 *   sq_vcpu_capture        source -> struct sq_vcpu_state
 *   sq_vcpu_restore        struct sq_vcpu_state -> target (unknown key: Incompatible)
 *   sq_psci_normalized     On for vCPU 0, Off for every other index
 *   sq_gic_capture / sq_gic_restore, sq_mmds_capture / sq_mmds_restore
 *
 * Callbacks return 0 or a negative enum sq_error code (SQ_E_CAPTURE for a
 * hypervisor failure); the first failure aborts the operation and its code
 * is returned unchanged. A callback that fails with its own text returns
 * sq_capture_error("HVF <context>: ..."): that text is then the error's
 * message (sq_last_error), as the original's Capture(String) payload;
 * otherwise the message names the callback that failed. Every function runs its callbacks on the calling
 * thread, in the order documented below, and keeps no state of its own.
 */
#ifndef SQUIB_VCPU_H
#define SQUIB_VCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <squib/export.h>
#include <squib/state.h>

SQ_BEGIN_DECLS

/* VcpuSnapshotSource */
struct sq_vcpu_source_ops {
	uint64_t (*mpidr)(void *ctx);
	int (*read_gp_regs)(void *ctx, struct sq_gp_regs *out);
	int (*read_fp_regs)(void *ctx, struct sq_fpsimd_regs *out);
	/* 1 and *value: readable; 0: not available here, skip; < 0: error. */
	int (*read_sys_reg)(void *ctx, uint64_t key, uint64_t *value);
	/* Diagnostic only; restore never propagates it. */
	enum sq_psci_state (*psci_state)(void *ctx);
};

/* VcpuRestoreTarget */
struct sq_vcpu_target_ops {
	int (*write_gp_regs)(void *ctx, const struct sq_gp_regs *regs);
	int (*write_fp_regs)(void *ctx, const struct sq_fpsimd_regs *regs);
	int (*write_sys_reg)(void *ctx, uint64_t key, uint64_t value);
	int (*set_psci_state)(void *ctx, enum sq_psci_state state);
};

/* GicSnapshotSource / GicRestoreTarget */
struct sq_gic_source_ops {
	/* *bytes receives a malloc'ed blob owned by the caller afterwards. */
	int (*capture)(void *ctx, uint8_t **bytes, size_t *len);
};
struct sq_gic_target_ops {
	/* Must run before any vCPU runs (not enforced here). */
	int (*restore)(void *ctx, const uint8_t *bytes, size_t len);
};

/* MmdsSnapshotSource / MmdsRestoreTarget */
struct sq_mmds_source_ops {
	/* *present false: MMDS disabled. Otherwise *out is filled with
	 * malloc'ed strings now owned by the caller. */
	int (*capture)(void *ctx, struct sq_mmds_state *out, bool *present);
};
struct sq_mmds_target_ops {
	/* @state NULL: leave the current MMDS state untouched. */
	int (*restore)(void *ctx, const struct sq_mmds_state *state);
};

/**
 * sq_capture_error() - for a callback: record the failure's own text and
 * return SQ_E_CAPTURE (the original's SnapshotError::Capture(String)).
 * @fmt: printf format of the text (at most 511 bytes are kept).
 *
 * The capture or restore function that called the callback returns the
 * callback's code with sq_last_error() exactly this text. Calling thread
 * only (the text is thread-local); call it from the callback itself.
 */
SQ_API int sq_capture_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * sq_vcpu_capture() - capture_vcpu_state: read GP registers, FP/SIMD
 * registers, then every register of the key table in canonical order
 * (keys 1..47), storing those the source can read; then MPIDR and PSCI.
 * @out: overwritten; its previous sys_regs array (if any) is released.
 * Returns 0, the callback's error, or SQ_E_NOMEM; on error *@out holds no
 * allocation.
 */
SQ_API int sq_vcpu_capture(const struct sq_vcpu_source_ops *ops, void *ctx,
			   struct sq_vcpu_state *out);

/**
 * sq_vcpu_restore() - restore_vcpu_state: write GP, FP/SIMD, then every
 * sys_regs entry in ascending key order, then set_psci_state to
 * sq_psci_normalized(@vcpu_index). The saved psci_state is never
 * propagated. An unknown key returns SQ_E_INCOMPATIBLE at once (earlier
 * writes stay done, as in the original).
 */
SQ_API int sq_vcpu_restore(const struct sq_vcpu_target_ops *ops, void *ctx,
			   const struct sq_vcpu_state *state, size_t vcpu_index);

/** sq_psci_normalized() - SQ_PSCI_ON for index 0, SQ_PSCI_OFF otherwise. */
SQ_API enum sq_psci_state sq_psci_normalized(size_t vcpu_index);

/**
 * sq_gic_capture() - fill @out (len and bytes) from the source; the old
 * blob is released. 0 or the callback's error.
 */
SQ_API int sq_gic_capture(const struct sq_gic_source_ops *ops, void *ctx,
			  struct sq_gic_state *out);

/** sq_gic_restore() - hand the blob to the target. 0 or the callback's error. */
SQ_API int sq_gic_restore(const struct sq_gic_target_ops *ops, void *ctx,
			  const struct sq_gic_state *gic);

/**
 * sq_mmds_capture() - set @s's mmds_state from the source (None when the
 * source reports MMDS disabled). 0 or the callback's error.
 */
SQ_API int sq_mmds_capture(const struct sq_mmds_source_ops *ops, void *ctx,
			   struct sq_microvm_state *s);

/** sq_mmds_restore() - pass @s's mmds_state (NULL for None) to the target. */
SQ_API int sq_mmds_restore(const struct sq_mmds_target_ops *ops, void *ctx,
			   const struct sq_microvm_state *s);

SQ_END_DECLS

#endif /* SQUIB_VCPU_H */
