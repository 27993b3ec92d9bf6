/* Robustness: random and mutated bytes into every parser and verifier, the
 * address decoder included.
 *
 * Usage: test_fuzz DIR [ROUNDS]; DIR holds records.txt (the valid vectors are
 * the seeds). A fixed-seed PRNG makes every run try the same inputs. Checks:
 * no crash (and, under valgrind, no memory error or leak), only statuses the
 * function documents, and canonical encodings: whatever parses serializes
 * back to exactly the input. */
#define _POSIX_C_SOURCE 200809L

#include "common.h"
#include "vectors.h"

#define MAX_SEEDS 64

typedef struct {
    bytes_t pkcs8;
    uint64_t previous_nonce;
    vec_record record;
} seed_t;

static seed_t seeds[MAX_SEEDS];
static size_t seed_count = 0;

static void load_seeds(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/records.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0 && seed_count < MAX_SEEDS) {
        char *t[MAX_TOKENS];
        int n = tokenize(line, t);
        if (n == 13 && strcmp(t[0], "VALID") == 0) {
            seed_t *s = &seeds[seed_count++];
            s->pkcs8 = hex_decode(t[3]);
            s->previous_nonce = parse_u64(t[4]);
            s->record = parse_record(t + 6);
        }
    }
    free(line);
    fclose(f);
    if (seed_count == 0) {
        fprintf(stderr, "no VALID vectors in %s\n", path);
        exit(2);
    }
}

/* A mutated copy of `in`: bit flips, byte sets, truncation, extension,
 * insertion or deletion, one to four times. Never returns a NULL buffer. */
static bytes_t mutate(const uint8_t *in, size_t len) {
    size_t cap = len + 64;
    bytes_t b = {malloc(cap), len};
    if (b.data == NULL) exit(3);
    if (len) memcpy(b.data, in, len);
    int rounds = 1 + (int)rng_below(4);
    for (int r = 0; r < rounds; r++) {
        size_t pos = rng_below(b.len + 1);
        switch (rng_below(7)) {
        case 0:
        case 1:
            if (b.len) b.data[pos % b.len] ^= (uint8_t)(1u << rng_below(8));
            break;
        case 2:
            if (b.len) b.data[pos % b.len] = (uint8_t)rng_next();
            break;
        case 3:
            b.len = pos; /* truncate */
            break;
        case 4:
            if (b.len + 8 <= cap) {
                for (int i = 0; i < 8; i++) b.data[b.len++] = (uint8_t)rng_next();
            }
            break;
        case 5:
            if (b.len < cap) {
                memmove(b.data + pos + 1, b.data + pos, b.len - pos);
                b.data[pos] = (uint8_t)rng_next();
                b.len++;
            }
            break;
        default:
            if (b.len && pos < b.len) {
                memmove(b.data + pos, b.data + pos + 1, b.len - pos - 1);
                b.len--;
            }
            break;
        }
    }
    return b;
}

static bytes_t random_bytes(size_t max_len) {
    size_t len = rng_below(max_len + 1);
    bytes_t b = {malloc(len + 1), len};
    if (b.data == NULL) exit(3);
    for (size_t i = 0; i < len; i++) b.data[i] = (uint8_t)rng_next();
    return b;
}

/* Decodes fuzzed text as an address: only address statuses, positions
 * inside the text, the hash written only on success. */
static void fuzz_address(const bytes_t *input) {
    static const emr_role roles[3] = {EMR_ROLE_DOCTOR, EMR_ROLE_PATIENT, EMR_ROLE_MINER};
    uint8_t hash[20];
    size_t positions[EMR_ADDRESS_MAX_POSITIONS], n = 0;
    emr_status s = emr_address_decode((const char *)input->data, input->len, roles[rng_below(3)], hash, positions, &n);
    CHECK(s == EMR_OK || (s >= EMR_INVALID_CHECKSUM && s <= EMR_MIXED_CASE), "emr_address_decode: %s",
          emr_status_name(s));
    CHECK(n <= EMR_ADDRESS_MAX_POSITIONS, "at most two positions");
    for (size_t i = 0; i < n && i < EMR_ADDRESS_MAX_POSITIONS; i++) {
        CHECK(positions[i] < input->len, "position %zu inside %zu bytes", positions[i], input->len);
    }
}

