/* Every vector of records.json and blocks.json through the C interface.
 *
 * Usage: test_vectors DIR, where DIR holds records.txt and blocks.txt made by
 * vectors_to_text.py (format documented there). */
#define _POSIX_C_SOURCE 200809L

#include "common.h"
#include "vectors.h"

/* Reads a variable-size value: size query, then the bytes. */
#define GET_BYTES(call_prefix, object, out_bytes)                                                  \
    do {                                                                                           \
        size_t len_ = 0;                                                                           \
        (out_bytes).data = NULL;                                                                   \
        (out_bytes).len = 0;                                                                       \
        emr_status s_ = call_prefix(object, NULL, &len_);                                          \
        CHECK(s_ == EMR_BUFFER_TOO_SMALL || (s_ == EMR_OK && len_ == 0), "size query of %s: %s",   \
              #call_prefix, emr_status_name(s_));                                                  \
        (out_bytes).data = malloc(len_ + 1);                                                       \
        (out_bytes).len = len_;                                                                    \
        CHECK_OK(call_prefix(object, (out_bytes).data, &(out_bytes).len));                         \
        CHECK((out_bytes).len == len_, "%s wrote %zu bytes, announced %zu", #call_prefix,          \
              (out_bytes).len, len_);                                                              \
    } while (0)

static void check_record_accessors(const emr_record *rec, const vec_record *v) {
    uint8_t h20[20], h32[32];
    uint64_t nonce = 0;
    bytes_t b;
    CHECK_OK(emr_record_dr_hash(rec, h20));
    CHECK(bytes_eq(h20, 20, v->dr_hash.data, v->dr_hash.len), "dr_hash accessor");
    CHECK_OK(emr_record_patient_hash(rec, h20));
    CHECK(bytes_eq(h20, 20, v->patient_hash.data, v->patient_hash.len), "patient_hash accessor");
    GET_BYTES(emr_record_dr_public_key, rec, b);
    CHECK(bytes_eq(b.data, b.len, v->dr_public_key.data, v->dr_public_key.len), "dr_public_key accessor");
    free(b.data);
    GET_BYTES(emr_record_prescription, rec, b);
    CHECK(bytes_eq(b.data, b.len, v->prescription.data, v->prescription.len), "prescription accessor");
    free(b.data);
    GET_BYTES(emr_record_signature, rec, b);
    CHECK(bytes_eq(b.data, b.len, v->signature.data, v->signature.len), "signature accessor");
    free(b.data);
    CHECK_OK(emr_record_nonce(rec, &nonce));
    CHECK(nonce == v->nonce, "nonce accessor");
    CHECK_OK(emr_record_txid(rec, h32));
    CHECK(bytes_eq(h32, 32, v->txid.data, v->txid.len), "txid accessor");

    /* The borrowed view holds the same bytes. */
    emr_record_fields view;
    CHECK_OK(emr_record_get_fields(rec, &view));
    CHECK(bytes_eq(view.dr_public_key, view.dr_public_key_len, v->dr_public_key.data, v->dr_public_key.len) &&
              bytes_eq((const uint8_t *)view.prescription, view.prescription_len, v->prescription.data,
                       v->prescription.len) &&
              bytes_eq(view.signature, view.signature_len, v->signature.data, v->signature.len) &&
              bytes_eq(view.txid, view.txid_len, v->txid.data, v->txid.len) && view.nonce == v->nonce,
          "emr_record_get_fields view");
}

static void check_serialization(const emr_record *rec, uint64_t previous_nonce, emr_status expected) {
    bytes_t enc, again;
    emr_record *parsed = NULL;
    GET_BYTES(emr_record_serialize, rec, enc);
    CHECK_OK(emr_record_parse(enc.data, enc.len, &parsed));
    if (parsed != NULL) {
        GET_BYTES(emr_record_serialize, parsed, again);
        CHECK(bytes_eq(enc.data, enc.len, again.data, again.len), "record serialize/parse round trip");
        CHECK_STATUS(emr_record_verify(parsed, previous_nonce), expected);
        free(again.data);
    }
    emr_record_free(parsed);
    free(enc.data);
}

static emr_curve curve_of(const char *name) {
    if (strcmp(name, "secp256k1") == 0) return EMR_CURVE_SECP256K1;
    if (strcmp(name, "P-256") == 0) return EMR_CURVE_P256;
    fprintf(stderr, "unknown curve %s\n", name);
    exit(2);
}

/* VALID name curve pkcs8 previous_nonce signature_hash RECORD(7) */
static void test_valid_record(char **t, int n) {
    if (n != 13) {
        fprintf(stderr, "bad VALID line (%d tokens)\n", n);
        exit(2);
    }
    test_context = decode_name(t[1]);
    emr_curve curve = curve_of(t[2]);
    bytes_t pkcs8 = hex_decode(t[3]);
    uint64_t previous_nonce = parse_u64(t[4]);
    bytes_t sighash = hex_decode(t[5]);
    vec_record v = parse_record(t + 6);
    emr_record_fields fields = fields_of(&v);
    uint8_t h20[20], h32[32];

    /* Keys: import, export byte for byte, PEM round trip, public key. */
    emr_key *key = NULL, *key2 = NULL;
    CHECK_OK(emr_key_from_der(pkcs8.data, pkcs8.len, &key));
    if (key != NULL) {
        bytes_t der, pem, der2, pub;
        emr_curve got_curve = 0;
        CHECK_OK(emr_key_curve(key, &got_curve));
        CHECK(got_curve == curve, "key curve %u, expected %u", got_curve, curve);
        GET_BYTES(emr_key_to_der, key, der);
        CHECK(bytes_eq(der.data, der.len, pkcs8.data, pkcs8.len), "PKCS#8 export is byte for byte the import");
        GET_BYTES(emr_key_to_pem, key, pem);
        CHECK(pem.len > 60 && memcmp(pem.data, "-----BEGIN PRIVATE KEY-----\n", 28) == 0, "PEM header");
        CHECK_OK(emr_key_from_pem(pem.data, pem.len, &key2));
        GET_BYTES(emr_key_to_der, key2, der2);
        CHECK(bytes_eq(der2.data, der2.len, pkcs8.data, pkcs8.len), "PEM round trip gives the same key");
        GET_BYTES(emr_key_public_key_der, key, pub);
        CHECK(pub.len == (curve == EMR_CURVE_SECP256K1 ? 88u : 91u), "uncompressed SPKI length %zu", pub.len);
        CHECK_OK(emr_key_public_key_hash(key, h20));
        CHECK_OK(emr_sha1(pub.data, pub.len, h32));
        CHECK(memcmp(h20, h32, 20) == 0, "public key hash is SHA-1 of its DER");
        if (v.dr_public_key.len == pub.len) {
            CHECK(bytes_eq(pub.data, pub.len, v.dr_public_key.data, v.dr_public_key.len),
                  "key's SPKI is the record's dr_public_key");
            CHECK(bytes_eq(h20, 20, v.dr_hash.data, v.dr_hash.len), "key's hash is the record's dr_hash");
        }
        free(der.data);
        free(pem.data);
        free(der2.data);
        free(pub.data);

        /* Signing the same inputs with the imported key gives a valid record. */
        emr_record *mine = NULL;
        CHECK_OK(emr_record_sign(key, v.patient_hash.data, v.patient_hash.len, (const char *)v.prescription.data,
                                 v.prescription.len, v.nonce, &mine));
        CHECK_OK(emr_record_verify(mine, previous_nonce));
        CHECK_OK(emr_record_signature_hash(mine, h32));
        CHECK(bytes_eq(h32, 32, sighash.data, sighash.len), "our record's signature hash");
        emr_record_free(mine);
    }
    emr_key_free(key);
    emr_key_free(key2);

    /* Fields as given, then the typed record. */
    CHECK_OK(emr_record_fields_verify(&fields, previous_nonce));
    CHECK_OK(emr_sha1(v.dr_public_key.data, v.dr_public_key.len, h20));
    CHECK(bytes_eq(h20, 20, v.dr_hash.data, v.dr_hash.len), "emr_sha1(dr_public_key) == dr_hash");
    CHECK_OK(emr_calculate_txid(&fields, h32));
    CHECK(bytes_eq(h32, 32, v.txid.data, v.txid.len), "emr_calculate_txid");
    CHECK_OK(emr_calculate_signature_hash(v.patient_hash.data, v.patient_hash.len,
                                          (const char *)v.prescription.data, v.prescription.len, v.nonce, h32));
    CHECK(bytes_eq(h32, 32, sighash.data, sighash.len), "emr_calculate_signature_hash");

    emr_record *rec = NULL;
    CHECK_OK(emr_record_new(&fields, &rec));
    if (rec != NULL) {
        CHECK_OK(emr_record_verify(rec, previous_nonce));
        CHECK_STATUS(emr_record_verify(rec, previous_nonce + 1), EMR_INVALID_NONCE);
        CHECK_OK(emr_record_calculate_txid(rec, h32));
        CHECK(bytes_eq(h32, 32, v.txid.data, v.txid.len), "emr_record_calculate_txid");
        CHECK_OK(emr_record_signature_hash(rec, h32));
        CHECK(bytes_eq(h32, 32, sighash.data, sighash.len), "emr_record_signature_hash");
        check_record_accessors(rec, &v);
        check_serialization(rec, previous_nonce, EMR_OK);
        const emr_record *one[1] = {rec};
        size_t failed = 99;
        CHECK_OK(emr_verify_records(one, &previous_nonce, 1, 1, &failed));
        CHECK(failed == 99, "failed_index untouched on success");
    }
    emr_record_free(rec);
    vec_record_free(&v);
    bytes_free(&pkcs8);
    bytes_free(&sighash);
}

/* INVALID name expected previous_nonce RECORD(7) */
static void test_invalid_record(char **t, int n) {
    if (n != 11) {
        fprintf(stderr, "bad INVALID line (%d tokens)\n", n);
        exit(2);
    }
    test_context = decode_name(t[1]);
    emr_status expected = status_from_name(t[2]);
    uint64_t previous_nonce = parse_u64(t[3]);
    vec_record v = parse_record(t + 4);
    emr_record_fields fields = fields_of(&v);

    CHECK_STATUS(emr_record_fields_verify(&fields, previous_nonce), expected);

    /* Through a record handle where the fields fit one; the shape checks of
     * emr_record_new report the kind verification reports. */
    emr_record *rec = NULL;
    emr_status s = emr_record_new(&fields, &rec);
    if (s == EMR_OK) {
        CHECK_STATUS(emr_record_verify(rec, previous_nonce), expected);
        const emr_record *one[1] = {rec};
        size_t failed = 99;
        CHECK_STATUS(emr_verify_records(one, &previous_nonce, 1, 0, &failed), expected);
        CHECK(failed == 0, "batch failed_index %zu", failed);
        check_serialization(rec, previous_nonce, expected);
    } else {
        CHECK(s == expected, "emr_record_new: %s, expected %s", emr_status_name(s), emr_status_name(expected));
        CHECK(rec == NULL, "out is NULL on failure");
    }
    emr_record_free(rec);
    vec_record_free(&v);
}

static void test_records(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    int valid = 0, invalid = 0;
    while (getline(&line, &cap, f) > 0) {
        char *t[MAX_TOKENS];
        int n = tokenize(line, t);
        if (n == 0) continue;
        if (strcmp(t[0], "VALID") == 0) {
            test_valid_record(t, n);
            valid++;
        } else if (strcmp(t[0], "INVALID") == 0) {
            test_invalid_record(t, n);
            invalid++;
        } else {
            fprintf(stderr, "bad line kind %s\n", t[0]);
            exit(2);
        }
    }
    free(line);
    fclose(f);
    test_context = "records";
    CHECK(valid > 0 && invalid > 0, "records.txt had %d valid and %d invalid vectors", valid, invalid);
    printf("records: %d valid and %d invalid vectors checked\n", valid, invalid);
}

/* ---- blocks ----------------------------------------------------------- */

#define MAX_BLOCK_RECORDS 64
#define MAX_STATES 64

typedef struct {
    bytes_t hash;
    uint64_t balance, nonce;
} vec_state;

typedef struct {
    emr_difficulty verify_difficulty;
    uint64_t reward;
    bytes_t previous, miner, block_id;
    uint64_t height, timestamp, nonce;
    emr_difficulty difficulty;
    vec_state states[MAX_STATES];
    size_t state_count;
    vec_record records[MAX_BLOCK_RECORDS];
    size_t record_count;
    vec_state expected[MAX_STATES];
    size_t expected_count;
    int expect_error;
    emr_status expected_status;
    size_t expected_index;
    emr_status expected_record_status;
} vec_block;

static void vec_block_free(vec_block *b) {
    bytes_free(&b->previous);
    bytes_free(&b->miner);
    bytes_free(&b->block_id);
    for (size_t i = 0; i < b->state_count; i++) bytes_free(&b->states[i].hash);
    for (size_t i = 0; i < b->expected_count; i++) bytes_free(&b->expected[i].hash);
    for (size_t i = 0; i < b->record_count; i++) vec_record_free(&b->records[i]);
}

static int hash_eq(const uint8_t *h20, const bytes_t *b) {
    return bytes_eq(h20, 20, b->data, b->len);
}

/* The verification outcome, compared with the vector's expectation. */
static void check_outcome(const vec_block *b, const char *how, emr_status s, emr_user_states *changes,
                          size_t failed_index, emr_status record_status) {
    if (b->expect_error) {
        CHECK(s == b->expected_status, "%s: %s (%s), expected %s", how, emr_status_name(s),
              emr_last_error_message(), emr_status_name(b->expected_status));
        note_status(s);
        CHECK(changes == NULL, "%s: changes_out is NULL on failure", how);
        if (b->expected_status == EMR_RECORD) {
            CHECK(failed_index == b->expected_index, "%s: failed record index %zu, expected %zu", how, failed_index,
                  b->expected_index);
            CHECK(record_status == b->expected_record_status, "%s: record status %s, expected %s", how,
                  emr_status_name(record_status), emr_status_name(b->expected_record_status));
            note_status(record_status);
        }
        return;
    }
    CHECK(s == EMR_OK, "%s: %s (%s)", how, emr_status_name(s), emr_last_error_message());
    if (changes == NULL) return;
    size_t len = 0;
    CHECK_OK(emr_user_states_len(changes, &len));
    CHECK(len == b->expected_count, "%s: %zu changed states, expected %zu", how, len, b->expected_count);
    /* Expected states are sorted by hash, as the map iterates. */
    for (size_t i = 0; i < b->expected_count && i < len; i++) {
        uint8_t h20[20];
        uint64_t balance = 0, nonce = 0;
        bool present = false;
        CHECK_OK(emr_user_states_entry_at(changes, i, h20, &balance, &nonce));
        CHECK(hash_eq(h20, &b->expected[i].hash) && balance == b->expected[i].balance &&
                  nonce == b->expected[i].nonce,
              "%s: entry %zu is (%" PRIu64 ", %" PRIu64 "), expected (%" PRIu64 ", %" PRIu64 ")", how, i, balance,
              nonce, b->expected[i].balance, b->expected[i].nonce);
        CHECK_OK(emr_user_states_get(changes, b->expected[i].hash.data, &balance, &nonce, &present));
        CHECK(present && balance == b->expected[i].balance && nonce == b->expected[i].nonce, "%s: get entry %zu",
              how, i);
    }
}

static void test_block(vec_block *b) {
    emr_user_states *previous = NULL;
    CHECK_OK(emr_user_states_new(&previous));
    for (size_t i = 0; i < b->state_count; i++) {
        CHECK(b->states[i].hash.len == 20, "state hash length");
        CHECK_OK(emr_user_states_set(previous, b->states[i].hash.data, b->states[i].balance, b->states[i].nonce));
    }

    /* 1. The loose fields, exactly as given. */
    emr_record_fields rf[MAX_BLOCK_RECORDS];
    for (size_t i = 0; i < b->record_count; i++) rf[i] = fields_of(&b->records[i]);
    emr_block_fields bf;
    bf.previous = b->previous.data;
    bf.previous_len = b->previous.len;
    bf.height = b->height;
    bf.miner = b->miner.data;
    bf.miner_len = b->miner.len;
    bf.records = rf;
    bf.record_count = b->record_count;
    bf.timestamp = b->timestamp;
    bf.difficulty = b->difficulty;
    bf.block_id = b->block_id.data;
    bf.block_id_len = b->block_id.len;
    bf.nonce = b->nonce;

    emr_user_states *changes = NULL;
    size_t failed_index = (size_t)-1;
    emr_status record_status = EMR_OK;
    emr_status s = emr_block_fields_verify(&bf, b->verify_difficulty, previous, b->reward, &changes, &failed_index,
                                           &record_status);
    check_outcome(b, "emr_block_fields_verify", s, changes, failed_index, record_status);
    emr_user_states_free(changes);
    changes = NULL;

    uint8_t id[32];
    CHECK_OK(emr_block_fields_calculate_id(&bf, id));
    if (!b->expect_error) CHECK(bytes_eq(id, 32, b->block_id.data, b->block_id.len), "fields block id");

    /* 2. Typed: records and a block handle, where the fields fit one. */
    emr_record *records[MAX_BLOCK_RECORDS] = {0};
    int all_records = 1;
    for (size_t i = 0; i < b->record_count; i++) {
        CHECK_OK(emr_record_new(&rf[i], &records[i]));
        if (records[i] == NULL) all_records = 0;
    }
    emr_block *block = NULL;
    if (all_records) {
        s = emr_block_new(b->previous.data, b->previous.len, b->height, b->miner.data, b->miner.len,
                          (const emr_record *const *)records, b->record_count, b->timestamp, b->difficulty,
                          b->block_id.data, b->block_id.len, b->nonce, &block);
        if (s != EMR_OK) {
            /* Only shapes a block cannot hold, with the kind verification reports. */
            CHECK(b->expect_error && s == b->expected_status, "emr_block_new: %s (%s)", emr_status_name(s),
                  emr_last_error_message());
            note_status(s);
        }
    }
    if (block != NULL) {
        failed_index = (size_t)-1;
        record_status = EMR_OK;
        /* An empty previous map may be passed as NULL. */
        s = emr_block_verify_and_get_changes(block, b->verify_difficulty, b->state_count ? previous : NULL,
                                             b->reward, &changes, &failed_index, &record_status);
        check_outcome(b, "emr_block_verify_and_get_changes", s, changes, failed_index, record_status);
        emr_user_states_free(changes);
        changes = NULL;

        /* Accessors. */
        uint8_t h20[20];
        uint64_t u = 0;
        size_t count = 0;
        emr_difficulty d = {0, 0};
        CHECK_OK(emr_block_previous(block, id));
        CHECK(bytes_eq(id, 32, b->previous.data, b->previous.len), "previous");
        CHECK_OK(emr_block_miner(block, h20));
        CHECK(hash_eq(h20, &b->miner), "miner");
        CHECK_OK(emr_block_height(block, &u));
        CHECK(u == b->height, "height");
        CHECK_OK(emr_block_timestamp(block, &u));
        CHECK(u == b->timestamp, "timestamp");
        CHECK_OK(emr_block_nonce(block, &u));
        CHECK(u == b->nonce, "nonce");
        CHECK_OK(emr_block_difficulty(block, &d));
        CHECK(d.lo == b->difficulty.lo && d.hi == b->difficulty.hi, "difficulty");
        CHECK_OK(emr_block_id(block, id));
        CHECK(bytes_eq(id, 32, b->block_id.data, b->block_id.len), "block_id");
        CHECK_OK(emr_block_calculate_id(block, id));
        if (!b->expect_error) CHECK(bytes_eq(id, 32, b->block_id.data, b->block_id.len), "calculated block id");
        CHECK_OK(emr_block_record_count(block, &count));
        CHECK(count == b->record_count, "record count");
        for (size_t i = 0; i < count; i++) {
            emr_record *r = NULL;
            uint8_t txid[32];
            CHECK_OK(emr_block_record(block, i, &r));
            CHECK_OK(emr_record_txid(r, txid));
            CHECK(bytes_eq(txid, 32, b->records[i].txid.data, b->records[i].txid.len), "record %zu txid", i);
            emr_record_free(r);
        }

        /* Canonical encoding round trip, and the parsed block verifies alike. */
        bytes_t enc, again;
        emr_block *parsed = NULL;
        GET_BYTES(emr_block_serialize, block, enc);
        CHECK_OK(emr_block_parse(enc.data, enc.len, &parsed));
        if (parsed != NULL) {
            GET_BYTES(emr_block_serialize, parsed, again);
            CHECK(bytes_eq(enc.data, enc.len, again.data, again.len), "block serialize/parse round trip");
            free(again.data);
            failed_index = (size_t)-1;
            record_status = EMR_OK;
            s = emr_block_verify_and_get_changes(parsed, b->verify_difficulty, previous, b->reward, &changes,
                                                 &failed_index, &record_status);
            check_outcome(b, "parsed block", s, changes, failed_index, record_status);
            emr_user_states_free(changes);
            changes = NULL;
        }
        emr_block_free(parsed);
        free(enc.data);
    }
    emr_block_free(block);
    for (size_t i = 0; i < b->record_count; i++) emr_record_free(records[i]);
    emr_user_states_free(previous);
}

static void test_blocks(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    int blocks = 0;
    vec_block *b = calloc(1, sizeof *b);
    if (b == NULL) exit(3);
    while (getline(&line, &cap, f) > 0) {
        char *t[MAX_TOKENS];
        int n = tokenize(line, t);
        if (n == 0) continue;
        if (strcmp(t[0], "BLOCK") == 0 && n == 2) {
            memset(b, 0, sizeof *b);
            test_context = decode_name(t[1]);
        } else if (strcmp(t[0], "VERIFY_DIFFICULTY") == 0 && n == 3) {
            b->verify_difficulty.hi = parse_u64(t[1]);
            b->verify_difficulty.lo = parse_u64(t[2]);
        } else if (strcmp(t[0], "REWARD") == 0 && n == 2) {
            b->reward = parse_u64(t[1]);
        } else if (strcmp(t[0], "HEADER") == 0 && n == 9) {
            b->previous = hex_decode(t[1]);
            b->height = parse_u64(t[2]);
            b->miner = hex_decode(t[3]);
            b->timestamp = parse_u64(t[4]);
            b->difficulty.hi = parse_u64(t[5]);
            b->difficulty.lo = parse_u64(t[6]);
            b->block_id = hex_decode(t[7]);
            b->nonce = parse_u64(t[8]);
        } else if (strcmp(t[0], "STATE") == 0 && n == 4 && b->state_count < MAX_STATES) {
            vec_state *st = &b->states[b->state_count++];
            st->hash = hex_decode(t[1]);
            st->balance = parse_u64(t[2]);
            st->nonce = parse_u64(t[3]);
        } else if (strcmp(t[0], "RECORD") == 0 && n == 8 && b->record_count < MAX_BLOCK_RECORDS) {
            b->records[b->record_count++] = parse_record(t + 1);
        } else if (strcmp(t[0], "EXPECT_STATE") == 0 && n == 4 && b->expected_count < MAX_STATES) {
            vec_state *st = &b->expected[b->expected_count++];
            st->hash = hex_decode(t[1]);
            st->balance = parse_u64(t[2]);
            st->nonce = parse_u64(t[3]);
        } else if (strcmp(t[0], "EXPECT_ERROR") == 0 && n == 2) {
            b->expect_error = 1;
            b->expected_status = status_from_name(t[1]);
        } else if (strcmp(t[0], "EXPECT_ERROR") == 0 && n == 4 && strcmp(t[1], "record") == 0) {
            b->expect_error = 1;
            b->expected_status = EMR_RECORD;
            b->expected_index = (size_t)parse_u64(t[2]);
            b->expected_record_status = status_from_name(t[3]);
        } else if (strcmp(t[0], "END") == 0 && n == 1) {
            test_block(b);
            vec_block_free(b);
            blocks++;
        } else {
            fprintf(stderr, "bad blocks.txt line starting %s (%d tokens)\n", t[0], n);
            exit(2);
        }
    }
    free(b);
    free(line);
    fclose(f);
    test_context = "blocks";
    CHECK(blocks > 0, "blocks.txt had no block");
    printf("blocks: %d vectors checked\n", blocks);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTOR_TEXT_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/records.txt", argv[1]);
    test_records(path);
    snprintf(path, sizeof path, "%s/blocks.txt", argv[1]);
    test_blocks(path);
    return test_finish("test_vectors");
}
