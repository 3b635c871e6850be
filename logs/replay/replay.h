/*
 * replay.h: a recorded attempt as replay needs it (logs/replay/recording.c).
 * Running it again is runner/work/replay.h.
 */
#ifndef DRUDGE_REPLAY_REC_H
#define DRUDGE_REPLAY_REC_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "drudge/record.h"
#include "runner/store/store.h"

/* Loads the steps of one recorded attempt in seq order as the recorder's
 * replay input (caller owns; see drudge_rec_replay_load), and the payloads
 * they reference that still hold data. *pruned counts those that do not.
 * DRUDGE_ETAMPER if the recording has a gap. */
drudge_code drudge_audit_load_attempt(drudge_store *s, int64_t task_id, int attempt,
                                      drudge_step **steps /* OUT */, size_t *n /* OUT */,
                                      drudge_payload **payloads /* OUT */, size_t *np /* OUT */,
                                      int *pruned /* OUT */, drudge_err *err);
void drudge_steps_free(drudge_step *steps, size_t n);
void drudge_payloads_free(drudge_payload *payloads, size_t n);

/* Are two JSON texts the same value? Tables are compared by content, since
 * the key order of an encoded Lua table is not stable between states. */
int drudge_replay_json_same(const char *a, const char *b);

#endif
