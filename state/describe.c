/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/describe.c - describe a state file (the original's describe(),
 * SnapshotDescription::human() and ::to_json()).
 *
 * Invariants: describe never runs verify_compatible; only CrcMismatch
 * falls back to decoding the body without the CRC (crc_ok = false), every
 * other failure is returned as is. The memory file is inferred only when
 * the file name's extension is exactly "snap" (Rust Path::extension rules:
 * the text after the last '.' of the last component, a leading '.' does not
 * start an extension).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <squib/state.h>

#include "core/err.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

void sq_state_description_destroy(struct sq_state_description *d)
{
	if (!d)
		return;
	free(d->state_path);
	free(d->version);
	for (size_t i = 0; i < d->n_devices; i++) {
		sq_str_clear(&d->devices[i].kind);
		sq_str_clear(&d->devices[i].id);
	}
	free(d->devices);
	free(d->inferred_memory_path);
	free(d);
}

/* "<dir>/<stem>.mem" when the extension is "snap", else NULL (*nomem set on failure). */
static char *infer_memory_path(const char *path, bool *nomem)
{
	const char *name = strrchr(path, '/');
	const char *dot;
	size_t stem;
	char *m;

	*nomem = false;
	name = name ? name + 1 : path;
	dot = strrchr(name, '.');
	if (!dot || dot == name || strcmp(dot + 1, "snap") != 0)
		return NULL;
	stem = (size_t)(dot - path);
	m = malloc(stem + sizeof(".mem"));
	if (!m) {
		*nomem = true;
		return NULL;
	}
	memcpy(m, path, stem);
	memcpy(m + stem, ".mem", sizeof(".mem"));
	return m;
}

static int fill(struct sq_state_description *d, const struct sq_microvm_state *s,
		struct sq_state_header *h)
{
	d->magic = h->magic;
	d->version = h->version;
	h->version = NULL;
	d->expected_version = SQ_SNAPSHOT_VERSION;
	d->vcpu_count = s->n_vcpus;
	d->mem_size_mib = s->vm_info.mem_size_mib;
	d->track_dirty_pages = s->vm_info.track_dirty_pages;
	d->mmds_present = s->has_mmds;
	if (s->n_devices) {
		d->devices = calloc(s->n_devices, sizeof(*d->devices));
		if (!d->devices)
			return sq_err(SQ_E_NOMEM, "out of memory");
		d->n_devices = s->n_devices;
		for (size_t i = 0; i < s->n_devices; i++) {
			struct sq_state_device_summary *o = &d->devices[i];
			const struct sq_device_state *v = &s->devices[i];

			o->mmio_slot = v->mmio_slot;
			if (sq_str_set(&o->kind, v->kind.s, v->kind.len) ||
			    sq_str_set(&o->id, v->id.s, v->id.len))
				return SQ_E_NOMEM;
		}
	}
	return 0;
}

int sq_state_describe(const char *path, struct sq_state_description **out)
{
	struct sq_state_description *d;
	struct sq_microvm_state *s = NULL;
	struct sq_state_header h = { 0 };
	uint8_t *buf;
	size_t len;
	bool crc_ok = true, nomem;
	int rc;

	*out = NULL;
	rc = sq_state_read_file(path, &buf, &len);
	if (rc)
		return rc;
	rc = sq_state_decode(buf, len, &s, &h);
	if (rc == SQ_E_CRC_MISMATCH) {
		/* Only a CRC failure falls back; len >= 8 here (TooShort comes first). */
		crc_ok = false;
		rc = sq_state_decode_unchecked(buf, len - SQ_STATE_CRC_LEN, &s, &h);
	}
	free(buf);
	if (rc)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto out;
	}
	d->crc_ok = crc_ok;
	d->state_path = strdup(path);
	d->inferred_memory_path = infer_memory_path(path, &nomem);
	if (!d->state_path || nomem) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto out;
	}
	rc = fill(d, s, &h);
	if (rc)
		goto out;
	if (d->inferred_memory_path) {
		struct stat st;

		if (stat(d->inferred_memory_path, &st) == 0) {
			d->inferred_memory_exists = true;
			d->has_inferred_memory_size = true;
			d->inferred_memory_size = (uint64_t)st.st_size;
		}
	}
out:
	sq_state_destroy(s);
	sq_state_header_release(&h);
	if (rc) {
		sq_state_description_destroy(d);
		return rc;
	}
	*out = d;
	return 0;
}

/* ------------------------------------------------------------- formatting */

/* A JSON string: escapes as JSON requires; invalid UTF-8 becomes U+FFFD. */
static void json_str(FILE *f, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f);
			i++;
		} else if (c == '\r') {
			fputs("\\r", f);
			i++;
		} else if (c == '\t') {
			fputs("\\t", f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			fputc(c, f);
			i++;
		} else {
			size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;

			if (n <= len - i && bc_utf8_valid(p + i, n)) {
				fprintf(f, "%.*s", (int)n, (const char *)p + i);
				i += n;
			} else {
				fputs("\xef\xbf\xbd", f);
				i++;
			}
		}
	}
	fputc('"', f);
}

