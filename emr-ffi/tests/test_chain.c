/* The chain through the C interface (SPEC section 5): chains in memory and
 * in files, adding and extending, every linkage status, side branches, ties,
 * reorganizations, a heavier branch with a bad record, undo, reopening,
 * the writer lock, a reader beside the writer, batches (a failing block in
 * the middle, cancellation, progress), check (progress, cancel, a damaged
 * block), histories, NULL arguments and calls from several threads.
 *
 * Blocks are mined with emr_mine_block at difficulty 1 (every id meets it)
 * or a few units more, on one thread, and hold 0 to 3 records signed with
 * emr_record_sign, so that the run stays short under valgrind. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "common.h"

#define T0 1700000000u

static const uint8_t ZERO32[32] = {0};
static const uint8_t MINER_A[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72, 0x41};
static const uint8_t MINER_B[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72, 0x42};
static const uint8_t PATIENT_1[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74, 1};
static const uint8_t PATIENT_2[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74, 2};

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Two doctors. */
static emr_key *doctor_key[2];
static uint8_t doctor_hash[2][20];

static void make_doctors(void) {
    for (int i = 0; i < 2; i++) {
        CHECK_OK(emr_key_generate(i == 0 ? EMR_CURVE_SECP256K1 : EMR_CURVE_P256, &doctor_key[i]));
        if (doctor_key[i] == NULL) exit(1);
        CHECK_OK(emr_key_public_key_hash(doctor_key[i], doctor_hash[i]));
    }
}

static emr_record *sign(int doctor, const uint8_t *patient, uint64_t nonce, const char *text) {
    emr_record *rec = NULL;
    CHECK_OK(emr_record_sign(doctor_key[doctor], patient, 20, text, strlen(text), nonce, &rec));
    if (rec == NULL) exit(1);
    return rec;
}

static emr_difficulty diff(uint64_t lo) {
    emr_difficulty d = {lo, 0};
    return d;
}

/* Mines a block at (previous, height) holding `records`; one thread. */
static emr_block *mine_at(const uint8_t *previous32, uint64_t height, const uint8_t *miner, emr_record *const *records,
                          size_t count, uint64_t timestamp, emr_difficulty difficulty) {
    emr_mine_options opts;
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    CHECK_OK(emr_mine_block(previous32, height, miner, (const emr_record *const *)records, count, timestamp, difficulty,
                            &opts, &outcome, &block, NULL));
    if (outcome != EMR_MINE_FOUND || block == NULL) {
        fprintf(stderr, "mining failed: %s\n", emr_mine_outcome_name(outcome));
        exit(1);
    }
    return block;
}

static void block_id(const emr_block *block, uint8_t out32[32]) {
    CHECK_OK(emr_block_id(block, out32));
}

static uint64_t block_height(const emr_block *block) {
    uint64_t h = 0;
    CHECK_OK(emr_block_height(block, &h));
    return h;
}

/* A block on `parent` (NULL: a genesis) at timestamp T0 + its height +
 * `skew`, with `count` records by `doctor` for `patient`, nonces from
 * `first_nonce`; `tag` goes into the prescriptions. */
static emr_block *block_on(const emr_block *parent, const uint8_t *miner, emr_difficulty difficulty, size_t count,
                           int doctor, const uint8_t *patient, uint64_t first_nonce, const char *tag, uint64_t skew) {
    uint8_t previous[32] = {0};
    uint64_t height = 0;
    if (parent != NULL) {
        block_id(parent, previous);
        height = block_height(parent) + 1;
    }
    emr_record *records[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < count && i < 3; i++) {
        char text[96];
        snprintf(text, sizeof text, "%s h%llu r%zu", tag, (unsigned long long)height, i);
        records[i] = sign(doctor, patient, first_nonce + i, text);
    }
    emr_block *block = mine_at(previous, height, miner, records, count, T0 + height + skew, difficulty);
    for (size_t i = 0; i < 3; i++) emr_record_free(records[i]);
    return block;
}

/* Options: difficulty 1 that stays 1 for blocks one second apart. */
static emr_chain_options easy_options(void) {
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty = diff(1);
    o.block_time = 1;
    return o;
}

static emr_chain *open_memory(void) {
    emr_chain_options o = easy_options();
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) exit(1);
    return chain;
}

static emr_add_outcome add(emr_chain *chain, const emr_block *block) {
    emr_add_outcome outcome = EMR_ADD_NONE;
    emr_status s = emr_chain_add_block(chain, block, NULL, &outcome, NULL);
    note_status(s);
    CHECK(s == EMR_OK, "add_block: %s: %s", emr_status_name(s), emr_last_error_message());
    return outcome;
}

#define CHECK_OUTCOME(got, want)                                                                   \
    do {                                                                                           \
        emr_add_outcome g_ = (got), w_ = (want);                                                   \
        CHECK(g_ == w_, "outcome %s, expected %s", emr_add_outcome_name(g_), emr_add_outcome_name(w_)); \
    } while (0)

static uint64_t chain_len(const emr_chain *chain) {
    uint64_t len = UINT64_MAX;
    CHECK_OK(emr_chain_len(chain, &len));
    return len;
}

/* The tip's id (all zero for an empty chain). */
static void tip_id(const emr_chain *chain, uint8_t out32[32]) {
    emr_block *tip = NULL;
    memset(out32, 0, 32);
    CHECK_OK(emr_chain_tip(chain, &tip));
    if (tip != NULL) block_id(tip, out32);
    emr_block_free(tip);
}

static void state(const emr_chain *chain, const uint8_t *hash20, uint64_t *balance, uint64_t *nonce) {
    *balance = *nonce = UINT64_MAX;
    CHECK_OK(emr_chain_user_state(chain, hash20, balance, nonce));
}

static size_t history_len(const emr_chain *chain, const uint8_t *hash20, bool doctor) {
    emr_history *h = NULL;
    size_t len = SIZE_MAX;
    if (doctor) {
        CHECK_OK(emr_chain_doctor_records(chain, hash20, &h));
    } else {
        CHECK_OK(emr_chain_patient_history(chain, hash20, &h));
    }
    CHECK_OK(emr_history_len(h, &len));
    emr_history_free(h);
    return len;
}

/* Everything the queries say about a chain, to compare two moments. */
typedef struct {
    uint64_t len;
    uint8_t tip[32];
    uint8_t total[32];
    emr_difficulty next;
    uint64_t balance[4], nonce[4];
    size_t history[4];
} snapshot;

static snapshot snap(const emr_chain *chain) {
    snapshot s;
    memset(&s, 0, sizeof s);
    s.len = chain_len(chain);
    tip_id(chain, s.tip);
    CHECK_OK(emr_chain_total_difficulty(chain, s.total));
    CHECK_OK(emr_chain_next_difficulty(chain, &s.next));
    const uint8_t *hashes[4] = {doctor_hash[0], doctor_hash[1], MINER_A, MINER_B};
    for (int i = 0; i < 4; i++) state(chain, hashes[i], &s.balance[i], &s.nonce[i]);
    s.history[0] = history_len(chain, PATIENT_1, false);
    s.history[1] = history_len(chain, PATIENT_2, false);
    s.history[2] = history_len(chain, doctor_hash[0], true);
    s.history[3] = history_len(chain, doctor_hash[1], true);
    return s;
}

static bool same(const snapshot *a, const snapshot *b) {
    return a->len == b->len && memcmp(a->tip, b->tip, 32) == 0 && memcmp(a->total, b->total, 32) == 0 &&
           a->next.lo == b->next.lo && a->next.hi == b->next.hi && memcmp(a->balance, b->balance, sizeof a->balance) == 0 &&
           memcmp(a->nonce, b->nonce, sizeof a->nonce) == 0 && memcmp(a->history, b->history, sizeof a->history) == 0;
}

