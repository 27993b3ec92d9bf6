/* The pool through the C interface: emr_chain_submit (ready,
 * held, already pending, refused with the record's status), emr_chain_pending
 * snapshots, emr_chain_template, emr_chain_mine_next (found and added, timed
 * out, cancelled, starting over when another thread moves the tip), the
 * pool surviving a reopen, NULL arguments.
 *
 * Difficulty 1 (every id meets it) except where a search must not end, so
 * that the run stays short under valgrind. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define T0 1700000000u

static const uint8_t ZERO32[32] = {0};
static const uint8_t MINER[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72};
static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74};

static emr_key *doctor;

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static emr_record *sign(uint64_t nonce, const char *text) {
    emr_record *rec = NULL;
    CHECK_OK(emr_record_sign(doctor, PATIENT, 20, text, strlen(text), nonce, &rec));
    if (rec == NULL) exit(1);
    return rec;
}

/* Difficulty 1 up to height `window`, blocks 1 s apart keep it there. */
static emr_chain *open_chain(const char *path, uint64_t window, uint64_t block_time, uint64_t max_adjust) {
    emr_chain_options o;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    o.window = window;
    o.block_time = block_time;
    o.max_adjust = max_adjust;
    CHECK_OK(emr_chain_open(path, &o, &chain));
    if (chain == NULL) exit(1);
    return chain;
}

static emr_submit_outcome submit(emr_chain *chain, uint64_t nonce, const char *text, emr_status expected) {
    emr_record *rec = sign(nonce, text);
    emr_submit_outcome outcome = 0;
    CHECK_STATUS(emr_chain_submit(chain, rec, &outcome), expected);
    emr_record_free(rec);
    return outcome;
}

/* The nonces of a pending snapshot, and how many are ready. */
static size_t pending_nonces(emr_chain *chain, uint64_t *nonces, size_t cap, size_t *ready) {
    emr_pending *pending = NULL;
    size_t len = 0;
    CHECK_OK(emr_chain_pending(chain, &pending));
    CHECK_OK(emr_pending_len(pending, &len, ready));
    for (size_t i = 0; i < len && i < cap; i++) {
        emr_record *rec = NULL;
        CHECK_OK(emr_pending_get(pending, i, &rec));
        CHECK_OK(emr_record_nonce(rec, &nonces[i]));
        emr_record_free(rec);
    }
    emr_record *none = (emr_record *)1;
    CHECK_STATUS(emr_pending_get(pending, len, &none), EMR_NOT_FOUND);
    CHECK(none == NULL, "out is NULL past the end");
    emr_pending_free(pending);
    return len;
}

static emr_mine_options one_thread(void) {
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    return opts;
}

