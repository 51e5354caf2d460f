/*
 * tipring/handler.h - the Tipring per-call handler ABI, version 1.
 *
 * SPDX-License-Identifier: Apache-2.0 OR MIT
 *
 * A handler is a shared object that exports one function, tipring_handler_entry_v1, which
 * returns a static table of the handler's callbacks (tipring_handler_vtable). tipringd loads
 * it, calls init once, then creates one instance per call and delivers that call's events
 * to on_event, one at a time, until the call ends and instance_destroy runs.
 *
 * Rules (the SDK guide, sdk/README.md, explains each):
 *  - Plain C11, no allocator crosses the boundary. Strings are (pointer, length) UTF-8 and
 *    are borrowed for the duration of the call that passes them only; copy what you keep.
 *  - Every struct starts with struct_size, the producer's sizeof. Structs only ever grow
 *    at the end (minor versions); read a field only if it lies below struct_size
 *    (TIPRING_HAS). An incompatible change gets a new entry symbol (..._v2).
 *  - Enumerations travel as uint32_t; ignore values you don't know.
 *  - Every call and media operation is asynchronous: the host function returns at once with
 *    an operation id, and the outcome arrives later as a TIPRING_EV_OP_COMPLETE event with
 *    that id. on_event must not block.
 *  - Host functions may be called only from inside a callback of the same call (on the
 *    thread that runs it), except wake(), which any thread may call until instance_destroy
 *    has returned.
 *  - Events of one call are never delivered concurrently.
 *  - No exception or panic may cross the boundary.
 */
#ifndef TIPRING_HANDLER_H
#define TIPRING_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIPRING_ABI_MAJOR 1 /* incompatible change: a new entry symbol name */
#define TIPRING_ABI_MINOR 1 /* additions at the end of structs and tables */
#define TIPRING_ENTRY_SYMBOL "tipring_handler_entry_v1"

/* Is field f of *p, a struct of type T that starts with struct_size, present? */
#define TIPRING_HAS(T, p, f) \
    (offsetof(T, f) + sizeof(((const T *)0)->f) <= (size_t)(p)->struct_size)

/* One call's channel, owned by the host; valid until instance_destroy returns. */
typedef struct tipring_channel tipring_channel;

/* An asynchronous operation's id (never 0). */
typedef uint64_t tipring_op;

/* A borrowed UTF-8 string: not NUL-terminated, valid only during the call that passes it. */
typedef struct tipring_str {
    const char *ptr;
    size_t len;
} tipring_str;

/* Status of a host function call. */
typedef uint32_t tipring_status;
#define TIPRING_OK 0u
#define TIPRING_EINVAL 1u       /* a bad argument (the log says which) */
#define TIPRING_EGONE 2u        /* the call has ended */
#define TIPRING_EBUSY 3u        /* a media operation is already running on this call */
#define TIPRING_EUNSUPPORTED 4u /* this channel or host cannot do that */
#define TIPRING_ELIMIT 5u       /* a limit was reached (timers, variables, queue) */
#define TIPRING_EINTERNAL 6u    /* the host failed; the log says why */
#define TIPRING_ECONTEXT 7u     /* called from the wrong thread or outside a callback */

/* Event kinds. */
typedef uint32_t tipring_event_kind;
#define TIPRING_EV_OFFER 1u       /* a new call: answer it, or hang up */
#define TIPRING_EV_ANSWERED 2u    /* the call is connected (after answer, or an outbound answer) */
#define TIPRING_EV_OP_COMPLETE 3u /* an operation ended: op, result, cause, digits, detail */
#define TIPRING_EV_DTMF 4u        /* a digit outside any collect operation: digits */
#define TIPRING_EV_HANGUP 5u      /* the call ended: cause. instance_destroy follows */
#define TIPRING_EV_TIMER 6u       /* a set_timer expired: op */
#define TIPRING_EV_WAKE 7u        /* wake() was called: wake_token */
#define TIPRING_EV_MESSAGE 8u     /* a message for the call (API): detail_json */
#define TIPRING_EV_FLASH 9u       /* a hook flash on the call's line (an FXS phone, ABI 1.1) */

/* How an operation ended. */
typedef uint32_t tipring_result;
#define TIPRING_R_DONE 0u       /* ran to its end */
#define TIPRING_R_STOPPED 1u    /* stop() */
#define TIPRING_R_TIMEOUT 2u    /* a time limit (first digit, inter-digit, total, no answer) */
#define TIPRING_R_MAXDIGITS 3u  /* collected max_digits */
#define TIPRING_R_TERMDIGIT 4u  /* a terminating digit (not included in digits) */
#define TIPRING_R_BUSY 5u       /* originate: busy */
#define TIPRING_R_NOANSWER 6u   /* originate: no answer */
#define TIPRING_R_REJECTED 7u   /* refused (congestion, SIT, unallocated number) */
#define TIPRING_R_FAILED 8u     /* failed; cause and detail_json say why */
#define TIPRING_R_HANGUP 9u     /* the call ended while it ran */
#define TIPRING_R_BARGEIN 10u   /* play: a digit interrupted it (collect goes on) */
#define TIPRING_R_SILENCE 11u   /* record: ended on silence */
#define TIPRING_R_MAXTIME 12u   /* record: reached max_ms */

/* An event. Fields below struct_size only. */
typedef struct tipring_event {
    uint32_t struct_size;
    tipring_event_kind kind;
    tipring_op op;             /* OP_COMPLETE, TIMER */
    tipring_result result;     /* OP_COMPLETE */
    uint32_t cause;            /* Q.850 cause (HANGUP, failed originate), 0 = none */
    tipring_str digits;        /* OP_COMPLETE of collect: the digits; DTMF: the digit */
    tipring_str detail_json;   /* extra facts as a JSON object (OFFER: caller, called) */
    uint64_t wake_token;       /* WAKE */
    uint64_t mono_ns;          /* when, on the host's monotonic clock */
} tipring_event;