/* The total difficulty's low 64 bits, checking that the rest is zero. */
static uint64_t total_low(const emr_chain *chain) {
    uint8_t total[32];
    CHECK_OK(emr_chain_total_difficulty(chain, total));
    for (int i = 0; i < 24; i++) CHECK(total[i] == 0, "high byte %d of the total difficulty", i);
    uint64_t v = 0;
    for (int i = 24; i < 32; i++) v = (v << 8) | total[i];
    return v;
}

/* ------------------------------------------------------------------------ */

static void test_options_and_names(void) {
    test_context = "options";
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(o.version == EMR_CHAIN_OPTIONS_VERSION && !o.use_stored_params && o.initial_difficulty.lo == 1000 &&
              o.initial_difficulty.hi == 0 && o.window == 10 && o.block_time == 12 && o.max_adjust == 4 &&
              o.block_reward == EMR_DEFAULT_BLOCK_REWARD,
          "SPEC section 5 defaults");
    CHECK_STATUS(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION + 1), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_chain_options_default(NULL, EMR_CHAIN_OPTIONS_VERSION), EMR_NULL_ARGUMENT);
    emr_batch_options b;
    memset(&b, 0xff, sizeof b);
    CHECK_OK(emr_batch_options_default(&b, EMR_BATCH_OPTIONS_VERSION));
    CHECK(b.version == EMR_BATCH_OPTIONS_VERSION && b.threads == 0 && b.cancel == NULL && b.progress == NULL &&
              b.user_data == NULL,
          "batch defaults");
    CHECK_STATUS(emr_batch_options_default(&b, 0), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_batch_options_default(NULL, EMR_BATCH_OPTIONS_VERSION), EMR_NULL_ARGUMENT);

    const struct {
        emr_add_outcome outcome;
        const char *name;
    } outcomes[] = {{EMR_ADD_NONE, "none"},
                    {EMR_ADD_EXTENDED, "extended"},
                    {EMR_ADD_SIDE_BRANCH, "side_branch"},
                    {EMR_ADD_REORGANIZED, "reorganized"},
                    {EMR_ADD_ALREADY_KNOWN, "already_known"},
                    {EMR_ADD_STALE, "stale"},
                    {99, "unknown"}};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        CHECK(strcmp(emr_add_outcome_name(outcomes[i].outcome), outcomes[i].name) == 0, "outcome name %s",
              outcomes[i].name);
    }
    /* Bad parameters. */
    emr_chain *chain = (emr_chain *)1;
    o = easy_options();
    o.initial_difficulty = diff(0);
    CHECK_STATUS(emr_chain_open(NULL, &o, &chain), EMR_INVALID_ARGUMENT);
    CHECK(chain == NULL, "out is NULL on failure");
    CHECK(contains(emr_last_error_message(), "initial_difficulty"), "message: %s", emr_last_error_message());
    const char *fields[3] = {"window", "block_time", "max_adjust"};
    for (int i = 0; i < 3; i++) {
        o = easy_options();
        if (i == 0) o.window = 0;
        if (i == 1) o.block_time = 0;
        if (i == 2) o.max_adjust = 0;
        CHECK_STATUS(emr_chain_open(NULL, &o, &chain), EMR_INVALID_ARGUMENT);
        CHECK(contains(emr_last_error_message(), fields[i]), "message: %s", emr_last_error_message());
    }
    o = easy_options();
    o.version = 0;
    CHECK_STATUS(emr_chain_open(NULL, &o, &chain), EMR_INVALID_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "emr_chain_options_default"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_open("", NULL, &chain), EMR_INVALID_ARGUMENT);
    /* use_stored_params: the fields are ignored (a memory chain: the defaults). */
    o = easy_options();
    o.use_stored_params = true;
    o.window = 0;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    emr_chain_options got;
    CHECK_OK(emr_chain_get_options(chain, &got, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(got.initial_difficulty.lo == 1000 && got.window == 10 && !got.use_stored_params, "stored = defaults");
    CHECK_STATUS(emr_chain_get_options(chain, &got, 7), EMR_INVALID_ARGUMENT);
    emr_chain_free(chain);
    /* NULL options: the defaults. */
    CHECK_OK(emr_chain_open(NULL, NULL, &chain));
    emr_difficulty next = {0, 0};
    CHECK_OK(emr_chain_next_difficulty(chain, &next));
    CHECK(next.lo == 1000 && next.hi == 0, "default initial difficulty");
    emr_chain_free(chain);
    /* A difficulty past 64 bits round-trips. */
    o = easy_options();
    o.initial_difficulty.hi = 5;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    CHECK_OK(emr_chain_next_difficulty(chain, &next));
    CHECK(next.lo == 1 && next.hi == 5, "128-bit initial difficulty");
    CHECK_OK(emr_chain_get_options(chain, &got, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(got.initial_difficulty.hi == 5 && got.block_time == 1, "options read back");
    emr_chain_free(chain);
}

/* Adding and extending, queries and histories on a chain in memory. */
static void test_memory_chain(void) {
    test_context = "memory";
    emr_chain *chain = open_memory();
    /* Empty. */
    CHECK(chain_len(chain) == 0, "empty");
    emr_block *block = (emr_block *)1;
    CHECK_OK(emr_chain_tip(chain, &block));
    CHECK(block == NULL, "an empty chain has no tip");
    block = (emr_block *)1;
    CHECK_STATUS(emr_chain_block_at(chain, 0, &block), EMR_NOT_FOUND);
    CHECK(block == NULL, "NULL on failure");
    CHECK(total_low(chain) == 0, "no work");
    emr_difficulty next;
    CHECK_OK(emr_chain_next_difficulty(chain, &next));
    CHECK(next.lo == 1 && next.hi == 0, "initial difficulty");
    CHECK_STATUS(emr_chain_undo_last_block(chain, &block), EMR_NOT_FOUND);
    CHECK(contains(emr_last_error_message(), "not_found"), "message: %s", emr_last_error_message());

    /* Six blocks: doctor 0 writes for patient 1, doctor 1 for patient 2. */
    emr_block *blocks[6];
    uint64_t nonce[2] = {1, 1};
    size_t per_patient[2] = {0, 0};
    for (int h = 0; h < 6; h++) {
        int doctor = h % 2;
        size_t count = (size_t)(h % 4); /* 0..3 records */
        blocks[h] = block_on(h == 0 ? NULL : blocks[h - 1], MINER_A, diff(1), count, doctor,
                             doctor == 0 ? PATIENT_1 : PATIENT_2, nonce[doctor], "memory", 0);
        nonce[doctor] += count;
        per_patient[doctor] += count;
        CHECK_OUTCOME(add(chain, blocks[h]), EMR_ADD_EXTENDED);
        CHECK(chain_len(chain) == (uint64_t)h + 1, "len after %d", h);
    }
    CHECK_OUTCOME(add(chain, blocks[3]), EMR_ADD_ALREADY_KNOWN);
    CHECK_OUTCOME(add(chain, blocks[5]), EMR_ADD_ALREADY_KNOWN);
    CHECK(chain_len(chain) == 6 && total_low(chain) == 6, "six blocks of difficulty 1");
    uint8_t id[32], want[32];
    tip_id(chain, id);
    block_id(blocks[5], want);
    CHECK(memcmp(id, want, 32) == 0, "tip is the last block");
    for (uint64_t h = 0; h < 6; h++) {
        CHECK_OK(emr_chain_block_at(chain, h, &block));
        block_id(block, id);
        block_id(blocks[h], want);
        CHECK(memcmp(id, want, 32) == 0, "block at %llu", (unsigned long long)h);
        emr_block_free(block);
    }
    CHECK_STATUS(emr_chain_block_at(chain, 6, &block), EMR_NOT_FOUND);
    CHECK_STATUS(emr_chain_block_at(chain, UINT64_MAX, &block), EMR_NOT_FOUND);
    /* States. */
    uint64_t balance, n;
    state(chain, doctor_hash[0], &balance, &n);
    CHECK(n == nonce[0] - 1 && balance == 0, "doctor 0: nonce %llu", (unsigned long long)n);
    state(chain, doctor_hash[1], &balance, &n);
    CHECK(n == nonce[1] - 1, "doctor 1: nonce %llu", (unsigned long long)n);
    state(chain, MINER_A, &balance, &n);
    CHECK(balance == 6 * EMR_DEFAULT_BLOCK_REWARD && n == 0, "miner balance %llu", (unsigned long long)balance);
    state(chain, MINER_B, &balance, &n);
    CHECK(balance == 0 && n == 0, "an untouched hash is 0, 0");

    /* Histories: in chain order, with places that match the blocks. */
    for (int p = 0; p < 2; p++) {
        emr_history *it = NULL;
        CHECK_OK(emr_chain_patient_history(chain, p == 0 ? PATIENT_1 : PATIENT_2, &it));
        size_t len = 0;
        CHECK_OK(emr_history_len(it, &len));
        CHECK(len == per_patient[p], "patient %d: %zu records", p, len);
        uint64_t height = 0, last_height = 0, last_nonce = 0;
        uint8_t bid[32];
        emr_record *rec = NULL;
        emr_status s;
        size_t seen = 0;
        while ((s = emr_history_next(it, &height, bid, &rec)) == EMR_OK) {
            uint64_t rn = 0;
            CHECK_OK(emr_record_nonce(rec, &rn));
            CHECK(seen == 0 || (height >= last_height && rn == last_nonce + 1), "chain order");
            block_id(blocks[height], want);
            CHECK(memcmp(bid, want, 32) == 0, "block id of the record at %llu", (unsigned long long)height);
            /* find_record gives the same place. */
            uint8_t txid[32], bid2[32];
            uint64_t h2 = 0;
            emr_record *found = NULL;
            CHECK_OK(emr_record_txid(rec, txid));
            CHECK_OK(emr_chain_find_record(chain, txid, &h2, bid2, &found));
            CHECK(h2 == height && memcmp(bid2, bid, 32) == 0 && found != NULL, "find_record");
            emr_record_free(found);
            CHECK_OK(emr_chain_find_record(chain, txid, NULL, NULL, &found));
            emr_record_free(found);
            /* emr_history_get agrees. */
            uint64_t h3 = 0;
            emr_record *again = NULL;
            uint8_t t3[32];
            CHECK_OK(emr_history_get(it, seen, &h3, NULL, &again));
            CHECK_OK(emr_record_txid(again, t3));
            CHECK(h3 == height && memcmp(t3, txid, 32) == 0, "history_get %zu", seen);
            emr_record_free(again);
            last_height = height;
            last_nonce = rn;
            emr_record_free(rec);
            seen++;
        }
        CHECK(s == EMR_NOT_FOUND && rec == NULL, "end of history: %s", emr_status_name(s));
        note_status(s);
        CHECK(seen == len, "walked %zu of %zu", seen, len);
        CHECK_STATUS(emr_history_next(it, NULL, NULL, NULL), EMR_NOT_FOUND);
        CHECK_STATUS(emr_history_get(it, len, NULL, NULL, NULL), EMR_NOT_FOUND);
        CHECK_OK(emr_history_len(it, &len));
        CHECK(len == per_patient[p], "len after the walk");
        emr_history_free(it);
    }
    CHECK(history_len(chain, doctor_hash[0], true) == per_patient[0], "doctor 0's records");
    CHECK(history_len(chain, doctor_hash[1], true) == per_patient[1], "doctor 1's records");
    CHECK(history_len(chain, MINER_B, false) == 0, "no history: empty, not an error");
    /* A history outlives its chain. */
    emr_history *kept = NULL;
    CHECK_OK(emr_chain_patient_history(chain, PATIENT_1, &kept));
    uint8_t unknown_txid[32] = {0xee};
    emr_record *rec = (emr_record *)1;
    CHECK_STATUS(emr_chain_find_record(chain, unknown_txid, NULL, NULL, &rec), EMR_NOT_FOUND);
    CHECK(rec == NULL, "NULL on failure");
    emr_chain_free(chain);
    size_t kept_len = 0;
    CHECK_OK(emr_history_len(kept, &kept_len));
    CHECK(kept_len == per_patient[0], "history after the chain was freed");
    CHECK_OK(emr_history_next(kept, NULL, NULL, &rec));
    emr_record_free(rec);
    emr_history_free(kept);
    for (int h = 0; h < 6; h++) emr_block_free(blocks[h]);
}

/* Every linkage status and verification statuses, each leaving the chain
 * as it was. */
static void test_linkage_errors(void) {
    test_context = "linkage";
    emr_chain_options o = easy_options();
    o.window = 2;
    o.block_time = 12; /* blocks 1 s apart: the difficulty climbs after height 2 */
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    emr_block *g = block_on(NULL, MINER_A, diff(1), 1, 0, PATIENT_1, 1, "link", 0);
    CHECK_OUTCOME(add(chain, g), EMR_ADD_EXTENDED);
    emr_block *b1 = block_on(g, MINER_A, diff(1), 0, 0, PATIENT_1, 0, "link", 0);
    CHECK_OUTCOME(add(chain, b1), EMR_ADD_EXTENDED);
    snapshot before = snap(chain);
    uint8_t tip[32];
    block_id(b1, tip);
    emr_block_failure f;
    emr_add_outcome outcome = 77;

    /* unknown_parent */
    uint8_t stranger[32] = {0x5a, 0x5a};
    emr_block *bad = mine_at(stranger, 2, MINER_A, NULL, 0, T0 + 2, diff(1));
    memset(&f, 0, sizeof f);
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, &outcome, &f), EMR_UNKNOWN_PARENT);
    CHECK(outcome == 77, "outcome untouched on failure");
    uint8_t bad_id[32];
    block_id(bad, bad_id);
    CHECK(f.status == EMR_UNKNOWN_PARENT && f.height == 2 && f.has_block_id && memcmp(f.block_id, bad_id, 32) == 0 &&
              f.record_status == EMR_OK,
          "failure names the block");
    CHECK(contains(emr_last_error_message(), "unknown_parent"), "message: %s", emr_last_error_message());
    emr_block_free(bad);
    /* A second genesis is not unknown_parent: it starts a branch (a tie). */
    emr_block *g2 = block_on(NULL, MINER_B, diff(1), 0, 0, PATIENT_1, 0, "other genesis", 0);
    CHECK_OUTCOME(add(chain, g2), EMR_ADD_SIDE_BRANCH);
    emr_block_free(g2);

    /* wrong_height */
    bad = mine_at(tip, 3, MINER_A, NULL, 0, T0 + 2, diff(1));
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, NULL, &f), EMR_WRONG_HEIGHT);
    CHECK(f.status == EMR_WRONG_HEIGHT && f.height == 3 && f.has_block_id, "wrong_height failure");
    emr_block_free(bad);
    bad = mine_at(ZERO32, 1, MINER_A, NULL, 0, T0 + 2, diff(1));
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, NULL, NULL), EMR_WRONG_HEIGHT);
    emr_block_free(bad);

    /* timestamp_too_early: before the parent's (T0 + 1). */
    bad = mine_at(tip, 2, MINER_A, NULL, 0, T0, diff(1));
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, NULL, &f), EMR_TIMESTAMP_TOO_EARLY);
    CHECK(f.status == EMR_TIMESTAMP_TOO_EARLY && f.height == 2, "too early failure");
    emr_block_free(bad);

    /* timestamp_too_late: more than max_future (60 s by default) after now;
     * NULL now skips it. */
    uint64_t now = T0;
    bad = mine_at(tip, 2, MINER_A, NULL, 0, T0 + EMR_DEFAULT_MAX_FUTURE_SECONDS + 1, diff(1));
    CHECK_STATUS(emr_chain_add_block(chain, bad, &now, NULL, &f), EMR_TIMESTAMP_TOO_LATE);
    CHECK(f.status == EMR_TIMESTAMP_TOO_LATE, "too late failure");
    snapshot after = snap(chain);
    CHECK(same(&before, &after), "refused blocks change nothing");
    now = T0 + 1;
    CHECK_OK(emr_chain_add_block(chain, bad, &now, &outcome, NULL)); /* exactly now + 60 */
    CHECK_OUTCOME(outcome, EMR_ADD_EXTENDED);
    CHECK_OK(emr_chain_undo_last_block(chain, NULL));
    CHECK_OK(emr_chain_add_block(chain, bad, NULL, &outcome, NULL));
    CHECK_OUTCOME(outcome, EMR_ADD_EXTENDED);
    CHECK_OK(emr_chain_undo_last_block(chain, NULL));
    emr_block_free(bad);
    after = snap(chain);
    CHECK(same(&before, &after), "undone");

    /* Verification: a record with a nonce gap (doctor 0 is at nonce 1). */
    emr_record *gap = sign(0, PATIENT_1, 3, "nonce gap");
    bad = mine_at(tip, 2, MINER_A, &gap, 1, T0 + 2, diff(1));
    memset(&f, 0, sizeof f);
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, NULL, &f), EMR_RECORD);
    CHECK(f.status == EMR_RECORD && f.height == 2 && f.record_index == 0 && f.record_status == EMR_INVALID_NONCE,
          "record failure: %s at %zu", emr_status_name(f.record_status), f.record_index);
    emr_record_free(gap);
    emr_block_free(bad);
    /* difficulty_mismatch: difficulty 2 where 1 is expected. */
    bad = mine_at(tip, 2, MINER_A, NULL, 0, T0 + 2, diff(2));
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, NULL, &f), EMR_DIFFICULTY_MISMATCH);
    CHECK(f.status == EMR_DIFFICULTY_MISMATCH && f.height == 2, "difficulty failure");
    emr_block_free(bad);
    /* invalid_block_id: a block whose id is not its header's hash. */
    uint8_t wrong_id[32] = {1, 2, 3};
    CHECK_OK(emr_block_new(tip, 32, 2, MINER_A, 20, NULL, 0, T0 + 2, diff(1), wrong_id, 32, 0, &bad));
    CHECK_STATUS(emr_chain_add_block(chain, bad, NULL, NULL, &f), EMR_INVALID_BLOCK_ID);
    emr_block_free(bad);
    after = snap(chain);
    CHECK(same(&before, &after), "refused blocks change nothing");

    /* Retargeting: blocks 1 s apart with a 12 s target make it harder. */
    emr_block *parent = b1;
    emr_block *made[4] = {NULL, NULL, NULL, NULL};
    uint64_t previous_difficulty = 1;
    for (int i = 0; i < 4; i++) {
        emr_difficulty d;
        CHECK_OK(emr_chain_next_difficulty(chain, &d));
        CHECK(d.hi == 0 && d.lo >= previous_difficulty && d.lo <= previous_difficulty * 4, "retarget %llu",
              (unsigned long long)d.lo);
        if (i > 0) CHECK(d.lo > 1, "harder after the window: %llu", (unsigned long long)d.lo);
        if (d.lo > 1) {
            /* The previous difficulty is refused now. */
            emr_block *easy = block_on(parent, MINER_A, diff(1), 0, 0, PATIENT_1, 0, "easy", 0);
            CHECK_STATUS(emr_chain_add_block(chain, easy, NULL, NULL, NULL), EMR_DIFFICULTY_MISMATCH);
            emr_block_free(easy);
        }
        made[i] = block_on(parent, MINER_A, d, 0, 0, PATIENT_1, 0, "retarget", 0);
        CHECK_OUTCOME(add(chain, made[i]), EMR_ADD_EXTENDED);
        previous_difficulty = d.lo;
        parent = made[i];
    }
    for (int i = 0; i < 4; i++) emr_block_free(made[i]);
    emr_block_free(g);
    emr_block_free(b1);
    emr_chain_free(chain);
}

