/* SPEC 9.3, "no record lost silently", through the C interface:
 * emr_chain_conflicts (an emr_conflicts snapshot: emr_conflicts_len,
 * emr_conflicts_get, emr_conflicts_free) and emr_chain_dismiss_conflict.
 *
 * The two-site story, in process: sites C (a chain file) and D (in
 * memory) share their parameters, salt and genesis. A doctor signs a
 * record with nonce 1 at C, which mines it; before the sites sync, the
 * same doctor signs another record with nonce 1 at D, which mines it and
 * one more block. C takes D's two blocks in one emr_chain_add_blocks call
 * and reorganizes: C's record is listed as a conflict, with D's record and
 * D's first block in its place; it is not pending, and submitting it again
 * is EMR_INVALID_NONCE. A read-only handle lists it too and may not
 * dismiss it; dismissing gives dismissed = true, then false, and the list
 * is empty (an earlier snapshot is unchanged). Then every NULL and bad
 * argument of the new functions.
 *
 * Usage: test_conflicts */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "common.h"

#define T0 UINT64_C(1700000000)

static const uint8_t MINER_C[20] = {0xc0, 0x01};
static const uint8_t MINER_D[20] = {0xd0, 0x02};
static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74};
static const uint8_t SALT[EMR_SALT_LEN] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};

static char dir[64];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static void remove_dir(void) {
    const char *names[] = {"site-c.db", "site-c.db-wal", "site-c.db-shm", "site-c.db.lock"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* A site's chain: version-3 options, difficulty 1, the shared salt; at
 * `path`, or in memory for NULL. */
static emr_chain *open_site(const char *path) {
    emr_chain_options o;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    o.has_salt = true;
    memcpy(o.salt, SALT, EMR_SALT_LEN);
    CHECK_OK(emr_chain_open(path, &o, &chain));
    if (chain == NULL) exit(1);
    return chain;
}

static emr_record *sign(const emr_key *doctor, const char *text, uint64_t nonce) {
    emr_record *r = NULL;
    CHECK_OK(emr_record_sign(doctor, PATIENT, 20, text, strlen(text), nonce, &r));
    if (r == NULL) exit(1);
    return r;
}

/* Mines a block on `parent` (NULL: a genesis) holding `records`. */
static emr_block *mine_on(const emr_block *parent, const uint8_t *miner, emr_record *const *records, size_t nr,
                          uint64_t t) {
    uint8_t previous[32] = {0};
    uint64_t height = 0;
    if (parent != NULL) {
        CHECK_OK(emr_block_id(parent, previous));
        CHECK_OK(emr_block_height(parent, &height));
        height++;
    }
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_difficulty diff = {1, 0};
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    CHECK_OK(emr_mine_block(previous, height, miner, (const emr_record *const *)records, nr, t, diff, &opts,
                            &outcome, &block, NULL));
    CHECK(outcome == EMR_MINE_FOUND && block != NULL, "mined");
    if (block == NULL) exit(1);
    return block;
}

/* Mines the site's next block from its pool and adds it. */
static emr_block *mine_next(emr_chain *chain, const uint8_t *miner, uint64_t t) {
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_mine_outcome outcome = 0;
    emr_add_outcome added = EMR_ADD_NONE;
    emr_block *block = NULL;
    CHECK_OK(emr_chain_mine_next(chain, miner, &t, &opts, &outcome, &block, &added));
    CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED && block != NULL, "mined and added: %s, %s",
          emr_mine_outcome_name(outcome), emr_add_outcome_name(added));
    if (block == NULL) exit(1);
    return block;
}

static size_t conflict_count(const emr_chain *chain) {
    emr_conflicts *list = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_conflicts(chain, &list));
    CHECK_OK(emr_conflicts_len(list, &len));
    emr_conflicts_free(list);
    return len;
}

static size_t pending_count(const emr_chain *chain) {
    emr_pending *pending = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_pending(chain, &pending));
    CHECK_OK(emr_pending_len(pending, &len, NULL));
    emr_pending_free(pending);
    return len;
}

static void tip_id(const emr_chain *chain, uint8_t id[32]) {
    emr_block *tip = NULL;
    memset(id, 0, 32);
    CHECK_OK(emr_chain_tip(chain, &tip));
    if (tip != NULL) CHECK_OK(emr_block_id(tip, id));
    emr_block_free(tip);
}

