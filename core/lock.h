/* The project's writer lock (.quire/lock, flock(2)): one writer at a time. */
#ifndef QUIRE_LOCK_H
#define QUIRE_LOCK_H

struct quire_lock;

/* Takes the lock without waiting. QUIRE_ELOCKED with a message naming the holder (pid, command,
 * start time) when another process has it. `what` describes this holder ("quire run"). */
int quire_lock_acquire(struct quire_lock **out, const char *qdir, const char *what);

/* Releases and frees; NULL is fine. */
void quire_lock_release(struct quire_lock *l);

#endif