/* Side branches, ties, reorganizations and a heavier branch with a bad
 * record. */
static void test_forks(void) {
    test_context = "forks";
    emr_chain *chain = open_memory();
    /* g - a1 - a2, with doctor 0's records 1 (a1) and 2 (a2). */
    emr_block *g = block_on(NULL, MINER_A, diff(1), 0, 0, PATIENT_1, 0, "fork", 0);
    emr_block *a1 = block_on(g, MINER_A, diff(1), 1, 0, PATIENT_1, 1, "a", 0);
    emr_block *a2 = block_on(a1, MINER_A, diff(1), 1, 0, PATIENT_1, 2, "a", 0);
    CHECK_OUTCOME(add(chain, g), EMR_ADD_EXTENDED);
    CHECK_OUTCOME(add(chain, a1), EMR_ADD_EXTENDED);
    CHECK_OUTCOME(add(chain, a2), EMR_ADD_EXTENDED);
    snapshot on_a = snap(chain);
    uint8_t a2_txid[32];
    emr_record *r = NULL;
    CHECK_OK(emr_block_record(a2, 0, &r));
    CHECK_OK(emr_record_txid(r, a2_txid));
    emr_record_free(r);

    /* b2 on a1, the same weight: a side branch; the tie keeps a2. */
    emr_block *b2 = block_on(a1, MINER_B, diff(1), 2, 0, PATIENT_2, 2, "b", 1);
    CHECK_OUTCOME(add(chain, b2), EMR_ADD_SIDE_BRANCH);
    snapshot now = snap(chain);
    CHECK(same(&on_a, &now), "a tie keeps the first branch");
    CHECK_OUTCOME(add(chain, b2), EMR_ADD_ALREADY_KNOWN);
    /* b3: heavier, the chain moves to b. */
    emr_block *b3 = block_on(b2, MINER_B, diff(1), 1, 1, PATIENT_2, 1, "b", 1);
    CHECK_OUTCOME(add(chain, b3), EMR_ADD_REORGANIZED);
    uint8_t id[32], want[32];
    tip_id(chain, id);
    block_id(b3, want);
    CHECK(memcmp(id, want, 32) == 0 && chain_len(chain) == 4 && total_low(chain) == 4, "b3 is the tip");
    uint64_t balance, n;
    state(chain, doctor_hash[0], &balance, &n);
    CHECK(n == 3, "doctor 0 after b2's two records: %llu", (unsigned long long)n);
    state(chain, MINER_B, &balance, &n);
    CHECK(balance == 2 * EMR_DEFAULT_BLOCK_REWARD, "miner B rewarded for b2, b3");
    state(chain, MINER_A, &balance, &n);
    CHECK(balance == 2 * EMR_DEFAULT_BLOCK_REWARD, "miner A keeps g, a1 only");
    CHECK_STATUS(emr_chain_find_record(chain, a2_txid, NULL, NULL, &r), EMR_NOT_FOUND); /* a2 left the chain */
    CHECK(history_len(chain, PATIENT_1, false) == 1 && history_len(chain, PATIENT_2, false) == 3, "histories follow");

    /* a3 ties again (side branch); a4 makes a heavier again. */
    emr_block *a3 = block_on(a2, MINER_A, diff(1), 0, 0, PATIENT_1, 0, "a", 0);
    CHECK_OUTCOME(add(chain, a3), EMR_ADD_SIDE_BRANCH);
    emr_block *a4 = block_on(a3, MINER_A, diff(1), 1, 0, PATIENT_1, 3, "a", 0);
    CHECK_OUTCOME(add(chain, a4), EMR_ADD_REORGANIZED);
    CHECK(chain_len(chain) == 5, "back on a");
    r = NULL;
    CHECK_OK(emr_chain_find_record(chain, a2_txid, NULL, NULL, &r));
    emr_record_free(r);
    state(chain, doctor_hash[0], &balance, &n);
    CHECK(n == 3, "doctor 0 on branch a: %llu", (unsigned long long)n);

    /* A heavier branch with a bad record: c3 holds a nonce gap; c5 would
     * make the branch heavier. Refused, state untouched, and the bad block
     * and its descendants refused again. */
    snapshot good = snap(chain);
    emr_block *c3 = block_on(a2, MINER_B, diff(1), 0, 0, PATIENT_1, 0, "c", 2);
    CHECK_OUTCOME(add(chain, c3), EMR_ADD_SIDE_BRANCH);
    emr_block *c4 = block_on(c3, MINER_B, diff(1), 1, 0, PATIENT_1, 9, "c bad", 2); /* nonce 9, expected 3 */
    CHECK_OUTCOME(add(chain, c4), EMR_ADD_SIDE_BRANCH);                             /* records not checked yet */
    emr_block *c5 = block_on(c4, MINER_B, diff(1), 0, 0, PATIENT_1, 0, "c", 2);
    emr_block_failure f;
    memset(&f, 0, sizeof f);
    CHECK_STATUS(emr_chain_add_block(chain, c5, NULL, NULL, &f), EMR_RECORD);
    uint8_t c4_id[32];
    block_id(c4, c4_id);
    CHECK(f.status == EMR_RECORD && f.height == 4 && f.has_block_id && memcmp(f.block_id, c4_id, 32) == 0 &&
              f.record_index == 0 && f.record_status == EMR_INVALID_NONCE,
          "the failure names c4 (height %llu), an ancestor of c5", (unsigned long long)f.height);
    now = snap(chain);
    CHECK(same(&good, &now), "state untouched by the refused branch");
    CHECK_STATUS(emr_chain_add_block(chain, c5, NULL, NULL, &f), EMR_RECORD);
    CHECK(f.height == 4, "c5 refused again with c4's failure");
    CHECK_STATUS(emr_chain_add_block(chain, c4, NULL, NULL, NULL), EMR_RECORD);
    emr_block *c6 = block_on(c5, MINER_B, diff(1), 0, 0, PATIENT_1, 0, "c", 2);
    emr_status s6 = emr_chain_add_block(chain, c6, NULL, NULL, NULL);
    note_status(s6);
    CHECK(s6 != EMR_OK, "a block on a refused block is refused: %s", emr_status_name(s6));
    now = snap(chain);
    CHECK(same(&good, &now), "still untouched");
    /* c3 itself was fine and stays a side block. */
    CHECK_OUTCOME(add(chain, c3), EMR_ADD_ALREADY_KNOWN);

    emr_block *all[] = {g, a1, a2, b2, b3, a3, a4, c3, c4, c5, c6};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) emr_block_free(all[i]);
    emr_chain_free(chain);
}

