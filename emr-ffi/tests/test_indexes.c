/* The header's one rule for an index past the end ("Indexes" at the top of
 * emr.h): every getter that takes an index answers index == its length and
 * index == SIZE_MAX with EMR_NOT_FOUND, writes nothing, and sets a T **out
 * to NULL. The sweep covers each of them, with a non-empty list where one
 * can be made (the element at length - 1 is EMR_OK) and an empty one:
 * emr_block_record, emr_block_entry, emr_user_states_entry_at,
 * emr_history_get, emr_chain_authority, emr_chain_pending_entry,
 * emr_pending_get, emr_grants_get, emr_conflicts_get.
 *
 * Then the prescription sizes the header states: a sealed record's text is
 * over EMR_MAX_PLAIN_PRESCRIPTION_BYTES (a buffer of that size is
 * EMR_BUFFER_TOO_SMALL) and within EMR_MAX_PRESCRIPTION_BYTES, with the
 * length emr.h's formula gives; the opened text fits
 * EMR_MAX_PLAIN_PRESCRIPTION_BYTES.
 *
 * Usage: test_indexes */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common.h"

/* A non-NULL pointer no getter may write through or keep: a T **out must
 * come back NULL. */
static char sentinel;
#define SENTINEL(type) ((type *)(void *)&sentinel)

typedef struct {
    uint8_t der[128];
    size_t len;
} spki;

static emr_key *new_key(spki *public_key) {
    emr_key *key = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &key));
    if (key == NULL) exit(1);
    public_key->len = sizeof public_key->der;
    CHECK_OK(emr_key_public_key_der(key, public_key->der, &public_key->len));
    return key;
}

/* Mines the chain's next block from its pool at time t and adds it. */
static emr_block *mine_next(emr_chain *chain, uint64_t t) {
    static const uint8_t miner[20] = {0x6d, 0x69};
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

/* The two indexes past the end of a list of `len` elements. */
#define PAST_COUNT 2
static size_t past(size_t len, int i) {
    return i == 0 ? len : SIZE_MAX;
}

static void sweep_block(const emr_block *block, const char *which) {
    size_t records = 99, entries = 99;
    CHECK_OK(emr_block_record_count(block, &records));
    CHECK_OK(emr_block_entry_count(block, &entries));
    if (records > 0) {
        emr_record *r = NULL;
        CHECK_OK(emr_block_record(block, records - 1, &r));
        CHECK(r != NULL, "%s: the last record", which);
        emr_record_free(r);
    }
    if (entries > 0) {
        emr_entry *e = NULL;
        CHECK_OK(emr_block_entry(block, entries - 1, &e));
        CHECK(e != NULL, "%s: the last entry", which);
        emr_entry_free(e);
    }
    for (int i = 0; i < PAST_COUNT; i++) {
        emr_record *r = SENTINEL(emr_record);
        CHECK_STATUS(emr_block_record(block, past(records, i), &r), EMR_NOT_FOUND);
        CHECK(r == NULL, "%s: emr_block_record sets out to NULL", which);
        emr_entry *e = SENTINEL(emr_entry);
        CHECK_STATUS(emr_block_entry(block, past(entries, i), &e), EMR_NOT_FOUND);
        CHECK(e == NULL, "%s: emr_block_entry sets out to NULL", which);
    }
}

static void sweep_pending_entries(const emr_chain *chain, size_t expected) {
    size_t count = 99;
    CHECK_OK(emr_chain_pending_entry_count(chain, &count));
    CHECK(count == expected, "pending entries: %zu, expected %zu", count, expected);
    if (count > 0) {
        emr_entry *e = NULL;
        CHECK_OK(emr_chain_pending_entry(chain, count - 1, &e));
        CHECK(e != NULL, "the last pending entry");
        emr_entry_free(e);
    }
    for (int i = 0; i < PAST_COUNT; i++) {
        emr_entry *e = SENTINEL(emr_entry);
        CHECK_STATUS(emr_chain_pending_entry(chain, past(count, i), &e), EMR_NOT_FOUND);
        CHECK(e == NULL, "emr_chain_pending_entry sets out to NULL");
    }
}

static void sweep_pending(const emr_chain *chain, size_t expected) {
    emr_pending *pending = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_pending(chain, &pending));
    CHECK_OK(emr_pending_len(pending, &len, NULL));
    CHECK(len == expected, "pending records: %zu, expected %zu", len, expected);
    if (len > 0) {
        emr_record *r = NULL;
        CHECK_OK(emr_pending_get(pending, len - 1, &r));
        CHECK(r != NULL, "the last pending record");
        emr_record_free(r);
    }
    for (int i = 0; i < PAST_COUNT; i++) {
        emr_record *r = SENTINEL(emr_record);
        CHECK_STATUS(emr_pending_get(pending, past(len, i), &r), EMR_NOT_FOUND);
        CHECK(r == NULL, "emr_pending_get sets out to NULL");
    }
    emr_pending_free(pending);
}

