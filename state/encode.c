/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/encode.c - MicrovmState -> bitcode 0.6 serde body.
 *
 * bitcode is a column store: each leaf slot of the type tree owns one column
 * holding that slot's values for every instance, and columns are emitted in
 * the order in which the serializer's depth-first walk first writes a value
 * into each slot. For this schema that order is fixed except in one place,
 * which this encoder derives from the data exactly as the walk would:
 *
 *   - Every field of VmInfo, GicState, the header and the Option tags is
 *     written by the first (only) instance, so their columns come in
 *     declaration order.
 *   - In VcpuState, mpidr .. fpcr, the sys_regs lengths and psci_state are
 *     written by vCPU 0. The map's key and value slots are created by the
 *     first vCPU whose map is non-empty: if that is vCPU 0, before vCPU 0's
 *     psci tag (keys/values precede the psci column), otherwise after it.
 *     If every map is empty, they have no column at all.
 *   - In DeviceState the blob's byte slot is created by the first device
 *     with a non-empty blob, but everything device 0 writes comes before
 *     it and nothing after device_states precedes it, so it always directly
 *     follows the blob lengths.
 *   - Option payloads (initrd_path, mmds fields, ttl) have a single
 *     instance, so "first Some" is "the instance".
 * A slot that never receives a value has no column; integer columns of 0
 * values and byte columns of 0 values are empty.
 *
 * Invariants: the encoder never reorders or normalizes data; the caller's
 * model must satisfy sq_state_check_model() (checked first).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <squib/state.h>

#include "core/err.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

/* The 101 per-vCPU u64 columns are the 101 consecutive u64 fields. */
_Static_assert(offsetof(struct sq_vcpu_state, mpidr) == 0, "mpidr first");
_Static_assert(offsetof(struct sq_vcpu_state, regs) == 8, "regs after mpidr");
_Static_assert(offsetof(struct sq_vcpu_state, fp_regs) == 8 * 35, "fp_regs after regs");
_Static_assert(offsetof(struct sq_vcpu_state, fp_regs.fpcr) == 8 * (SQ_VCPU_U64_COLUMNS - 1),
	       "fpcr is the last u64 column");

static void put_str(struct bc_wbuf *w, const struct sq_str *s)
{
	bc_put_str1(w, s->s, s->len);
}

static void put_tag(struct bc_wbuf *w, bool some)
{
	uint8_t t = some ? 1 : 0;

	bc_put_packed_bytes(w, &t, 1);
}

static void put_sysregs(struct bc_wbuf *w, const struct sq_sysreg *all, size_t k)
{
	bc_put_ints(w, &all[0].key, sizeof(*all), k, 8);
	bc_put_ints(w, &all[0].value, sizeof(*all), k, 8);
}

static int put_vcpus(struct bc_wbuf *w, const struct sq_vcpu_state *v, size_t n)
{
	uint64_t *lens = malloc(n * sizeof(*lens));
	uint8_t *psci = malloc(n);
	struct sq_sysreg *all = NULL;
	size_t k = 0;

	if (!lens || !psci)
		goto nomem;
	if (n >= 4) {
		/*
		 * Transpose first: a column walk over the vCPU array touches one
		 * cache line per value (the struct is 832 bytes), which stalls
		 * the column's min/max scan on every load; contiguous columns
		 * stream through it.
		 */
		uint64_t *cols = malloc(SQ_VCPU_U64_COLUMNS * n * sizeof(*cols));

		if (!cols)
			goto nomem;
		for (size_t i = 0; i < n; i++) {
			const uint64_t *row = (const uint64_t *)(const void *)&v[i];

			for (size_t c = 0; c < SQ_VCPU_U64_COLUMNS; c++)
				cols[c * n + i] = row[c];
		}
		for (size_t c = 0; c < SQ_VCPU_U64_COLUMNS; c++)
			bc_put_ints(w, &cols[c * n], sizeof(*cols), n, 8);
		free(cols);
	} else {
		for (size_t c = 0; c < SQ_VCPU_U64_COLUMNS; c++)
			bc_put_ints(w, (const uint8_t *)v + 8 * c, sizeof(*v), n, 8);
	}
	for (size_t i = 0; i < n; i++) {
		lens[i] = v[i].n_sys_regs;
		k += v[i].n_sys_regs;
		psci[i] = (uint8_t)v[i].psci_state;
	}
	bc_put_lengths(w, lens, n);
	if (k) {
		all = malloc(k * sizeof(*all));
		if (!all)
			goto nomem;
		for (size_t i = 0, o = 0; i < n; o += v[i].n_sys_regs, i++)
			if (v[i].n_sys_regs)
				memcpy(&all[o], v[i].sys_regs, v[i].n_sys_regs * sizeof(*all));
	}
	if (k && v[0].n_sys_regs)
		put_sysregs(w, all, k);
	bc_put_packed_bytes(w, psci, n);
	if (k && !v[0].n_sys_regs)
		put_sysregs(w, all, k);
	free(all);
	free(lens);
	free(psci);
	return 0;
nomem:
	free(lens);
	free(psci);
	return SQ_E_NOMEM;
}

/* A string column of @n strings found at @base + i * @stride. */
static int put_str_column(struct bc_wbuf *w, const void *base, size_t stride, size_t n,
			  uint64_t *lens)
{
	for (size_t i = 0; i < n; i++)
		lens[i] = ((const struct sq_str *)(const void *)((const uint8_t *)base +
								  i * stride))->len;
	bc_put_lengths(w, lens, n);
	for (size_t i = 0; i < n; i++) {
		const struct sq_str *s =
			(const struct sq_str *)(const void *)((const uint8_t *)base + i * stride);

		bc_put_raw(w, s->s, s->len);
	}
	return w->err;
}