/* Undo down to empty, then EMR_NOT_FOUND; re-adding gives the same chain. */
static void test_undo(void) {
    test_context = "undo";
    emr_chain *chain = open_memory();
    emr_block *blocks[5];
    snapshot at[6];
    at[0] = snap(chain);
    uint64_t nonce = 1;
    for (int h = 0; h < 5; h++) {
        size_t count = (size_t)(h % 3);
        blocks[h] = block_on(h ? blocks[h - 1] : NULL, MINER_A, diff(1), count, 1, PATIENT_2, nonce, "undo", 0);
        nonce += count;
        CHECK_OUTCOME(add(chain, blocks[h]), EMR_ADD_EXTENDED);
        at[h + 1] = snap(chain);
    }
    for (int h = 4; h >= 0; h--) {
        emr_block *removed = NULL;
        CHECK_OK(emr_chain_undo_last_block(chain, &removed));
        uint8_t a[32], b[32];
        block_id(removed, a);
        block_id(blocks[h], b);
        CHECK(removed != NULL && memcmp(a, b, 32) == 0, "undo returns the tip %d", h);
        emr_block_free(removed);
        snapshot now = snap(chain);
        CHECK(same(&at[h], &now), "state before block %d restored", h);
    }
    emr_block *removed = (emr_block *)1;
    CHECK_STATUS(emr_chain_undo_last_block(chain, &removed), EMR_NOT_FOUND);
    CHECK(removed == NULL, "NULL on failure");
    CHECK_STATUS(emr_chain_undo_last_block(chain, NULL), EMR_NOT_FOUND);
    for (int h = 0; h < 5; h++) CHECK_OUTCOME(add(chain, blocks[h]), EMR_ADD_EXTENDED);
    snapshot again = snap(chain);
    CHECK(same(&at[5], &again), "re-added: the same chain");
    for (int h = 0; h < 5; h++) emr_block_free(blocks[h]);
    emr_chain_free(chain);
}

