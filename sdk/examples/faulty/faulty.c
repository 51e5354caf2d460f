/*
 * faulty.c - deliberately broken Tipring handlers, for the handler isolation tests.
 *
 * SPDX-License-Identifier: Apache-2.0 OR MIT
 *
 * DELIBERATELY BROKEN: each build of this file crashes, hangs or exhausts the memory of the
 * process that runs it. It exists only for the acceptance tests of handler process
 * isolation (a fault in one handler's host process must end only that handler's calls).
 * Never deploy it.
 *
 * One source, compiled once per fault kind with -DFAULT_KIND=<kind>:
 *   FAULT_SEGV  "faulty-segv"   writes through a null pointer (SIGSEGV)
 *   FAULT_ABORT "faulty-abort"  calls abort() (SIGABRT)
 *   FAULT_LOOP  "faulty-loop"   spins for ever inside on_event, never returning
 *   FAULT_LEAK  "faulty-leak"   every 20 ms (a timer) allocates and touches 8 MiB and never
 *                               frees it, never hanging up: it grows until it is killed
 *
 * Until the fault all four behave alike: answer the offer; once answered, collect up to 4
 * digits ended by '#' (no prompt); when that collection completes (other than by hangup),
 * log at ERROR level what is about to happen, set the call variable "digits" to the digits
 * keyed, then fault.
 *
 * Build: cc -std=c11 -shared -fPIC -I sdk/include -DFAULT_KIND=FAULT_SEGV \
 *           -o faulty-segv.so faulty.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tipring/handler.h"

#define FAULT_SEGV 1
#define FAULT_ABORT 2
#define FAULT_LOOP 3
#define FAULT_LEAK 4

#if !defined(FAULT_KIND)
#error "build with -DFAULT_KIND=FAULT_SEGV, FAULT_ABORT, FAULT_LOOP or FAULT_LEAK"
#elif FAULT_KIND == FAULT_SEGV
#define HANDLER_NAME "faulty-segv"
#define FAULT_WHAT "now writing through a null pointer"
#elif FAULT_KIND == FAULT_ABORT
#define HANDLER_NAME "faulty-abort"
#define FAULT_WHAT "now calling abort()"
#elif FAULT_KIND == FAULT_LOOP
#define HANDLER_NAME "faulty-loop"
#define FAULT_WHAT "now spinning for ever in on_event"
#elif FAULT_KIND == FAULT_LEAK
#define HANDLER_NAME "faulty-leak"
#define FAULT_WHAT "now leaking 8 MiB every 20 ms until killed"
#else
#error "unknown FAULT_KIND"
#endif

#define LEAK_BYTES ((size_t)8 * 1024 * 1024)
#define LEAK_EVERY_MS 20u

static const tipring_host_api *host;

struct faulty {
    tipring_op collect;     /* the digit collection we wait for (0: none yet) */
    tipring_op timer;       /* leak: the timer we wait for (0: none) */
    void *leaked;           /* leak: the newest block; each block's first bytes point to the
                               one before. Kept so the compiler cannot drop the allocations;
                               never freed, on purpose */
    int malloc_failed;      /* leak: said so once already */
    char digits[16];        /* what the caller keyed */
};

static tipring_str str(const char *s) {
    tipring_str t = {s, strlen(s)};
    return t;
}

static void say(tipring_channel *ch, uint32_t level, const char *msg) {
    host->log(ch, level, str(msg));
}

#if FAULT_KIND == FAULT_LEAK
/* Starts the next leak timer. */
static int arm_timer(struct faulty *f, tipring_channel *ch) {
    tipring_status s = host->set_timer(ch, LEAK_EVERY_MS, &f->timer);
    if (s != TIPRING_OK) {
        char msg[80];
        snprintf(msg, sizeof msg, HANDLER_NAME ": set_timer failed: status %u", s);
        say(ch, TIPRING_LOG_ERROR, msg);
        return -1;
    }
    return 0;
}

/* Allocates LEAK_BYTES, fills them (a non-zero byte, so that the compiler cannot turn
   malloc + memset into calloc, whose zero pages would not be resident) and keeps them. */
static void leak(struct faulty *f, tipring_channel *ch) {
    void *block = malloc(LEAK_BYTES);
    if (block == NULL) {
        if (!f->malloc_failed) {
            f->malloc_failed = 1;
            say(ch, TIPRING_LOG_WARN, HANDLER_NAME ": malloc failed; trying again");
        }
        return;
    }
    memset(block, 0xa5, LEAK_BYTES);
    memcpy(block, &f->leaked, sizeof f->leaked);
    f->leaked = block;
}
#endif