static int is_record_status(emr_status s) {
    return s == EMR_OK || (s >= EMR_HASH_LENGTH && s <= EMR_INVALID_SIGNATURE);
}

static int is_block_status(emr_status s) {
    return s == EMR_OK || (s >= EMR_DIFFICULTY_MISMATCH && s <= EMR_RECORD);
}

/* Serialized bytes of a record or block, in a new buffer. */
static bytes_t serialize_record(const emr_record *rec) {
    size_t len = 0;
    emr_record_serialize(rec, NULL, &len);
    bytes_t b = {malloc(len + 1), len};
    if (b.data == NULL) exit(3);
    CHECK_OK(emr_record_serialize(rec, b.data, &b.len));
    return b;
}

static bytes_t serialize_block(const emr_block *block) {
    size_t len = 0;
    emr_block_serialize(block, NULL, &len);
    bytes_t b = {malloc(len + 1), len};
    if (b.data == NULL) exit(3);
    CHECK_OK(emr_block_serialize(block, b.data, &b.len));
    return b;
}

static void fuzz_record_parse(const bytes_t *input) {
    emr_record *rec = NULL;
    emr_status s = emr_record_parse(input->data, input->len, &rec);
    CHECK(s == EMR_OK || s == EMR_DECODE, "emr_record_parse: %s", emr_status_name(s));
    CHECK((s == EMR_OK) == (rec != NULL), "out set exactly on success");
    if (rec != NULL) {
        bytes_t again = serialize_record(rec);
        CHECK(bytes_eq(again.data, again.len, input->data, input->len), "a parsed record re-encodes to its input");
        s = emr_record_verify(rec, 0);
        CHECK(is_record_status(s), "verify of a parsed record: %s", emr_status_name(s));
        bytes_free(&again);
    }
    emr_record_free(rec);
}

static void fuzz_block_parse(const bytes_t *input) {
    emr_block *block = NULL;
    emr_status s = emr_block_parse(input->data, input->len, &block);
    CHECK(s == EMR_OK || s == EMR_DECODE, "emr_block_parse: %s", emr_status_name(s));
    CHECK((s == EMR_OK) == (block != NULL), "out set exactly on success");
    if (block != NULL) {
        bytes_t again = serialize_block(block);
        CHECK(bytes_eq(again.data, again.len, input->data, input->len), "a parsed block re-encodes to its input");
        emr_difficulty d;
        emr_user_states *changes = NULL;
        size_t index = 0;
        emr_status record_status = EMR_OK;
        CHECK_OK(emr_block_difficulty(block, &d));
        s = emr_block_verify_and_get_changes(block, d, NULL, 1, &changes, &index, &record_status);
        CHECK(is_block_status(s) && (s != EMR_RECORD || is_record_status(record_status)),
              "verify of a parsed block: %s", emr_status_name(s));
        emr_user_states_free(changes);
        bytes_free(&again);
    }
    emr_block_free(block);
}

static void fuzz_key(const bytes_t *input, int pem) {
    emr_key *key = NULL;
    emr_status s = pem ? emr_key_from_pem(input->data, input->len, &key)
                       : emr_key_from_der(input->data, input->len, &key);
    CHECK(s == EMR_OK || s == EMR_INVALID_KEY, "key import: %s", emr_status_name(s));
    CHECK((s == EMR_OK) == (key != NULL), "out set exactly on success");
    if (key != NULL) {
        uint8_t der[256];
        size_t len = sizeof der;
        CHECK_OK(emr_key_to_der(key, der, &len));
        emr_key *again = NULL;
        CHECK_OK(emr_key_from_der(der, len, &again));
        emr_key_free(again);
    }
    emr_key_free(key);
}

