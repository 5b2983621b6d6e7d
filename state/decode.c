/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/decode.c - bitcode 0.6 serde body -> MicrovmState, bounded.
 *
 * bitcode's decoder is lazy: a column is read when the first value of its
 * slot is needed, and then all of its values are read at once. Because
 * the derived Deserialize visits fields in the same order as Serialize,
 * that read order is the column order of state/encode.c, which this
 * decoder follows eagerly. Checks that bitcode makes per instance (an
 * Option tag >= 2, a psci variant >= 3) are made at the point where the
 * lazy decoder would reach that instance, so that the first error found is
 * the one bitcode reports (e.g. a bad psci tag of vCPU 0 is reported before
 * a truncated key column that only vCPU 3 would read).
 *
 * Bounds (invariants):
 *  - every read is checked against the end of the input (state/bitcode.c);
 *  - a count read from the input is checked against the minimum number of
 *    bytes its columns need before anything is allocated for it, so the
 *    memory used is at most a fixed multiple of the input size (about 66x
 *    for vCPUs: 832 bytes of struct per >= 12.6 bytes of input);
 *  - on any failure everything allocated is freed and *out stays NULL.
 * Leniency (as bitcode): non-canonical packings, unused padding digits,
 * bool bytes with high bits, large-length entries below 255, gic_state.len
 * differing from the byte count, and sys_regs maps whose keys are unsorted
 * or duplicated (sorted, the last duplicate winning, as BTreeMap's visitor).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/state.h>

#include "core/err.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

struct dec {
	struct bc_rbuf r;
	struct sq_microvm_state *s;
	char why[160]; /* storage for messages built at run time */
};

static int dup_str(struct dec *d, struct sq_str *dst, const uint8_t *src, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return bc_fail(&d->r, bc_err_nomem);
	if (len)
		memcpy(p, src, len);
	p[len] = 0;
	dst->s = p;
	dst->len = len;
	return 0;
}

/* A string column with one value. */
static int get_str1(struct dec *d, struct sq_str *dst)
{
	uint64_t len;
	const uint8_t *b;

	if (bc_get_length(&d->r, &len) || bc_get_str_bytes(&d->r, &len, 1, len, &b))
		return -1;
	return dup_str(d, dst, b, (size_t)len);
}

/* An Option tag column of one value, checked as the instance is reached. */
static int get_option1(struct dec *d, bool *some)
{
	uint8_t t;

	if (bc_get_packed_bytes(&d->r, &t, 1))
		return -1;
	if (t >= 2)
		return bc_fail(&d->r, "invalid option");
	*some = t == 1;
	return 0;
}

static int get_header(struct dec *d, struct sq_state_header *hdr)
{
	uint64_t len;
	const uint8_t *b;
	char *v;

	if (bc_get_u64(&d->r, &hdr->magic) || bc_get_length(&d->r, &len) ||
	    bc_get_str_bytes(&d->r, &len, 1, len, &b))
		return -1;
	v = malloc((size_t)len + 1);
	if (!v)
		return bc_fail(&d->r, bc_err_nomem);
	memcpy(v, b, (size_t)len);
	v[len] = 0;
	hdr->version = v;
	/* semver's Deserialize parses while the header is being visited. */
	if (sq_semver_parse(v, (size_t)len, &hdr->major, &hdr->minor, &hdr->patch, d->why,
			    sizeof(d->why)))
		return bc_fail(&d->r, d->why);
	return 0;
}

static int get_vm_info(struct dec *d, struct sq_vm_info *vi)
{
	if (bc_get_u64(&d->r, &vi->mem_size_mib) || bc_get_bools(&d->r, &vi->smt, sizeof(bool), 1) ||
	    get_str1(d, &vi->cpu_template) || get_str1(d, &vi->kernel_image_path) ||
	    get_option1(d, &vi->has_initrd_path) ||
	    (vi->has_initrd_path && get_str1(d, &vi->initrd_path)) ||
	    get_str1(d, &vi->boot_args) ||
	    bc_get_bools(&d->r, &vi->track_dirty_pages, sizeof(bool), 1))
		return -1;
	return 0;
}

static int check_psci(struct dec *d, const uint8_t *tags, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		if (tags[i] > SQ_PSCI_ON_PENDING) {
			snprintf(d->why, sizeof(d->why),
				 "invalid value: integer `%u`, expected variant index 0 <= i < 3",
				 tags[i]);
			return bc_fail(&d->r, d->why);
		}
		d->s->vcpus[i].psci_state = (enum sq_psci_state)tags[i];
	}
	return 0;
}

