/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/rcu.c - urcu-memb reader registration and grace periods.
 *
 * Invariants:
 * - A thread that enters a tracker read section is registered with
 *   urcu-memb. Registration is automatic: sq_rcu_reader() registers the
 *   thread on its first tracker call and a pthread key destructor
 *   unregisters it at thread exit (a thread that exits registered would
 *   hang the next grace period). A thread the application registered
 *   itself is left alone: neither registered twice nor unregistered.
 * - ThreadSanitizer does not see urcu-memb's membarrier-based ordering.
 *   Under TSan each read section ends with a release on the tracker's
 *   token and each grace period ends with an acquire on it, which is
 *   exactly the happens-before edge a grace period provides (every read
 *   section that started before the grace period has ended before it
 *   returns), so objects freed after a grace period are not reported.
 * - Region removal (sq_tracker_remove_region in engine/tracker.c) relies
 *   on the guarantee of sq_rcu_synchronize(): it returns only after every
 *   read section that was running when it started has ended. The model
 *   engine/model/region_rcu.pml assumes exactly that guarantee; change
 *   the grace period, the read sections and the model together.
 */
#include "engine/urcu.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/internal.h"


#ifdef SQ_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#endif

__thread int sq_rcu_registered;
static pthread_key_t sq_rcu_key;
static pthread_once_t sq_rcu_once = PTHREAD_ONCE_INIT;

static void sq_rcu_thread_exit(void *arg)
{
	(void)arg;
	urcu_memb_unregister_thread();
}

static void sq_rcu_key_init(void)
{
	(void)pthread_key_create(&sq_rcu_key, sq_rcu_thread_exit);
}

void sq_rcu_reader_slow(void)
{
	pthread_once(&sq_rcu_once, sq_rcu_key_init);
#ifdef _LGPL_SOURCE
	bool already = URCU_TLS(urcu_memb_reader).registered;
#else
	bool already = false; /* TSan builds: threads are never pre-registered */
#endif
	if (!already) {
		urcu_memb_register_thread();
		/* Non-NULL value: the destructor runs at thread exit. */
		(void)pthread_setspecific(sq_rcu_key, &sq_rcu_registered);
	}
	sq_rcu_registered = 1;
}

void sq_rcu_lock(void)
{
	sq_rcu_reader();
	urcu_memb_read_lock();
}

void sq_rcu_unlock(struct sq_tracker *t)
{
#ifdef SQ_TSAN
	__tsan_release(&t->rcu_hb);
#else
	(void)t;
#endif
	urcu_memb_read_unlock();
}

void sq_rcu_synchronize(struct sq_tracker *t)
{
	urcu_memb_synchronize_rcu();
#ifdef SQ_TSAN
	__tsan_acquire(&t->rcu_hb);
#else
	(void)t;
#endif
}

/*
 * The harvest-side asymmetric fence. Registered once per process; 0 where
 * the kernel lacks MEMBARRIER_CMD_PRIVATE_EXPEDITED (markers then fence).
 */
_Atomic int sq_have_membarrier;
static pthread_once_t sq_membarrier_once = PTHREAD_ONCE_INIT;

static void sq_membarrier_setup(void)
{
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return;
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		return;
	atomic_store_explicit(&sq_have_membarrier, 1, memory_order_relaxed);
}

void sq_membarrier_init(void)
{
	pthread_once(&sq_membarrier_once, sq_membarrier_setup);
}

void sq_marks_publish(void)
{
	if (atomic_load_explicit(&sq_have_membarrier, memory_order_relaxed) &&
	    syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return;
	/* Markers fence themselves; this pairs with their fence. */
	sq_full_fence();
}
