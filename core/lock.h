/* The project's writer lock (.quire/lock, flock(2)): one writer at a time. */
#ifndef QUIRE_LOCK_H
#define QUIRE_LOCK_H

#include <signal.h>

struct quire_lock;

/* Takes the lock without waiting. QUIRE_ELOCKED with a message naming the holder (pid, command,
 * start time) when another process has it. `what` describes this holder ("quire run"). */
int quire_lock_acquire(struct quire_lock **out, const char *qdir, const char *what);

/* While waiting for the lock (QUIRE_WAIT), give up with QUIRE_EINTR as soon as *flag is set:
 * a command that catches SIGINT itself (run) passes its flag; NULL: none. */
void quire__lock_watch(const volatile sig_atomic_t *flag);

/* Releases and frees; NULL is fine. */
void quire_lock_release(struct quire_lock *l);

#endif
