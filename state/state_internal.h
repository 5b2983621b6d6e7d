/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/state_internal.h - functions shared between the state/ sources
 * (hidden; reachable from the static archive used by tests and benchmarks).
 */
#ifndef SQ_STATE_INTERNAL_H
#define SQ_STATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <squib/state.h>

/* Per-vCPU u64 columns: mpidr, x[0..30], sp, pc, pstate, v[0][0]..v[31][1],
 * fpsr, fpcr. Column k lives at byte offset 8*k of struct sq_vcpu_state. */
#define SQ_VCPU_U64_COLUMNS 101

/*
 * sq_semver_parse() - strict semver 2.0 as the semver 1.x crate parses it
 * (three decimal numbers without leading zeros, optional -pre and +build).
 * Returns 0, or -1 with a message in @err (the crate's wording).
 */
int sq_semver_parse(const char *s, size_t len, uint64_t *major, uint64_t *minor,
		    uint64_t *patch, char *err, size_t errlen);

/*
 * sq_state_check_model() - the rules the encoder needs (UTF-8 strings,
 * psci <= 2, strictly ascending sys_regs keys). 0 or SQ_E_INVAL (message
 * recorded).
 */
int sq_state_check_model(const struct sq_microvm_state *s);

/* Release everything a vCPU / device owns (not the struct itself). */
void sq_vcpu_release(struct sq_vcpu_state *v);
void sq_device_release(struct sq_device_state *d);

/*
 * sq_sysregs_normalize() - make @n pairs a map the way serde's BTreeMap
 * visitor does: ascending keys, a later duplicate replacing an earlier
 * one. Returns the new count (<= n). 0 pairs is fine.
 */
size_t sq_sysregs_normalize(struct sq_sysreg *p, size_t n);

/* The shared decode step after bitcode: magic, then version. */
int sq_state_check_header(const struct sq_state_header *hdr);

/* Read at most SQ_STATE_SIZE_LIMIT + 1 bytes of @path (IO seam). */
int sq_state_read_file(const char *path, uint8_t **buf, size_t *len);

#endif /* SQ_STATE_INTERNAL_H */