/* Progress reports. */
typedef struct {
    int calls;
    uint64_t last_done, last_total;
    bool monotonic;
    const emr_chain *chain;     /* when set, the callback calls into it */
    emr_status reentrant;       /* what that call returned */
    const emr_cancel *cancel;   /* when set, triggered at the first report */
} progress_log;

static void on_progress(uint64_t done, uint64_t total, void *user_data) {
    progress_log *log = user_data;
    if (log->calls > 0 && done < log->last_done) log->monotonic = false;
    log->calls++;
    log->last_done = done;
    log->last_total = total;
    if (log->chain != NULL) {
        uint64_t len;
        log->reentrant = emr_chain_len(log->chain, &len);
    }
    if (log->cancel != NULL) emr_cancel_trigger(log->cancel);
}

static emr_batch_options batch(progress_log *log) {
    emr_batch_options b;
    CHECK_OK(emr_batch_options_default(&b, EMR_BATCH_OPTIONS_VERSION));
    if (log != NULL) {
        memset(log, 0, sizeof *log);
        log->monotonic = true;
        b.progress = on_progress;
        b.user_data = log;
    }
    return b;
}

/* A run of `count` blocks from genesis, each with 1-3 records by doctor 0
 * for patient 1 (nonces continuing), and a bad one at `bad` (-1: none):
 * height one too high. */
static void make_run(emr_block **out, int count, int bad, const char *tag) {
    uint64_t nonce = 1;
    for (int h = 0; h < count; h++) {
        size_t records = (size_t)(1 + h % 3);
        if (h == bad) {
            uint8_t previous[32];
            block_id(out[h - 1], previous);
            out[h] = mine_at(previous, (uint64_t)h + 1, MINER_A, NULL, 0, T0 + (uint64_t)h, diff(1));
            continue;
        }
        out[h] = block_on(h ? out[h - 1] : NULL, MINER_A, diff(1), records, 0, PATIENT_1, nonce, tag, 0);
        nonce += records;
    }
}

