/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/host_probe.h - what this host offers squib-snap, probed for real
 * (as `criu check` does): each probe makes the system call the feature
 * needs, on this kernel, with this process's privileges, in a given
 * directory where the feature is about a filesystem.
 */
#ifndef SQ_TOOLS_HOST_PROBE_H
#define SQ_TOOLS_HOST_PROBE_H

#include <stdbool.h>

struct sq_probe_result {
	const char *name;    /* stable key, e.g. "uffd_wp_async" */
	const char *what;    /* one line: what it is used for */
	bool ok;             /* the feature works here */
	bool required;       /* squib-snap cannot work at all without it */
	char detail[160];    /* why not, or what was found */
};

/* Number of probes sq_host_probe() fills. */
#define SQ_PROBE_COUNT 10

/*
 * sq_host_probe() - run every probe; @dir is where memory files would be
 * written (O_DIRECT, O_TMPFILE, SEEK_DATA are per filesystem). Fills
 * @out[0..SQ_PROBE_COUNT-1]. Creates and removes only unnamed or uniquely
 * named temporary files in @dir. Returns 0, or -errno when @dir cannot be
 * used at all (the results are then not filled).
 */
int sq_host_probe(const char *dir, struct sq_probe_result out[SQ_PROBE_COUNT]);

#endif /* SQ_TOOLS_HOST_PROBE_H */
