/*
 * ivr.c - an example Tipring handler in C.
 *
 * SPDX-License-Identifier: Apache-2.0 OR MIT
 *
 * Answers, plays a greeting while collecting up to 4 digits ended by '#', reads the digits
 * back one by one, says goodbye and hangs up. Every step is an asynchronous operation whose
 * completion (TIPRING_EV_OP_COMPLETE) starts the next one: nothing here ever blocks.
 *
 * Route params (JSON): {"prompts": "/usr/share/asterisk/sounds/en"} - the directory with
 * hello-world.wav, goodbye.wav and digits/0.wav ... digits/9.wav. A tiny scan picks the
 * value out; a real handler would use a JSON library.
 *
 * Build: cc -std=c11 -shared -fPIC -I sdk/include -o ivr.so ivr.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tipring/handler.h"

/* The version it reports; a build may set another (-DIVR_VERSION=\"2.0.0\") to try a live
   upgrade. */
#ifndef IVR_VERSION
#define IVR_VERSION "1.0.0"
#endif

static const tipring_host_api *host;

enum step { OFFERED, GREETING, READBACK, GOODBYE, DONE };

struct ivr {
    enum step step;
    tipring_op op;          /* the operation we wait for */
    char digits[8];         /* what the caller keyed */
    size_t next;            /* next digit to read back */
    char prompts[256];      /* prompt directory */
    int end_noted;          /* left_at is set */
};

static tipring_str str(const char *s) {
    tipring_str t = {s, strlen(s)};
    return t;
}

static void say(tipring_channel *ch, uint32_t level, const char *msg) {
    host->log(ch, level, str(msg));
}

/* Where the call was when it ended goes to the call's record as `left_at`: a disposition
   for whoever reads the records (a caller who left during the greeting is not one who heard
   the read-back). Noted once: at the operation cut short by the hang-up, or at HANGUP. */
static void note_end(struct ivr *ivr, tipring_channel *ch) {
    static const char *const where[] = {"offer", "greeting", "readback", "goodbye", "done"};
    if (!ivr->end_noted) {
        host->set_var(ch, str("left_at"), str(where[ivr->step]));
        ivr->end_noted = 1;
    }
}

/* Plays prompts/<name>.wav; collects digits too when collect is not NULL (then a digit
   interrupts the prompt: barge-in). */
static int play(struct ivr *ivr, tipring_channel *ch, const char *name,
                const tipring_collect_opts *collect) {
    char src[320];
    int n = snprintf(src, sizeof src, "file:%s/%s.wav", ivr->prompts, name);
    if (n < 0 || (size_t)n >= sizeof src) {
        say(ch, TIPRING_LOG_ERROR, "prompt path too long");
        return -1;
    }
    tipring_play_opts opts = {0};
    opts.struct_size = sizeof opts;
    opts.barge_in = collect != NULL;
    opts.loops = 1;
    opts.collect = collect;
    tipring_status s = host->play(ch, str(src), &opts, &ivr->op);
    if (s != TIPRING_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "play %s failed: status %u", src, s);
        say(ch, TIPRING_LOG_ERROR, msg);
        return -1;
    }
    return 0;
}

/* Reads back the next digit, or says goodbye after the last. */
static int read_back(struct ivr *ivr, tipring_channel *ch) {
    if (ivr->next < strlen(ivr->digits)) {
        char d = ivr->digits[ivr->next++];
        char name[16];
        if (d >= '0' && d <= '9') {
            snprintf(name, sizeof name, "digits/%c", d);
        } else if (d == '*') {
            snprintf(name, sizeof name, "digits/star");
        } else {
            snprintf(name, sizeof name, "digits/pound");
        }
        ivr->step = READBACK;
        return play(ivr, ch, name, NULL);
    }
    ivr->step = GOODBYE;
    return play(ivr, ch, "goodbye", NULL);
}

