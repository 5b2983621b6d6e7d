/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/model/handle_pin.pml - mark handles against region removal, in
 * Promela.
 *
 * Mirrors (change together with):
 *   engine/handle.c   sq_tracker_handle_get: under t->lock (read), find the
 *                     region by id in the published table, pins++ under
 *                     the region's pin lock, unlock; sq_handle_mark (the
 *                     inline mark of squib/tracker_inline.h): the region's
 *                     bits, no read section; sq_tracker_handle_put: pins--
 *                     under the pin lock, wake the remover at 0
 *   engine/tracker.c  sq_tracker_remove_region: under t->lock (write),
 *                     unpublish, grace period, unlock, then
 *                     sq_region_wait_unpinned (pins == 0), then free
 * and row (5) of the synchronization table in squib/tracker.h. Markers
 * that use the RCU read section instead of a handle are
 * engine/model/region_rcu.pml; the bit and summary updates of a handle
 * mark are those of engine/model/mark_harvest.pml.
 *
 * Scale: one region; two handle holders, each obtaining a handle, marking
 * twice, harvesting the region once while holding the handle (allowed by
 * the contract), marking once more and putting the handle back; one
 * remover. Every interleaving, including a get that comes after the
 * removal (SQ_E_NOT_FOUND).
 *
 * Properties:
 *   no_use_after_free  no mark through a handle touches a freed bitmap
 *   no deadlock        every process terminates (invalid end states)
 *
 * Mutants (the check script requires each to be caught):
 *   -DBUG_NO_PIN_WAIT     removal frees without waiting for the pins
 *   -DBUG_GET_NO_LOCK     the get checks the table without t->lock, so it
 *                         can pin after the remover saw no pins
 *   -DBUG_WAIT_UNDER_LOCK removal waits for the pins while holding
 *                         t->lock: a holder's harvest then waits for the
 *                         lock and never puts its handle back
 */

#define NHOLDERS 2

bool published = true;  /* the region is in t->table */
bool freed;             /* region_free has run */
byte pins;              /* r->pins (changes are atomic: the pin lock) */
byte bits;              /* one word of the region's bitmap */

byte rd_holders;        /* t->lock */
bool wr_held;

inline rdlock()
{
	atomic { !wr_held -> rd_holders++ }
}

inline rdunlock()
{
	rd_holders--
}

inline hmark()
{
	assert(!freed);         /* the handle's bitmap is live */
	bits = 1
}

proctype holder()
{
	bool got;

	/* sq_tracker_handle_get */
#ifdef BUG_GET_NO_LOCK
	got = published;
	if
	:: got -> pins++
	:: else -> skip
	fi;
#else
	rdlock();
	if
	:: published -> pins++; got = true
	:: else -> got = false      /* SQ_E_NOT_FOUND */
	fi;
	rdunlock();
#endif
	if
	:: got ->
		hmark();
		hmark();
		/* a harvest of the region while holding the handle */
		rdlock();
		if
		:: published -> assert(!freed); bits = 0
		:: else -> skip     /* SQ_E_NOT_FOUND */
		fi;
		rdunlock();
		hmark();
		pins--              /* sq_tracker_handle_put */
	:: else -> skip
	fi
}

active proctype remover()
{
	atomic { !wr_held && rd_holders == 0 -> wr_held = true };
	published = false;      /* the new table, without the region */
	/* (grace period for read-section markers: region_rcu.pml) */
#ifdef BUG_WAIT_UNDER_LOCK
	pins == 0;
	wr_held = false;
#else
	wr_held = false;
#ifndef BUG_NO_PIN_WAIT
	pins == 0;              /* sq_region_wait_unpinned */
#endif
#endif
	freed = true            /* region_free */
}

init
{
	atomic {
		run holder();
		run holder()
	}
}
