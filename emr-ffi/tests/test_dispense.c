/* Pharmacies through the C interface (SPEC section 10): every vector of
 * dispense.txt (from dispense.json): each entry's stateless verdict, id,
 * fields and encoding; the whole scenario on a chain with the vectors'
 * authority, every block's outcome and every prescription's state after
 * it (emr_chain_prescription_state), a pharmacy's dispensings, undo back
 * to nothing; the open-chain scenario; dispenser grants, dispenses (one
 * step and two) and cancellations signed here; the partition story (two
 * sites, two pharmacies, one dispense stays, the other an entry conflict
 * naming both); bad input.
 *
 * Usage: test_dispense VECTORS_TEXT_DIR */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>

#include "vectors.h"

#define MAX_ITEMS 32
#define MAX_BLOCKS 64
#define MAX_RX 16
#define MAX_KEYS 8

typedef struct {
    bool loaded;
    uint64_t initial_hi, initial_lo, window, block_time, max_adjust, reward, max_future;
    uint8_t salt[EMR_SALT_LEN];
    uint8_t chain_id[32];
} chain_params;

static chain_params authority_params, open_params;
static bytes_t authority_spki, authority_pkcs8;

typedef struct {
    char name[32];
    bytes_t spki, pkcs8;
    uint8_t hash[20];
} vec_key;

static vec_key keys[MAX_KEYS];
static size_t key_count = 0;

typedef struct {
    uint8_t dr_hash[20];
    uint64_t nonce;
    emr_prescription_state state;
} rx_state;

typedef struct {
    char chain[16];
    char name[128];
    char expected[96];
    bytes_t previous, miner, block_id;
    uint64_t height, timestamp, nonce;
    emr_difficulty difficulty;
    emr_record *records[MAX_ITEMS];
    size_t record_count;
    emr_entry *entries[MAX_ITEMS];
    size_t entry_count;
    rx_state rx[MAX_RX];
    size_t rx_count;
} scenario_block;

static scenario_block scenario[MAX_BLOCKS];
static size_t scenario_count = 0;
static size_t entry_vectors = 0;

static const vec_key *key_named(const char *name) {
    for (size_t i = 0; i < key_count; i++) {
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    }
    fprintf(stderr, "no key %s in dispense.txt\n", name);
    exit(2);
}

static emr_key *key_from(const bytes_t *pkcs8) {
    emr_key *key = NULL;
    CHECK_OK(emr_key_from_der(pkcs8->data, pkcs8->len, &key));
    if (key == NULL) exit(1);
    return key;
}

static void copy_hex(const char *hex, uint8_t *out, size_t len) {
    bytes_t b = hex_decode(hex);
    if (b.len != len) {
        fprintf(stderr, "expected %zu bytes of hex, got %zu\n", len, b.len);
        exit(2);
    }
    memcpy(out, b.data, len);
    bytes_free(&b);
}

static emr_prescription_state state_named(const char *name) {
    if (strcmp(name, "open") == 0) return EMR_RX_OPEN;
    if (strcmp(name, "dispensed") == 0) return EMR_RX_DISPENSED;
    if (strcmp(name, "cancelled") == 0) return EMR_RX_CANCELLED;
    fprintf(stderr, "unknown state %s\n", name);
    exit(2);
}

/* An entry from its tokens (G, V, P, D or C as dispense.txt writes them).
 * Returns the constructor's status (*out NULL unless EMR_OK). */
static emr_status entry_from_tokens(char **t, int n, emr_entry **out) {
    emr_status s;
    if (strcmp(t[0], "G") == 0 && n >= 8) {
        bytes_t cid = hex_decode(t[1]), dpk = hex_decode(t[2]), lic = hex_decode(t[3]), auth = hex_decode(t[6]),
                sig = hex_decode(t[7]);
        s = emr_grant_new(cid.data, cid.len, dpk.data, dpk.len, (const char *)lic.data, lic.len, parse_u64(t[4]),
                          parse_u64(t[5]), auth.data, auth.len, sig.data, sig.len, out);
        bytes_free(&cid);
        bytes_free(&dpk);
        bytes_free(&lic);
        bytes_free(&auth);
        bytes_free(&sig);
    } else if (strcmp(t[0], "V") == 0 && n >= 6) {
        bytes_t cid = hex_decode(t[1]), gid = hex_decode(t[2]), auth = hex_decode(t[4]), sig = hex_decode(t[5]);
        s = emr_revocation_new(cid.data, cid.len, gid.data, gid.len, parse_u64(t[3]), auth.data, auth.len, sig.data,
                               sig.len, out);
        bytes_free(&cid);
        bytes_free(&gid);
        bytes_free(&auth);
        bytes_free(&sig);
    } else if (strcmp(t[0], "P") == 0 && n >= 8) {
        bytes_t cid = hex_decode(t[1]), ppk = hex_decode(t[2]), lic = hex_decode(t[3]), auth = hex_decode(t[6]),
                sig = hex_decode(t[7]);
        s = emr_dispenser_grant_new(cid.data, cid.len, ppk.data, ppk.len, (const char *)lic.data, lic.len,
                                    parse_u64(t[4]), parse_u64(t[5]), auth.data, auth.len, sig.data, sig.len, out);
        bytes_free(&cid);
        bytes_free(&ppk);
        bytes_free(&lic);
        bytes_free(&auth);
        bytes_free(&sig);
    } else if (strcmp(t[0], "D") == 0 && n >= 10) {
        bytes_t cid = hex_decode(t[1]), dr = hex_decode(t[2]), rh = hex_decode(t[4]), ppk = hex_decode(t[5]),
                pat = hex_decode(t[6]), note = hex_decode(t[7]), sig = hex_decode(t[8]), psig = hex_decode(t[9]);
        emr_prescription_ref p = {dr.data, dr.len, parse_u64(t[3]), rh.data, rh.len};
        s = emr_dispense_new(cid.data, cid.len, &p, ppk.data, ppk.len, pat.data, pat.len, (const char *)note.data,
                             note.len, sig.data, sig.len, psig.data, psig.len, out);
        bytes_free(&cid);
        bytes_free(&dr);
        bytes_free(&rh);
        bytes_free(&ppk);
        bytes_free(&pat);
        bytes_free(&note);
        bytes_free(&sig);
        bytes_free(&psig);
    } else if (strcmp(t[0], "C") == 0 && n >= 8) {
        bytes_t cid = hex_decode(t[1]), dr = hex_decode(t[2]), rh = hex_decode(t[4]), can = hex_decode(t[5]),
                reason = hex_decode(t[6]), sig = hex_decode(t[7]);
        emr_prescription_ref p = {dr.data, dr.len, parse_u64(t[3]), rh.data, rh.len};
        s = emr_cancellation_new(cid.data, cid.len, &p, can.data, can.len, (const char *)reason.data, reason.len,
                                 sig.data, sig.len, out);
        bytes_free(&cid);
        bytes_free(&dr);
        bytes_free(&rh);
        bytes_free(&can);
        bytes_free(&reason);
        bytes_free(&sig);
    } else {
        fprintf(stderr, "bad entry tokens\n");
        exit(2);
    }
    return s;
}