/* Termination conditions of a digit collection (Dialogic style: enforced by the host). */
typedef struct tipring_collect_opts {
    uint32_t struct_size;
    uint32_t max_digits;       /* 1..64 */
    tipring_str term_digits;   /* any of these ends collection (e.g. "#"), may be empty */
    uint32_t first_digit_ms;   /* 0 = no limit */
    uint32_t inter_digit_ms;   /* 0 = no limit */
    uint32_t total_ms;         /* 0 = no limit */
    uint8_t flush_typeahead;   /* 1: forget digits typed before the collection started */
} tipring_collect_opts;

/* Playback options. */
typedef struct tipring_play_opts {
    uint32_t struct_size;
    uint8_t barge_in;          /* 1: the first digit stops playback */
    uint32_t loops;            /* 0 = for ever (music on hold), else times to play */
    /* Optional: collect digits as part of this operation (play-and-collect); the op then
       completes with the collection's result once it ends, NULL for plain playback. */
    const tipring_collect_opts *collect;
} tipring_play_opts;

/* Recording options. */
typedef struct tipring_record_opts {
    uint32_t struct_size;
    uint32_t max_ms;           /* 1..3600000 */
    uint32_t final_silence_ms; /* 0 = none */
    tipring_str term_digits;   /* any of these digits ends the recording */
    uint8_t beep;              /* 1: a beep before recording starts */
} tipring_record_opts;

/* Log levels. */
#define TIPRING_LOG_ERROR 1u
#define TIPRING_LOG_WARN 2u
#define TIPRING_LOG_INFO 3u
#define TIPRING_LOG_DEBUG 4u

/* The host's functions. Check TIPRING_HAS(tipring_host_api, host, f) before using one
   added after 1.0. */
typedef struct tipring_host_api {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor;

    /* Call control. All but hangup complete as OP_COMPLETE. */
    tipring_status (*answer)(tipring_channel *ch, tipring_op *op);
    tipring_status (*hangup)(tipring_channel *ch, uint32_t q850_cause); /* idempotent */
    tipring_status (*originate)(tipring_channel *ch, tipring_str dest, tipring_str opts_json,
                                tipring_op *op); /* detail_json: {"channel":N} when answered */
    tipring_status (*bridge)(tipring_channel *ch, uint32_t other_channel, tipring_op *op);
    tipring_status (*transfer)(tipring_channel *ch, tipring_str dest, tipring_op *op); /* blind */

    /* Media. At most one of play / collect_digits / record / send_dtmf at a time. */
    tipring_status (*play)(tipring_channel *ch, tipring_str src /* file:PATH | tone:NAME */,
                           const tipring_play_opts *opts, tipring_op *op);
    tipring_status (*collect_digits)(tipring_channel *ch, const tipring_collect_opts *opts,
                                     tipring_op *op);
    tipring_status (*record)(tipring_channel *ch, tipring_str dest /* file:PATH.wav */,
                             const tipring_record_opts *opts, tipring_op *op);
    tipring_status (*stop)(tipring_channel *ch, tipring_op op); /* -> OP_COMPLETE(STOPPED) */
    tipring_status (*send_dtmf)(tipring_channel *ch, tipring_str digits, tipring_op *op);

    /* Timers, variables, output. */
    tipring_status (*set_timer)(tipring_channel *ch, uint32_t ms, tipring_op *op);
    tipring_status (*get_var)(tipring_channel *ch, tipring_str name, char *buf, size_t cap,
                              size_t *len); /* *len = full length, even if > cap */
    tipring_status (*set_var)(tipring_channel *ch, tipring_str name, tipring_str value);
    void (*log)(tipring_channel *ch, uint32_t level, tipring_str message);

    /* The only thread-safe entry: queues a TIPRING_EV_WAKE for the call. */
    tipring_status (*wake)(tipring_channel *ch, uint64_t token);
} tipring_host_api;

/* The handler's callbacks, in static storage. */
typedef struct tipring_handler_vtable {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor;
    const char *name;    /* NUL-terminated, static: [a-z0-9._-]{1,64} */
    const char *version; /* NUL-terminated, static, e.g. "1.4.2" */
    uint64_t caps;       /* TIPRING_CAP_*; 0 for none */

    /* Once, at load. config_json: the handler's section of the config, as JSON. Return 0,
       or a negative number to refuse loading (log why first). *global: your state. */
    int (*init)(const tipring_host_api *host, tipring_str config_json, void **global);
    void (*shutdown)(void *global);

    /* Per call: params_json is the route's params. Return 0, or negative to refuse the call. */
    int (*instance_create)(void *global, tipring_channel *ch, tipring_str params_json,
                           void **instance);
    /* Must not block. Return 0, or negative: the host hangs the call up. */
    int (*on_event)(void *instance, tipring_channel *ch, const tipring_event *event);
    /* Exactly once per created instance, after TIPRING_EV_HANGUP. */
    void (*instance_destroy)(void *instance);
} tipring_handler_vtable;

/* global may be used from several threads at once (otherwise the host serialises calls). */
#define TIPRING_CAP_THREADSAFE_GLOBAL (1ull << 0)

/* The entry point. Return NULL if this handler cannot serve the host's ABI. */
typedef const tipring_handler_vtable *(*tipring_entry_fn)(uint16_t host_major,
                                                           uint16_t host_minor);

#ifdef __cplusplus
}
#endif

#endif /* TIPRING_HANDLER_H */