/* The keys column then the values column of all maps (K entries). */
static int get_sysregs(struct dec *d, const uint64_t *lens, size_t n, uint64_t k)
{
	struct sq_sysreg *all;
	size_t o = 0;

	if (bc_min_int_size((size_t)k) > bc_left(&d->r) / 2)
		return bc_fail(&d->r, "EOF");
	all = malloc((size_t)k * sizeof(*all));
	if (!all)
		return bc_fail(&d->r, bc_err_nomem);
	if (bc_get_ints(&d->r, &all[0].key, sizeof(*all), (size_t)k, 8) ||
	    bc_get_ints(&d->r, &all[0].value, sizeof(*all), (size_t)k, 8)) {
		free(all);
		return -1;
	}
	for (size_t i = 0; i < n; o += (size_t)lens[i], i++) {
		struct sq_vcpu_state *v = &d->s->vcpus[i];

		if (!lens[i])
			continue;
		v->sys_regs = malloc((size_t)lens[i] * sizeof(*all));
		if (!v->sys_regs) {
			free(all);
			return bc_fail(&d->r, bc_err_nomem);
		}
		memcpy(v->sys_regs, &all[o], (size_t)lens[i] * sizeof(*all));
		v->n_sys_regs = sq_sysregs_normalize(v->sys_regs, (size_t)lens[i]);
	}
	free(all);
	return 0;
}

static int get_vcpus(struct dec *d, size_t n)
{
	struct sq_microvm_state *s = d->s;
	uint64_t *lens = NULL, k;
	uint8_t *tags = NULL;
	size_t first = n; /* first vCPU with a non-empty map */
	int rc = -1;

	/* 101 integer columns, the map lengths and the psci tags, at least. */
	if (n > bc_left(&d->r) ||
	    SQ_VCPU_U64_COLUMNS * bc_min_int_size(n) + 2 * bc_min_packed_size(n) > bc_left(&d->r))
		return bc_fail(&d->r, "EOF");
	s->vcpus = calloc(n, sizeof(*s->vcpus));
	lens = malloc(n * sizeof(*lens));
	tags = malloc(n);
	if (!s->vcpus || !lens || !tags) {
		bc_fail(&d->r, bc_err_nomem);
		goto out;
	}
	s->n_vcpus = n;
	for (size_t c = 0; c < SQ_VCPU_U64_COLUMNS; c++)
		if (bc_get_ints(&d->r, (uint8_t *)s->vcpus + 8 * c, sizeof(*s->vcpus), n, 8))
			goto out;
	if (bc_get_lengths(&d->r, lens, n, &k))
		goto out;
	for (size_t i = 0; i < n && k; i++) {
		if (lens[i]) {
			first = i;
			break;
		}
	}
	if (first == 0 && get_sysregs(d, lens, n, k))
		goto out;
	if (bc_get_packed_bytes(&d->r, tags, n) || check_psci(d, tags, 0, first))
		goto out;
	if (first > 0 && first < n && get_sysregs(d, lens, n, k))
		goto out;
	if (check_psci(d, tags, first, n))
		goto out;
	rc = 0;
out:
	free(lens);
	free(tags);
	return rc;
}

static int get_str_column(struct dec *d, size_t n, size_t field_off, uint64_t *lens)
{
	uint64_t sum;
	const uint8_t *b;

	if (bc_get_lengths(&d->r, lens, n, &sum) || bc_get_str_bytes(&d->r, lens, n, sum, &b))
		return -1;
	for (size_t i = 0; i < n; b += lens[i], i++) {
		struct sq_str *dst = (struct sq_str *)(void *)((uint8_t *)&d->s->devices[i] +
							     field_off);

		if (dup_str(d, dst, b, (size_t)lens[i]))
			return -1;
	}
	return 0;
}