static int put_devices(struct bc_wbuf *w, const struct sq_device_state *d, size_t n)
{
	uint64_t *lens = malloc(n * sizeof(*lens));
	uint8_t *blob = NULL;
	size_t total = 0;

	if (!lens)
		return SQ_E_NOMEM;
	put_str_column(w, &d[0].kind, sizeof(*d), n, lens);
	put_str_column(w, &d[0].id, sizeof(*d), n, lens);
	bc_put_ints(w, &d[0].mmio_slot, sizeof(*d), n, 4);
	for (size_t i = 0; i < n; i++) {
		lens[i] = d[i].blob_len;
		total += d[i].blob_len;
	}
	bc_put_lengths(w, lens, n);
	free(lens);
	if (!total)
		return 0;
	/* One u8 column for all blobs, device 0's bytes first. */
	blob = malloc(total);
	if (!blob)
		return SQ_E_NOMEM;
	for (size_t i = 0, o = 0; i < n; o += d[i].blob_len, i++)
		if (d[i].blob_len)
			memcpy(blob + o, d[i].blob, d[i].blob_len);
	bc_put_packed_bytes(w, blob, total);
	free(blob);
	return 0;
}

/* A generous first guess of the body size, so that one allocation suffices. */
static size_t size_hint(const struct sq_microvm_state *s, size_t version_len)
{
	size_t n = 128 + version_len + s->vm_info.cpu_template.len +
		   s->vm_info.kernel_image_path.len + s->vm_info.initrd_path.len +
		   s->vm_info.boot_args.len + s->gic_state.bytes_len + s->mmds_state.data_json.len;

	n += s->n_vcpus * (SQ_VCPU_U64_COLUMNS * 8 + 4) + SQ_VCPU_U64_COLUMNS * 10;
	for (size_t i = 0; i < s->n_vcpus; i++)
		n += s->vcpus[i].n_sys_regs * 16;
	for (size_t i = 0; i < s->n_devices; i++)
		n += 24 + s->devices[i].kind.len + s->devices[i].id.len + s->devices[i].blob_len;
	return n + SQ_STATE_CRC_LEN;
}

/*
 * sq_state_encode_into() - append the body to a fresh buffer in @w
 * (internal; sq_state_encode adds the CRC in place).
 */
int sq_state_encode_into(const struct sq_microvm_state *s, uint64_t magic, const char *version,
			 struct bc_wbuf *w);

int sq_state_encode_into(const struct sq_microvm_state *s, uint64_t magic, const char *version,
			 struct bc_wbuf *w)
{
	const struct sq_vm_info *vi = &s->vm_info;
	size_t vlen;
	uint64_t maj, min, pat;
	char why[128];
	int rc;

	if (!version)
		version = SQ_SNAPSHOT_VERSION;
	vlen = strlen(version);
	if (sq_semver_parse(version, vlen, &maj, &min, &pat, why, sizeof(why)))
		return sq_err(SQ_E_INVAL, "header version \"%s\" is not a semver: %s", version, why);
	rc = sq_state_check_model(s);
	if (rc)
		return rc;
	bc_wbuf_init(w, size_hint(s, vlen));

	/* Snapshot.header */
	bc_put_u64(w, magic);
	bc_put_str1(w, version, vlen);
	/* MicrovmState.vm_info */
	bc_put_u64(w, vi->mem_size_mib);
	bc_put_bools(w, &vi->smt, sizeof(bool), 1);
	put_str(w, &vi->cpu_template);
	put_str(w, &vi->kernel_image_path);
	put_tag(w, vi->has_initrd_path);
	if (vi->has_initrd_path)
		put_str(w, &vi->initrd_path);
	put_str(w, &vi->boot_args);
	bc_put_bools(w, &vi->track_dirty_pages, sizeof(bool), 1);
	/* vcpu_states */
	bc_put_length(w, s->n_vcpus);
	if (s->n_vcpus && put_vcpus(w, s->vcpus, s->n_vcpus))
		goto nomem;
	/* device_states.devices */
	bc_put_length(w, s->n_devices);
	if (s->n_devices && put_devices(w, s->devices, s->n_devices))
		goto nomem;
	/* gic_state */
	bc_put_u64(w, s->gic_state.len);
	bc_put_length(w, s->gic_state.bytes_len);
	bc_put_packed_bytes(w, s->gic_state.bytes, s->gic_state.bytes_len);
	/* mmds_state */
	put_tag(w, s->has_mmds);
	if (s->has_mmds) {
		put_str(w, &s->mmds_state.data_json);
		put_tag(w, s->mmds_state.has_token_ttl);
		if (s->mmds_state.has_token_ttl)
			bc_put_ints(w, &s->mmds_state.token_ttl_seconds, 4, 1, 4);
	}
	if (w->err)
		goto nomem;
	return 0;
nomem:
	bc_wbuf_release(w);
	return sq_err(SQ_E_NOMEM, "out of memory while encoding the state");
}

int sq_state_encode_body(const struct sq_microvm_state *s, uint64_t magic, const char *version,
			 uint8_t **out, size_t *len)
{
	struct bc_wbuf w;
	int rc = sq_state_encode_into(s, magic, version, &w);

	*out = NULL;
	*len = 0;
	if (rc)
		return rc;
	free(w.scratch);
	*out = w.p;
	*len = w.len;
	return 0;
}