/* A variable-size getter's bytes compared with a hex token. */
#define CHECK_FIELD(getter, entry, hex, what)                                                      \
    do {                                                                                           \
        uint8_t buf_[512];                                                                         \
        size_t len_ = sizeof buf_;                                                                 \
        bytes_t want_ = hex_decode(hex);                                                           \
        CHECK_OK(getter(entry, buf_, &len_));                                                      \
        CHECK(bytes_eq(buf_, len_, want_.data, want_.len), "%s", what);                            \
        bytes_free(&want_);                                                                        \
    } while (0)

static void check_entry_vector(const char *name, const char *expected, const char *id_hex, char **t, int n) {
    test_context = name;
    entry_vectors++;
    emr_entry *entry = NULL;
    emr_status built = entry_from_tokens(t, n, &entry);
    emr_status want = strcmp(expected, "valid") == 0 ? EMR_OK : status_from_name(expected);
    note_status(built);
    if (built != EMR_OK) {
        /* Only what an entry cannot hold (a hash of the wrong length) is
         * refused when building, with the kind verification would give. */
        CHECK(built == want && want == EMR_INVALID_ENTRY, "building gave %s, expected %s", emr_status_name(built),
              expected);
        CHECK(entry == NULL, "out is NULL on failure");
        return;
    }
    CHECK_STATUS(emr_entry_verify(entry), want);
    uint8_t id[32];
    bytes_t want_id = hex_decode(id_hex);
    CHECK_OK(emr_entry_id(entry, id));
    CHECK(bytes_eq(id, 32, want_id.data, want_id.len), "entry id");
    bytes_free(&want_id);

    emr_entry_type type = 0;
    CHECK_OK(emr_entry_get_type(entry, &type));
    uint8_t buf[1024];
    size_t len = sizeof buf;
    uint8_t h20[20], h32[32];
    uint64_t u = 0;
    if (strcmp(t[0], "P") == 0) {
        CHECK(type == EMR_ENTRY_DISPENSER_GRANT, "type %u", type);
        CHECK_FIELD(emr_dispenser_grant_pharmacy_public_key, entry, t[2], "pharmacy_public_key");
        CHECK_FIELD(emr_dispenser_grant_licence, entry, t[3], "licence");
        CHECK_FIELD(emr_entry_authority, entry, t[6], "authority");
        CHECK_FIELD(emr_entry_signature, entry, t[7], "signature");
        uint64_t nb = 1, na = 1;
        CHECK_OK(emr_dispenser_grant_window(entry, &nb, &na));
        CHECK(nb == parse_u64(t[4]) && na == parse_u64(t[5]), "window");
        /* A dispenser grant is no doctor's grant, and names no prescription. */
        CHECK_STATUS(emr_grant_window(entry, &nb, &na), EMR_INVALID_ARGUMENT);
        CHECK_STATUS(emr_entry_prescription(entry, h20, &u, h32), EMR_INVALID_ARGUMENT);
    } else if (strcmp(t[0], "D") == 0) {
        CHECK(type == EMR_ENTRY_DISPENSE, "type %u", type);
        uint64_t nonce = 0;
        CHECK_OK(emr_entry_prescription(entry, h20, &nonce, h32));
        bytes_t dr = hex_decode(t[2]), rh = hex_decode(t[4]);
        CHECK(bytes_eq(h20, 20, dr.data, dr.len) && nonce == parse_u64(t[3]) && bytes_eq(h32, 32, rh.data, rh.len),
              "prescription");
        bytes_free(&dr);
        bytes_free(&rh);
        CHECK_FIELD(emr_dispense_pharmacy_public_key, entry, t[5], "pharmacy_public_key");
        CHECK_FIELD(emr_dispense_patient_public_key, entry, t[6], "patient_public_key");
        CHECK_FIELD(emr_dispense_note, entry, t[7], "note");
        CHECK_FIELD(emr_entry_signature, entry, t[8], "signature");
        CHECK_FIELD(emr_dispense_patient_signature, entry, t[9], "patient_signature");
        CHECK_OK(emr_dispense_digest(entry, h32));
        /* No authority signs a dispense. */
        len = sizeof buf;
        CHECK_STATUS(emr_entry_authority(entry, buf, &len), EMR_INVALID_ARGUMENT);
        len = sizeof buf;
        CHECK_STATUS(emr_cancellation_reason(entry, buf, &len), EMR_INVALID_ARGUMENT);
    } else if (strcmp(t[0], "C") == 0) {
        CHECK(type == EMR_ENTRY_CANCELLATION, "type %u", type);
        uint64_t nonce = 0;
        CHECK_OK(emr_entry_prescription(entry, NULL, &nonce, NULL));
        CHECK(nonce == parse_u64(t[3]), "nonce");
        CHECK_FIELD(emr_cancellation_canceller, entry, t[5], "canceller");
        CHECK_FIELD(emr_cancellation_reason, entry, t[6], "reason");
        CHECK_FIELD(emr_entry_signature, entry, t[7], "signature");
        CHECK_STATUS(emr_dispense_digest(entry, h32), EMR_INVALID_ARGUMENT);
    }

    /* The canonical encoding round-trips; a byte short is no entry. */
    len = sizeof buf;
    CHECK_OK(emr_entry_serialize(entry, buf, &len));
    emr_entry *back = NULL;
    CHECK_OK(emr_entry_parse(buf, len, &back));
    uint8_t id2[32];
    CHECK_OK(emr_entry_id(back, id2));
    CHECK(memcmp(id, id2, 32) == 0, "parsed entry has the same id");
    CHECK_STATUS(emr_entry_verify(back), want);
    emr_entry_free(back);
    back = NULL;
    CHECK_STATUS(emr_entry_parse(buf, len - 1, &back), EMR_DECODE);
    CHECK(back == NULL, "out NULL after a failed parse");
    emr_entry_free(entry);
}