static void sweep_grants(const emr_chain *chain, const uint8_t *dr_hash, size_t expected) {
    emr_grants *grants = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_grants(chain, dr_hash, &grants));
    CHECK_OK(emr_grants_len(grants, &len));
    CHECK(len == expected, "grants: %zu, expected %zu", len, expected);
    if (len > 0) {
        emr_entry *g = NULL;
        CHECK_OK(emr_grants_get(grants, len - 1, &g, NULL, NULL, NULL));
        CHECK(g != NULL, "the last grant");
        emr_entry_free(g);
    }
    for (int i = 0; i < PAST_COUNT; i++) {
        emr_entry *g = SENTINEL(emr_entry);
        uint64_t height = 77, effective = 77;
        bool revoked = true;
        CHECK_STATUS(emr_grants_get(grants, past(len, i), &g, &height, &revoked, &effective), EMR_NOT_FOUND);
        CHECK(g == NULL && height == 77 && revoked && effective == 77,
              "emr_grants_get: grant NULL, nothing else written");
    }
    emr_grants_free(grants);
}

static void sweep_conflicts(const emr_chain *chain) {
    emr_conflicts *list = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_conflicts(chain, &list));
    CHECK_OK(emr_conflicts_len(list, &len));
    CHECK(len == 0, "no conflicts: %zu", len);
    for (int i = 0; i < PAST_COUNT; i++) {
        emr_record *r = SENTINEL(emr_record);
        uint8_t replaced_by[32], block_id[32], zero[32] = {0};
        memset(replaced_by, 0, sizeof replaced_by);
        memset(block_id, 0, sizeof block_id);
        uint64_t height = 77;
        CHECK_STATUS(emr_conflicts_get(list, past(len, i), &r, replaced_by, block_id, &height), EMR_NOT_FOUND);
        CHECK(r == NULL && height == 77 && memcmp(replaced_by, zero, 32) == 0 && memcmp(block_id, zero, 32) == 0,
              "emr_conflicts_get: record NULL, nothing else written");
    }
    emr_conflicts_free(list);
}

static void sweep_history(const emr_chain *chain, const uint8_t *patient, size_t expected) {
    emr_history *history = NULL;
    size_t len = 99;
    CHECK_OK(emr_chain_patient_history(chain, patient, &history));
    CHECK_OK(emr_history_len(history, &len));
    CHECK(len == expected, "history: %zu, expected %zu", len, expected);
    if (len > 0) {
        emr_record *r = NULL;
        uint64_t height = 0;
        CHECK_OK(emr_history_get(history, len - 1, &height, NULL, &r));
        CHECK(r != NULL && height > 0, "the last history record");
        emr_record_free(r);
    }
    for (int i = 0; i < PAST_COUNT; i++) {
        emr_record *r = SENTINEL(emr_record);
        uint64_t height = 77;
        uint8_t block_id[32], zero[32] = {0};
        memset(block_id, 0, sizeof block_id);
        CHECK_STATUS(emr_history_get(history, past(len, i), &height, block_id, &r), EMR_NOT_FOUND);
        CHECK(r == NULL && height == 77 && memcmp(block_id, zero, 32) == 0,
              "emr_history_get: record NULL, nothing else written");
        /* Without outputs too. */
        CHECK_STATUS(emr_history_get(history, past(len, i), NULL, NULL, NULL), EMR_NOT_FOUND);
    }
    emr_history_free(history);
}

static void sweep_authorities(const emr_chain *chain, size_t expected) {
    size_t count = 99;
    CHECK_OK(emr_chain_authority_count(chain, &count));
    CHECK(count == expected, "authorities: %zu, expected %zu", count, expected);
    if (count > 0) {
        uint8_t buf[128];
        size_t len = sizeof buf;
        CHECK_OK(emr_chain_authority(chain, count - 1, buf, &len));
        CHECK(len > 0 && len <= sizeof buf, "the last authority: %zu bytes", len);
    }
    for (int i = 0; i < PAST_COUNT; i++) {
        uint8_t buf[128];
        memset(buf, 0xa5, sizeof buf);
        size_t len = sizeof buf;
        CHECK_STATUS(emr_chain_authority(chain, past(count, i), buf, &len), EMR_NOT_FOUND);
        bool untouched = len == sizeof buf;
        for (size_t k = 0; k < sizeof buf; k++) untouched = untouched && buf[k] == 0xa5;
        CHECK(untouched, "emr_chain_authority writes neither buf nor len");
        /* A size query past the end is no different. */
        len = 0;
        CHECK_STATUS(emr_chain_authority(chain, past(count, i), NULL, &len), EMR_NOT_FOUND);
        CHECK(len == 0, "emr_chain_authority: no size for an index past the end");
    }
}

