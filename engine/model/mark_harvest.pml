/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/model/mark_harvest.pml - mark / harvest / put-back, in Promela.
 *
 * Mirrors (change together with):
 *   engine/internal.h  sq_bits_or, sq_summary_set   (the mark: M0 M1 M2 M3)
 *   include/squib/tracker_inline.h  sq_handle_mark, sq_handle_set_  (the same
 *                      mark through a handle: M0 M1 M2 M3 on the same words)
 *   engine/harvest.c   scan_region, scan_block      (the harvest: H1 H2 H3,
 *                      the summary give-back of a failed scan, V1)
 *   engine/tracker.c   sq_tracker_put_back           (put-back = sq_bits_or)
 * and the "No lost marks" table at the top of engine/harvest.c.
 *
 * Scale: 2 blocks of 2 pages (one fine word per block, 2 summary bits);
 * three marker threads marking overlapping pages (so the test-first fast
 * path M0 is taken), one harvester doing HARVESTS rounds, each of which may
 * fail after the scan (its consumer failed) and put the set back, and may
 * fail in the middle of the scan (out of memory: scan_restore + summary
 * give-back). Promela interleaves whole statements: every statement below
 * is one atomic access of the C code.
 *
 * Memory model. Without -DTSO the model is sequentially consistent, which
 * is what the code's seq_cst RMWs and loads give for the bit protocol
 * itself (the relaxed test load M0 only ever returns early on a set bit,
 * and a set bit is reported by the harvest that clears it).
 * With -DTSO each marker first writes the page's data through its own store
 * buffer (x86-64 TSO: a store may stay buffered past later loads; a locked
 * RMW drains the buffer first), and the harvester copies the data of every
 * page it reports. That checks the ordering promise of squib/tracker.h:
 * "memory written by a thread before its mark is visible to the harvesting
 * thread after sq_tracker_harvest returns". -DFENCE adds a full fence
 * (atomic_thread_fence(memory_order_seq_cst)) before the test load M0.
 *
 * Properties (assertions, checked in every interleaving):
 *  no_lost_mark   once every marker has returned and a final harvest has
 *                 succeeded, no page is owed: every mark was reported by a
 *                 successful harvest (never lost in a failed one)
 *  copy_current   (-DTSO) the final copy of every page equals its memory
 *
 * Mutants (scripts check that each is caught): -DBUG_NO_SUMMARY (a mark
 * skips M2/M3), -DBUG_NO_PUTBACK (a failed harvest drops its set),
 * -DBUG_RELAXED_SUMMARY (the marker tests the summary before setting the
 * word bit: M2 before M1), -DBUG_NO_MEMBARRIER (with -DTSO: the harvest
 * skips its membarrier V1, so a marker's fast path publishes nothing).
 */

#define NBLK 2
#define PPB 2            /* pages per block = bits per fine word */
#define NPAGES (NBLK * PPB)
#ifndef HARVESTS
#define HARVESTS 2
#endif
#ifndef NMARK
#define NMARK 3          /* marker threads: 2 or 3 */
#endif

byte word[NBLK];         /* fine bits: bit i of word[b] = page b * PPB + i */
byte summary;            /* bit b: block b may have a fine bit set */

/* Ghost state. owed[p]: a mark (or put-back) of p took effect and no
 * successful harvest has reported it since. */
bool owed[NPAGES];
byte markers_done;

#ifdef TSO
byte mem[NPAGES];        /* page contents in memory */
byte copy[NPAGES];       /* the consumer's copy */
byte sb_page[4];         /* one-entry store buffer per thread (3 = harvester, unused) */
byte sb_val[4];
bool sb_full[4];
#define FLUSH(id) d_step { if :: sb_full[id] -> mem[sb_page[id]] = sb_val[id]; sb_full[id] = false :: else -> skip fi }
#else
#define FLUSH(id) skip
#endif

/* sq_bits_or(r, blk, 0, bit) + sq_summary_set: one page's bit. The ghost
 * "owed" is raised at the linearization point: the RMW that sets the bit,
 * or the test load that finds it already set. */
inline bits_or(id, p)
{
	b = p / PPB;
	m = 1 << (p % PPB);
#ifdef FENCE
	FLUSH(id);
#endif
#ifdef BUG_RELAXED_SUMMARY
	if
	:: (summary & (1 << b)) == 0 -> summary = summary | (1 << b)
	:: else -> skip
	fi;
#endif
	if
	:: atomic { (word[b] & m) == m -> owed[p] = true }   /* M0: already set */
	:: atomic { else -> FLUSH(id); word[b] = word[b] | m; owed[p] = true };  /* M1 (locked) */
#if !defined(BUG_NO_SUMMARY) && !defined(BUG_RELAXED_SUMMARY)
		if
		:: (summary & (1 << b)) == 0 ->                  /* M2 */
			FLUSH(id);
			summary = summary | (1 << b)                 /* M3 (locked) */
		:: else -> skip
		fi
#endif
	fi
}

proctype marker(byte id; byte p1; byte p2)
{
	byte b, m;
#ifdef TSO
	d_step { sb_page[id] = p1; sb_val[id] = id + 1; sb_full[id] = true };
#endif
	bits_or(id, p1);
#ifdef TSO
	FLUSH(id);
	d_step { sb_page[id] = p2; sb_val[id] = id + 1; sb_full[id] = true };
#endif
	bits_or(id, p2);
	/* The caller's pause (quiescing the writers) drains the buffer. */
	FLUSH(id);
	markers_done++
}

#ifdef TSO
/* A store may leave the buffer at any moment. */
active proctype drain()
{
	do
	:: FLUSH(0)
	:: FLUSH(1)
#if NMARK > 2
	:: FLUSH(2)
#endif
	:: markers_done == NMARK -> break
	od
}
#endif

/* One harvest of the region; ok = false when it failed and put back. */
inline harvest(final)
{
	taken[0] = 0; taken[1] = 0;
	x = summary;                                         /* load of the summary word */
	if
	:: x != 0 -> atomic { x = summary; summary = 0 }     /* H1: exchange(summary, 0) */
	:: else -> skip
	fi;
	blk = 0;
	do
	:: blk == NBLK -> break
	:: else ->
		if
		:: (x & (1 << blk)) != 0 ->
			v = word[blk];                                /* H2 */
			if
			:: v != 0 ->
				atomic { v = word[blk]; word[blk] = 0; taken[blk] = v } /* H3 */
			:: else -> skip
			fi;
			/* Out of memory while emitting this block (once per run):
			 * scan_restore ORs back this block's words and every run
			 * emitted so far, the summary bits of this block and of the
			 * blocks not visited yet are given back, the harvest fails. */
			if
			:: !final && taken[blk] != 0 && !nomem_used ->
				nomem_used = true;
				i = 0;
				do
				:: i == NPAGES -> break
				:: else ->
					if
					:: (taken[i / PPB] & (1 << (i % PPB))) != 0 -> bits_or(3, i)
					:: else -> skip
					fi;
					i++
				od;
				summary = summary | (x & ~((1 << blk) - 1)); /* rest = x | this bit */
				ok = false;
				goto done
			:: true -> skip                                   /* no failure */
			fi
		:: else -> skip
		fi;
		blk++
	od;
	/* V1: sq_marks_publish, membarrier(PRIVATE_EXPEDITED): every CPU
	 * running a marker executes a full barrier, draining its store buffer. */
	skip;	/* the loop's break lands here, not inside a d_step */
#if defined(TSO) && !defined(BUG_NO_MEMBARRIER)
	FLUSH(0);
	FLUSH(1);
#if NMARK > 2
	FLUSH(2);
#endif
#endif
	/* The consumer of the set. */
	if
	:: final -> ok = true
	:: !final -> ok = true
	:: !final -> ok = false
	fi;
	if
	:: ok ->
		/* Reported: the pages are no longer owed; copy them. */
		i = 0;
		do
		:: i == NPAGES -> break
		:: else ->
			if
			:: (taken[i / PPB] & (1 << (i % PPB))) != 0 ->
				d_step {
					owed[i] = false;
#ifdef TSO
					copy[i] = mem[i];
#endif
					skip
				}
			:: else -> skip
			fi;
			i++
		od
	:: else ->
#ifndef BUG_NO_PUTBACK
		/* sq_tracker_put_back: OR the set back, as a mark would. */
		i = 0;
		do
		:: i == NPAGES -> break
		:: else ->
			if
			:: (taken[i / PPB] & (1 << (i % PPB))) != 0 -> bits_or(3, i)
			:: else -> skip
			fi;
			i++
		od
#else
		skip
#endif
	fi;
done:
	skip
}

active proctype harvester()
{
	byte b, m, x, v, blk, i, n;
	byte taken[NBLK];
	bool ok, nomem_used;

	n = 0;
	do
	:: n < HARVESTS -> harvest(false); n++
	:: n == HARVESTS -> break
	od;
	/* Quiescent: every marker returned (and its stores drained). */
	markers_done == NMARK;
	harvest(true);
	i = 0;
	do
	:: i == NPAGES -> break
	:: else ->
		assert(!owed[i]);                              /* no_lost_mark */
#ifdef TSO
		assert(copy[i] == mem[i]);                     /* copy_current */
#endif
		i++
	od
}

init
{
	atomic {
		run marker(0, 0, 1);
		run marker(1, 1, 2);
#if NMARK > 2
		run marker(2, 0, 3)
#endif
	}
}
