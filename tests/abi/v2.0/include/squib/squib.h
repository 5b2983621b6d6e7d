/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/squib.h - everything public in libsquib.
 *
 * One header per component; include this one to get all of them.
 */
#ifndef SQUIB_SQUIB_H
#define SQUIB_SQUIB_H

#include <squib/version.h>
#include <squib/types.h>
#include <squib/error.h>
#include <squib/alloc.h>
#include <squib/crc64.h>
#include <squib/atomic_file.h>
#include <squib/progress.h>
#include <squib/manifest.h>
#include <squib/writer.h>
#include <squib/restore.h>
#include <squib/merge.h>
#include <squib/snapshot.h>
#include <squib/live.h>
#include <squib/lazy.h>
#include <squib/migrate.h>
#include <squib/tracker.h>
#include <squib/state.h>
#include <squib/vcpu.h>
#include <squib/foreign.h>
#include <squib/compat.h>

#endif /* SQUIB_SQUIB_H */