static void test_two_sites(void) {
    test_context = "two sites";
    char path[128];
    path_in(path, sizeof path, "site-c.db");
    emr_chain *c = open_site(path), *d = open_site(NULL);
    uint8_t id_c[32], id_d[32];
    CHECK_OK(emr_chain_id(c, id_c));
    CHECK_OK(emr_chain_id(d, id_d));
    CHECK(memcmp(id_c, id_d, 32) == 0, "one chain at two sites: the same chain id");
    CHECK(conflict_count(c) == 0, "a new chain has no conflict");

    /* The shared genesis. */
    emr_block *genesis = mine_on(NULL, MINER_C, NULL, 0, T0);
    emr_add_outcome added = EMR_ADD_NONE;
    CHECK_OK(emr_chain_add_block(c, genesis, NULL, &added, NULL));
    CHECK(added == EMR_ADD_EXTENDED, "genesis at C");
    CHECK_OK(emr_chain_add_block(d, genesis, NULL, &added, NULL));
    CHECK(added == EMR_ADD_EXTENDED, "genesis at D");

    /* The doctor signs nonce 1 at each site, before they sync. */
    emr_key *doctor = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctor));
    if (doctor == NULL) exit(1);
    emr_record *at_c = sign(doctor, "Insulin glargine 10 units", 1);
    emr_record *at_d = sign(doctor, "Metformin 500mg", 1);
    uint8_t txid_c[32], txid_d[32];
    CHECK_OK(emr_record_txid(at_c, txid_c));
    CHECK_OK(emr_record_txid(at_d, txid_d));
    CHECK(memcmp(txid_c, txid_d, 32) != 0, "two records");

    emr_submit_outcome submitted = 0;
    CHECK_OK(emr_chain_submit(c, at_c, &submitted));
    CHECK(submitted == EMR_SUBMIT_READY, "C's record is ready at C");
    emr_block *c1 = mine_next(c, MINER_C, T0 + 1);
    size_t n = 0;
    CHECK_OK(emr_block_record_count(c1, &n));
    CHECK(n == 1, "C mines its record");
    CHECK(pending_count(c) == 0, "and its pool is empty");

    CHECK_OK(emr_chain_submit(d, at_d, &submitted));
    CHECK(submitted == EMR_SUBMIT_READY, "D's record is ready at D");
    emr_block *d1 = mine_next(d, MINER_D, T0 + 2);
    emr_block *d2 = mine_next(d, MINER_D, T0 + 3);
    uint8_t d1_id[32], d2_id[32];
    CHECK_OK(emr_block_id(d1, d1_id));
    CHECK_OK(emr_block_id(d2, d2_id));
    CHECK_OK(emr_block_record_count(d1, &n));
    CHECK(n == 1, "D's first block carries D's record");
    CHECK(conflict_count(d) == 0, "D drops nothing");

    /* The sites sync: C takes D's heavier branch in one batch. */
    const emr_block *batch[2] = {d1, d2};
    emr_add_outcome outcomes[2] = {EMR_ADD_NONE, EMR_ADD_NONE};
    size_t failed_index = 77;
    CHECK_OK(emr_chain_add_blocks(c, batch, 2, NULL, NULL, outcomes, &failed_index, NULL));
    CHECK(outcomes[0] == EMR_ADD_SIDE_BRANCH && outcomes[1] == EMR_ADD_REORGANIZED, "outcomes %s, %s",
          emr_add_outcome_name(outcomes[0]), emr_add_outcome_name(outcomes[1]));
    CHECK(failed_index == 77, "nothing failed");
    uint8_t tip[32];
    tip_id(c, tip);
    CHECK(memcmp(tip, d2_id, 32) == 0, "C's tip is D's");

    /* C's record is a conflict, not lost silently. */
    emr_conflicts *list = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_conflicts(c, &list));
    CHECK_OK(emr_conflicts_len(list, &len));
    CHECK(len == 1, "one conflict, not %zu", len);
    emr_record *dropped = NULL;
    uint8_t replaced_by[32] = {0}, block_id[32] = {0}, dropped_txid[32] = {0};
    uint64_t height = 99, nonce = 99;
    CHECK_OK(emr_conflicts_get(list, 0, &dropped, replaced_by, block_id, &height));
    CHECK(dropped != NULL, "the dropped record");
    if (dropped != NULL) {
        CHECK_OK(emr_record_txid(dropped, dropped_txid));
        CHECK_OK(emr_record_nonce(dropped, &nonce));
    }
    CHECK(memcmp(dropped_txid, txid_c, 32) == 0 && nonce == 1, "it is C's record");
    CHECK(memcmp(replaced_by, txid_d, 32) == 0, "replaced by D's record");
    CHECK(memcmp(block_id, d1_id, 32) == 0, "in D's first block");
    CHECK(height == 1, "at height 1, not %" PRIu64, height);
    emr_record_free(dropped);

    CHECK(pending_count(c) == 0, "it is not pending: its nonce is taken");
    CHECK_STATUS(emr_chain_submit(c, at_c, &submitted), EMR_INVALID_NONCE);
    CHECK(conflict_count(c) == 1, "a refused submit changes nothing");

    /* A reader beside the writer sees it, and may not dismiss it. */
    emr_chain *reader = NULL;
    CHECK_OK(emr_chain_open_readonly(path, &reader));
    CHECK(reader != NULL && conflict_count(reader) == 1, "the reader lists it");
    bool dismissed = true;
    CHECK_STATUS(emr_chain_dismiss_conflict(reader, txid_c, &dismissed), EMR_INVALID_ARGUMENT);
    CHECK(dismissed == true, "dismissed not written on failure");
    emr_chain_free(reader);

    /* Dismissed once; a second time finds nothing. */
    dismissed = false;
    CHECK_OK(emr_chain_dismiss_conflict(c, txid_c, &dismissed));
    CHECK(dismissed == true, "dismissed");
    CHECK_OK(emr_chain_dismiss_conflict(c, txid_c, &dismissed));
    CHECK(dismissed == false, "nothing left to dismiss");
    CHECK_OK(emr_chain_dismiss_conflict(c, txid_d, NULL)); /* dismissed not wanted */
    CHECK(conflict_count(c) == 0, "the list is empty after dismissal");
    len = 99;
    CHECK_OK(emr_conflicts_len(list, &len));
    CHECK(len == 1, "an earlier snapshot is unchanged");
    emr_chain_free(c);
    c = NULL;
    CHECK_OK(emr_chain_open(path, NULL, &c));
    CHECK(c != NULL && conflict_count(c) == 0, "the dismissal is durable");

    /* The snapshot outlives its chain. */
    emr_chain_free(c);
    emr_chain_free(d);
    len = 99;
    CHECK_OK(emr_conflicts_len(list, &len));
    CHECK_OK(emr_conflicts_get(list, 0, NULL, replaced_by, NULL, NULL));
    CHECK(len == 1 && memcmp(replaced_by, txid_d, 32) == 0, "a snapshot outlives its chain");
    emr_conflicts_free(list);

    emr_block_free(genesis);
    emr_block_free(c1);
    emr_block_free(d1);
    emr_block_free(d2);
    emr_record_free(at_c);
    emr_record_free(at_d);
    emr_key_free(doctor);
}