static void test_add_blocks(void) {
    test_context = "add_blocks";
    enum { N = 8, BAD = 4 };
    emr_block *run[N];
    make_run(run, N, BAD, "batch");
    emr_chain *chain = open_memory();
    progress_log log;
    emr_batch_options b = batch(&log);
    b.threads = 2;
    emr_add_outcome outcomes[N];
    memset(outcomes, 0xff, sizeof outcomes);
    size_t failed = 999;
    emr_block_failure f;
    memset(&f, 0, sizeof f);
    CHECK_STATUS(emr_chain_add_blocks(chain, (const emr_block *const *)run, N, NULL, &b, outcomes, &failed, &f),
                 EMR_WRONG_HEIGHT);
    CHECK(failed == BAD, "failed_index %zu", failed);
    for (int i = 0; i < N; i++) {
        CHECK_OUTCOME(outcomes[i], i < BAD ? EMR_ADD_EXTENDED : EMR_ADD_NONE);
    }
    CHECK(f.status == EMR_WRONG_HEIGHT && f.height == BAD + 1 && f.has_block_id, "failure of the bad block");
    CHECK(contains(emr_last_error_message(), "block 4 of the batch"), "message: %s", emr_last_error_message());
    CHECK(chain_len(chain) == BAD, "the blocks before the failure are kept");
    /* The good prefix again: already known. A fresh log: under valgrind the
     * failed batch above may have reported progress midway, and this one
     * counts from 0 again. */
    b = batch(&log);
    CHECK_OK(emr_chain_add_blocks(chain, (const emr_block *const *)run, BAD, NULL, &b, outcomes, &failed, NULL));
    for (int i = 0; i < BAD; i++) CHECK_OUTCOME(outcomes[i], EMR_ADD_ALREADY_KNOWN);
    CHECK(log.calls >= 1 && log.last_done == BAD && log.last_total == BAD && log.monotonic, "progress at the end: %llu/%llu",
          (unsigned long long)log.last_done, (unsigned long long)log.last_total);
    /* Nothing, NULL outcomes, NULL options. */
    CHECK_OK(emr_chain_add_blocks(chain, NULL, 0, NULL, NULL, NULL, NULL, NULL));
    CHECK_OK(emr_chain_add_blocks(chain, (const emr_block *const *)run, 2, NULL, NULL, NULL, NULL, NULL));
    /* A record failing in the middle of a batch. */
    emr_record *gap = sign(0, PATIENT_1, 1000, "batch gap");
    emr_block *tip = NULL;
    CHECK_OK(emr_chain_tip(chain, &tip));
    uint8_t tip_bytes[32];
    block_id(tip, tip_bytes);
    emr_block *good = block_on(tip, MINER_A, diff(1), 0, 0, PATIENT_1, 0, "batch", 0);
    block_id(good, tip_bytes);
    emr_block *bad = mine_at(tip_bytes, BAD + 1, MINER_A, &gap, 1, T0 + BAD + 1, diff(1));
    const emr_block *pair[3] = {good, bad, run[0]};
    CHECK_STATUS(emr_chain_add_blocks(chain, pair, 3, NULL, NULL, outcomes, &failed, &f), EMR_RECORD);
    CHECK(failed == 1 && outcomes[0] == EMR_ADD_EXTENDED && outcomes[1] == EMR_ADD_NONE && outcomes[2] == EMR_ADD_NONE,
          "record failure at index 1");
    CHECK(f.status == EMR_RECORD && f.record_status == EMR_INVALID_NONCE && f.height == BAD + 1, "record failure");
    CHECK(chain_len(chain) == BAD + 1, "good block kept");
    emr_record_free(gap);
    emr_block_free(tip);
    emr_block_free(good);
    emr_block_free(bad);

    /* Cancelled before the first block: nothing added. */
    emr_chain *fresh = open_memory();
    emr_cancel *cancel = NULL;
    CHECK_OK(emr_cancel_new(&cancel));
    CHECK_OK(emr_cancel_trigger(cancel));
    b = batch(NULL);
    b.cancel = cancel;
    failed = 999;
    CHECK_STATUS(emr_chain_add_blocks(fresh, (const emr_block *const *)run, BAD, NULL, &b, outcomes, &failed, NULL),
                 EMR_CANCELLED);
    CHECK(failed == 0 && outcomes[0] == EMR_ADD_NONE && chain_len(fresh) == 0, "cancelled at index 0");
    emr_cancel_free(cancel);
    /* The progress callback may not call back into the chain it reports on. */
    b = batch(&log);
    log.chain = fresh;
    CHECK_OK(emr_chain_add_blocks(fresh, (const emr_block *const *)run, BAD, NULL, &b, outcomes, NULL, NULL));
    CHECK(log.calls >= 1 && log.reentrant == EMR_INVALID_ARGUMENT, "re-entrant call refused: %s",
          emr_status_name(log.reentrant));
    CHECK(chain_len(fresh) == BAD, "the batch still ran");

    /* Bad arguments: outcomes are NONE, nothing is added. */
    emr_chain *empty = open_memory();
    memset(outcomes, 0xff, sizeof outcomes);
    CHECK_STATUS(emr_chain_add_blocks(empty, NULL, 2, NULL, NULL, outcomes, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK(outcomes[0] == EMR_ADD_NONE && outcomes[1] == EMR_ADD_NONE, "outcomes NONE on refusal");
    const emr_block *with_null[2] = {run[0], NULL};
    CHECK_STATUS(emr_chain_add_blocks(empty, with_null, 2, NULL, NULL, outcomes, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "blocks[1]"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_add_blocks(NULL, (const emr_block *const *)run, 1, NULL, NULL, outcomes, NULL, NULL),
                 EMR_NULL_ARGUMENT);
    b = batch(NULL);
    b.version = 0;
    CHECK_STATUS(emr_chain_add_blocks(empty, (const emr_block *const *)run, 1, NULL, &b, NULL, NULL, NULL),
                 EMR_INVALID_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "emr_batch_options_default"), "message: %s", emr_last_error_message());
    b = batch(NULL);
    b.threads = EMR_MAX_VERIFY_THREADS + 1;
    CHECK_STATUS(emr_chain_add_blocks(empty, (const emr_block *const *)run, 1, NULL, &b, NULL, NULL, NULL),
                 EMR_INVALID_ARGUMENT);
    CHECK(chain_len(empty) == 0, "nothing added");
    emr_chain_free(empty);
    emr_chain_free(fresh);
    for (int i = 0; i < N; i++) emr_block_free(run[i]);
    emr_chain_free(chain);
}

/* ------------------------------------------------------------------------ */
/* Files. */

static char dir[64];

static void path_in(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

static void write_junk(const char *path) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) exit(1);
    for (int i = 0; i < 8192; i++) fputc((int)(rng_next() & 0xff), f);
    fclose(f);
}

/* Flips one byte (the first) of every occurrence of the `len` bytes of
 * `needle` in the file; returns the number of occurrences. */
static int damage(const char *path, const void *needle, size_t len) {
    FILE *f = fopen(path, "r+b");
    if (f == NULL) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) exit(1);
    int found = 0;
    for (long i = 0; i + (long)len <= size; i++) {
        if (memcmp(data + i, needle, len) == 0) {
            fseek(f, i, SEEK_SET);
            fputc(data[i] ^ 0x01, f);
            found++;
        }
    }
    free(data);
    fclose(f);
    return found;
}