static void sweep_user_states(const emr_user_states *states, size_t expected) {
    size_t len = 99;
    CHECK_OK(emr_user_states_len(states, &len));
    CHECK(len == expected, "user states: %zu, expected %zu", len, expected);
    uint8_t hash[20];
    uint64_t balance = 0, nonce = 0;
    if (len > 0) CHECK_OK(emr_user_states_entry_at(states, len - 1, hash, &balance, &nonce));
    for (int i = 0; i < PAST_COUNT; i++) {
        uint8_t h[20];
        memset(h, 0xa5, sizeof h);
        balance = 77;
        nonce = 77;
        CHECK_STATUS(emr_user_states_entry_at(states, past(len, i), h, &balance, &nonce), EMR_NOT_FOUND);
        bool untouched = balance == 77 && nonce == 77;
        for (size_t k = 0; k < sizeof h; k++) untouched = untouched && h[k] == 0xa5;
        CHECK(untouched, "emr_user_states_entry_at writes nothing");
    }
}

static void test_sweep(void) {
    test_context = "sweep";
    spki authority_der, doctor_der, patient_der;
    emr_key *authority = new_key(&authority_der);
    emr_key *doctor = new_key(&doctor_der);
    emr_key *patient = new_key(&patient_der);
    uint8_t dr_hash[20], patient_hash[20];
    CHECK_OK(emr_key_public_key_hash(doctor, dr_hash));
    CHECK_OK(emr_key_public_key_hash(patient, patient_hash));

    /* Empty lists first: a chain without authorities or blocks. */
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    emr_chain *open_chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &open_chain));
    if (open_chain == NULL) exit(1);
    sweep_authorities(open_chain, 0);
    sweep_pending_entries(open_chain, 0);
    sweep_pending(open_chain, 0);
    sweep_grants(open_chain, dr_hash, 0);
    sweep_history(open_chain, patient_hash, 0);
    sweep_conflicts(open_chain);
    emr_chain_free(open_chain);

    /* A chain with one authority. */
    const uint8_t *keys[1] = {authority_der.der};
    size_t lens[1] = {authority_der.len};
    o.authorities = keys;
    o.authority_lens = lens;
    o.authority_count = 1;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) exit(1);
    sweep_authorities(chain, 1);

    /* One pending entry: the doctor's grant. */
    uint8_t chain_id[32];
    CHECK_OK(emr_chain_id(chain, chain_id));
    emr_entry *grant = NULL;
    CHECK_OK(emr_grant_sign(authority, chain_id, doctor_der.der, doctor_der.len, "MD-1", 4, 0, UINT64_MAX, &grant));
    emr_submit_outcome so = 0;
    CHECK_OK(emr_chain_submit_entry(chain, grant, &so));
    CHECK(so == EMR_SUBMIT_READY, "grant pooled: %s", emr_submit_outcome_name(so));
    sweep_pending_entries(chain, 1);
    sweep_grants(chain, dr_hash, 0);

    /* Block 0 carries it: one entry, no record. */
    uint64_t t = (uint64_t)time(NULL) - 1000;
    emr_block *b0 = mine_next(chain, t);
    sweep_block(b0, "block 0");
    sweep_pending_entries(chain, 0);
    sweep_grants(chain, dr_hash, 1);

    /* One pending record, then block 1 carries it: one record, no entry. */
    emr_record *record = NULL;
    CHECK_OK(emr_record_sign(doctor, patient_hash, 20, "rest", 4, 1, &record));
    CHECK_OK(emr_chain_submit(chain, record, &so));
    CHECK(so == EMR_SUBMIT_READY, "record pooled: %s", emr_submit_outcome_name(so));
    sweep_pending(chain, 1);
    sweep_history(chain, patient_hash, 0);
    emr_block *b1 = mine_next(chain, t + 12);
    sweep_block(b1, "block 1");
    sweep_pending(chain, 0);
    sweep_history(chain, patient_hash, 1);
    sweep_conflicts(chain);

    /* User states: the block's changes, and an empty map. */
    emr_user_states *states = NULL;
    CHECK_OK(emr_user_states_new(&states));
    sweep_user_states(states, 0);
    CHECK_OK(emr_user_states_set(states, dr_hash, 0, 1));
    CHECK_OK(emr_user_states_set(states, patient_hash, 5, 0));
    sweep_user_states(states, 2);
    emr_user_states_free(states);

    emr_block_free(b1);
    emr_block_free(b0);
    emr_record_free(record);
    emr_entry_free(grant);
    emr_chain_free(chain);
    emr_key_free(patient);
    emr_key_free(doctor);
    emr_key_free(authority);
}