/* A pending record overtaken by a block from elsewhere with another
 * record of its (doctor, nonce) is a conflict too (no reorganisation);
 * the list keeps them oldest first. */
static void test_pending_overtaken(void) {
    test_context = "pending overtaken";
    emr_chain *chain = open_site(NULL);
    emr_key *doctor = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &doctor));
    if (doctor == NULL) exit(1);
    emr_block *genesis = mine_on(NULL, MINER_C, NULL, 0, T0);
    CHECK_OK(emr_chain_add_block(chain, genesis, NULL, NULL, NULL));
    emr_record *pending1 = sign(doctor, "Amoxicillin 500mg", 1), *pending2 = sign(doctor, "Salbutamol inhaler", 2);
    emr_record *other1 = sign(doctor, "Codeine 30mg", 1), *other2 = sign(doctor, "Ibuprofen 400mg", 2);
    CHECK_OK(emr_chain_submit(chain, pending1, NULL));
    CHECK_OK(emr_chain_submit(chain, pending2, NULL));
    emr_block *b1 = mine_on(genesis, MINER_D, &other1, 1, T0 + 1);
    emr_block *b2 = mine_on(b1, MINER_D, &other2, 1, T0 + 2);
    emr_add_outcome added = EMR_ADD_NONE;
    CHECK_OK(emr_chain_add_block(chain, b1, NULL, &added, NULL));
    CHECK_OK(emr_chain_add_block(chain, b2, NULL, &added, NULL));
    CHECK(added == EMR_ADD_EXTENDED, "extended");

    emr_conflicts *list = NULL;
    size_t len = 0;
    CHECK_OK(emr_chain_conflicts(chain, &list));
    CHECK_OK(emr_conflicts_len(list, &len));
    CHECK(len == 2, "two conflicts, not %zu", len);
    const emr_record *want[2] = {pending1, pending2}, *by[2] = {other1, other2};
    const emr_block *in[2] = {b1, b2};
    for (size_t i = 0; i < 2 && i < len; i++) {
        emr_record *rec = NULL;
        uint8_t txid[32] = {0}, want_txid[32], by_txid[32], replaced_by[32], block_id[32], want_block[32];
        uint64_t height = 0;
        CHECK_OK(emr_conflicts_get(list, i, &rec, replaced_by, block_id, &height));
        if (rec != NULL) CHECK_OK(emr_record_txid(rec, txid));
        CHECK_OK(emr_record_txid(want[i], want_txid));
        CHECK_OK(emr_record_txid(by[i], by_txid));
        CHECK_OK(emr_block_id(in[i], want_block));
        CHECK(memcmp(txid, want_txid, 32) == 0 && memcmp(replaced_by, by_txid, 32) == 0 &&
                  memcmp(block_id, want_block, 32) == 0 && height == i + 1,
              "conflict %zu: the pending record, the one in block %zu", i, i + 1);
        emr_record_free(rec);
    }
    CHECK(pending_count(chain) == 0, "nothing pending");
    emr_conflicts_free(list);
    emr_block_free(genesis);
    emr_block_free(b1);
    emr_block_free(b2);
    emr_record_free(pending1);
    emr_record_free(pending2);
    emr_record_free(other1);
    emr_record_free(other2);
    emr_key_free(doctor);
    emr_chain_free(chain);
}

