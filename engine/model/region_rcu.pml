/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/model/region_rcu.pml - region removal under RCU, in Promela.
 *
 * Mirrors (change together with):
 *   engine/mark.c     mark_enter / mark_leave: urcu-memb read section around
 *                     the acquire load of t->table and the region's bits
 *   engine/tracker.c  sq_tracker_remove_region: under t->lock (write), a new
 *                     table without the region is published (release), a
 *                     grace period (sq_rcu_synchronize), unlock, then the old
 *                     table and the region are freed;
 *                     control operations (harvest, put-back) find the region
 *                     by id under t->lock (read) and use it until unlock
 *   engine/rcu.c      sq_rcu_synchronize = urcu_memb_synchronize_rcu
 * and rows (2) and (4) of the synchronization table in squib/tracker.h.
 *
 * The grace period is modelled by its guarantee, not by urcu-memb's
 * two-phase counter algorithm (liburcu verifies that one with its own
 * Promela models): synchronize returns only after every reader that was
 * inside a read section when it started has left that section.
 *
 * Scale: two regions; two marker threads, each marking twice in regions
 * chosen nondeterministically; one control thread harvesting both
 * regions; one thread removing both regions. Tables are immutable
 * versions: version 0 = {1, 2}, 1 = {2}, 2 = {}.
 *
 * Properties:
 *   no_use_after_free  no marker or harvester reads a table or a region
 *                      after it was freed (assertions)
 *   no deadlock        every process terminates (invalid end states)
 *
 * Mutants (the check script requires each to be caught):
 *   -DBUG_FREE_BEFORE_GP   free the region before the grace period
 *   -DBUG_NO_READ_SECTION  markers read the table outside a read section
 *   -DBUG_HARVEST_NO_LOCK  the harvest finds the region without t->lock
 */

#define NREADERS 2

byte tab = 0;                 /* t->table: current version */
bool tab_freed[3];
bool reg_freed[3];            /* regions 1, 2 (0 unused) */
byte bits[3];                 /* a word of each region's bitmap */

/* urcu read sections: in_cs[i] while reader i is inside; gen[i] counts
 * the sections it has left. */
bool in_cs[NREADERS];
byte gen[NREADERS];

/* t->lock as a reader-writer lock. */
byte rd_holders;
bool wr_held;

inline table_has(v, r, res)
{
	res = (v == 0) || (v == 1 && r == 2)
}

proctype marker(byte id)
{
	byte n, v, r;
	bool has;

	n = 0;
	do
	:: n == 2 -> break
	:: else ->
#ifndef BUG_NO_READ_SECTION
		in_cs[id] = true;                        /* urcu_memb_read_lock */
#endif
		v = tab;                                 /* acquire load of t->table */
		assert(!tab_freed[v]);                   /* reading tab->r[] */
		if
		:: r = 1
		:: r = 2
		fi;
		table_has(v, r, has);
		if
		:: has ->
			assert(!reg_freed[r]);               /* the region's bits */
			bits[r] = 1
		:: else -> skip                          /* SQ_E_RANGE */
		fi;
#ifndef BUG_NO_READ_SECTION
		d_step { in_cs[id] = false; gen[id]++ }  /* urcu_memb_read_unlock */
#endif
		n++
	od
}

active proctype harvester()
{
	byte r, v;
	bool has;

	r = 1;
	do
	:: r == 3 -> break
	:: else ->
#ifndef BUG_HARVEST_NO_LOCK
		atomic { !wr_held -> rd_holders++ };     /* pthread_rwlock_rdlock */
#endif
		v = tab;                                 /* sq_region_by_id (relaxed, under lock) */
		assert(!tab_freed[v]);
		table_has(v, r, has);
		if
		:: has ->
			assert(!reg_freed[r]);
			bits[r] = 0;                         /* exchange(word, 0) */
			assert(!reg_freed[r])                /* still in use until unlock */
		:: else -> skip                          /* SQ_E_NOT_FOUND */
		fi;
#ifndef BUG_HARVEST_NO_LOCK
		rd_holders--;
#endif
		r++
	od
}

/* urcu_memb_synchronize_rcu: wait for every pre-existing reader. */
inline synchronize_rcu()
{
	d_step {
		i = 0;
		do
		:: i == NREADERS -> break
		:: else -> was_in[i] = in_cs[i]; snap[i] = gen[i]; i++
		od
	};
	i = 0;
	do
	:: i == NREADERS -> break
	:: else -> (!was_in[i] || gen[i] != snap[i]); i++
	od
}

active proctype remover()
{
	byte r, old, i;
	bool was_in[NREADERS];
	byte snap[NREADERS];

	r = 1;
	do
	:: r == 3 -> break
	:: else ->
		atomic { !wr_held && rd_holders == 0 -> wr_held = true }; /* wrlock */
		old = tab;
		tab = old + 1;                           /* release store of the new table */
#ifdef BUG_FREE_BEFORE_GP
		reg_freed[r] = true;
#endif
		synchronize_rcu();
		wr_held = false;                         /* unlock */
		tab_freed[old] = true;                   /* free(old) */
		reg_freed[r] = true;                     /* region_free(r) */
		r++
	od
}

init
{
	atomic {
		run marker(0);
		run marker(1)
	}
}
