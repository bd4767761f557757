/* Error codes and the thread-local last-error message shared by every libquire function. */
#ifndef QUIRE_ERROR_H
#define QUIRE_ERROR_H

/* Every libquire function that can fail returns 0 or one of these (negative). */
enum {
	QUIRE_OK = 0,
	QUIRE_ERROR = -1,      /* generic failure */
	QUIRE_ENOTFOUND = -2,  /* a file, revision or id does not exist */
	QUIRE_EINVALID = -3,   /* bad user input: blueprint, inputs, project file, argument */
	QUIRE_EIO = -4,	       /* the file system or database failed */
	QUIRE_ELOCKED = -5,    /* another writer holds the project lock */
	QUIRE_EEXISTS = -6,    /* refusing to overwrite something that exists */
	QUIRE_ECORRUPT = -7,   /* a stored file does not match its digest or format */
	QUIRE_EPROVIDER = -8,  /* a provider failed to produce an output */
	QUIRE_EINTR = -9,      /* interrupted (SIGINT) */
	QUIRE_ECOST = -10,     /* the estimated cost exceeds the limit the caller set */
	QUIRE_ENOSPC = -11,    /* the disk (or the user's quota) is full */
	QUIRE_ECONFLICT = -12, /* a file a user changed would be overwritten: nothing was */
	QUIRE_ENOMEM = -13,    /* what was asked for needs more memory than there is */
	QUIRE_ENEWER = -14,    /* made by a newer quire: this one does not change it */
};

/* Records the message of the error that is starting (printf-style); returns `code`. */
int quire_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with more context ("loading x: <old message>"); returns `code`. */
int quire_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message (never NULL; "" when none). Borrowed. */
const char *quire_error_last(void);

/* The calling thread's last error code. */
int quire_error_code(void);

/* Forgets the calling thread's last error. */
void quire_error_clear(void);

#endif