static void load(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/dispense.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    scenario_block *cur = NULL;
    while (getline(&line, &cap, f) > 0) {
        char *t[MAX_TOKENS];
        int n = tokenize(line, t);
        if (n == 0) continue;
        if (strcmp(t[0], "PARAMS") == 0 && n == 11) {
            chain_params *p = strcmp(t[1], "open") == 0 ? &open_params : &authority_params;
            p->loaded = true;
            p->initial_hi = parse_u64(t[2]);
            p->initial_lo = parse_u64(t[3]);
            p->window = parse_u64(t[4]);
            p->block_time = parse_u64(t[5]);
            p->max_adjust = parse_u64(t[6]);
            p->reward = parse_u64(t[7]);
            p->max_future = parse_u64(t[8]);
            copy_hex(t[9], p->salt, EMR_SALT_LEN);
            copy_hex(t[10], p->chain_id, 32);
        } else if (strcmp(t[0], "AUTHORITY") == 0 && n == 3) {
            authority_spki = hex_decode(t[1]);
            authority_pkcs8 = hex_decode(t[2]);
        } else if (strcmp(t[0], "KEY") == 0 && n == 5 && key_count < MAX_KEYS) {
            vec_key *k = &keys[key_count++];
            snprintf(k->name, sizeof k->name, "%s", decode_name(t[1]));
            k->spki = hex_decode(t[2]);
            k->pkcs8 = hex_decode(t[3]);
            copy_hex(t[4], k->hash, 20);
        } else if (strcmp(t[0], "ENTRY") == 0 && n >= 5) {
            char name[160];
            snprintf(name, sizeof name, "entry %s", decode_name(t[1]));
            check_entry_vector(name, t[2], t[3], t + 4, n - 4);
        } else if (strcmp(t[0], "SCENARIO") == 0 && scenario_count < MAX_BLOCKS) {
            cur = &scenario[scenario_count++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->chain, sizeof cur->chain, "%s", t[1]);
            snprintf(cur->name, sizeof cur->name, "%s", decode_name(t[2]));
            for (int i = 3; i < n; i++) {
                strncat(cur->expected, t[i], sizeof cur->expected - strlen(cur->expected) - 2);
                if (i + 1 < n) strcat(cur->expected, " ");
            }
        } else if (strcmp(t[0], "HEADER") == 0 && cur != NULL) {
            cur->previous = hex_decode(t[1]);
            cur->height = parse_u64(t[2]);
            cur->miner = hex_decode(t[3]);
            cur->timestamp = parse_u64(t[4]);
            cur->difficulty.hi = parse_u64(t[5]);
            cur->difficulty.lo = parse_u64(t[6]);
            cur->block_id = hex_decode(t[7]);
            cur->nonce = parse_u64(t[8]);
        } else if (strcmp(t[0], "RECORD") == 0 && cur != NULL && cur->record_count < MAX_ITEMS) {
            vec_record r = parse_record(t + 1);
            emr_record_fields fields = fields_of(&r);
            CHECK_OK(emr_record_new(&fields, &cur->records[cur->record_count]));
            cur->record_count++;
            vec_record_free(&r);
        } else if (strcmp(t[0], "BENTRY") == 0 && cur != NULL && cur->entry_count < MAX_ITEMS) {
            CHECK_OK(entry_from_tokens(t + 1, n - 1, &cur->entries[cur->entry_count]));
            cur->entry_count++;
        } else if (strcmp(t[0], "RX") == 0 && cur != NULL && n == 4 && cur->rx_count < MAX_RX) {
            rx_state *rx = &cur->rx[cur->rx_count++];
            copy_hex(t[1], rx->dr_hash, 20);
            rx->nonce = parse_u64(t[2]);
            rx->state = state_named(t[3]);
        } else if (strcmp(t[0], "END") == 0) {
            cur = NULL;
        }
    }
    free(line);
    fclose(f);
    if (!authority_params.loaded || !open_params.loaded || authority_spki.len == 0 || key_count < 7 ||
        entry_vectors < 14 || scenario_count < 35) {
        fprintf(stderr, "dispense.txt: %zu keys, %zu entries, %zu scenario blocks\n", key_count, entry_vectors,
                scenario_count);
        exit(2);
    }
}