/* One field of a valid record's fields replaced by a mutated copy. */
static void fuzz_record_fields(const seed_t *seed) {
    emr_record_fields f = fields_of(&seed->record);
    const uint8_t **field = NULL;
    size_t *len = NULL;
    bytes_t m = {NULL, 0};
    switch (rng_below(7)) {
    case 0: field = &f.dr_hash; len = &f.dr_hash_len; break;
    case 1: field = &f.patient_hash; len = &f.patient_hash_len; break;
    case 2: field = &f.dr_public_key; len = &f.dr_public_key_len; break;
    case 3:
        m = mutate((const uint8_t *)f.prescription, f.prescription_len);
        f.prescription = (const char *)m.data;
        f.prescription_len = m.len;
        break;
    case 4: field = &f.signature; len = &f.signature_len; break;
    case 5: field = &f.txid; len = &f.txid_len; break;
    default: f.nonce ^= (uint64_t)1 << rng_below(64); break;
    }
    if (field != NULL) {
        m = mutate(*field, *len);
        *field = m.data;
        *len = m.len;
    }
    emr_status s = emr_record_fields_verify(&f, seed->previous_nonce);
    CHECK(is_record_status(s), "emr_record_fields_verify: %s", emr_status_name(s));
    emr_record *rec = NULL;
    emr_status made = emr_record_new(&f, &rec);
    CHECK(made == EMR_OK || made == EMR_HASH_LENGTH || made == EMR_INVALID_PRESCRIPTION || made == EMR_INVALID_TXID,
          "emr_record_new: %s", emr_status_name(made));
    if (rec != NULL) {
        CHECK_STATUS(emr_record_verify(rec, seed->previous_nonce), s);
        emr_record_free(rec);
    } else {
        CHECK(made == s, "shape failure %s is verification's first failure %s", emr_status_name(made),
              emr_status_name(s));
    }
    free(m.data);
}

