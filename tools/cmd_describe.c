/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap describe FILE [--json]
 *
 * Describes a state file as the original's describe(): the header, the
 * vCPU count, memory size, devices, MMDS, the inferred memory file and
 * whether the CRC holds (a file with a wrong CRC is still described, with
 * crc_ok false / "NO"). Exit 0 when the file could be described, 1 with a
 * one-line error otherwise (malformed files name the specific failure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>
#include <squib/state.h>

#include "cli.h"
#include "core/clock.h"
#include "cli_verbose.h"

/* The original's to_json() object, key for key, with the CLI's string rule. */
static json_t *describe_json(const struct sq_state_description *d)
{
	char magic[24];
	json_t *devs = json_array();

	snprintf(magic, sizeof(magic), "0x%016llx", (unsigned long long)d->magic);
	for (size_t i = 0; devs && i < d->n_devices; i++)
		json_array_append_new(devs, json_pack("{s:o,s:o,s:I}", "kind",
						      sq_json_textn(d->devices[i].kind.s,
								    d->devices[i].kind.len),
						      "id",
						      sq_json_textn(d->devices[i].id.s,
								    d->devices[i].id.len),
						      "mmio_slot",
						      (json_int_t)d->devices[i].mmio_slot));
	return json_pack("{s:o,s:s,s:o,s:o,s:o,s:o,s:b,s:o,s:b,s:o,s:b,s:o,s:b}",
			 "state_path", sq_json_text(d->state_path), "magic", magic,
			 "version", sq_json_text(d->version),
			 "expected_version", sq_json_text(d->expected_version),
			 "vcpu_count", sq_json_u64(d->vcpu_count),
			 "mem_size_mib", sq_json_u64(d->mem_size_mib),
			 "track_dirty_pages", d->track_dirty_pages, "devices", devs,
			 "mmds_present", d->mmds_present,
			 "inferred_memory_path", sq_json_text(d->inferred_memory_path),
			 "inferred_memory_exists", d->inferred_memory_exists,
			 "inferred_memory_size",
			 d->has_inferred_memory_size ? sq_json_u64(d->inferred_memory_size)
						     : json_null(),
			 "crc_ok", d->crc_ok);
}

static int run_describe(const struct sq_cli *cli, int argc, char **argv)
{
	static const struct sq_opt opts[] = { { NULL, 0, 0, 0 } };
	struct sq_opt_parser p;
	struct sq_state_description *d;
	const char *path = NULL;
	char *text;
	int rc;

	sq_opt_init(&p, cli, "describe", argc, argv);
	while ((rc = sq_opt_next(&p, opts)) != SQ_OPT_END) {
		if (rc == SQ_OPT_ERROR)
			return SQ_EXIT_USAGE;
		if (path)
			return sq_cli_usage_error(cli, "describe", "one state file expected");
		path = p.arg;
	}
	if (!path)
		return sq_cli_usage_error(cli, "describe", "missing the state file");
	double t0 = sq_clock_s();
	rc = sq_state_describe(path, &d);
	sq_cli_verbose(cli, 1, "describe", "read and decoded %s (envelope CRC-64 checked): %s in "
		       "%.3f s", path, rc ? sq_error_name(rc) : "ok", sq_clock_s() - t0);
	if (rc)
		return sq_cli_fail(cli, "describe", rc);
	if (cli->json) {
		rc = sq_cli_emit(describe_json(d));
		sq_state_description_destroy(d);
		return rc ? SQ_EXIT_FAIL : SQ_EXIT_OK;
	}
	rc = sq_state_description_format(d, 0, &text);
	sq_state_description_destroy(d);
	if (rc)
		return sq_cli_fail(cli, "describe", rc);
	fputs(text, stdout);
	free(text);
	return SQ_EXIT_OK;
}

SQ_CLI_COMMAND(.name = "describe", .summary = "describe a state file (header, vCPUs, devices, CRC)",
	       .usage = "squib-snap describe FILE [--json]\n"
			"\n"
			"Prints the state file's magic, version, vCPU count, memory size, devices,\n"
			"MMDS presence, the inferred memory file (FILE with .snap replaced by .mem)\n"
			"and whether its CRC-64 holds. A file whose CRC is wrong is still described\n"
			"(crc_ok: NO). Exit 0 on a describable file, 1 otherwise.\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_describe)