static emr_chain *vector_chain(bool with_authority) {
    const chain_params *p = with_authority ? &authority_params : &open_params;
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.hi = p->initial_hi;
    o.initial_difficulty.lo = p->initial_lo;
    o.window = p->window;
    o.block_time = p->block_time;
    o.max_adjust = p->max_adjust;
    o.block_reward = p->reward;
    o.max_future = p->max_future;
    o.has_salt = true;
    memcpy(o.salt, p->salt, EMR_SALT_LEN);
    const uint8_t *spkis[1] = {authority_spki.data};
    size_t lens[1] = {authority_spki.len};
    if (with_authority) {
        o.authorities = spkis;
        o.authority_lens = lens;
        o.authority_count = 1;
    }
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) exit(1);
    uint8_t id[32];
    CHECK_OK(emr_chain_id(chain, id));
    CHECK(memcmp(id, p->chain_id, 32) == 0, "the chain's id is the vectors' chain_id");
    return chain;
}

static emr_block *block_of(const scenario_block *b) {
    emr_block *block = NULL;
    CHECK_OK(emr_block_new_with_entries(b->previous.data, b->previous.len, b->height, b->miner.data, b->miner.len,
                                        (const emr_record *const *)b->records, b->record_count,
                                        (const emr_entry *const *)b->entries, b->entry_count, b->timestamp,
                                        b->difficulty, b->block_id.data, b->block_id.len, b->nonce, &block));
    if (block == NULL) exit(1);
    return block;
}

/* Every prescription's state as the block's vector lists it. */
static void check_states(emr_chain *chain, const scenario_block *b) {
    for (size_t i = 0; i < b->rx_count; i++) {
        const rx_state *rx = &b->rx[i];
        emr_prescription_state got = 0;
        emr_entry *entry = (emr_entry *)&got; /* overwritten: NULL when open */
        uint64_t height = 99, t = 99;
        uint8_t block_id[32];
        CHECK_OK(emr_chain_prescription_state(chain, rx->dr_hash, rx->nonce, &got, &entry, &height, block_id, &t));
        CHECK(got == rx->state, "prescription %zu (nonce %" PRIu64 "): state %u, expected %u", i, rx->nonce, got,
              rx->state);
        if (got == EMR_RX_OPEN) {
            CHECK(entry == NULL && height == 0 && t == 0, "an open prescription has no entry");
        } else {
            emr_entry_type type = 0;
            CHECK(entry != NULL, "the entry that decided it");
            if (entry == NULL) continue;
            CHECK_OK(emr_entry_get_type(entry, &type));
            CHECK(type == (got == EMR_RX_DISPENSED ? EMR_ENTRY_DISPENSE : EMR_ENTRY_CANCELLATION), "its type");
            uint8_t dr[20];
            uint64_t nonce = 0;
            CHECK_OK(emr_entry_prescription(entry, dr, &nonce, NULL));
            CHECK(memcmp(dr, rx->dr_hash, 20) == 0 && nonce == rx->nonce, "it names the prescription");
            /* Which block: the chain's block at that height. */
            emr_block *at = NULL;
            uint8_t at_id[32];
            uint64_t at_t = 0;
            CHECK_OK(emr_chain_block_at(chain, height, &at));
            if (at != NULL) {
                CHECK_OK(emr_block_id(at, at_id));
                CHECK_OK(emr_block_timestamp(at, &at_t));
                CHECK(memcmp(at_id, block_id, 32) == 0 && at_t == t, "its block and time");
            }
            emr_block_free(at);
            emr_entry_free(entry);
        }
    }
}

/* Adds one scenario block; checks its outcome, what a failure names, and
 * the states after it. Returns whether it was added. */
static bool run_block(emr_chain *chain, const scenario_block *b) {
    test_context = b->name;
    emr_block *block = block_of(b);
    emr_add_outcome outcome = EMR_ADD_NONE;
    emr_block_failure failure;
    memset(&failure, 0xab, sizeof failure);
    emr_status s = emr_chain_add_block(chain, block, NULL, &outcome, &failure);
    note_status(s);
    bool added = false;
    char where[16] = "", kind[64] = "";
    unsigned long index = 0;
    if (strncmp(b->expected, "error ", 6) == 0 && sscanf(b->expected + 6, "%15s %lu %63s", where, &index, kind) == 3) {
        emr_status want = strcmp(where, "entry") == 0 ? EMR_ENTRY : EMR_RECORD;
        CHECK(s == want, "status %s (%s), expected %s", emr_status_name(s), emr_last_error_message(), b->expected);
        CHECK(failure.status == want && failure.record_index == index, "failure names index %zu",
              failure.record_index);
        note_status(failure.record_status);
        CHECK(failure.record_status == status_from_name(kind), "failing item's status %s, expected %s",
              emr_status_name(failure.record_status), kind);
        CHECK(failure.height == b->height && failure.has_block_id, "failure names the block");
    } else {
        CHECK(s == EMR_OK && strcmp(emr_add_outcome_name(outcome), b->expected) == 0, "%s / %s, expected %s",
              emr_status_name(s), emr_add_outcome_name(outcome), b->expected);
        added = s == EMR_OK;
    }
    emr_block_free(block);
    check_states(chain, b);
    return added;
}