static int get_devices(struct dec *d, size_t n)
{
	struct sq_microvm_state *s = d->s;
	uint64_t *lens = NULL, total;
	uint8_t *blob = NULL;
	int rc = -1;

	/* kind, id, mmio_slot and blob lengths need n / 8 bytes each at least. */
	if (n > bc_left(&d->r) ||
	    2 * bc_min_packed_size(n) + bc_min_int_size(n) + bc_min_packed_size(n) > bc_left(&d->r))
		return bc_fail(&d->r, "EOF");
	s->devices = calloc(n, sizeof(*s->devices));
	lens = malloc(n * sizeof(*lens));
	if (!s->devices || !lens) {
		bc_fail(&d->r, bc_err_nomem);
		goto out;
	}
	s->n_devices = n;
	if (get_str_column(d, n, offsetof(struct sq_device_state, kind), lens) ||
	    get_str_column(d, n, offsetof(struct sq_device_state, id), lens) ||
	    bc_get_ints(&d->r, &s->devices[0].mmio_slot, sizeof(*s->devices), n, 4) ||
	    bc_get_lengths(&d->r, lens, n, &total))
		goto out;
	if (total) {
		if (bc_min_packed_size((size_t)total) > bc_left(&d->r)) {
			bc_fail(&d->r, "EOF");
			goto out;
		}
		blob = malloc((size_t)total);
		if (!blob) {
			bc_fail(&d->r, bc_err_nomem);
			goto out;
		}
		if (bc_get_packed_bytes(&d->r, blob, (size_t)total))
			goto out;
		for (size_t i = 0, o = 0; i < n; o += (size_t)lens[i], i++) {
			if (!lens[i])
				continue;
			s->devices[i].blob = malloc((size_t)lens[i]);
			if (!s->devices[i].blob) {
				bc_fail(&d->r, bc_err_nomem);
				goto out;
			}
			memcpy(s->devices[i].blob, blob + o, (size_t)lens[i]);
			s->devices[i].blob_len = (size_t)lens[i];
		}
	}
	rc = 0;
out:
	free(lens);
	free(blob);
	return rc;
}

static int get_gic(struct dec *d, struct sq_gic_state *g)
{
	uint64_t n;

	if (bc_get_u64(&d->r, &g->len) || bc_get_length(&d->r, &n))
		return -1;
	if (!n)
		return 0;
	if (bc_min_packed_size((size_t)n) > bc_left(&d->r))
		return bc_fail(&d->r, "EOF");
	g->bytes = malloc((size_t)n);
	if (!g->bytes)
		return bc_fail(&d->r, bc_err_nomem);
	g->bytes_len = (size_t)n;
	return bc_get_packed_bytes(&d->r, g->bytes, (size_t)n);
}

static int get_mmds(struct dec *d)
{
	struct sq_microvm_state *s = d->s;

	if (get_option1(d, &s->has_mmds))
		return -1;
	if (!s->has_mmds)
		return 0;
	if (get_str1(d, &s->mmds_state.data_json) ||
	    get_option1(d, &s->mmds_state.has_token_ttl))
		return -1;
	if (s->mmds_state.has_token_ttl)
		return bc_get_ints(&d->r, &s->mmds_state.token_ttl_seconds, 4, 1, 4);
	return 0;
}

int sq_state_decode_body(const uint8_t *body, size_t len, struct sq_microvm_state **out,
			 struct sq_state_header *hdr)
{
	struct dec d;
	uint64_t n;
	int rc;

	*out = NULL;
	memset(hdr, 0, sizeof(*hdr));
	memset(&d, 0, sizeof(d));
	bc_rbuf_init(&d.r, body, len);
	d.s = calloc(1, sizeof(*d.s));
	if (!d.s)
		return sq_err(SQ_E_NOMEM, "out of memory");
	if (get_header(&d, hdr) || get_vm_info(&d, &d.s->vm_info))
		goto fail;
	if (bc_get_length(&d.r, &n) || (n && get_vcpus(&d, (size_t)n)))
		goto fail;
	if (bc_get_length(&d.r, &n) || (n && get_devices(&d, (size_t)n)))
		goto fail;
	if (get_gic(&d, &d.s->gic_state) || get_mmds(&d))
		goto fail;
	if (bc_left(&d.r)) {
		bc_fail(&d.r, "Expected EOF");
		goto fail;
	}
	bc_rbuf_release(&d.r);
	*out = d.s;
	return 0;
fail:
	if (d.r.err == bc_err_nomem)
		rc = sq_err(SQ_E_NOMEM, "out of memory while decoding the state");
	else
		rc = sq_err(SQ_E_BITCODE, "snapshot encoding error: %s", d.r.err ? d.r.err : "EOF");
	bc_rbuf_release(&d.r);
	sq_state_destroy(d.s);
	sq_state_header_release(hdr);
	return rc;
}
