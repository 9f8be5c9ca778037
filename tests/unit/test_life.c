/*
 * Life locks across processes: a child (standing in for nxd) holds its
 * locks from two threads and arms them; killed with SIGKILL at random
 * moments, the watcher sees a death with the child's pid and the moment
 * of the first lock set free; a child that lets its locks go cleanly is
 * not a death; and the locks serve the next child after either.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "platform/nx_platform.h"
#include "platform/base/rand.h"
#include "core/control/life.h"

#define MS 1000000ull

static struct nx_life *life;
static int life_fd;

static void *
hold_one(void *arg)
{
	struct nx_life *l = arg;

	if (!nx__life_hold(l, 1))
		_exit(3);
	__atomic_store_n(&l->pad, 1, __ATOMIC_RELEASE); /* the test's own flag */
	pause();
	return NULL;
}

/* The child: map the locks anew (as nxd does), hold 0 here and 1 in a
 * thread, arm; then wait to be killed, or let go and exit when clean. */
static void
child(bool clean)
{
	struct nx_life *l;
	pthread_t t;

	if (nx__life_map(&l, life_fd) < 0 || !nx__life_hold(l, 0))
		_exit(2);
	if (clean) {
		if (!nx__life_hold(l, 1))
			_exit(3);
		nx__life_arm(l, 2, (int32_t)getpid());
		usleep(2000);
		nx__life_release(l, 1);
		nx__life_release(l, 0);
		_exit(0);
	}
	if (pthread_create(&t, NULL, hold_one, l) != 0)
		_exit(4);
	while (__atomic_load_n(&l->pad, __ATOMIC_ACQUIRE) == 0)
		usleep(50);
	nx__life_arm(l, 2, (int32_t)getpid());
	for (;;)
		pause();
}

static int
setup(void **state)
{
	(void)state;
	life_fd = nx__life_create(&life);
	return life_fd < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	nx__life_unmap(life);
	close(life_fd);
	return 0;
}

/* Fork a child; wait (bounded) until it armed. @return its pid */
static pid_t
start_child(bool clean, uint32_t armed_before)
{
	const uint64_t t0 = nx__clock_ns();
	pid_t pid;

	__atomic_store_n(&life->pad, 0, __ATOMIC_RELEASE);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(clean);
	if (!clean)
		while (__atomic_load_n(&life->armed, __ATOMIC_ACQUIRE) == armed_before) {
			if (nx__clock_ns() - t0 > 10000 * MS)
				fail_msg("the child never armed its locks");
			usleep(100);
		}
	return pid;
}

struct killer {
	pid_t pid;
	unsigned delay_us;
};

static void *
kill_later(void *arg)
{
	struct killer *k = arg;

	usleep(k->delay_us);
	kill(k->pid, SIGKILL);
	return NULL;
}

static void
test_kill9_is_a_death_and_a_clean_stop_is_not(void **state)
{
	uint32_t seen = __atomic_load_n(&life->armed, __ATOMIC_ACQUIRE);
	unsigned i, deaths = 0, cleans = 0;
	struct nx_rand rng;

	(void)state;
	nx__rand_seed(&rng, nx__random_seed());
	for (i = 0; i < 200; i++) {
		const bool clean = (i % 4) == 3;
		struct killer k;
		pthread_t kt;
		uint64_t before, when = 0;
		int32_t pid = 0;
		int rc, st;

		k.pid = start_child(clean, seen);
		k.delay_us = (unsigned)(nx__rand_next(&rng) % 3000);
		if (!clean)
			assert_int_equal(pthread_create(&kt, NULL, kill_later, &k), 0);
		before = nx__wallclock_ns();
		do
			rc = nx__life_watch(life, &seen, 10000 * MS, &pid, &when);
		while (rc < 0);
		assert_int_equal(waitpid(k.pid, &st, 0), k.pid);
		if (clean) {
			assert_int_equal(rc, 0);
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			cleans++;
		} else {
			pthread_join(kt, NULL);
			assert_int_equal(rc, 1);
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			assert_true(when >= before && when <= nx__wallclock_ns());
			deaths++;
		}
		assert_int_equal(pid, k.pid);
		assert_int_equal(seen, __atomic_load_n(&life->armed, __ATOMIC_ACQUIRE));
	}
	print_message("%u deaths, %u clean stops\n", deaths, cleans);
}

/* Nothing armed: the watch says so after its timeout, takes no lock. */
static void
test_nothing_armed_times_out(void **state)
{
	uint32_t seen = __atomic_load_n(&life->armed, __ATOMIC_ACQUIRE);
	uint64_t when = 0;
	int32_t pid = 0;

	(void)state;
	assert_int_equal(nx__life_watch(life, &seen, 5 * MS, &pid, &when), -1);
	assert_true(nx__life_hold(life, 0));
	nx__life_release(life, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_armed_times_out),
		cmocka_unit_test(test_kill9_is_a_death_and_a_clean_stop_is_not),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