static size_t count_dispenses_by(const uint8_t pharmacy[20], size_t upto) {
    size_t n = 0;
    for (size_t i = 0; i < upto; i++) {
        const scenario_block *b = &scenario[i];
        if (strcmp(b->chain, "authority") != 0 || strcmp(b->expected, "extended") != 0) continue;
        for (size_t j = 0; j < b->entry_count; j++) {
            emr_entry_type type = 0;
            CHECK_OK(emr_entry_get_type(b->entries[j], &type));
            if (type != EMR_ENTRY_DISPENSE) continue;
            uint8_t key[128], h[20];
            size_t len = sizeof key;
            CHECK_OK(emr_dispense_pharmacy_public_key(b->entries[j], key, &len));
            CHECK_OK(emr_sha1(key, len, h));
            if (memcmp(h, pharmacy, 20) == 0) n++;
        }
    }
    return n;
}

static void test_scenario(void) {
    emr_chain *chain = vector_chain(true);
    size_t accepted[MAX_BLOCKS];
    size_t count = 0;
    for (size_t i = 0; i < scenario_count; i++) {
        if (strcmp(scenario[i].chain, "authority") != 0) continue;
        if (run_block(chain, &scenario[i])) accepted[count++] = i;
    }
    test_context = "after the scenario";
    uint64_t len = 0;
    CHECK_OK(emr_chain_len(chain, &len));
    CHECK(len == count && count == 12, "%" PRIu64 " blocks, %zu extended", len, count);

    /* A prescription the chain does not hold. */
    emr_prescription_state st = 0;
    emr_entry *none = (emr_entry *)&st;
    CHECK_STATUS(emr_chain_prescription_state(chain, key_named("D1")->hash, 99, &st, &none, NULL, NULL, NULL),
                 EMR_NOT_FOUND);
    CHECK(none == NULL, "no entry for no prescription");
    CHECK_STATUS(emr_chain_prescription_state(chain, key_named("P1")->hash, 1, &st, NULL, NULL, NULL, NULL),
                 EMR_NOT_FOUND);

    /* Each pharmacy's dispensings, in chain order, as the blocks carry them. */
    const char *pharmacies[] = {"P1", "P2", "stranger"};
    for (size_t p = 0; p < 3; p++) {
        const vec_key *k = key_named(pharmacies[p]);
        emr_dispensings *d = NULL;
        size_t n = 99;
        CHECK_OK(emr_chain_dispensings(chain, k->hash, &d));
        CHECK_OK(emr_dispensings_len(d, &n));
        CHECK(n == count_dispenses_by(k->hash, scenario_count), "%s dispensed %zu", pharmacies[p], n);
        uint64_t previous = 0;
        for (size_t i = 0; i < n; i++) {
            emr_entry *e = NULL;
            uint64_t h = 0, t = 0;
            uint8_t id[32];
            CHECK_OK(emr_dispensings_get(d, i, &e, &h, id, &t));
            CHECK(h >= previous && t >= 1750000000, "chain order");
            previous = h;
            CHECK_OK(emr_entry_verify(e));
            emr_entry_free(e);
        }
        emr_entry *past = (emr_entry *)&n;
        CHECK_STATUS(emr_dispensings_get(d, n, &past, NULL, NULL, NULL), EMR_NOT_FOUND);
        CHECK(past == NULL, "NULL past the end");
        past = (emr_entry *)&n;
        CHECK_STATUS(emr_dispensings_get(d, SIZE_MAX, &past, NULL, NULL, NULL), EMR_NOT_FOUND);
        CHECK(past == NULL, "NULL at SIZE_MAX");
        emr_dispensings_free(d);
    }
    bool ok = true;
    CHECK_OK(emr_chain_is_dispenser_authorized(chain, key_named("P1")->hash, 1750000200, &ok));
    CHECK(!ok, "P1's grant was revoked");
    CHECK_OK(emr_chain_is_dispenser_authorized(chain, key_named("P2")->hash, 1750000200, &ok));
    CHECK(ok, "P2 holds a grant");

    /* Undo block by block: every state follows, back to no prescription. */
    test_context = "undo across dispensings and cancellations";
    while (count > 0) {
        emr_block *removed = NULL;
        CHECK_OK(emr_chain_undo_last_block(chain, &removed));
        emr_block_free(removed);
        count--;
        if (count > 0) check_states(chain, &scenario[accepted[count - 1]]);
    }
    CHECK_STATUS(emr_chain_prescription_state(chain, key_named("D1")->hash, 1, &st, NULL, NULL, NULL, NULL),
                 EMR_NOT_FOUND);
    emr_chain_free(chain);
}

static void test_open_scenario(void) {
    emr_chain *chain = vector_chain(false);
    size_t blocks = 0;
    for (size_t i = 0; i < scenario_count; i++) {
        if (strcmp(scenario[i].chain, "open") != 0) continue;
        blocks++;
        run_block(chain, &scenario[i]);
    }
    CHECK(blocks == 3, "open-chain blocks");
    emr_chain_free(chain);
}

/* The record with this doctor and nonce among the scenario's blocks. */
static const emr_record *scenario_record(const uint8_t dr[20], uint64_t nonce) {
    for (size_t i = 0; i < scenario_count; i++) {
        for (size_t j = 0; j < scenario[i].record_count; j++) {
            uint8_t h[20];
            uint64_t n = 0;
            CHECK_OK(emr_record_dr_hash(scenario[i].records[j], h));
            CHECK_OK(emr_record_nonce(scenario[i].records[j], &n));
            if (memcmp(h, dr, 20) == 0 && n == nonce && strcmp(scenario[i].expected, "extended") == 0) {
                return scenario[i].records[j];
            }
        }
    }
    fprintf(stderr, "no such record in the scenario\n");
    exit(2);
}