/* A mutated loose block over the seeds' records. */
static void fuzz_block_fields(void) {
    emr_record_fields records[4];
    size_t n = rng_below(5);
    for (size_t i = 0; i < n; i++) records[i] = fields_of(&seeds[rng_below(seed_count)].record);
    static const uint8_t zero[32] = {0}, miner[20] = {1};
    uint8_t id[32];
    emr_block_fields f = {zero, 32, 0, miner, 20, records, n, 1700000000, {1, 0}, id, 32, 0};
    CHECK_OK(emr_block_fields_calculate_id(&f, id));
    bytes_t m = {NULL, 0};
    switch (rng_below(6)) {
    case 0:
        m = mutate(zero, 32);
        f.previous = m.data;
        f.previous_len = m.len;
        break;
    case 1:
        m = mutate(miner, 20);
        f.miner = m.data;
        f.miner_len = m.len;
        break;
    case 2:
        m = mutate(id, 32);
        f.block_id = m.data;
        f.block_id_len = m.len;
        break;
    case 3:
        f.difficulty.lo = rng_next() % 4;
        f.difficulty.hi = rng_below(2) ? rng_next() : 0;
        break;
    case 4:
        if (n) records[rng_below(n)].nonce += 1;
        break;
    default:
        f.timestamp = rng_next();
        break;
    }
    if (rng_below(2)) CHECK_OK(emr_block_fields_calculate_id(&f, id)); /* reseal half the time */
    emr_user_states *changes = NULL;
    size_t index = 99;
    emr_status record_status = EMR_OK;
    emr_difficulty want = f.difficulty;
    if (want.lo == 0 && want.hi == 0) want.lo = 1;
    emr_status s = emr_block_fields_verify(&f, want, NULL, 1, &changes, &index, &record_status);
    CHECK(is_block_status(s), "emr_block_fields_verify: %s", emr_status_name(s));
    CHECK(s != EMR_RECORD || (index < n && is_record_status(record_status) && record_status != EMR_OK),
          "record failure reported with index and kind");
    CHECK((s == EMR_OK) == (changes != NULL), "changes exactly on success");
    emr_user_states_free(changes);
    free(m.data);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s VECTOR_TEXT_DIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    unsigned long rounds = argc == 3 ? strtoul(argv[2], NULL, 10) : 1000;
    load_seeds(argv[1]);

    /* Valid encodings to mutate: each seed record, and a block of four. */
    bytes_t record_encodings[MAX_SEEDS], pems[MAX_SEEDS];
    emr_record *block_records[4];
    for (size_t i = 0; i < seed_count; i++) {
        emr_record_fields f = fields_of(&seeds[i].record);
        emr_record *rec = NULL;
        CHECK_OK(emr_record_new(&f, &rec));
        record_encodings[i] = serialize_record(rec);
        if (i < 4) {
            block_records[i] = rec;
        } else {
            emr_record_free(rec);
        }
        emr_key *key = NULL;
        CHECK_OK(emr_key_from_der(seeds[i].pkcs8.data, seeds[i].pkcs8.len, &key));
        size_t len = 0;
        emr_key_to_pem(key, NULL, &len);
        pems[i].data = malloc(len + 1);
        pems[i].len = len;
        CHECK_OK(emr_key_to_pem(key, pems[i].data, &pems[i].len));
        emr_key_free(key);
    }
    static const uint8_t zero[32] = {0}, miner[20] = {7};
    uint8_t id[32];
    emr_record_fields rf[4];
    for (size_t i = 0; i < 4; i++) CHECK_OK(emr_record_get_fields(block_records[i], &rf[i]));
    emr_block_fields bf = {zero, 32, 1, miner, 20, rf, 4, 1700000000, {1, 0}, id, 32, 0};
    CHECK_OK(emr_block_fields_calculate_id(&bf, id));
    emr_block *block = NULL;
    CHECK_OK(emr_block_new(zero, 32, 1, miner, 20, (const emr_record *const *)block_records, 4, 1700000000,
                           bf.difficulty, id, 32, 0, &block));
    bytes_t block_encoding = serialize_block(block);
    emr_block_free(block);
    for (size_t i = 0; i < 4; i++) emr_record_free(block_records[i]);

    /* An address to mutate. */
    bytes_t address = {malloc(EMR_ADDRESS_LEN), EMR_ADDRESS_LEN};
    if (address.data == NULL) exit(3);
    CHECK_OK(emr_address_encode(EMR_ROLE_PATIENT, miner, address.data, &address.len));

    unsigned long before = test_passed;
    for (unsigned long r = 0; r < rounds; r++) {
        const seed_t *seed = &seeds[rng_below(seed_count)];
        size_t k = (size_t)(seed - seeds);
        bytes_t m;

        test_context = "record parse";
        m = mutate(record_encodings[k].data, record_encodings[k].len);
        fuzz_record_parse(&m);
        bytes_free(&m);
        m = random_bytes(200);
        fuzz_record_parse(&m);
        bytes_free(&m);

        test_context = "block parse";
        m = mutate(block_encoding.data, block_encoding.len);
        fuzz_block_parse(&m);
        bytes_free(&m);
        m = random_bytes(300);
        fuzz_block_parse(&m);
        bytes_free(&m);

        test_context = "key DER";
        m = mutate(seed->pkcs8.data, seed->pkcs8.len);
        fuzz_key(&m, 0);
        bytes_free(&m);
        m = random_bytes(160);
        fuzz_key(&m, 0);
        bytes_free(&m);

        test_context = "key PEM";
        m = mutate(pems[k].data, pems[k].len);
        fuzz_key(&m, 1);
        bytes_free(&m);

        test_context = "address";
        m = mutate(address.data, address.len);
        fuzz_address(&m);
        bytes_free(&m);
        m = random_bytes(100);
        fuzz_address(&m);
        bytes_free(&m);

        test_context = "record fields";
        fuzz_record_fields(seed);

        test_context = "block fields";
        fuzz_block_fields();
    }
    printf("test_fuzz: %lu rounds, %lu checks\n", rounds, test_passed - before);

    for (size_t i = 0; i < seed_count; i++) {
        bytes_free(&record_encodings[i]);
        bytes_free(&pems[i]);
        bytes_free(&seeds[i].pkcs8);
        vec_record_free(&seeds[i].record);
    }
    bytes_free(&block_encoding);
    bytes_free(&address);
    return test_finish("test_fuzz");
}