/* 8 + ceil(4 (2 + 102 n + t + 16) / 3): the sealed text's length (emr.h,
 * EMR_MAX_PRESCRIPTION_BYTES). */
static size_t sealed_len(size_t recipients, size_t text) {
    size_t envelope = 2 + 102 * recipients + text + 16;
    return 8 + (4 * envelope + 2) / 3;
}

static void test_prescription_sizes(void) {
    test_context = "prescription sizes";
    CHECK(EMR_MAX_PLAIN_PRESCRIPTION_BYTES == 200 && EMR_MAX_PRESCRIPTION_BYTES == 1024, "the constants");
    spki doctor_der, patient_der, reader_der;
    emr_key *doctor = new_key(&doctor_der);
    emr_key *patient = new_key(&patient_der);
    emr_key *reader = new_key(&reader_der);
    uint8_t patient_hash[20];
    CHECK_OK(emr_key_public_key_hash(patient, patient_hash));
    const uint8_t *recipients[2] = {patient_der.der, reader_der.der};
    size_t lens[2] = {patient_der.len, reader_der.len};

    static const size_t texts[] = {32, EMR_MAX_PLAIN_PRESCRIPTION_BYTES};
    static const size_t reader_counts[] = {1, 2};
    char text[EMR_MAX_PLAIN_PRESCRIPTION_BYTES + 1];
    memset(text, 'x', sizeof text);
    for (size_t ti = 0; ti < sizeof texts / sizeof texts[0]; ti++) {
        for (size_t ri = 0; ri < sizeof reader_counts / sizeof reader_counts[0]; ri++) {
            size_t t = texts[ti], nr = reader_counts[ri];
            emr_record *sealed = NULL;
            CHECK_OK(emr_record_sign_sealed(doctor, patient_hash, 20, text, t, 1, recipients, lens, nr, true,
                                            &sealed));
            if (sealed == NULL) continue;
            /* The doctor is added: nr + 1 recipients. */
            size_t want = sealed_len(nr + 1, t);
            uint8_t small[EMR_MAX_PLAIN_PRESCRIPTION_BYTES];
            size_t len = sizeof small;
            CHECK_STATUS(emr_record_prescription(sealed, small, &len), EMR_BUFFER_TOO_SMALL);
            CHECK(len == want, "%zu bytes to %zu recipients: %zu, expected %zu", t, nr + 1, len, want);
            uint8_t big[EMR_MAX_PRESCRIPTION_BYTES];
            len = sizeof big;
            CHECK_OK(emr_record_prescription(sealed, big, &len));
            CHECK(len == want && len <= EMR_MAX_PRESCRIPTION_BYTES && memcmp(big, "sealed1:", 8) == 0,
                  "a buffer of EMR_MAX_PRESCRIPTION_BYTES holds it: %zu", len);
            uint8_t plain[EMR_MAX_PLAIN_PRESCRIPTION_BYTES];
            len = sizeof plain;
            CHECK_OK(emr_record_open(sealed, nr == 2 ? reader : patient, plain, &len));
            CHECK(len == t && memcmp(plain, text, t) == 0, "opened into EMR_MAX_PLAIN_PRESCRIPTION_BYTES");
            emr_record_free(sealed);
        }
    }
    CHECK(sealed_len(3, 32) == 483, "emr.h's example: 32 bytes to 3 recipients are 483");
    /* Plain text over EMR_MAX_PLAIN_PRESCRIPTION_BYTES is refused. */
    emr_record *r = SENTINEL(emr_record);
    CHECK_STATUS(emr_record_sign(doctor, patient_hash, 20, text, EMR_MAX_PLAIN_PRESCRIPTION_BYTES + 1, 1, &r),
                 EMR_INVALID_PRESCRIPTION);
    CHECK(r == NULL, "no record");
    r = SENTINEL(emr_record);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient_hash, 20, text, EMR_MAX_PLAIN_PRESCRIPTION_BYTES + 1, 1,
                                        recipients, lens, 1, true, &r),
                 EMR_INVALID_PRESCRIPTION);
    CHECK(r == NULL, "no sealed record");
    emr_key_free(reader);
    emr_key_free(patient);
    emr_key_free(doctor);
}

int main(void) {
    test_sweep();
    test_prescription_sizes();
    return test_finish("test_indexes");
}