static void test_signed_here(void) {
    test_context = "signed here";
    const uint8_t *chain_id = authority_params.chain_id;
    emr_key *authority = key_from(&authority_pkcs8);
    emr_key *pharmacy = key_from(&key_named("P1")->pkcs8);
    emr_key *patient = key_from(&key_named("PA")->pkcs8);
    emr_key *other = key_from(&key_named("PB")->pkcs8);
    emr_key *doctor = key_from(&key_named("D1")->pkcs8);
    const vec_key *p1 = key_named("P1");
    const emr_record *record = scenario_record(key_named("D1")->hash, 1);

    emr_entry *grant = NULL;
    const char licence[] = "GPhC 1234567";
    CHECK_OK(emr_dispenser_grant_sign(authority, chain_id, p1->spki.data, p1->spki.len, licence, strlen(licence), 0,
                                      UINT64_MAX, &grant));
    CHECK_OK(emr_entry_verify(grant));
    emr_entry_free(grant);
    grant = (emr_entry *)&licence;
    CHECK_STATUS(emr_dispenser_grant_sign(authority, chain_id, p1->spki.data, p1->spki.len, licence, strlen(licence),
                                          2, 1, &grant),
                 EMR_INVALID_ENTRY);
    CHECK(grant == NULL, "NULL on failure");
    CHECK_STATUS(emr_dispenser_grant_sign(authority, chain_id, p1->spki.data, 10, licence, strlen(licence), 0, 1,
                                          &grant),
                 EMR_INVALID_ENTRY);

    /* One step with both keys; two steps give the same entry. */
    emr_entry *one = NULL;
    const char note[] = "28 tablets, batch A1";
    CHECK_OK(emr_dispense_sign(pharmacy, patient, chain_id, record, note, strlen(note), &one));
    CHECK_OK(emr_entry_verify(one));
    uint8_t rh[32], got[32];
    CHECK_OK(emr_record_signature_hash(record, rh));
    CHECK_OK(emr_entry_prescription(one, NULL, NULL, got));
    CHECK(memcmp(rh, got, 32) == 0, "the dispense names the record's content");
    emr_entry *wrong = (emr_entry *)&note;
    CHECK_STATUS(emr_dispense_sign(pharmacy, other, chain_id, record, note, strlen(note), &wrong), EMR_WRONG_PATIENT);
    CHECK(wrong == NULL, "NULL on failure");

    uint8_t pharmacy_spki[128], patient_spki[128], sig[128], psig[128];
    size_t pl = sizeof pharmacy_spki, tl = sizeof patient_spki, sl = sizeof sig, psl = sizeof psig;
    CHECK_OK(emr_key_public_key_der(pharmacy, pharmacy_spki, &pl));
    CHECK_OK(emr_key_public_key_der(patient, patient_spki, &tl));
    CHECK_OK(emr_entry_signature(one, sig, &sl));
    CHECK_OK(emr_dispense_patient_signature(one, psig, &psl));
    emr_entry *unsigned_ = NULL, *half = NULL, *both = NULL, *bad = (emr_entry *)&note;
    CHECK_OK(emr_dispense_prepare(chain_id, record, pharmacy_spki, pl, patient_spki, tl, note, strlen(note),
                                  &unsigned_));
    CHECK_STATUS(emr_entry_verify(unsigned_), EMR_INVALID_ENTRY_SIGNATURE);
    uint8_t d1[32], d2[32];
    CHECK_OK(emr_dispense_digest(unsigned_, d1));
    CHECK_OK(emr_dispense_digest(one, d2));
    CHECK(memcmp(d1, d2, 32) == 0, "both sign one digest");
    /* The patient's signature is no pharmacy's. */
    CHECK_STATUS(emr_dispense_add_signature(unsigned_, psig, psl, &bad), EMR_INVALID_ENTRY_SIGNATURE);
    CHECK(bad == NULL, "NULL on failure");
    CHECK_OK(emr_dispense_add_signature(unsigned_, sig, sl, &half));
    CHECK_STATUS(emr_entry_verify(half), EMR_INVALID_ENTRY_SIGNATURE);
    CHECK_OK(emr_dispense_add_patient_signature(half, psig, psl, &both));
    CHECK_OK(emr_entry_verify(both));
    uint8_t id1[32], id2[32];
    CHECK_OK(emr_entry_id(one, id1));
    CHECK_OK(emr_entry_id(both, id2));
    CHECK(memcmp(id1, id2, 32) == 0, "two steps make the one-step entry");
    CHECK_STATUS(emr_dispense_add_signature(one, NULL, 3, &bad), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispense_prepare(chain_id, record, pharmacy_spki, pl, key_named("PB")->spki.data,
                                      key_named("PB")->spki.len, NULL, 0, &bad),
                 EMR_WRONG_PATIENT);
    emr_entry_free(unsigned_);
    emr_entry_free(half);
    emr_entry_free(both);
    emr_entry_free(one);

    /* A cancellation by the prescriber. */
    emr_entry *cancel = NULL;
    CHECK_OK(emr_cancellation_sign(doctor, chain_id, record, "sent in error", 13, &cancel));
    CHECK_OK(emr_entry_verify(cancel));
    uint8_t canceller[128], h[20];
    size_t cl = sizeof canceller;
    CHECK_OK(emr_cancellation_canceller(cancel, canceller, &cl));
    CHECK_OK(emr_sha1(canceller, cl, h));
    CHECK(memcmp(h, key_named("D1")->hash, 20) == 0, "the prescriber cancels");
    char long_reason[101];
    memset(long_reason, 'x', sizeof long_reason);
    emr_entry *too_long = (emr_entry *)&note;
    CHECK_STATUS(emr_cancellation_sign(doctor, chain_id, record, long_reason, sizeof long_reason, &too_long),
                 EMR_INVALID_ENTRY);
    CHECK(too_long == NULL, "NULL on failure");
    const char not_utf8[] = {(char)0xff, 0};
    CHECK_STATUS(emr_cancellation_sign(doctor, chain_id, record, not_utf8, 1, &too_long), EMR_INVALID_ENTRY);
    emr_entry_free(cancel);

    /* NULL arguments, checked first. */
    emr_entry *out = NULL;
    CHECK_STATUS(emr_cancellation_sign(NULL, chain_id, record, NULL, 0, &out), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_cancellation_sign(doctor, chain_id, NULL, NULL, 0, &out), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispense_sign(pharmacy, NULL, chain_id, record, NULL, 0, &out), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispense_sign(pharmacy, patient, NULL, record, NULL, 0, &out), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispense_prepare(chain_id, record, NULL, 5, patient_spki, tl, NULL, 0, &out), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispense_new(chain_id, 32, NULL, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &out),
                 EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispense_digest(NULL, d1), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_prescription(NULL, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_prescription_state(NULL, h, 1, NULL, NULL, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_dispensings(NULL, h, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_dispensings_len(NULL, &cl), EMR_NULL_ARGUMENT);
    CHECK(out == NULL, "out stays NULL");
    emr_dispensings_free(NULL);

    emr_key_free(authority);
    emr_key_free(pharmacy);
    emr_key_free(patient);
    emr_key_free(other);
    emr_key_free(doctor);
}

/* Mines the chain's next block from its pool (one thread, the vectors'
 * difficulty) and returns it, added. */
static emr_block *mine_next(emr_chain *chain, uint64_t timestamp) {
    static const uint8_t miner[20] = {7};
    emr_mine_options o;
    CHECK_OK(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION));
    o.threads = 1;
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    emr_add_outcome added = EMR_ADD_NONE;
    CHECK_OK(emr_chain_mine_next(chain, miner, &timestamp, &o, &outcome, &block, &added));
    CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED && block != NULL, "mined and added");
    if (block == NULL) exit(1);
    return block;
}

static void submit(emr_chain *chain, const emr_entry *entry) {
    emr_submit_outcome outcome = 0;
    CHECK_OK(emr_chain_submit_entry(chain, entry, &outcome));
    CHECK(outcome == EMR_SUBMIT_READY, "submitted: %s", emr_submit_outcome_name(outcome));
}

static void check_dispensed_by(emr_chain *chain, const uint8_t dr[20], const vec_key *pharmacy, const char *site) {
    emr_prescription_state st = 0;
    emr_entry *e = NULL;
    CHECK_OK(emr_chain_prescription_state(chain, dr, 1, &st, &e, NULL, NULL, NULL));
    CHECK(st == EMR_RX_DISPENSED && e != NULL, "%s: dispensed", site);
    if (e == NULL) return;
    uint8_t key[128];
    size_t len = sizeof key;
    CHECK_OK(emr_dispense_pharmacy_public_key(e, key, &len));
    CHECK(bytes_eq(key, len, pharmacy->spki.data, pharmacy->spki.len), "%s: by %s", site, pharmacy->name);
    emr_entry_free(e);
}

/* Two sites, each pharmacy dispenses D1's first prescription while they
 * are cut off; the sites sync by adding the heavier branch: one dispense
 * stays, the other is an entry conflict naming both pharmacies. */
static void test_partition(void) {
    test_context = "partition";
    emr_chain *a = vector_chain(true), *b = vector_chain(true);
    for (size_t i = 0; i < 2; i++) {
        emr_block *block = block_of(&scenario[i]);
        CHECK_OK(emr_chain_add_block(a, block, NULL, NULL, NULL));
        CHECK_OK(emr_chain_add_block(b, block, NULL, NULL, NULL));
        emr_block_free(block);
    }
    const uint8_t *chain_id = authority_params.chain_id;
    const vec_key *p1 = key_named("P1"), *p2 = key_named("P2"), *d1 = key_named("D1");
    emr_key *authority = key_from(&authority_pkcs8), *k1 = key_from(&p1->pkcs8), *k2 = key_from(&p2->pkcs8),
            *patient = key_from(&key_named("PA")->pkcs8);
    emr_entry *grant = NULL, *by_p1 = NULL, *by_p2 = NULL;
    CHECK_OK(emr_dispenser_grant_sign(authority, chain_id, p2->spki.data, p2->spki.len, "GPhC 2", 6, 0, UINT64_MAX,
                                      &grant));
    uint64_t t = scenario[1].timestamp;
    submit(a, grant);
    emr_block *shared = mine_next(a, t += 12);
    CHECK_OK(emr_chain_add_block(b, shared, NULL, NULL, NULL));
    const emr_record *record = scenario_record(d1->hash, 1);
    CHECK_OK(emr_dispense_sign(k1, patient, chain_id, record, "site A", 6, &by_p1));
    CHECK_OK(emr_dispense_sign(k2, patient, chain_id, record, "site B", 6, &by_p2));
    submit(a, by_p1);
    emr_block *a1 = mine_next(a, t + 12);
    submit(b, by_p2);
    emr_block *b1 = mine_next(b, t + 13);
    emr_block *b2 = mine_next(b, t + 25);
    check_dispensed_by(a, d1->hash, p1, "site A before the sync");
    check_dispensed_by(b, d1->hash, p2, "site B before the sync");

    emr_add_outcome outcome = EMR_ADD_NONE;
    CHECK_OK(emr_chain_add_block(b, a1, NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_SIDE_BRANCH, "site B keeps its heavier branch");
    CHECK_OK(emr_chain_add_block(a, b1, NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_SIDE_BRANCH, "b1 on a side branch at site A");
    CHECK_OK(emr_chain_add_block(a, b2, NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_REORGANIZED, "b2 reorganizes site A");
    check_dispensed_by(a, d1->hash, p2, "site A after the sync");
    check_dispensed_by(b, d1->hash, p2, "site B after the sync");

    /* Site A's dispense fell out: a conflict naming both pharmacies. */
    emr_entry_conflicts *conflicts = NULL;
    size_t n = 0;
    CHECK_OK(emr_chain_entry_conflicts(a, &conflicts));
    CHECK_OK(emr_entry_conflicts_len(conflicts, &n));
    CHECK(n == 1, "one conflict, not %zu", n);
    emr_entry *dropped = NULL, *kept = NULL;
    uint8_t block_id[32], want_id[32], id[32], want[32];
    uint64_t height = 0;
    CHECK_OK(emr_entry_conflicts_get(conflicts, 0, &dropped, &kept, block_id, &height));
    CHECK_OK(emr_block_id(b1, want_id));
    CHECK(memcmp(block_id, want_id, 32) == 0 && height == 3, "the block that carried the kept dispense");
    CHECK_OK(emr_entry_id(dropped, id));
    CHECK_OK(emr_entry_id(by_p1, want));
    CHECK(memcmp(id, want, 32) == 0, "site A's dispense is the dropped one");
    CHECK_OK(emr_entry_id(kept, id));
    CHECK_OK(emr_entry_id(by_p2, want));
    CHECK(memcmp(id, want, 32) == 0, "site B's dispense is the kept one");
    emr_entry *past = (emr_entry *)&n, *past2 = (emr_entry *)&n;
    CHECK_STATUS(emr_entry_conflicts_get(conflicts, 1, &past, &past2, NULL, NULL), EMR_NOT_FOUND);
    CHECK(past == NULL && past2 == NULL, "NULL past the end");
    emr_entry_conflicts_free(conflicts);
    emr_entry_free(dropped);
    emr_entry_free(kept);
    emr_entry_conflicts *none = NULL;
    CHECK_OK(emr_chain_entry_conflicts(b, &none));
    CHECK_OK(emr_entry_conflicts_len(none, &n));
    CHECK(n == 0, "site B dropped nothing");
    emr_entry_conflicts_free(none);

    /* It cannot come back; the pharmacies settle and dismiss it. */
    emr_submit_outcome submitted = 0;
    CHECK_STATUS(emr_chain_submit_entry(a, by_p1, &submitted), EMR_ALREADY_DISPENSED);
    bool dismissed = false;
    CHECK_OK(emr_entry_id(by_p1, id));
    CHECK_OK(emr_chain_dismiss_entry_conflict(a, id, &dismissed));
    CHECK(dismissed, "dismissed");
    CHECK_OK(emr_chain_dismiss_entry_conflict(a, id, &dismissed));
    CHECK(!dismissed, "nothing left to dismiss");
    CHECK_STATUS(emr_chain_dismiss_entry_conflict(a, NULL, &dismissed), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_entry_conflicts(NULL, &conflicts), EMR_NULL_ARGUMENT);
    emr_entry_conflicts_free(NULL);

    emr_block_free(shared);
    emr_block_free(a1);
    emr_block_free(b1);
    emr_block_free(b2);
    emr_entry_free(grant);
    emr_entry_free(by_p1);
    emr_entry_free(by_p2);
    emr_key_free(authority);
    emr_key_free(k1);
    emr_key_free(k2);
    emr_key_free(patient);
    emr_chain_free(a);
    emr_chain_free(b);
}

static void test_every_pharmacy_status_seen(void) {
    test_context = "coverage";
    for (emr_status s = EMR_UNAUTHORIZED_DISPENSER; s <= EMR_PRESCRIPTION_CANCELLED; s++) {
        CHECK(is_pharmacy_status(s) && strcmp(emr_status_name(s), "unknown") != 0, "%u is a status", s);
        CHECK(status_seen[s], "status %s was never returned to C", emr_status_name(s));
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_TEXT_DIR\n", argv[0]);
        return 2;
    }
    load(argv[1]);
    test_scenario();
    test_open_scenario();
    test_signed_here();
    test_partition();
    test_every_pharmacy_status_seen();
    for (size_t i = 0; i < scenario_count; i++) {
        for (size_t j = 0; j < scenario[i].record_count; j++) emr_record_free(scenario[i].records[j]);
        for (size_t j = 0; j < scenario[i].entry_count; j++) emr_entry_free(scenario[i].entries[j]);
        bytes_free(&scenario[i].previous);
        bytes_free(&scenario[i].miner);
        bytes_free(&scenario[i].block_id);
    }
    for (size_t i = 0; i < key_count; i++) {
        bytes_free(&keys[i].spki);
        bytes_free(&keys[i].pkcs8);
    }
    bytes_free(&authority_spki);
    bytes_free(&authority_pkcs8);
    return test_finish("test_dispense");
}