static void remove_dir(void) {
    const char *names[] = {"chain.db",   "chain.db-wal",   "chain.db-shm",  "junk.db",
                           "damaged.db", "damaged.db-wal", "damaged.db-shm", "backup.db",
                           "backup.db-wal", "backup.db-shm", "restored.db", "restored.db-wal",
                           "restored.db-shm"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_file_chain(void) {
    test_context = "file";
    char path[128];
    path_in(path, sizeof path, "chain.db");
    emr_chain_options o = easy_options();
    emr_chain *writer = NULL;
    CHECK_OK(emr_chain_open(path, &o, &writer));
    enum { N = 12 };
    emr_block *run[N + 1];
    make_run(run, N, -1, "file");
    progress_log log;
    emr_batch_options b = batch(&log);
    b.threads = 1;
    emr_add_outcome outcomes[N];
    CHECK_OK(emr_chain_add_blocks(writer, (const emr_block *const *)run, N, NULL, &b, outcomes, NULL, NULL));
    for (int i = 0; i < N; i++) CHECK_OUTCOME(outcomes[i], EMR_ADD_EXTENDED);
    CHECK(log.calls >= 1 && log.last_done == N && log.last_total == N, "batch progress");

    /* A second writer is refused with a clear message. */
    emr_chain *second = (emr_chain *)1;
    CHECK_STATUS(emr_chain_open(path, NULL, &second), EMR_LOCKED);
    CHECK(second == NULL, "NULL on failure");
    CHECK(contains(emr_last_error_message(), "locked") && contains(emr_last_error_message(), path) &&
              contains(emr_last_error_message(), "open for writing"),
          "message: %s", emr_last_error_message());
    CHECK(strcmp(emr_status_name(EMR_LOCKED), "locked") == 0, "name");

    /* A reader beside the writer sees every committed block. */
    emr_chain *reader = NULL;
    CHECK_OK(emr_chain_open_readonly(path, &reader));
    snapshot w = snap(writer), r = snap(reader);
    CHECK(same(&w, &r) && r.len == N, "the reader sees the writer's chain");
    uint64_t records_nonce = w.nonce[0] + 1;
    run[N] = block_on(run[N - 1], MINER_B, diff(1), 2, 0, PATIENT_1, records_nonce, "file", 0);
    CHECK_OUTCOME(add(writer, run[N]), EMR_ADD_EXTENDED);
    r = snap(reader);
    w = snap(writer);
    CHECK(same(&w, &r) && r.len == N + 1, "the reader sees the new block");
    CHECK_STATUS(emr_chain_add_block(reader, run[0], NULL, NULL, NULL), EMR_INVALID_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "read-only"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_undo_last_block(reader, NULL), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_chain_add_blocks(reader, (const emr_block *const *)run, 1, NULL, NULL, NULL, NULL, NULL),
                 EMR_INVALID_ARGUMENT);
    emr_check_report report;
    CHECK_OK(emr_chain_check(reader, NULL, &report));
    CHECK(!report.found_bad && report.blocks_ok == N + 1, "the reader checks the chain");

    /* A backup from the reader while the writer holds the chain: it opens,
     * passes check, and is the same chain; it never overwrites. */
    char backup[128];
    path_in(backup, sizeof backup, "backup.db");
    CHECK_OK(emr_chain_backup(reader, backup));
    emr_chain *copy = NULL;
    CHECK_OK(emr_chain_open(backup, NULL, &copy));
    CHECK_OK(emr_chain_check(copy, NULL, &report));
    CHECK(!report.found_bad && report.blocks_ok == N + 1, "the backup passes check");
    snapshot c = snap(copy);
    CHECK(same(&w, &c), "the backup is the same chain");
    emr_chain_free(copy);
    CHECK_STATUS(emr_chain_backup(reader, backup), EMR_IO);
    CHECK(contains(emr_last_error_message(), "already exists"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_backup(writer, backup), EMR_IO);
    CHECK_STATUS(emr_chain_backup(NULL, backup), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_backup(reader, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_backup(reader, ""), EMR_INVALID_ARGUMENT);
    /* Restore: the backup file copied to a chain file's place and opened. */
    char restored[128];
    path_in(restored, sizeof restored, "restored.db");
    FILE *from = fopen(backup, "rb"), *to = fopen(restored, "wb");
    CHECK(from != NULL && to != NULL, "copy the backup");
    if (from != NULL && to != NULL) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, from)) > 0) CHECK(fwrite(buf, 1, n, to) == n, "write the copy");
    }
    if (from != NULL) fclose(from);
    if (to != NULL) fclose(to);
    CHECK_OK(emr_chain_open(restored, NULL, &copy));
    CHECK_OK(emr_chain_check(copy, NULL, &report));
    CHECK(!report.found_bad && report.blocks_ok == N + 1, "the restored chain passes check");
    emr_chain_free(copy);

    /* Free, reopen: the same chain; then the lock is free again. */
    snapshot before = snap(writer);
    emr_chain_free(writer);
    CHECK_OK(emr_chain_open(path, NULL, &writer));
    snapshot after = snap(writer);
    CHECK(same(&before, &after), "reopened: same tip, length, states, histories");
    emr_chain_options got;
    CHECK_OK(emr_chain_get_options(writer, &got, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(got.initial_difficulty.lo == 1 && got.block_time == 1 && got.window == 10, "stored parameters");
    emr_chain_free(writer);
    CHECK_OK(emr_chain_open(path, &got, &writer)); /* the same parameters, explicitly */
    emr_chain_free(writer);
    emr_chain_options other;
    CHECK_OK(emr_chain_options_default(&other, EMR_CHAIN_OPTIONS_VERSION));
    CHECK_STATUS(emr_chain_open(path, &other, &writer), EMR_INVALID_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "other parameters"), "message: %s", emr_last_error_message());
    other.use_stored_params = true;
    CHECK_OK(emr_chain_open(path, &other, &writer));
    after = snap(writer);
    CHECK(same(&before, &after), "use_stored_params");

    /* check: progress, cancel, and no call back into the chain. */
    b = batch(&log);
    CHECK_OK(emr_chain_check(writer, &b, &report));
    CHECK(!report.found_bad && report.blocks_ok == N + 1 && report.bad.status == EMR_OK, "check: all good");
    CHECK(log.calls >= 1 && log.last_done == N + 1 && log.last_total == N + 1 && log.monotonic,
          "check progress %llu/%llu", (unsigned long long)log.last_done, (unsigned long long)log.last_total);
    b = batch(&log);
    log.chain = writer;
    CHECK_OK(emr_chain_check(writer, &b, &report));
    CHECK(log.reentrant == EMR_INVALID_ARGUMENT, "a call back into the chain from check's callback is refused");
    emr_cancel *cancel = NULL;
    CHECK_OK(emr_cancel_new(&cancel));
    b = batch(&log);
    b.cancel = cancel;
    log.cancel = cancel; /* triggered from the callback */
    CHECK_STATUS(emr_chain_check(writer, &b, &report), EMR_CANCELLED);
    CHECK(log.calls >= 1, "cancelled from the callback");
    b = batch(NULL);
    b.cancel = cancel; /* already triggered */
    CHECK_STATUS(emr_chain_check(writer, &b, &report), EMR_CANCELLED);
    emr_cancel_free(cancel);
    CHECK_STATUS(emr_chain_check(writer, NULL, NULL), EMR_NULL_ARGUMENT);
    emr_chain_free(reader);
    emr_chain_free(writer);

    /* Damage: a file that is not a database, a missing directory, a missing
     * file for a reader. */
    char junk[128];
    path_in(junk, sizeof junk, "junk.db");
    write_junk(junk);
    CHECK_STATUS(emr_chain_open(junk, NULL, &writer), EMR_CORRUPT);
    CHECK(contains(emr_last_error_message(), "corrupt"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_open_readonly(junk, &reader), EMR_CORRUPT);
    char missing[160];
    path_in(missing, sizeof missing, "no/such/dir/chain.db");
    CHECK_STATUS(emr_chain_open(missing, NULL, &writer), EMR_IO);
    CHECK(writer == NULL, "NULL on failure");
    path_in(missing, sizeof missing, "missing.db");
    CHECK_STATUS(emr_chain_open_readonly(missing, &reader), EMR_IO);
    CHECK_STATUS(emr_chain_open_readonly(NULL, &reader), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_open_readonly("", &reader), EMR_INVALID_ARGUMENT);

    /* A damaged block in the middle of a file chain. Block 3 carries a
     * record text that appears nowhere else in the file; block 1 is built
     * by hand with a chosen nonce. */
    char damaged[128];
    path_in(damaged, sizeof damaged, "damaged.db");
    CHECK_OK(emr_chain_open(damaged, &o, &writer));
    emr_block *d[6];
    uint64_t nonce = 1;
    for (int h = 0; h < 6; h++) {
        if (h == 1) {
            /* Difficulty 1 accepts any id, so any nonce will do. */
            uint8_t previous[32], id[32] = {0};
            emr_block *draft = NULL;
            block_id(d[0], previous);
            CHECK_OK(emr_block_new(previous, 32, 1, MINER_A, 20, NULL, 0, T0 + 1, diff(1), id, 32,
                                   0x1122334455667788u, &draft));
            CHECK_OK(emr_block_calculate_id(draft, id));
            CHECK_OK(emr_block_new(previous, 32, 1, MINER_A, 20, NULL, 0, T0 + 1, diff(1), id, 32,
                                   0x1122334455667788u, &d[h]));
            emr_block_free(draft);
        } else {
            d[h] = block_on(h ? d[h - 1] : NULL, MINER_A, diff(1), 1, 0, PATIENT_2, nonce++,
                            h == 3 ? "damage-me" : "fine", 0);
        }
        CHECK_OUTCOME(add(writer, d[h]), EMR_ADD_EXTENDED);
    }
    emr_chain_free(writer);
    /* Bytes of the file changed in place: every page carries a checksum, so
     * the change is damage wherever it is met (at open, by check, by the
     * read of that block), never a different answer. */
    int hits = damage(damaged, "damage-me h3", strlen("damage-me h3"));
    CHECK(hits >= 1, "the record's text is in the file (%d)", hits);
    emr_status opened = emr_chain_open_readonly(damaged, &reader);
    if (opened == EMR_OK) {
        memset(&report, 0, sizeof report);
        emr_status checked = emr_chain_check(reader, NULL, &report);
        CHECK(checked == EMR_CORRUPT || (checked == EMR_OK && report.found_bad && report.bad.status == EMR_CORRUPT),
              "check reports the damage: %s, found %d, %s", emr_status_name(checked), report.found_bad,
              emr_status_name(report.bad.status));
        CHECK(contains(emr_last_error_message(), "checksum"), "message: %s", emr_last_error_message());
        note_status(checked);
        /* Reading the damaged block is refused, never silently accepted. */
        emr_block *read = NULL;
        CHECK_STATUS(emr_chain_block_at(reader, 3, &read), EMR_CORRUPT);
        CHECK(read == NULL, "NULL on failure");
        emr_chain_free(reader);
    } else {
        CHECK(opened == EMR_CORRUPT, "refused at open as %s", emr_status_name(opened));
    }
    for (int i = 0; i < 6; i++) emr_block_free(d[i]);
    for (int i = 0; i <= N; i++) emr_block_free(run[i]);
}

/* ------------------------------------------------------------------------ */

typedef struct {
    emr_chain *chain;
    emr_block **blocks;
    int count;
    int failures;
} adder_job;

static void *adder(void *p) {
    adder_job *job = p;
    for (int i = 0; i < job->count; i++) {
        if (emr_chain_add_block(job->chain, job->blocks[i], NULL, NULL, NULL) != EMR_OK) job->failures++;
    }
    return NULL;
}

/* One handle from two threads: calls run one at a time. */
static void test_threads(void) {
    test_context = "threads";
    enum { N = 6 };
    emr_block *run[N];
    make_run(run, N, -1, "threads");
    emr_chain *chain = open_memory();
    adder_job job = {chain, run, N, 0};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, adder, &job) == 0, "pthread_create");
    uint64_t last = 0;
    bool monotonic = true;
    for (int i = 0; i < 200; i++) {
        uint64_t len = 0;
        if (emr_chain_len(chain, &len) != EMR_OK || len < last) monotonic = false;
        last = len;
        if (len == N) break;
    }
    CHECK(pthread_join(thread, NULL) == 0, "pthread_join");
    CHECK(job.failures == 0 && monotonic && chain_len(chain) == N, "concurrent adds and reads");
    for (int i = 0; i < N; i++) emr_block_free(run[i]);
    emr_chain_free(chain);
}