static void json_cstr(FILE *f, const char *s)
{
	json_str(f, s, strlen(s));
}

static void format_json(FILE *f, const struct sq_state_description *d)
{
	fputs("{\"state_path\":", f);
	json_cstr(f, d->state_path);
	fprintf(f, ",\"magic\":\"0x%016llx\",\"version\":", (unsigned long long)d->magic);
	json_cstr(f, d->version);
	fputs(",\"expected_version\":", f);
	json_cstr(f, d->expected_version);
	fprintf(f, ",\"vcpu_count\":%zu,\"mem_size_mib\":%llu,\"track_dirty_pages\":%s,\"devices\":[",
		d->vcpu_count, (unsigned long long)d->mem_size_mib,
		d->track_dirty_pages ? "true" : "false");
	for (size_t i = 0; i < d->n_devices; i++) {
		fputs(i ? ",{\"kind\":" : "{\"kind\":", f);
		json_str(f, d->devices[i].kind.s, d->devices[i].kind.len);
		fputs(",\"id\":", f);
		json_str(f, d->devices[i].id.s, d->devices[i].id.len);
		fprintf(f, ",\"mmio_slot\":%u}", d->devices[i].mmio_slot);
	}
	fprintf(f, "],\"mmds_present\":%s,\"inferred_memory_path\":",
		d->mmds_present ? "true" : "false");
	if (d->inferred_memory_path)
		json_cstr(f, d->inferred_memory_path);
	else
		fputs("null", f);
	fprintf(f, ",\"inferred_memory_exists\":%s,\"inferred_memory_size\":",
		d->inferred_memory_exists ? "true" : "false");
	if (d->has_inferred_memory_size)
		fprintf(f, "%llu", (unsigned long long)d->inferred_memory_size);
	else
		fputs("null", f);
	fprintf(f, ",\"crc_ok\":%s}\n", d->crc_ok ? "true" : "false");
}

/* "  <label padded to 21>": every value starts at column 23. */
static void label(FILE *f, const char *l)
{
	fprintf(f, "  %-21s", l);
}

static void format_human(FILE *f, const struct sq_state_description *d)
{
	fprintf(f, "snapshot: %s\n", d->state_path);
	label(f, "magic:");
	fprintf(f, "0x%016llx\n", (unsigned long long)d->magic);
	label(f, "version:");
	fprintf(f, "%s\n", d->version);
	if (strcmp(d->version, d->expected_version) != 0) {
		label(f, "expected (squib):");
		fprintf(f, "%s\n", d->expected_version);
	}
	label(f, "vcpu_count:");
	fprintf(f, "%zu\n", d->vcpu_count);
	label(f, "mem_size_mib:");
	fprintf(f, "%llu\n", (unsigned long long)d->mem_size_mib);
	label(f, "track_dirty_pages:");
	fprintf(f, "%s\n", d->track_dirty_pages ? "true" : "false");
	label(f, "devices:");
	fprintf(f, "%zu\n", d->n_devices);
	for (size_t i = 0; i < d->n_devices; i++)
		fprintf(f, "    - %.*s: %.*s (slot %u)\n", (int)d->devices[i].kind.len,
			d->devices[i].kind.s ? d->devices[i].kind.s : "", (int)d->devices[i].id.len,
			d->devices[i].id.s ? d->devices[i].id.s : "", d->devices[i].mmio_slot);
	label(f, "mmds_present:");
	fprintf(f, "%s\n", d->mmds_present ? "true" : "false");
	if (d->inferred_memory_path) {
		label(f, "memory file:");
		if (d->has_inferred_memory_size)
			fprintf(f, "%s (%llu bytes)\n", d->inferred_memory_path,
				(unsigned long long)d->inferred_memory_size);
		else if (d->inferred_memory_exists)
			fprintf(f, "%s (present)\n", d->inferred_memory_path);
		else
			fprintf(f, "%s (MISSING)\n", d->inferred_memory_path);
	}
	label(f, "crc_ok:");
	fprintf(f, "%s\n", d->crc_ok ? "yes" : "NO");
}

int sq_state_description_format(const struct sq_state_description *d, int json, char **out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	*out = NULL;
	if (!f)
		return sq_err(SQ_E_NOMEM, "out of memory");
	if (json)
		format_json(f, d);
	else
		format_human(f, d);
	if (fclose(f) != 0 || !text) {
		free(text);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	*out = text;
	return 0;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_state_description_free(struct sq_state_description *d)
{
	sq_state_description_destroy(d);
}
