#ifndef BREAKWATER_CHIREDIS_SHIM_H
#define BREAKWATER_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include "tls.h"

/* hiredis 0.14's reader trusts an array header's element count: "*268435456\r\n" from a
 * server (or anything in between) makes it calloc 2 GiB before one element has arrived.
 * No reply this client reads comes near this; a larger header fails the read (OOM error),
 * which drops the connection like any protocol error.
 *
 * State lives in function-local statics: Swift emits a header's static inline functions,
 * not its file-scope variables. */
#define BREAKWATER_MAX_REPLY_ELEMENTS (1 << 20)

typedef struct {
    redisReplyObjectFunctions capped;
    void *(*create_array)(const redisReadTask *, int);
    redisReplyObjectFunctions *defaults;
    pthread_once_t once;
} breakwater_reader_functions;

static inline breakwater_reader_functions *breakwater_reader_state(void) {
    static breakwater_reader_functions state = { .once = PTHREAD_ONCE_INIT };
    return &state;
}

static inline void *breakwater_capped_create_array(const redisReadTask *task, int elements) {
    if (elements < 0 || elements > BREAKWATER_MAX_REPLY_ELEMENTS) return NULL;
    return breakwater_reader_state()->create_array(task, elements);
}

static inline void breakwater_capped_init(void) {
    breakwater_reader_functions *state = breakwater_reader_state();
    state->capped = *state->defaults;
    state->create_array = state->defaults->createArray;
    state->capped.createArray = breakwater_capped_create_array;
}

/* Installs the capped reader functions on a new context, and ignores SIGPIPE unless the
 * process set its own handler: hiredis writes with write(2), and a server that closed the
 * connection would otherwise kill the process (the CLI, a library user) instead of failing
 * the command. */
static inline void breakwater_harden_context(redisContext *c) {
    if (c == NULL) return;
    struct sigaction current;
    if (sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    if (c->reader == NULL || c->reader->fn == NULL) return;
    breakwater_reader_functions *state = breakwater_reader_state();
    if (state->defaults == NULL) state->defaults = c->reader->fn; /* hiredis's one static table */
    pthread_once(&state->once, breakwater_capped_init);
    if (c->reader->fn == state->defaults) c->reader->fn = &state->capped;
}
#endif