static void test_null_arguments(void) {
    test_context = "null";
    emr_chain *chain = open_memory();
    emr_block *g = block_on(NULL, MINER_A, diff(1), 1, 0, PATIENT_1, 1, "null", 0);
    CHECK_OUTCOME(add(chain, g), EMR_ADD_EXTENDED);
    uint8_t buf[32];
    uint64_t u = 0;
    size_t z = 0;
    emr_difficulty d;
    emr_block *block = NULL;
    emr_record *rec = NULL;
    emr_history *h = NULL;
    emr_check_report report;
    emr_chain_options o;
    CHECK_STATUS(emr_chain_open(NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "`out`"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_open_readonly("x", NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_get_options(NULL, &o, EMR_CHAIN_OPTIONS_VERSION), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_get_options(chain, NULL, EMR_CHAIN_OPTIONS_VERSION), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_add_block(NULL, g, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_add_block(chain, NULL, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "`block`"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_chain_undo_last_block(NULL, &block), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_len(NULL, &u), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_len(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_tip(NULL, &block), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_tip(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_block_at(NULL, 0, &block), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_block_at(chain, 0, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_total_difficulty(NULL, buf), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_total_difficulty(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_next_difficulty(NULL, &d), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_next_difficulty(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_user_state(NULL, PATIENT_1, &u, &u), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_user_state(chain, NULL, &u, &u), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_user_state(chain, PATIENT_1, NULL, &u), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_user_state(chain, PATIENT_1, &u, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_find_record(NULL, buf, NULL, NULL, &rec), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_find_record(chain, NULL, NULL, NULL, &rec), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_find_record(chain, buf, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_history(NULL, PATIENT_1, &h), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_history(chain, NULL, &h), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_history(chain, PATIENT_1, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_doctor_records(NULL, doctor_hash[0], &h), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_doctor_records(chain, NULL, &h), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_doctor_records(chain, doctor_hash[0], NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_history_len(NULL, &z), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_history_next(NULL, &u, buf, &rec), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_history_get(NULL, 0, &u, buf, &rec), EMR_NULL_ARGUMENT);
    CHECK_OK(emr_chain_patient_history(chain, PATIENT_1, &h));
    CHECK_STATUS(emr_history_len(h, NULL), EMR_NULL_ARGUMENT);
    CHECK_OK(emr_history_get(h, 0, NULL, NULL, NULL)); /* every output optional */
    emr_history_free(h);
    CHECK_STATUS(emr_chain_check(NULL, NULL, &report), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_check(chain, NULL, NULL), EMR_NULL_ARGUMENT);
    emr_chain_free(NULL);
    emr_history_free(NULL);
    emr_block_free(g);
    emr_chain_free(chain);
}

/* Every status only a chain returns was returned to C. */
static void test_every_chain_status_seen(void) {
    test_context = "coverage";
    for (size_t i = 0; i < STATUS_COUNT; i++) {
        emr_status s = STATUS_NAMES[i].status;
        if (is_chain_status(s) || s == EMR_CANCELLED || s == EMR_IO) {
            CHECK(status_seen[s], "status %s was never returned to C", STATUS_NAMES[i].name);
        }
    }
    CHECK(EMR_WRONG_HEIGHT == 40 && EMR_UNKNOWN_PARENT == 41 && EMR_TIMESTAMP_TOO_EARLY == 42 &&
              EMR_TIMESTAMP_TOO_LATE == 43 && EMR_NOT_FOUND == 103 && EMR_LOCKED == 106 && EMR_CORRUPT == 107,
          "stable numbers");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/emr-test-chain-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    make_doctors();
    test_options_and_names();
    test_memory_chain();
    test_linkage_errors();
    test_forks();
    test_undo();
    test_add_blocks();
    test_file_chain();
    test_threads();
    test_null_arguments();
    test_every_chain_status_seen();
    for (int i = 0; i < 2; i++) emr_key_free(doctor_key[i]);
    remove_dir();
    return test_finish("test_chain");
}
