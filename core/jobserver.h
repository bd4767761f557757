/* Internal: a GNU make jobserver client, so 'make -jN' bounds quire's workers too. */
#ifndef QUIRE_JOBSERVER_H
#define QUIRE_JOBSERVER_H

struct quire__jobserver;

/* Connects to the jobserver MAKEFLAGS describes (--jobserver-auth=R,W pipes of make 4.3, or
 * fifo:PATH of make 4.4); NULL when there is none or its descriptors are not ours. */
struct quire__jobserver *quire__jobserver_open(void);

/* Takes one token without waiting: 1 when one was had, else 0. */
int quire__jobserver_acquire(struct quire__jobserver *js);

/* Gives one token back. */
void quire__jobserver_release(struct quire__jobserver *js);

/* Tokens held now. */
int quire__jobserver_held(const struct quire__jobserver *js);

/* Gives every token back and frees; NULL is fine. */
void quire__jobserver_close(struct quire__jobserver *js);

#endif