static int ivr_init(const tipring_host_api *h, tipring_str config, void **global) {
    (void)config;
    if (h == NULL || h->abi_major != TIPRING_ABI_MAJOR) {
        return -1;
    }
    host = h;
    *global = NULL;
    return 0;
}

static void ivr_shutdown(void *global) { (void)global; }

static int ivr_create(void *global, tipring_channel *ch, tipring_str params, void **instance) {
    (void)global;
    (void)ch;
    struct ivr *ivr = calloc(1, sizeof *ivr);
    if (ivr == NULL) {
        return -1;
    }
    strcpy(ivr->prompts, "/usr/share/asterisk/sounds/en");
    /* Find "prompts": "<value>" in the params. */
    const char *key = "\"prompts\"";
    size_t klen = strlen(key);
    for (size_t i = 0; params.ptr != NULL && i + klen < params.len; i++) {
        if (memcmp(params.ptr + i, key, klen) != 0) {
            continue;
        }
        const char *p = memchr(params.ptr + i + klen, '"', params.len - i - klen);
        if (p == NULL) {
            break;
        }
        p++;
        const char *end = memchr(p, '"', params.len - (size_t)(p - params.ptr));
        if (end != NULL && (size_t)(end - p) < sizeof ivr->prompts) {
            memcpy(ivr->prompts, p, (size_t)(end - p));
            ivr->prompts[end - p] = '\0';
        }
        break;
    }
    *instance = ivr;
    return 0;
}

static int ivr_on_event(void *instance, tipring_channel *ch, const tipring_event *ev) {
    struct ivr *ivr = instance;
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
        ivr->step = GREETING;
        return play(ivr, ch, "hello-world", &collect);
    }
    case TIPRING_EV_OP_COMPLETE:
        if (ev->op != ivr->op) {
            return 0; /* the answer's completion, or something we did not start */
        }
        if (ev->result == TIPRING_R_HANGUP) {
            note_end(ivr, ch);
            ivr->step = DONE; /* the caller hung up mid-prompt: nothing more to play */
            return 0;
        }
        switch (ivr->step) {
        case GREETING: {
            size_t n = ev->digits.len < sizeof ivr->digits - 1 ? ev->digits.len
                                                               : sizeof ivr->digits - 1;
            memcpy(ivr->digits, ev->digits.ptr, n);
            ivr->digits[n] = '\0';
            char msg[64];
            snprintf(msg, sizeof msg, "caller keyed \"%s\"", ivr->digits);
            say(ch, TIPRING_LOG_INFO, msg);
            host->set_var(ch, str("digits"), str(ivr->digits));
            ivr->next = 0;
            return read_back(ivr, ch);
        }
        case READBACK:
            return read_back(ivr, ch);
        case GOODBYE:
            ivr->step = DONE;
            return host->hangup(ch, 16) == TIPRING_OK ? 0 : -1;
        case OFFERED: /* the answer's completion is not ivr->op */
        case DONE:
            return 0;
        }
        return 0;
    case TIPRING_EV_HANGUP:
        note_end(ivr, ch);
        ivr->step = DONE; /* instance_destroy follows */
        return 0;
    default:
        return 0; /* kinds we don't know: nothing to do */
    }
}

static void ivr_destroy(void *instance) { free(instance); }

static const tipring_handler_vtable vtable = {
    .struct_size = sizeof(tipring_handler_vtable),
    .abi_major = TIPRING_ABI_MAJOR,
    .abi_minor = TIPRING_ABI_MINOR,
    .name = "ivr-c",
    .version = IVR_VERSION,
    .caps = TIPRING_CAP_THREADSAFE_GLOBAL,
    .init = ivr_init,
    .shutdown = ivr_shutdown,
    .instance_create = ivr_create,
    .on_event = ivr_on_event,
    .instance_destroy = ivr_destroy,
};

__attribute__((visibility("default"))) const tipring_handler_vtable *
tipring_handler_entry_v1(uint16_t host_major, uint16_t host_minor) {
    (void)host_minor;
    return host_major == TIPRING_ABI_MAJOR ? &vtable : NULL;
}