/* The fault. Returns only for the leak (which goes on in its timer events). */
static int fault(struct faulty *f, tipring_channel *ch) {
#if FAULT_KIND == FAULT_SEGV
    (void)f;
    (void)ch;
    /* The volatile pointer hides that it is null, so the compiler must emit the store. */
    volatile int *volatile nowhere = NULL;
    *nowhere = 42;
    abort(); /* not reached, unless page 0 is mapped: then still die */
#elif FAULT_KIND == FAULT_ABORT
    (void)f;
    (void)ch;
    abort();
#elif FAULT_KIND == FAULT_LOOP
    (void)f;
    (void)ch;
    /* Volatile accesses: -O2 must keep the loop. */
    volatile unsigned long spins = 0;
    for (;;) {
        spins = spins + 1;
    }
    return -1; /* not reached */
#elif FAULT_KIND == FAULT_LEAK
    leak(f, ch);
    return arm_timer(f, ch);
#endif
}

static int faulty_init(const tipring_host_api *h, tipring_str config, void **global) {
    (void)config;
    if (h == NULL || h->abi_major != TIPRING_ABI_MAJOR) {
        return -1;
    }
    host = h;
    *global = NULL;
    return 0;
}

static void faulty_shutdown(void *global) { (void)global; }

static int faulty_create(void *global, tipring_channel *ch, tipring_str params,
                         void **instance) {
    (void)global;
    (void)ch;
    (void)params;
    struct faulty *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    *instance = f;
    return 0;
}

static int faulty_on_event(void *instance, tipring_channel *ch, const tipring_event *ev) {
    struct faulty *f = instance;
    switch (ev->kind) {
    case TIPRING_EV_OFFER: {
        tipring_op op;
        return host->answer(ch, &op) == TIPRING_OK ? 0 : -1;
    }
    case TIPRING_EV_ANSWERED: {
        tipring_collect_opts collect = {0};
        collect.struct_size = sizeof collect;
        collect.max_digits = 4;
        collect.term_digits = str("#");
        collect.first_digit_ms = 10000;
        collect.inter_digit_ms = 5000;
        tipring_status s = host->collect_digits(ch, &collect, &f->collect);
        if (s != TIPRING_OK) {
            char msg[80];
            snprintf(msg, sizeof msg, HANDLER_NAME ": collect_digits failed: status %u", s);
            say(ch, TIPRING_LOG_ERROR, msg);
            return -1;
        }
        return 0;
    }
    case TIPRING_EV_OP_COMPLETE: {
        if (f->collect == 0 || ev->op != f->collect) {
            return 0; /* the answer's completion, or something we did not start */
        }
        f->collect = 0;
        if (ev->result == TIPRING_R_HANGUP) {
            return 0; /* the caller hung up first: no fault */
        }
        size_t n = ev->digits.len < sizeof f->digits - 1 ? ev->digits.len
                                                         : sizeof f->digits - 1;
        if (n > 0) {
            memcpy(f->digits, ev->digits.ptr, n);
        }
        f->digits[n] = '\0';
        char msg[128];
        snprintf(msg, sizeof msg, HANDLER_NAME ": the caller keyed \"%s\"; " FAULT_WHAT,
                 f->digits);
        say(ch, TIPRING_LOG_ERROR, msg);
        host->set_var(ch, str("digits"), str(f->digits));
        return fault(f, ch);
    }
    case TIPRING_EV_TIMER:
#if FAULT_KIND == FAULT_LEAK
        if (f->timer != 0 && ev->op == f->timer) {
            f->timer = 0;
            leak(f, ch);
            return arm_timer(f, ch);
        }
#endif
        return 0;
    case TIPRING_EV_HANGUP:
        return 0; /* instance_destroy follows */
    default:
        return 0; /* kinds we don't know: nothing to do */
    }
}

/* Frees the instance only: the leak's blocks stay leaked, on purpose. */
static void faulty_destroy(void *instance) { free(instance); }

static const tipring_handler_vtable vtable = {
    .struct_size = sizeof(tipring_handler_vtable),
    .abi_major = TIPRING_ABI_MAJOR,
    .abi_minor = TIPRING_ABI_MINOR,
    .name = HANDLER_NAME,
    .version = "1.0.0",
    .caps = TIPRING_CAP_THREADSAFE_GLOBAL,
    .init = faulty_init,
    .shutdown = faulty_shutdown,
    .instance_create = faulty_create,
    .on_event = faulty_on_event,
    .instance_destroy = faulty_destroy,
};

__attribute__((visibility("default"))) const tipring_handler_vtable *
tipring_handler_entry_v1(uint16_t host_major, uint16_t host_minor) {
    (void)host_minor;
    return host_major == TIPRING_ABI_MAJOR ? &vtable : NULL;
}
