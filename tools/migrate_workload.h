/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/migrate_workload.h - the demo workload of "migrate send --demo" and
 * "demo migrate" (tools/cmd_demo_migrate.c): an anonymous region filled
 * with data, tracked by an engine tracker, and a writer thread that
 * dirties random pages at a paced rate until the migration pauses it.
 */
#ifndef SQ_TOOLS_MIGRATE_WORKLOAD_H
#define SQ_TOOLS_MIGRATE_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <squib/migrate.h>

struct sq_demo_wl;

/* Map @size bytes (page multiple), fill them, start tracking. 0 or SQ_E_*. */
int sq_demo_wl_create(size_t size, double rate_bytes_per_s, struct sq_demo_wl **out);
/* Start the writer (no-op at rate 0). */
void sq_demo_wl_start(struct sq_demo_wl *w);
/* Options for sq_migrate_send: region, tracker source, pause, throttle. */
void sq_demo_wl_send_opts(struct sq_demo_wl *w, struct sq_migrate_send_opts *o);
const uint8_t *sq_demo_wl_region(const struct sq_demo_wl *w);
uint64_t sq_demo_wl_writes(const struct sq_demo_wl *w);
/* Stops the writer if running, unmaps, frees. */
void sq_demo_wl_destroy(struct sq_demo_wl *w);

/* --compress values, indexed by enum sq_migrate_compression; NULL-terminated. */
extern const char *const sq_demo_compression_names[];

/* A migration report as a new JSON object (caller owns it; NULL when out of memory). */
json_t *sq_demo_report_json(const struct sq_migrate_report *r);
/* Print it for humans on stdout. */
void sq_demo_print_report_text(const struct sq_migrate_report *r);

#endif /* SQ_TOOLS_MIGRATE_WORKLOAD_H */
