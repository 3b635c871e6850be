/* recording.h: for unit tests that replay what they recorded. */
#ifndef TESTS_RECORDING_H
#define TESTS_RECORDING_H

#include <stdlib.h>
#include "drudge/record.h"

/* Deep copies of a recorder's steps and payloads, as drudge_rec_replay_load
 * takes ownership of them (in real use they come from the database). */
static inline void copy_recording(drudge_rec *rec, drudge_step **steps, size_t *n,
                                  drudge_payload **payloads, size_t *np)
{
    *n = drudge_rec_count(rec);
    *steps = calloc(*n, sizeof **steps);
    for (size_t i = 0; i < *n; i++)
        drudge_step_copy(&(*steps)[i], drudge_rec_step(rec, i));
    *np = drudge_rec_payload_count(rec);
    *payloads = calloc(*np ? *np : 1, sizeof **payloads);
    for (size_t i = 0; i < *np; i++)
        drudge_payload_copy(&(*payloads)[i], drudge_rec_payload_at(rec, i));
}

#endif