static void test_submit_template_mine_next(void) {
    test_context = "submit, template, mine_next";
    emr_chain *chain = open_chain(NULL, 100, 12, 4);
    CHECK(submit(chain, 2, "b", EMR_OK) == EMR_SUBMIT_HELD, "a gap: held");
    CHECK(submit(chain, 1, "a", EMR_OK) == EMR_SUBMIT_READY, "ready");
    CHECK(submit(chain, 1, "a", EMR_OK) == EMR_SUBMIT_ALREADY_PENDING, "the same record");
    /* Another text with the same (dr_hash, nonce): the doctor signed two
     * records with one nonce; the pool keeps the first (test_v12.c checks
     * the pending txid emr_chain_submit_at names). */
    CHECK(submit(chain, 1, "other text", EMR_OK) == EMR_SUBMIT_CONFLICTS_WITH_PENDING, "the same (dr_hash, nonce)");
    CHECK(submit(chain, 4, "d", EMR_OK) == EMR_SUBMIT_HELD, "held");
    CHECK(strcmp(emr_submit_outcome_name(EMR_SUBMIT_ALREADY_PENDING), "already_pending") == 0, "name");
    CHECK(strcmp(emr_submit_outcome_name(EMR_SUBMIT_CONFLICTS_WITH_PENDING), "conflicts_with_pending") == 0, "name");
    CHECK(strcmp(emr_submit_outcome_name(99), "unknown") == 0, "unknown name");

    uint64_t nonces[8] = {0};
    size_t ready = 0;
    size_t len = pending_nonces(chain, nonces, 8, &ready);
    CHECK(len == 3 && ready == 2 && nonces[0] == 1 && nonces[1] == 2 && nonces[2] == 4, "ready 1, 2 then held 4");

    uint64_t ts = T0;
    emr_block *t = NULL;
    CHECK_OK(emr_chain_template(chain, MINER, &ts, &t));
    size_t count = 0;
    uint64_t height = 99, nonce = 99;
    uint8_t id[32], prev[32];
    CHECK_OK(emr_block_record_count(t, &count));
    CHECK_OK(emr_block_height(t, &height));
    CHECK_OK(emr_block_nonce(t, &nonce));
    CHECK_OK(emr_block_id(t, id));
    CHECK_OK(emr_block_previous(t, prev));
    CHECK(count == 2 && height == 0 && nonce == 0 && memcmp(id, ZERO32, 32) == 0 && memcmp(prev, ZERO32, 32) == 0,
          "template: genesis with the two ready records");
    emr_block_free(t);

    emr_mine_options opts = one_thread();
    emr_mine_outcome outcome = 0;
    emr_add_outcome added = 0;
    emr_block *block = NULL;
    CHECK_OK(emr_chain_mine_next(chain, MINER, &ts, &opts, &outcome, &block, &added));
    CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED && block != NULL, "mined and added");
    if (block != NULL) {
        CHECK_OK(emr_block_record_count(block, &count));
        CHECK(count == 2, "with the ready records");
        emr_block *tip = NULL;
        uint8_t tip_id[32];
        CHECK_OK(emr_chain_tip(chain, &tip));
        CHECK_OK(emr_block_id(tip, tip_id));
        CHECK_OK(emr_block_id(block, id));
        CHECK(memcmp(tip_id, id, 32) == 0, "it is the tip");
        emr_block_free(tip);
    }
    emr_block_free(block);
    len = pending_nonces(chain, nonces, 8, &ready);
    CHECK(len == 1 && ready == 0 && nonces[0] == 4, "only the held record is left");

    /* A used nonce: the record's status. */
    submit(chain, 1, "a", EMR_INVALID_NONCE);
    CHECK(submit(chain, 3, "c", EMR_OK) == EMR_SUBMIT_READY, "fills the gap");
    len = pending_nonces(chain, nonces, 8, &ready);
    CHECK(len == 2 && ready == 2 && nonces[0] == 3 && nonces[1] == 4, "3 and 4 ready");

    /* Undo: the records come back. */
    emr_block *removed = NULL;
    CHECK_OK(emr_chain_undo_last_block(chain, &removed));
    emr_block_free(removed);
    len = pending_nonces(chain, nonces, 8, &ready);
    CHECK(len == 4 && ready == 4 && nonces[0] == 1 && nonces[3] == 4, "1..4 pending after undo");

    /* NULL arguments. */
    emr_record *rec = sign(9, "x");
    emr_pending *pending = NULL;
    CHECK_STATUS(emr_chain_submit(NULL, rec, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_submit(chain, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_pending(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_pending(NULL, &pending), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_pending_len(NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_template(chain, NULL, NULL, &t), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_mine_next(chain, MINER, NULL, &opts, NULL, &block, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_mine_next(chain, MINER, NULL, &opts, &outcome, NULL, NULL), EMR_NULL_ARGUMENT);
    opts.version = 0;
    CHECK_STATUS(emr_chain_mine_next(chain, MINER, NULL, &opts, &outcome, &block, NULL), EMR_INVALID_ARGUMENT);
    emr_pending_free(NULL);
    emr_record_free(rec);
    emr_chain_free(chain);
}

static void test_reopen_keeps_the_pool(void) {
    test_context = "reopen";
    char path[64];
    snprintf(path, sizeof path, "/tmp/emr-test-pool-%ld.db", (long)getpid());
    emr_chain *chain = open_chain(path, 100, 12, 4);
    submit(chain, 1, "a", EMR_OK);
    submit(chain, 3, "c", EMR_OK);
    emr_chain_free(chain);
    chain = NULL;
    CHECK_OK(emr_chain_open(path, NULL, &chain));
    uint64_t nonces[4] = {0};
    size_t ready = 0;
    size_t len = chain ? pending_nonces(chain, nonces, 4, &ready) : 0;
    CHECK(len == 2 && ready == 1 && nonces[0] == 1 && nonces[1] == 3, "both records are back");
    emr_chain_free(chain);
    const char *suffixes[] = {"", "-wal", "-shm", ".lock"};
    for (int i = 0; i < 4; i++) {
        char file[80];
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
}

struct race {
    emr_chain *chain;
    emr_mine_outcome outcome;
    emr_block *block;
    emr_status status;
    uint64_t time_limit_ms;
    emr_cancel *cancel;
};

static void *mine_thread(void *arg) {
    struct race *r = arg;
    emr_mine_options opts;
    emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION);
    opts.threads = 1;
    opts.time_limit_ms = r->time_limit_ms;
    opts.cancel = r->cancel;
    uint64_t ts = T0 + 2;
    r->status = emr_chain_mine_next(r->chain, MINER, &ts, &opts, &r->outcome, &r->block, NULL);
    return NULL;
}

/* Genesis and block 1 a second apart, with window 1 and block_time and
 * max_adjust 2^40: the block at height 2 needs difficulty 2^40 (never
 * found here); height 1 needs 1. */
static emr_chain *hard_at_height_2(uint8_t genesis_id[32]) {
    emr_chain *chain = open_chain(NULL, 1, (uint64_t)1 << 40, (uint64_t)1 << 40);
    emr_mine_options opts = one_thread();
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    uint64_t ts = T0;
    CHECK_OK(emr_chain_mine_next(chain, MINER, &ts, &opts, &outcome, &block, NULL));
    CHECK_OK(emr_block_id(block, genesis_id));
    emr_block_free(block);
    ts = T0 + 1;
    CHECK_OK(emr_chain_mine_next(chain, MINER, &ts, &opts, &outcome, &block, NULL));
    emr_block_free(block);
    emr_difficulty next = {0, 0};
    CHECK_OK(emr_chain_next_difficulty(chain, &next));
    CHECK(next.lo == (uint64_t)1 << 40 && next.hi == 0, "height 2 is hard");
    return chain;
}

static void test_mine_next_starts_over_when_another_thread_moves_the_tip(void) {
    test_context = "mine_next race";
    uint8_t genesis_id[32];
    struct race r = {0};
    r.chain = hard_at_height_2(genesis_id);
    pthread_t thread;
    pthread_create(&thread, NULL, mine_thread, &r);
    sleep_ms(200);
    /* The tip moves back to the genesis: height 1 again, difficulty 1. */
    emr_block *removed = NULL;
    CHECK_OK(emr_chain_undo_last_block(r.chain, &removed));
    emr_block_free(removed);
    pthread_join(thread, NULL);
    CHECK(r.status == EMR_OK && r.outcome == EMR_MINE_FOUND && r.block != NULL, "found after starting over: %s %s",
          emr_status_name(r.status), emr_mine_outcome_name(r.outcome));
    if (r.block != NULL) {
        uint64_t height = 0;
        uint8_t prev[32];
        CHECK_OK(emr_block_height(r.block, &height));
        CHECK_OK(emr_block_previous(r.block, prev));
        CHECK(height == 1 && memcmp(prev, genesis_id, 32) == 0, "on the new tip");
    }
    emr_block_free(r.block);
    emr_chain_free(r.chain);
}

static void test_mine_next_timeout_and_cancel(void) {
    test_context = "mine_next timeout, cancel";
    uint8_t genesis_id[32];
    struct race r = {0};
    r.chain = hard_at_height_2(genesis_id);
    r.time_limit_ms = 100;
    mine_thread(&r);
    CHECK(r.status == EMR_OK && r.outcome == EMR_MINE_TIMED_OUT && r.block == NULL, "timed out");

    r.time_limit_ms = 0;
    CHECK_OK(emr_cancel_new(&r.cancel));
    pthread_t thread;
    pthread_create(&thread, NULL, mine_thread, &r);
    sleep_ms(100);
    CHECK_OK(emr_cancel_trigger(r.cancel));
    pthread_join(thread, NULL);
    CHECK(r.status == EMR_OK && r.outcome == EMR_MINE_CANCELLED && r.block == NULL, "cancelled");
    uint64_t len = 0;
    CHECK_OK(emr_chain_len(r.chain, &len));
    CHECK(len == 2, "nothing added");
    emr_cancel_free(r.cancel);
    emr_chain_free(r.chain);
}

int main(void) {
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctor));
    if (doctor == NULL) return 1;
    test_submit_template_mine_next();
    test_reopen_keeps_the_pool();
    test_mine_next_starts_over_when_another_thread_moves_the_tip();
    test_mine_next_timeout_and_cancel();
    emr_key_free(doctor);
    return test_finish("test_pool");
}