static void test_null_and_bad_arguments(void) {
    test_context = "NULL and bad arguments";
    emr_chain *chain = open_site(NULL);
    const uint8_t txid[32] = {0x42};

    emr_conflicts *list = (emr_conflicts *)1;
    CHECK_STATUS(emr_chain_conflicts(NULL, &list), EMR_NULL_ARGUMENT);
    CHECK(list == NULL, "out is NULL on failure");
    CHECK_STATUS(emr_chain_conflicts(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_OK(emr_chain_conflicts(chain, &list));

    size_t len = 99;
    CHECK_STATUS(emr_conflicts_len(NULL, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_conflicts_len(list, NULL), EMR_NULL_ARGUMENT);
    CHECK(len == 99, "len not written on failure");
    CHECK_OK(emr_conflicts_len(list, &len));
    CHECK(len == 0, "empty");

    /* Past the end: EMR_NOT_FOUND, as emr_pending_get and emr_grants_get;
     * the record out is NULL, nothing else written. */
    emr_record *rec = (emr_record *)1;
    uint8_t replaced_by[32], block_id[32], untouched[32];
    uint64_t height = 77;
    memset(replaced_by, 0xab, 32);
    memset(block_id, 0xab, 32);
    memset(untouched, 0xab, 32);
    CHECK_STATUS(emr_conflicts_get(list, 0, &rec, replaced_by, block_id, &height), EMR_NOT_FOUND);
    CHECK(rec == NULL, "record NULL past the end");
    CHECK(memcmp(replaced_by, untouched, 32) == 0 && memcmp(block_id, untouched, 32) == 0 && height == 77,
          "nothing else written past the end");
    rec = (emr_record *)1;
    CHECK_STATUS(emr_conflicts_get(list, SIZE_MAX, &rec, NULL, NULL, NULL), EMR_NOT_FOUND);
    CHECK(rec == NULL, "record NULL at SIZE_MAX");
    CHECK_STATUS(emr_conflicts_get(list, 0, NULL, NULL, NULL, NULL), EMR_NOT_FOUND);
    rec = (emr_record *)1;
    CHECK_STATUS(emr_conflicts_get(NULL, 0, &rec, replaced_by, block_id, &height), EMR_NULL_ARGUMENT);
    CHECK(rec == NULL, "record NULL on a NULL snapshot");
    emr_conflicts_free(list);
    emr_conflicts_free(NULL);

    bool dismissed = true;
    CHECK_STATUS(emr_chain_dismiss_conflict(NULL, txid, &dismissed), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_dismiss_conflict(chain, NULL, &dismissed), EMR_NULL_ARGUMENT);
    CHECK(dismissed == true, "dismissed not written on failure");
    CHECK_OK(emr_chain_dismiss_conflict(chain, txid, &dismissed));
    CHECK(dismissed == false, "no conflict has that txid");
    CHECK_OK(emr_chain_dismiss_conflict(chain, txid, NULL));
    emr_chain_free(chain);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/emr-test-conflicts-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    test_two_sites();
    test_pending_overtaken();
    test_null_and_bad_arguments();
    remove_dir();
    return test_finish("test_conflicts");
}
