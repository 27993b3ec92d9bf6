/* Authorized writers and sealed prescriptions through the C interface
 * (SPEC section 8): every vector of registry.txt and sealed.txt (from
 * registry.json and sealed.json), entries signed here, blocks and mining
 * with entries, a chain with authorities (options version 3 with the
 * vectors' salt, whose chain id must be the vectors'; versions 1 and 2
 * still read), grants and authorizations through undo, reopening with other
 * authorities, the pool with entries, records sealed here opened with the
 * vectors' keys, every envelope byte tampered, and bad input. test_v12.c
 * has the rest of SPEC v1.2 (malleability, wrong chain, held revocations,
 * max_future, conflicts and stale branches).
 *
 * Usage: test_access VECTORS_TEXT_DIR */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "vectors.h"

#define MAX_ITEMS 32

/* ---- the registry vectors ------------------------------------------- */

static bytes_t authority_spki[4], authority_pkcs8[4];
static size_t authority_count = 0;
static bytes_t outsider_spki, outsider_pkcs8;
static uint8_t doctor_hash[3][20];
static bytes_t doctor_spki[3], doctor_pkcs8[3];
static size_t doctor_count = 0;

/* A PARAMS line: a chain's parameters, its salt and the chain id they give
 * (SPEC 5, v1.2). */
typedef struct {
    bool loaded;
    uint64_t initial_hi, initial_lo, window, block_time, max_adjust, reward, max_future;
    uint8_t salt[EMR_SALT_LEN];
    uint8_t chain_id[32];
} chain_params;

static chain_params authority_params, open_params;
#define param_block_time (authority_params.block_time)
#define param_reward (authority_params.reward)
#define param_initial_lo (authority_params.initial_lo)

static void copy_hex(const char *hex, uint8_t *out, size_t len) {
    bytes_t b = hex_decode(hex);
    if (b.len != len) {
        fprintf(stderr, "expected %zu bytes of hex, got %zu\n", len, b.len);
        exit(2);
    }
    memcpy(out, b.data, len);
    bytes_free(&b);
}

/* An entry from its tokens: G chain_id dpk licence nb na authority
 * signature, or V chain_id grant_id effective authority signature. Returns
 * the status of the constructor (*out NULL unless EMR_OK). */
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
    } else {
        fprintf(stderr, "bad entry tokens\n");
        exit(2);
    }
    return s;
}

static emr_key *key_from(const bytes_t *pkcs8) {
    emr_key *key = NULL;
    CHECK_OK(emr_key_from_der(pkcs8->data, pkcs8->len, &key));
    if (key == NULL) exit(1);
    return key;
}

static void check_entry_vector(const char *name, const char *expected, const char *entry_id_hex, char **t, int n) {
    test_context = name;
    emr_entry *entry = NULL;
    emr_status built = entry_from_tokens(t, n, &entry);
    emr_status want = strcmp(expected, "valid") == 0 ? EMR_OK : status_from_name(expected);
    if (built != EMR_OK) {
        /* Only what an entry cannot hold is refused when building, and with
         * the kind verification would give. */
        note_status(built);
        CHECK(built == want && want == EMR_INVALID_ENTRY, "building gave %s, expected %s", emr_status_name(built),
              expected);
        CHECK(entry == NULL, "out is NULL on failure");
        return;
    }
    CHECK_STATUS(emr_entry_verify(entry), want);
    bytes_t id = hex_decode(entry_id_hex);
    uint8_t got[32];
    CHECK_OK(emr_entry_id(entry, got));
    CHECK(bytes_eq(got, 32, id.data, id.len), "entry id");
    bytes_free(&id);

    emr_entry_type type = 0;
    CHECK_OK(emr_entry_get_type(entry, &type));
    CHECK(type == (strcmp(t[0], "G") == 0 ? EMR_ENTRY_GRANT : EMR_ENTRY_REVOCATION), "type");
    /* The chain the entry names, as the vector gives it. */
    bytes_t cid = hex_decode(t[1]);
    uint8_t chain_id[32];
    CHECK_OK(emr_entry_chain_id(entry, chain_id));
    CHECK(bytes_eq(chain_id, 32, cid.data, cid.len), "chain_id");
    bytes_free(&cid);
    bytes_t auth = hex_decode(strcmp(t[0], "G") == 0 ? t[6] : t[4]);
    uint8_t buf[512];
    size_t len = sizeof buf;
    CHECK_OK(emr_entry_authority(entry, buf, &len));
    CHECK(bytes_eq(buf, len, auth.data, auth.len), "authority");
    bytes_free(&auth);
    if (type == EMR_ENTRY_GRANT) {
        bytes_t dpk = hex_decode(t[2]), lic = hex_decode(t[3]);
        len = sizeof buf;
        CHECK_OK(emr_grant_dr_public_key(entry, buf, &len));
        CHECK(bytes_eq(buf, len, dpk.data, dpk.len), "dr_public_key");
        len = sizeof buf;
        CHECK_OK(emr_grant_licence(entry, buf, &len));
        CHECK(bytes_eq(buf, len, lic.data, lic.len), "licence");
        uint64_t nb = 1, na = 1;
        CHECK_OK(emr_grant_window(entry, &nb, &na));
        CHECK(nb == parse_u64(t[4]) && na == parse_u64(t[5]), "window");
        uint8_t h[20], want_h[20];
        CHECK_OK(emr_grant_dr_hash(entry, h));
        CHECK_OK(emr_sha1(dpk.data, dpk.len, want_h));
        CHECK(memcmp(h, want_h, 20) == 0, "dr_hash is SHA-1 of the key");
        CHECK_STATUS(emr_revocation_effective(entry, &nb), EMR_INVALID_ARGUMENT);
        CHECK_STATUS(emr_revocation_grant_id(entry, h), EMR_INVALID_ARGUMENT);
        bytes_free(&dpk);
        bytes_free(&lic);
    } else {
        bytes_t gid = hex_decode(t[2]);
        uint8_t g[32];
        uint64_t eff = 0;
        CHECK_OK(emr_revocation_grant_id(entry, g));
        CHECK(bytes_eq(g, 32, gid.data, gid.len), "grant_id");
        CHECK_OK(emr_revocation_effective(entry, &eff));
        CHECK(eff == parse_u64(t[3]), "effective");
        len = sizeof buf;
        CHECK_STATUS(emr_grant_licence(entry, buf, &len), EMR_INVALID_ARGUMENT);
        bytes_free(&gid);
    }

    /* The canonical encoding round-trips, and the copy is the same entry. */
    len = sizeof buf;
    CHECK_OK(emr_entry_serialize(entry, buf, &len));
    emr_entry *back = NULL;
    CHECK_OK(emr_entry_parse(buf, len, &back));
    uint8_t id2[32];
    CHECK_OK(emr_entry_id(back, id2));
    CHECK(memcmp(id2, got, 32) == 0, "parsed entry has the same id");
    CHECK_STATUS(emr_entry_verify(back), want);
    emr_entry_free(back);
    CHECK_STATUS(emr_entry_parse(buf, len - 1, &back), EMR_DECODE);
    CHECK(back == NULL, "out NULL after a failed parse");
    emr_entry_free(entry);
}

typedef struct {
    char chain[16];
    char name[128];
    char expected[64];
    bytes_t header_previous, header_miner, header_block_id;
    uint64_t height, timestamp, nonce;
    emr_difficulty difficulty;
    emr_record *records[MAX_ITEMS];
    size_t record_count;
    emr_entry *entries[MAX_ITEMS];
    size_t entry_count;
    uint8_t authorized_hash[3][20];
    int authorized[3];
    size_t authorized_count;
} scenario_block;

static scenario_block scenario[64];
static size_t scenario_count = 0;

static void load_registry(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/registry.txt", dir);
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
        } else if (strcmp(t[0], "AUTHORITY") == 0 && authority_count < 4) {
            authority_spki[authority_count] = hex_decode(t[1]);
            authority_pkcs8[authority_count++] = hex_decode(t[2]);
        } else if (strcmp(t[0], "OUTSIDER") == 0) {
            outsider_spki = hex_decode(t[1]);
            outsider_pkcs8 = hex_decode(t[2]);
        } else if (strcmp(t[0], "DOCTOR") == 0 && doctor_count < 3) {
            bytes_t h = hex_decode(t[2]);
            memcpy(doctor_hash[doctor_count], h.data, 20);
            bytes_free(&h);
            doctor_spki[doctor_count] = hex_decode(t[3]);
            doctor_pkcs8[doctor_count++] = hex_decode(t[4]);
        } else if (strcmp(t[0], "ENTRY") == 0) {
            char name[128];
            snprintf(name, sizeof name, "entry %s", decode_name(t[1]));
            check_entry_vector(name, t[2], t[3], t + 4, n - 4);
        } else if (strcmp(t[0], "SCENARIO") == 0) {
            cur = &scenario[scenario_count++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->chain, sizeof cur->chain, "%s", t[1]);
            snprintf(cur->name, sizeof cur->name, "%s", decode_name(t[2]));
            cur->expected[0] = 0;
            for (int i = 3; i < n; i++) {
                strncat(cur->expected, t[i], sizeof cur->expected - strlen(cur->expected) - 2);
                if (i + 1 < n) strcat(cur->expected, " ");
            }
        } else if (strcmp(t[0], "HEADER") == 0 && cur != NULL) {
            cur->header_previous = hex_decode(t[1]);
            cur->height = parse_u64(t[2]);
            cur->header_miner = hex_decode(t[3]);
            cur->timestamp = parse_u64(t[4]);
            cur->difficulty.hi = parse_u64(t[5]);
            cur->difficulty.lo = parse_u64(t[6]);
            cur->header_block_id = hex_decode(t[7]);
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
        } else if (strcmp(t[0], "AUTHORIZED") == 0 && cur != NULL && cur->authorized_count < 3) {
            bytes_t h = hex_decode(t[1]);
            memcpy(cur->authorized_hash[cur->authorized_count], h.data, 20);
            cur->authorized[cur->authorized_count++] = (int)parse_u64(t[2]);
            bytes_free(&h);
        } else if (strcmp(t[0], "END") == 0) {
            cur = NULL;
        }
    }
    free(line);
    fclose(f);
    if (!authority_params.loaded || !open_params.loaded || authority_count != 2 || doctor_count != 3 ||
        scenario_count < 20) {
        fprintf(stderr, "registry.txt: %zu authorities, %zu doctors, %zu scenario blocks\n", authority_count,
                doctor_count, scenario_count);
        exit(2);
    }
}

static emr_block *scenario_block_new(const scenario_block *b) {
    emr_block *block = NULL;
    CHECK_OK(emr_block_new_with_entries(b->header_previous.data, b->header_previous.len, b->height,
                                        b->header_miner.data, b->header_miner.len,
                                        (const emr_record *const *)b->records, b->record_count,
                                        (const emr_entry *const *)b->entries, b->entry_count, b->timestamp,
                                        b->difficulty, b->header_block_id.data, b->header_block_id.len, b->nonce,
                                        &block));
    if (block == NULL) exit(1);
    return block;
}

static void scenario_free(void) {
    for (size_t i = 0; i < scenario_count; i++) {
        scenario_block *b = &scenario[i];
        for (size_t j = 0; j < b->record_count; j++) emr_record_free(b->records[j]);
        for (size_t j = 0; j < b->entry_count; j++) emr_entry_free(b->entries[j]);
        bytes_free(&b->header_previous);
        bytes_free(&b->header_miner);
        bytes_free(&b->header_block_id);
    }
}

/* The options of a vector chain: the authority chain's parameters with
 * its authorities and salt, or (with_authorities false) the open chain's. */
static emr_chain_options vector_options(bool with_authorities) {
    const chain_params *p = with_authorities ? &authority_params : &open_params;
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(o.max_future == EMR_DEFAULT_MAX_FUTURE_SECONDS && !o.has_salt, "version 3 defaults");
    o.initial_difficulty.hi = p->initial_hi;
    o.initial_difficulty.lo = p->initial_lo;
    o.window = p->window;
    o.block_time = p->block_time;
    o.max_adjust = p->max_adjust;
    o.block_reward = p->reward;
    o.max_future = p->max_future;
    o.has_salt = true;
    memcpy(o.salt, p->salt, EMR_SALT_LEN);
    static const uint8_t *keys[4];
    static size_t lens[4];
    for (size_t i = 0; i < authority_count; i++) {
        keys[i] = authority_spki[i].data;
        lens[i] = authority_spki[i].len;
    }
    if (with_authorities) {
        o.authorities = keys;
        o.authority_lens = lens;
        o.authority_count = authority_count;
    }
    return o;
}

static uint64_t tip_time(emr_chain *chain) {
    emr_block *tip = NULL;
    uint64_t t = 0;
    CHECK_OK(emr_chain_tip(chain, &tip));
    if (tip != NULL) CHECK_OK(emr_block_timestamp(tip, &t));
    emr_block_free(tip);
    return t;
}

/* Adds one scenario block and checks its outcome, what a failure names,
 * the block's own verification and the authorizations after it. */
static void run_scenario_block(emr_chain *chain, const scenario_block *b) {
    test_context = b->name;
    emr_block *block = scenario_block_new(b);
    emr_add_outcome outcome = EMR_ADD_NONE;
    emr_block_failure failure;
    memset(&failure, 0xab, sizeof failure);
    emr_status s = emr_chain_add_block(chain, block, NULL, &outcome, &failure);
    note_status(s);
    char kind[64] = "", where[16] = "";
    unsigned long index = 0;
    if (strncmp(b->expected, "error ", 6) == 0) {
        if (sscanf(b->expected + 6, "%15s %lu %63s", where, &index, kind) == 3) {
            emr_status want = strcmp(where, "entry") == 0 ? EMR_ENTRY : EMR_RECORD;
            CHECK(s == want, "status %s, expected %s", emr_status_name(s), b->expected);
            CHECK(failure.status == want && failure.record_index == index, "failure names index %zu",
                  failure.record_index);
            note_status(failure.record_status);
            CHECK(failure.record_status == status_from_name(kind), "failing item's status %s, expected %s",
                  emr_status_name(failure.record_status), kind);
            CHECK(failure.height == b->height && failure.has_block_id, "failure names the block");
        } else {
            CHECK(s == status_from_name(b->expected + 6), "status %s, expected %s", emr_status_name(s),
                  b->expected);
            CHECK(failure.status == s && failure.record_status == EMR_OK, "failure of a block kind");
        }
    } else {
        CHECK(s == EMR_OK, "status %s (%s), expected %s", emr_status_name(s), emr_last_error_message(),
              b->expected);
        CHECK(strcmp(emr_add_outcome_name(outcome), b->expected) == 0, "outcome %s, expected %s",
              emr_add_outcome_name(outcome), b->expected);
    }

    /* The block on its own: the stateless entry checks give the same
     * entry failure (EMR_ENTRY with its index) where it is stateless. */
    emr_user_states *changes = NULL;
    size_t failed_index = 999;
    emr_status failed_status = 0;
    emr_status own = emr_block_verify_and_get_changes(block, b->difficulty, NULL, param_reward, &changes,
                                                      &failed_index, &failed_status);
    if (strcmp(kind, "invalid_entry_signature") == 0 || strcmp(kind, "invalid_entry") == 0) {
        CHECK(own == EMR_ENTRY && failed_index == index && failed_status == status_from_name(kind),
              "own verification: %s index %zu %s", emr_status_name(own), failed_index,
              emr_status_name(failed_status));
    } else if (strcmp(b->expected, "error too_many_entries") == 0) {
        CHECK(own == EMR_TOO_MANY_ENTRIES, "own verification: %s", emr_status_name(own));
    } else if (own == EMR_RECORD) {
        /* Records are checked alone against empty states: only nonces can
         * differ from the chain's view. */
        CHECK(failed_status == EMR_INVALID_NONCE, "own verification: record %s", emr_status_name(failed_status));
    } else {
        CHECK(own == EMR_OK, "own verification: %s (%s)", emr_status_name(own), emr_last_error_message());
    }
    emr_user_states_free(changes);

    /* Its entries read back from the block. */
    size_t count = 99;
    CHECK_OK(emr_block_entry_count(block, &count));
    CHECK(count == b->entry_count, "entry count");
    for (size_t i = 0; i < count && i < b->entry_count; i++) {
        emr_entry *e = NULL;
        uint8_t a[32], w[32];
        CHECK_OK(emr_block_entry(block, i, &e));
        CHECK_OK(emr_entry_id(e, a));
        CHECK_OK(emr_entry_id(b->entries[i], w));
        CHECK(memcmp(a, w, 32) == 0, "entry %zu", i);
        emr_entry_free(e);
    }
    emr_entry *none = NULL;
    CHECK_STATUS(emr_block_entry(block, count, &none), EMR_NOT_FOUND);
    CHECK(none == NULL, "no entry past the end");
    emr_block_free(block);

    uint64_t next = tip_time(chain) + param_block_time;
    for (size_t i = 0; i < b->authorized_count; i++) {
        bool authorized = !b->authorized[i];
        CHECK_OK(emr_chain_is_authorized(chain, b->authorized_hash[i], next, &authorized));
        CHECK(authorized == (bool)b->authorized[i], "doctor %zu authorized at %" PRIu64 ": %d", i, next,
              (int)authorized);
    }
}

/* Whether a grants snapshot authorizes at t, computed in C from its fields. */
static bool snapshot_authorizes(emr_grants *grants, uint64_t t) {
    size_t n = 0;
    bool any = false;
    CHECK_OK(emr_grants_len(grants, &n));
    for (size_t i = 0; i < n; i++) {
        emr_entry *g = NULL;
        uint64_t height = 0, effective = 0, nb = 0, na = 0;
        bool revoked = false;
        CHECK_OK(emr_grants_get(grants, i, &g, &height, &revoked, &effective));
        CHECK_OK(emr_grant_window(g, &nb, &na));
        CHECK_OK(emr_entry_verify(g));
        if (nb <= t && t <= na && (!revoked || effective > t)) any = true;
        emr_entry_free(g);
    }
    return any;
}

#define MAX_HEIGHTS 32

/* The chain opened with a vector's parameters and salt has the vector's
 * chain id (SPEC 5), and its options read back give the same salt. */
static void check_chain_id(emr_chain *chain, const chain_params *p, const char *which) {
    uint8_t id[32];
    memset(id, 0, sizeof id);
    CHECK_OK(emr_chain_id(chain, id));
    CHECK(memcmp(id, p->chain_id, 32) == 0, "the %s chain's id is the vectors' chain_id", which);
    emr_chain_options back;
    CHECK_OK(emr_chain_get_options(chain, &back, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(back.has_salt && memcmp(back.salt, p->salt, EMR_SALT_LEN) == 0 && back.max_future == p->max_future,
          "the %s chain's salt and max_future read back", which);
}

static void test_registry_scenario(void) {
    test_context = "authority chain";
    emr_chain_options o = vector_options(true);
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) exit(1);
    check_chain_id(chain, &authority_params, "authority");
    size_t n = 0;
    CHECK_OK(emr_chain_authority_count(chain, &n));
    CHECK(n == authority_count, "authority count");
    for (size_t i = 0; i < n; i++) {
        uint8_t buf[128];
        size_t len = sizeof buf;
        CHECK_OK(emr_chain_authority(chain, i, buf, &len));
        CHECK(bytes_eq(buf, len, authority_spki[i].data, authority_spki[i].len), "authority %zu", i);
    }

    /* Authorizations after each height, to compare after undo. */
    int seen[MAX_HEIGHTS][3];
    uint64_t seen_time[MAX_HEIGHTS];
    uint64_t height = 0, extended = 0;
    for (size_t i = 0; i < scenario_count; i++) {
        if (strcmp(scenario[i].chain, "authority") != 0) continue;
        if (strcmp(scenario[i].expected, "extended") == 0) extended++;
        run_scenario_block(chain, &scenario[i]);
        CHECK_OK(emr_chain_len(chain, &height));
        if (height > 0 && height <= MAX_HEIGHTS) {
            seen_time[height - 1] = tip_time(chain) + param_block_time;
            for (size_t d = 0; d < doctor_count; d++) {
                bool a = false;
                CHECK_OK(emr_chain_is_authorized(chain, doctor_hash[d], seen_time[height - 1], &a));
                seen[height - 1][d] = a;
            }
        }
    }
    test_context = "grants after the scenario";
    CHECK(height == extended && extended >= 7, "%" PRIu64 " blocks extended, not %" PRIu64, extended, height);
    /* D1: its first grant revoked, then renewed; the snapshot agrees with
     * is_authorized at every time that matters. */
    emr_grants *grants = NULL;
    CHECK_OK(emr_chain_grants(chain, doctor_hash[0], &grants));
    size_t len = 0;
    CHECK_OK(emr_grants_len(grants, &len));
    CHECK(len == 2, "D1 has 2 grants, not %zu", len);
    bool revoked = false;
    uint64_t h = 99, eff = 0;
    CHECK_OK(emr_grants_get(grants, 0, NULL, &h, &revoked, &eff));
    CHECK(h == 0 && revoked && eff > 0, "D1's first grant: height %" PRIu64 ", revoked %d", h, (int)revoked);
    CHECK_OK(emr_grants_get(grants, 1, NULL, NULL, &revoked, &eff));
    CHECK(!revoked && eff == 0, "D1's renewed grant is not revoked");
    emr_entry *g = NULL;
    CHECK_STATUS(emr_grants_get(grants, 2, &g, NULL, NULL, NULL), EMR_NOT_FOUND);
    CHECK(g == NULL, "grant NULL past the end");
    for (uint64_t t = 1700000000; t < 1700000200; t += 7) {
        bool a = false;
        CHECK_OK(emr_chain_is_authorized(chain, doctor_hash[0], t, &a));
        CHECK(a == snapshot_authorizes(grants, t), "snapshot and is_authorized agree at %" PRIu64, t);
    }
    emr_grants_free(grants);
    emr_grants *empty = NULL;
    uint8_t nobody[20] = {1, 2, 3};
    CHECK_OK(emr_chain_grants(chain, nobody, &empty));
    CHECK_OK(emr_grants_len(empty, &len));
    CHECK(len == 0, "no grants for an unknown doctor");
    emr_grants_free(empty);

    /* Undo block by block: the registry follows, back to nothing. */
    test_context = "undo across grants and revocations";
    while (height > 0) {
        emr_block *removed = NULL;
        CHECK_OK(emr_chain_undo_last_block(chain, &removed));
        emr_block_free(removed);
        height--;
        for (size_t d = 0; d < doctor_count; d++) {
            bool a = false;
            uint64_t t = height > 0 ? seen_time[height - 1] : 1700000012;
            CHECK_OK(emr_chain_is_authorized(chain, doctor_hash[d], t, &a));
            CHECK(a == (height > 0 ? seen[height - 1][d] : 0), "doctor %zu at height %" PRIu64, d, height);
        }
    }
    CHECK_OK(emr_chain_grants(chain, doctor_hash[0], &grants));
    CHECK_OK(emr_grants_len(grants, &len));
    CHECK(len == 0, "no grants after undoing every block");
    emr_grants_free(grants);
    emr_chain_free(chain);
}

/* What a caller built with an earlier header has: emr_chain_options of
 * version 1 and of version 2. */
typedef struct {
    uint32_t version;
    bool use_stored_params;
    emr_difficulty initial_difficulty;
    uint64_t window, block_time, max_adjust, block_reward;
} options_v1;

typedef struct {
    uint32_t version;
    bool use_stored_params;
    emr_difficulty initial_difficulty;
    uint64_t window, block_time, max_adjust, block_reward;
    const uint8_t *const *authorities;
    const size_t *authority_lens;
    size_t authority_count;
} options_v2;

static void test_open_chain_scenario(void) {
    test_context = "open chain";
    emr_chain_options o = vector_options(false);
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) exit(1);
    check_chain_id(chain, &open_params, "open");
    size_t n = 99;
    CHECK_OK(emr_chain_authority_count(chain, &n));
    CHECK(n == 0, "an open chain has no authorities");
    for (size_t i = 0; i < scenario_count; i++) {
        if (strcmp(scenario[i].chain, "open") == 0) run_scenario_block(chain, &scenario[i]);
    }
    emr_chain_free(chain);
}

/* Callers built with the earlier headers: their structs are read and
 * written only as far as they reach; what they lack gets the defaults
 * (max_future 60, a random salt, so another chain id than the vectors'). */
static void test_earlier_options_versions(void) {
    test_context = "options version 1";
    struct {
        options_v1 v1;
        uint8_t guard[64];
    } o;
    memset(&o, 0x5a, sizeof o);
    CHECK_OK(emr_chain_options_default((emr_chain_options *)&o.v1, 1));
    CHECK(o.v1.version == 1 && o.v1.window == 10, "version-1 defaults");
    for (size_t i = 0; i < sizeof o.guard; i++) CHECK(o.guard[i] == 0x5a, "nothing written past version 1");
    o.v1.initial_difficulty.lo = open_params.initial_lo;
    o.v1.initial_difficulty.hi = open_params.initial_hi;
    o.v1.block_reward = open_params.reward;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, (const emr_chain_options *)&o.v1, &chain));
    if (chain == NULL) exit(1);
    size_t n = 99;
    CHECK_OK(emr_chain_authority_count(chain, &n));
    CHECK(n == 0, "an open chain has no authorities");
    /* The open scenario's blocks without entries: entries name the
     * vectors' chain, which this one (another salt) is not. */
    for (size_t i = 0; i < scenario_count; i++) {
        if (strcmp(scenario[i].chain, "open") == 0 && scenario[i].entry_count == 0) {
            run_scenario_block(chain, &scenario[i]);
        }
    }
    test_context = "options version 1";
    uint8_t id[32];
    CHECK_OK(emr_chain_id(chain, id));
    CHECK(memcmp(id, open_params.chain_id, 32) != 0, "a random salt: another chain id");
    emr_chain_options full;
    CHECK_OK(emr_chain_get_options(chain, &full, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(full.max_future == EMR_DEFAULT_MAX_FUTURE_SECONDS && full.has_salt, "the defaults for what version 1 lacks");
    memset(&o, 0x5a, sizeof o);
    CHECK_OK(emr_chain_get_options(chain, (emr_chain_options *)&o.v1, 1));
    CHECK(o.v1.version == 1 && o.v1.initial_difficulty.lo == open_params.initial_lo, "version-1 options read back");
    for (size_t i = 0; i < sizeof o.guard; i++) CHECK(o.guard[i] == 0x5a, "nothing written past version 1");
    CHECK_STATUS(emr_chain_get_options(chain, (emr_chain_options *)&o.v1, EMR_CHAIN_OPTIONS_VERSION + 1),
                 EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_chain_options_default((emr_chain_options *)&o.v1, 0), EMR_INVALID_ARGUMENT);
    emr_chain_free(chain);

    test_context = "options version 2";
    struct {
        options_v2 v2;
        uint8_t guard[64];
    } o2;
    memset(&o2, 0x5a, sizeof o2);
    CHECK_OK(emr_chain_options_default((emr_chain_options *)&o2.v2, 2));
    CHECK(o2.v2.version == 2 && o2.v2.authority_count == 0 && o2.v2.authorities == NULL, "version-2 defaults");
    for (size_t i = 0; i < sizeof o2.guard; i++) CHECK(o2.guard[i] == 0x5a, "nothing written past version 2");
    const uint8_t *keys[4];
    size_t lens[4];
    for (size_t i = 0; i < authority_count; i++) {
        keys[i] = authority_spki[i].data;
        lens[i] = authority_spki[i].len;
    }
    o2.v2.initial_difficulty.lo = authority_params.initial_lo;
    o2.v2.authorities = keys;
    o2.v2.authority_lens = lens;
    o2.v2.authority_count = authority_count;
    CHECK_OK(emr_chain_open(NULL, (const emr_chain_options *)&o2.v2, &chain));
    if (chain == NULL) exit(1);
    CHECK_OK(emr_chain_authority_count(chain, &n));
    CHECK(n == authority_count, "version-2 authorities");
    CHECK_OK(emr_chain_get_options(chain, &full, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(full.max_future == EMR_DEFAULT_MAX_FUTURE_SECONDS && full.has_salt && full.authority_count == authority_count,
          "version 3 read back from a version-2 chain");
    memset(&o2, 0x5a, sizeof o2);
    CHECK_OK(emr_chain_get_options(chain, (emr_chain_options *)&o2.v2, 2));
    CHECK(o2.v2.version == 2 && o2.v2.authority_count == authority_count, "version-2 options read back");
    for (size_t i = 0; i < sizeof o2.guard; i++) CHECK(o2.guard[i] == 0x5a, "nothing written past version 2");
    emr_chain_free(chain);
}

static void test_reopen_with_other_authorities(const char *dir) {
    test_context = "reopen with other authorities";
    char path[4096];
    snprintf(path, sizeof path, "%s/authorities.db", dir);
    emr_chain_options o = vector_options(true);
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(path, &o, &chain));
    emr_chain_options back;
    CHECK_OK(emr_chain_get_options(chain, &back, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(back.authority_count == authority_count, "authorities read back");
    for (size_t i = 0; i < back.authority_count && i < authority_count; i++) {
        CHECK(bytes_eq(back.authorities[i], back.authority_lens[i], authority_spki[i].data, authority_spki[i].len),
              "authority %zu read back", i);
    }
    /* The options read back open the same chain again (after this handle
     * lets go of the file). */
    emr_chain *mem = NULL;
    CHECK_OK(emr_chain_open(NULL, &back, &mem));
    size_t n = 0;
    CHECK_OK(emr_chain_authority_count(mem, &n));
    CHECK(n == authority_count, "options from get_options make the same authorities");
    emr_chain_free(mem);
    emr_chain_free(chain);

    emr_chain_options none = vector_options(false);
    CHECK_STATUS(emr_chain_open(path, &none, &chain), EMR_INVALID_ARGUMENT);
    CHECK(chain == NULL, "no chain on failure");
    emr_chain_options one = vector_options(true);
    one.authority_count = 1;
    CHECK_STATUS(emr_chain_open(path, &one, &chain), EMR_INVALID_ARGUMENT);
    /* Reversed order is another list. */
    const uint8_t *rev[2] = {authority_spki[1].data, authority_spki[0].data};
    size_t rev_lens[2] = {authority_spki[1].len, authority_spki[0].len};
    emr_chain_options swapped = vector_options(true);
    swapped.authorities = rev;
    swapped.authority_lens = rev_lens;
    CHECK_STATUS(emr_chain_open(path, &swapped, &chain), EMR_INVALID_ARGUMENT);
    CHECK_OK(emr_chain_open(path, &o, &chain));
    emr_chain_free(chain);
    CHECK_OK(emr_chain_open(path, NULL, &chain));
    CHECK_OK(emr_chain_authority_count(chain, &n));
    CHECK(n == authority_count, "stored authorities on open without options");
    emr_chain_free(chain);

    /* Bad authorities in the options. */
    emr_chain_options bad = vector_options(true);
    const uint8_t *junk[1] = {(const uint8_t *)"not a key"};
    size_t junk_len[1] = {9};
    bad.authorities = junk;
    bad.authority_lens = junk_len;
    bad.authority_count = 1;
    CHECK_STATUS(emr_chain_open(NULL, &bad, &chain), EMR_INVALID_ARGUMENT);
    bad.authorities = NULL;
    CHECK_STATUS(emr_chain_open(NULL, &bad, &chain), EMR_NULL_ARGUMENT);
    const uint8_t *twice[2] = {authority_spki[0].data, authority_spki[0].data};
    size_t twice_lens[2] = {authority_spki[0].len, authority_spki[0].len};
    bad.authorities = twice;
    bad.authority_lens = twice_lens;
    bad.authority_count = 2;
    CHECK_STATUS(emr_chain_open(NULL, &bad, &chain), EMR_INVALID_ARGUMENT);
    unlink(path);
}

/* ---- entries signed here, mining and the pool ------------------------ */

/* A grant for the chain `chain_id`. */
static emr_entry *grant_for(emr_key *authority, const uint8_t *chain_id, emr_key *doctor, uint64_t nb, uint64_t na) {
    uint8_t der[128];
    size_t len = sizeof der;
    CHECK_OK(emr_key_public_key_der(doctor, der, &len));
    emr_entry *g = NULL;
    const char *licence = "GMC 1234567, Dr Test";
    CHECK_OK(emr_grant_sign(authority, chain_id, der, len, licence, strlen(licence), nb, na, &g));
    if (g == NULL) exit(1);
    return g;
}

static emr_block *mine(const uint8_t *previous, uint64_t height, emr_record *const *records, size_t nr,
                       emr_entry *const *entries, size_t ne, uint64_t t) {
    static const uint8_t miner[20] = {0x6d};
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    emr_difficulty d = {1, 0};
    CHECK_OK(emr_mine_block_with_entries(previous, height, miner, (const emr_record *const *)records, nr,
                                         (const emr_entry *const *)entries, ne, t, d, &opts, &outcome, &block,
                                         NULL));
    CHECK(outcome == EMR_MINE_FOUND && block != NULL, "mined");
    if (block == NULL) exit(1);
    return block;
}

static void test_signed_entries_mining_and_pool(void) {
    test_context = "entries signed here";
    emr_key *authority = NULL, *outsider = NULL, *doctor = NULL, *doctor2 = NULL, *doctor3 = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &authority));
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &outsider));
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctor));
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &doctor2));
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &doctor3));
    uint8_t auth_der[128], h[3][20];
    size_t auth_len = sizeof auth_der;
    CHECK_OK(emr_key_public_key_der(authority, auth_der, &auth_len));
    CHECK_OK(emr_key_public_key_hash(doctor, h[0]));
    CHECK_OK(emr_key_public_key_hash(doctor2, h[1]));
    CHECK_OK(emr_key_public_key_hash(doctor3, h[2]));

    /* A chain with this authority: entries are signed for its id. */
    const uint8_t *keys[1] = {auth_der};
    size_t lens[1] = {auth_len};
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    o.authorities = keys;
    o.authority_lens = lens;
    o.authority_count = 1;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) exit(1);
    uint8_t chain_id[32], named[32];
    CHECK_OK(emr_chain_id(chain, chain_id));

    emr_entry *grant = grant_for(authority, chain_id, doctor, 0, UINT64_MAX);
    CHECK_OK(emr_entry_verify(grant));
    CHECK_OK(emr_entry_chain_id(grant, named));
    CHECK(memcmp(named, chain_id, 32) == 0, "the grant names the chain");
    uint8_t grant_id[32], dh[20];
    CHECK_OK(emr_entry_id(grant, grant_id));
    CHECK_OK(emr_grant_dr_hash(grant, dh));
    CHECK(memcmp(dh, h[0], 20) == 0, "grant names the doctor");
    /* Backdated to before the block that will carry it (SPEC v1.2: a
     * revocation rides only in a block whose time has reached it). */
    emr_entry *revocation = NULL;
    CHECK_OK(emr_revocation_sign(authority, chain_id, grant_id, 1700000025, &revocation));
    CHECK_OK(emr_entry_verify(revocation));
    CHECK_OK(emr_entry_chain_id(revocation, named));
    CHECK(memcmp(named, chain_id, 32) == 0, "the revocation names the chain");

    /* What could never verify is refused when signing. */
    emr_entry *e = (emr_entry *)&e;
    uint8_t der[128];
    size_t der_len = sizeof der;
    CHECK_OK(emr_key_public_key_der(doctor, der, &der_len));
    CHECK_STATUS(emr_grant_sign(authority, chain_id, der, der_len, "x", 1, 10, 9, &e), EMR_INVALID_ENTRY);
    CHECK(e == NULL, "out NULL on failure");
    char long_licence[101];
    memset(long_licence, 'a', sizeof long_licence);
    CHECK_STATUS(emr_grant_sign(authority, chain_id, der, der_len, long_licence, 101, 0, 1, &e), EMR_INVALID_ENTRY);
    CHECK_OK(emr_grant_sign(authority, chain_id, der, der_len, long_licence, 100, 0, 1, &e));
    emr_entry_free(e);
    CHECK_STATUS(emr_grant_sign(authority, chain_id, der, der_len - 1, "x", 1, 0, 1, &e), EMR_INVALID_ENTRY);
    CHECK_STATUS(emr_grant_sign(authority, chain_id, der, der_len, "\xff", 1, 0, 1, &e), EMR_INVALID_ENTRY);
    CHECK_STATUS(emr_grant_new(chain_id, 32, der, der_len, "\xff", 1, 0, 1, auth_der, auth_len, NULL, 0, &e),
                 EMR_INVALID_ENTRY);
    CHECK_STATUS(emr_revocation_new(chain_id, 32, grant_id, 33, 0, auth_der, auth_len, NULL, 0, &e),
                 EMR_INVALID_ENTRY);
    /* A chain id must be 32 bytes: what an entry cannot hold is refused
     * when building it. */
    CHECK_STATUS(emr_grant_new(chain_id, 31, der, der_len, "x", 1, 0, 1, auth_der, auth_len, NULL, 0, &e),
                 EMR_INVALID_ENTRY);
    CHECK(e == NULL, "out NULL on failure");
    CHECK_STATUS(emr_revocation_new(chain_id, 33, grant_id, 32, 0, auth_der, auth_len, NULL, 0, &e),
                 EMR_INVALID_ENTRY);
    CHECK_STATUS(emr_grant_new(NULL, 32, der, der_len, "x", 1, 0, 1, auth_der, auth_len, NULL, 0, &e),
                 EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_revocation_new(NULL, 32, grant_id, 32, 0, auth_der, auth_len, NULL, 0, &e), EMR_NULL_ARGUMENT);

    test_context = "mining with entries";
    uint8_t zero[32] = {0}, id[32];
    emr_block *b0 = mine(zero, 0, NULL, 0, &grant, 1, 1700000000);
    size_t count = 0;
    CHECK_OK(emr_block_entry_count(b0, &count));
    CHECK(count == 1, "one entry mined");
    emr_user_states *changes = NULL;
    emr_difficulty d1 = {1, 0};
    CHECK_OK(emr_block_verify_and_get_changes(b0, d1, NULL, 10000, &changes, NULL, NULL));
    emr_user_states_free(changes);
    uint8_t buf[4096];
    size_t len = sizeof buf;
    CHECK_OK(emr_block_serialize(b0, buf, &len));
    emr_block *parsed = NULL;
    CHECK_OK(emr_block_parse(buf, len, &parsed));
    CHECK_OK(emr_block_entry_count(parsed, &count));
    CHECK(count == 1, "entries survive the encoding");
    emr_block_free(parsed);
    emr_add_outcome added = 0;
    CHECK_OK(emr_chain_add_block(chain, b0, NULL, &added, NULL));
    CHECK_OK(emr_block_id(b0, id));
    bool a = false;
    CHECK_OK(emr_chain_is_authorized(chain, h[0], 1700000001, &a));
    CHECK(a, "the granted doctor is authorized");

    /* The granted doctor writes; another doctor is refused. */
    emr_record *r1 = NULL, *r2 = NULL;
    uint8_t patient[20] = {0x70};
    CHECK_OK(emr_record_sign(doctor, patient, 20, "Rx", 2, 1, &r1));
    CHECK_OK(emr_record_sign(doctor3, patient, 20, "Rx", 2, 1, &r2));
    emr_block *b1 = mine(id, 1, &r2, 1, NULL, 0, 1700000010);
    emr_block_failure failure;
    CHECK_STATUS(emr_chain_add_block(chain, b1, NULL, &added, &failure), EMR_RECORD);
    note_status(failure.record_status);
    CHECK(failure.record_status == EMR_UNAUTHORIZED_DOCTOR && failure.record_index == 0, "unauthorized_doctor");
    emr_block_free(b1);
    b1 = mine(id, 1, &r1, 1, NULL, 0, 1700000010);
    CHECK_OK(emr_chain_add_block(chain, b1, NULL, &added, NULL));
    emr_block_free(b1);

    emr_entry *many[26];
    for (int i = 0; i < 26; i++) many[i] = grant;
    emr_mine_outcome outcome = 0;
    emr_block *none = NULL;
    static const uint8_t miner[20] = {0};
    CHECK_STATUS(emr_mine_block_with_entries(id, 1, miner, NULL, 0, (const emr_entry *const *)many, 26, 0, d1, NULL,
                                             &outcome, &none, NULL),
                 EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_mine_block_with_entries(id, 1, miner, NULL, 0, NULL, 1, 0, d1, NULL, &outcome, &none, NULL),
                 EMR_NULL_ARGUMENT);

    test_context = "the pool with entries";
    emr_submit_outcome so = 0;
    emr_entry *grant2 = grant_for(authority, chain_id, doctor2, 0, UINT64_MAX);
    CHECK_OK(emr_chain_submit_entry(chain, grant2, &so));
    CHECK(so == EMR_SUBMIT_READY, "grant pooled");
    CHECK_OK(emr_chain_submit_entry(chain, grant2, &so));
    CHECK(so == EMR_SUBMIT_ALREADY_PENDING, "second time already pending");
    CHECK_STATUS(emr_chain_submit_entry(chain, grant, &so), EMR_DUPLICATE_GRANT);
    emr_entry *foreign = grant_for(outsider, chain_id, doctor3, 0, UINT64_MAX);
    CHECK_STATUS(emr_chain_submit_entry(chain, foreign, &so), EMR_UNKNOWN_AUTHORITY);
    emr_entry *stray = NULL;
    uint8_t unknown_id[32] = {9};
    CHECK_OK(emr_revocation_sign(authority, chain_id, unknown_id, 0, &stray));
    CHECK_STATUS(emr_chain_submit_entry(chain, stray, &so), EMR_UNKNOWN_GRANT);
    CHECK_OK(emr_chain_pending_entry_count(chain, &count));
    CHECK(count == 1, "one pending entry");
    emr_entry *pending = NULL;
    CHECK_OK(emr_chain_pending_entry(chain, 0, &pending));
    uint8_t pid[32], gid2[32];
    CHECK_OK(emr_entry_id(pending, pid));
    CHECK_OK(emr_entry_id(grant2, gid2));
    CHECK(memcmp(pid, gid2, 32) == 0, "the pending entry");
    emr_entry_free(pending);
    CHECK_STATUS(emr_chain_pending_entry(chain, 1, &pending), EMR_NOT_FOUND);

    /* doctor2 is authorized by the pending grant; doctor3 by nothing. */
    emr_record *r3 = NULL, *r4 = NULL;
    CHECK_OK(emr_record_sign(doctor2, patient, 20, "Rx2", 3, 1, &r3));
    CHECK_OK(emr_record_sign(doctor3, patient, 20, "Rx3", 3, 1, &r4));
    CHECK_OK(emr_chain_submit(chain, r3, &so));
    CHECK_STATUS(emr_chain_submit(chain, r4, &so), EMR_UNAUTHORIZED_DOCTOR);
    uint64_t t = 1700000020;
    emr_block *tmpl = NULL;
    CHECK_OK(emr_chain_template(chain, miner, &t, &tmpl));
    size_t nr = 0;
    CHECK_OK(emr_block_entry_count(tmpl, &count));
    CHECK_OK(emr_block_record_count(tmpl, &nr));
    CHECK(count == 1 && nr == 1, "the template carries the entry and the record (%zu, %zu)", count, nr);
    emr_block_free(tmpl);
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_block *mined = NULL;
    CHECK_OK(emr_chain_mine_next(chain, miner, &t, &opts, &outcome, &mined, &added));
    CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED, "mined the next block");
    emr_block_free(mined);
    CHECK_OK(emr_chain_is_authorized(chain, h[1], t, &a));
    CHECK(a, "doctor2 authorized after the block");
    CHECK_OK(emr_chain_pending_entry_count(chain, &count));
    CHECK(count == 0, "the pool is empty");

    /* Revoking through the pool ends doctor's authorization at effective. */
    CHECK_OK(emr_chain_submit_entry(chain, revocation, &so));
    CHECK(so == EMR_SUBMIT_READY, "a revocation whose time has come is ready");
    t = 1700000030;
    CHECK_OK(emr_chain_mine_next(chain, miner, &t, &opts, &outcome, &mined, &added));
    CHECK_OK(emr_block_entry_count(mined, &count));
    CHECK(count == 1, "the block carries the revocation");
    emr_block_free(mined);
    CHECK_OK(emr_chain_is_authorized(chain, h[0], 1700000024, &a));
    CHECK(a, "before effective");
    CHECK_OK(emr_chain_is_authorized(chain, h[0], 1700000025, &a));
    CHECK(!a, "from effective on");
    CHECK_STATUS(emr_chain_submit_entry(chain, revocation, &so), EMR_ALREADY_REVOKED);

    /* An open chain refuses every entry: one made for another chain as
     * EMR_WRONG_CHAIN, and one made for it as EMR_UNKNOWN_AUTHORITY. */
    emr_chain *open = NULL;
    CHECK_OK(emr_chain_open(NULL, NULL, &open));
    CHECK_STATUS(emr_chain_submit_entry(open, grant, &so), EMR_WRONG_CHAIN);
    uint8_t open_id[32];
    CHECK_OK(emr_chain_id(open, open_id));
    emr_entry *for_open = grant_for(authority, open_id, doctor, 0, UINT64_MAX);
    CHECK_STATUS(emr_chain_submit_entry(open, for_open, &so), EMR_UNKNOWN_AUTHORITY);
    emr_entry_free(for_open);
    CHECK_OK(emr_chain_is_authorized(open, h[0], 1700000001, &a));
    CHECK(!a, "nobody holds a grant in an open chain");
    emr_chain_free(open);

    test_context = "entries: bad input";
    CHECK_STATUS(emr_grant_sign(NULL, chain_id, der, der_len, "x", 1, 0, 1, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_grant_sign(authority, NULL, der, der_len, "x", 1, 0, 1, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_grant_sign(authority, chain_id, NULL, 5, "x", 1, 0, 1, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_grant_sign(authority, chain_id, der, der_len, NULL, 1, 0, 1, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_grant_sign(authority, chain_id, der, der_len, "x", 1, 0, 1, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_revocation_sign(authority, chain_id, NULL, 0, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_revocation_sign(authority, NULL, grant_id, 0, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_revocation_sign(NULL, chain_id, grant_id, 0, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_chain_id(NULL, named), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_chain_id(grant, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_id(NULL, named), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_id(chain, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_verify(NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_id(NULL, id), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_id(grant, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_get_type(grant, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_parse(NULL, 3, &e), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_entry_parse(NULL, 0, &e), EMR_DECODE);
    CHECK_STATUS(emr_entry_parse((const uint8_t *)"G\x01", 2, &e), EMR_DECODE);
    CHECK_STATUS(emr_entry_clone(NULL, &e), EMR_NULL_ARGUMENT);
    len = 0;
    CHECK_STATUS(emr_entry_serialize(grant, NULL, &len), EMR_BUFFER_TOO_SMALL);
    size_t need = len;
    CHECK(need > 0, "size asked");
    len = need - 1;
    memset(buf, 0x77, sizeof buf);
    CHECK_STATUS(emr_entry_serialize(grant, buf, &len), EMR_BUFFER_TOO_SMALL);
    CHECK(len == need && buf[0] == 0x77, "nothing written to a short buffer");
    CHECK_STATUS(emr_entry_serialize(grant, buf, NULL), EMR_NULL_ARGUMENT);
    len = 5;
    CHECK_STATUS(emr_entry_serialize(grant, NULL, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_grant_window(revocation, NULL, NULL), EMR_INVALID_ARGUMENT);
    emr_grants *sink = NULL;
    CHECK_STATUS(emr_chain_grants(chain, NULL, &sink), EMR_NULL_ARGUMENT);
    CHECK(sink == NULL, "no snapshot on failure");
    CHECK_STATUS(emr_chain_is_authorized(chain, h[0], 0, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_is_authorized(NULL, h[0], 0, &a), EMR_NULL_ARGUMENT);
    size_t len_before = len;
    CHECK_STATUS(emr_chain_authority(chain, 1, buf, &len), EMR_NOT_FOUND);
    CHECK(len == len_before, "no size for an authority past the end");
    CHECK_STATUS(emr_chain_submit_entry(chain, NULL, &so), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_block_entry_count(NULL, &count), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_grants_len(NULL, &count), EMR_NULL_ARGUMENT);
    emr_entry_free(NULL);
    emr_grants_free(NULL);

    emr_entry_free(grant);
    emr_entry_free(grant2);
    emr_entry_free(foreign);
    emr_entry_free(stray);
    emr_entry_free(revocation);
    emr_record_free(r1);
    emr_record_free(r2);
    emr_record_free(r3);
    emr_record_free(r4);
    emr_block_free(b0);
    emr_chain_free(chain);
    emr_key_free(authority);
    emr_key_free(outsider);
    emr_key_free(doctor);
    emr_key_free(doctor2);
    emr_key_free(doctor3);
}

/* ---- sealed prescriptions -------------------------------------------- */

typedef struct {
    char name[64];
    emr_key *key;
    bytes_t spki;
    uint8_t key_hash[20];
} recipient;

static recipient recipients[8];
static size_t recipient_count = 0;

static recipient *recipient_named(const char *name) {
    for (size_t i = 0; i < recipient_count; i++) {
        if (strcmp(recipients[i].name, name) == 0) return &recipients[i];
    }
    fprintf(stderr, "unknown recipient %s\n", name);
    exit(2);
}

/* Opens `record` with `key` and checks the outcome: the text `want` (with
 * status EMR_OK) or the status `want_status`. */
static void check_open(const emr_record *record, const emr_key *key, const bytes_t *want, emr_status want_status,
                       const char *who) {
    uint8_t buf[256];
    size_t len = sizeof buf;
    emr_status s = emr_record_open(record, key, buf, &len);
    note_status(s);
    if (want_status == EMR_OK) {
        CHECK(s == EMR_OK && bytes_eq(buf, len, want->data, want->len), "%s opens to the text (%s)", who,
              emr_status_name(s));
    } else {
        CHECK(s == want_status, "%s: %s, expected %s", who, emr_status_name(s), emr_status_name(want_status));
    }
}

static void test_sealed_vectors(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sealed.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0, records = 0, opens = 0;
    emr_record *cur = NULL;
    char name[128] = "";
    while (getline(&line, &cap, f) > 0) {
        char *t[MAX_TOKENS];
        int n = tokenize(line, t);
        if (n == 0) continue;
        if (strcmp(t[0], "RECIPIENT") == 0 && recipient_count < 8) {
            recipient *r = &recipients[recipient_count++];
            snprintf(r->name, sizeof r->name, "%s", decode_name(t[1]));
            r->spki = hex_decode(t[3]);
            bytes_t pkcs8 = hex_decode(t[4]), h = hex_decode(t[5]);
            r->key = key_from(&pkcs8);
            memcpy(r->key_hash, h.data, 20);
            uint8_t mine[20];
            CHECK_OK(emr_key_public_key_hash(r->key, mine));
            CHECK(memcmp(mine, h.data, 20) == 0, "recipient %s key hash", r->name);
            bytes_free(&pkcs8);
            bytes_free(&h);
        } else if (strcmp(t[0], "SEALED") == 0) {
            snprintf(name, sizeof name, "sealed %s", decode_name(t[1]));
            test_context = name;
            records++;
            vec_record r = parse_record(t + 4);
            emr_record_fields fields = fields_of(&r);
            emr_status want = strcmp(t[2], "valid") == 0 ? EMR_OK : status_from_name(t[2]);
            CHECK_STATUS(emr_record_fields_verify(&fields, parse_u64(t[3])), want);
            CHECK_OK(emr_record_new(&fields, &cur));
            CHECK_STATUS(emr_record_verify(cur, parse_u64(t[3])), want);
            bool sealed = false;
            CHECK_OK(emr_record_is_sealed(cur, &sealed));
            CHECK(sealed, "is sealed");
            vec_record_free(&r);
        } else if (strcmp(t[0], "OPENS") == 0 && cur != NULL) {
            opens++;
            recipient *who = recipient_named(decode_name(t[1]));
            bytes_t text = hex_decode(t[2]);
            emr_status want = strcmp(t[3], "-") == 0 ? EMR_OK : status_from_name(t[3]);
            check_open(cur, who->key, &text, want, who->name);
            bytes_free(&text);
        } else if (strcmp(t[0], "END") == 0) {
            emr_record_free(cur);
            cur = NULL;
        }
    }
    free(line);
    fclose(f);
    CHECK(records >= 22 && opens >= 20 && recipient_count == 7, "read %zu sealed records, %zu openings", records,
          opens);
}

/* base64url without padding, for tampering with envelopes byte by byte. */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_decode(const char *in, size_t n, uint8_t *out) {
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(B64, in[i]);
        if (p == NULL || *p == 0) return (size_t)-1;
        acc = (acc << 6) | (uint32_t)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    return len;
}

static size_t b64_encode(const uint8_t *in, size_t n, char *out) {
    size_t len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[len++] = B64[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out[len++] = B64[(acc << (6 - bits)) & 63];
    return len;
}

static void test_sealed_here(void) {
    test_context = "sealed here";
    recipient *patient = recipient_named("patient_p256"), *pharmacy = recipient_named("pharmacy"),
              *nurse = recipient_named("nurse"), *k1 = recipient_named("patient_k1"),
              *stranger = recipient_named("stranger");
    emr_key *doctor = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctor));
    const char *text = "Amoxicillin 500 mg, 3x daily, 7 days";
    bytes_t want = {(uint8_t *)text, strlen(text)};
    const uint8_t *keys[5] = {patient->spki.data, pharmacy->spki.data, nurse->spki.data, k1->spki.data,
                              stranger->spki.data};
    size_t lens[5] = {patient->spki.len, pharmacy->spki.len, nurse->spki.len, k1->spki.len, stranger->spki.len};

    emr_record *rec = NULL;
    CHECK_OK(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, strlen(text), 1, keys, lens, 2, true, &rec));
    if (rec == NULL) exit(1);
    CHECK_OK(emr_record_verify(rec, 0));
    bool sealed = false;
    CHECK_OK(emr_record_is_sealed(rec, &sealed));
    CHECK(sealed, "sealed");
    char stored[1100];
    size_t stored_len = sizeof stored - 1;
    CHECK_OK(emr_record_prescription(rec, (uint8_t *)stored, &stored_len));
    stored[stored_len < sizeof stored ? stored_len : sizeof stored - 1] = 0;
    CHECK(stored_len > 8 && memcmp(stored, "sealed1:", 8) == 0 && strstr(stored, "Amoxicillin") == NULL,
          "the ledger holds only the sealed text");
    check_open(rec, patient->key, &want, EMR_OK, "patient");
    check_open(rec, pharmacy->key, &want, EMR_OK, "pharmacy");
    check_open(rec, doctor, &want, EMR_OK, "the doctor (include_self)");
    check_open(rec, nurse->key, &want, EMR_NOT_RECIPIENT, "nurse");
    check_open(rec, stranger->key, &want, EMR_NOT_RECIPIENT, "stranger");

    /* The buffer convention. */
    size_t len = 0;
    CHECK_STATUS(emr_record_open(rec, patient->key, NULL, &len), EMR_BUFFER_TOO_SMALL);
    CHECK(len == strlen(text), "size needed");
    uint8_t buf[256];
    memset(buf, 0x77, sizeof buf);
    len = strlen(text) - 1;
    CHECK_STATUS(emr_record_open(rec, patient->key, buf, &len), EMR_BUFFER_TOO_SMALL);
    CHECK(len == strlen(text) && buf[0] == 0x77, "nothing written to a short buffer");
    len = strlen(text);
    CHECK_OK(emr_record_open(rec, patient->key, buf, &len));
    CHECK(bytes_eq(buf, len, want.data, want.len), "exact buffer");

    /* Every envelope byte changed, one at a time: never another text. */
    test_context = "tampered envelopes";
    uint8_t env[800];
    size_t env_len = b64_decode(stored + 8, stored_len - 8, env);
    CHECK(env_len != (size_t)-1 && env_len > 100 && env[0] == 1 && env[1] == 3, "envelope decoded (%zu bytes)",
          env_len);
    emr_record_fields fields;
    CHECK_OK(emr_record_get_fields(rec, &fields));
    /* The slots: patient, pharmacy, the doctor (added last), 102 bytes each
     * after the 2-byte header; the ciphertext after them. A byte of a slot
     * changes what that reader can open, and nobody else's text. */
    const emr_key *readers[3] = {patient->key, pharmacy->key, doctor};
    const size_t slot = 20 + 1 + 33 + 48;
    size_t checked = 0;
    for (size_t i = 0; i < env_len && env_len < sizeof env; i++) {
        uint8_t saved = env[i];
        env[i] ^= (uint8_t)(1u << (i % 8));
        char tampered[1100] = "sealed1:";
        size_t tl = 8 + b64_encode(env, env_len, tampered + 8);
        env[i] = saved;
        emr_record_fields tf = fields;
        tf.prescription = tampered;
        tf.prescription_len = tl;
        emr_record *bad = NULL;
        CHECK_OK(emr_record_new(&tf, &bad));
        if (bad == NULL) continue;
        int owner = (i >= 2 && i < 2 + 3 * slot) ? (int)((i - 2) / slot) : -1;
        for (int who = 0; who < 3; who++) {
            len = sizeof buf;
            emr_status s = emr_record_open(bad, readers[who], buf, &len);
            note_status(s);
            bool refused = s == EMR_DECRYPT_FAILED || s == EMR_NOT_RECIPIENT || s == EMR_INVALID_PRESCRIPTION;
            CHECK(refused || (s == EMR_OK && bytes_eq(buf, len, want.data, want.len)), "byte %zu, reader %d: %s", i,
                  who, emr_status_name(s));
            if (owner == -1 || owner == who) {
                CHECK(refused, "byte %zu refused to reader %d (%s)", i, who, emr_status_name(s));
            } else {
                /* Unless the byte makes the whole envelope malformed (a
                 * curve byte, a point off its curve). */
                CHECK(s == EMR_OK || s == EMR_INVALID_PRESCRIPTION,
                      "byte %zu of another slot leaves reader %d's text (%s)", i, who, emr_status_name(s));
            }
        }
        checked++;
        emr_record_free(bad);
    }
    CHECK(checked == env_len, "every byte tampered (%zu of %zu)", checked, env_len);

    /* The envelope is bound to its record: another nonce or patient does not
     * open (the signature aside, which opening does not check). */
    emr_record_fields moved = fields;
    moved.nonce = 2;
    emr_record *other = NULL;
    CHECK_OK(emr_record_new(&moved, &other));
    check_open(other, patient->key, &want, EMR_DECRYPT_FAILED, "moved to another nonce");
    emr_record_free(other);
    uint8_t other_dr[20];
    memcpy(other_dr, fields.dr_hash, 20);
    other_dr[0] ^= 1;
    moved = fields;
    moved.dr_hash = other_dr;
    CHECK_OK(emr_record_new(&moved, &other));
    check_open(other, pharmacy->key, &want, EMR_DECRYPT_FAILED, "moved to another doctor");
    emr_record_free(other);
    emr_record_free(rec);

    test_context = "sealing: choices and refusals";
    CHECK_OK(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, strlen(text), 1, keys, lens, 1, false, &rec));
    check_open(rec, patient->key, &want, EMR_OK, "patient only");
    check_open(rec, doctor, &want, EMR_NOT_RECIPIENT, "the doctor without include_self");
    emr_record_free(rec);
    /* Four with the doctor is the most. */
    CHECK_OK(emr_record_sign_sealed(doctor, patient->key_hash, 20, "", 0, 1, keys, lens, 3, true, &rec));
    bytes_t empty = {(uint8_t *)"", 0};
    check_open(rec, nurse->key, &empty, EMR_OK, "empty text");
    emr_record_free(rec);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, keys, lens, 4, true, &rec),
                 EMR_INVALID_PRESCRIPTION);
    CHECK(rec == NULL, "out NULL on failure");
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, keys, lens, 5, false, &rec),
                 EMR_INVALID_PRESCRIPTION);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, keys + 1, lens + 1, 2, true, &rec),
                 EMR_INVALID_PRESCRIPTION);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, NULL, NULL, 0, true, &rec),
                 EMR_INVALID_PRESCRIPTION);
    char long_text[201];
    memset(long_text, 'x', sizeof long_text);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, long_text, 201, 1, keys, lens, 1, true, &rec),
                 EMR_INVALID_PRESCRIPTION);
    CHECK_OK(emr_record_sign_sealed(doctor, patient->key_hash, 20, long_text, 200, 1, keys, lens, 1, true, &rec));
    emr_record_free(rec);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, "\xff", 1, 1, keys, lens, 1, true, &rec),
                 EMR_INVALID_PRESCRIPTION);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 0, keys, lens, 1, true, &rec),
                 EMR_INVALID_NONCE);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 19, text, 3, 1, keys, lens, 1, true, &rec),
                 EMR_HASH_LENGTH);
    size_t short_lens[2] = {lens[0], lens[1] - 1};
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, keys, short_lens, 2, true, &rec),
                 EMR_INVALID_PUBLIC_KEY);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, keys, NULL, 2, true, &rec),
                 EMR_NULL_ARGUMENT);
    const uint8_t *holes[2] = {keys[0], NULL};
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, holes, lens, 2, true, &rec),
                 EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_record_sign_sealed(NULL, patient->key_hash, 20, text, 3, 1, keys, lens, 1, true, &rec),
                 EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_record_sign_sealed(doctor, patient->key_hash, 20, text, 3, 1, keys, lens, 1, true, NULL),
                 EMR_NULL_ARGUMENT);

    /* A plain record is not sealed; opening it is a misuse. */
    CHECK_OK(emr_record_sign(doctor, patient->key_hash, 20, text, strlen(text), 1, &rec));
    CHECK_OK(emr_record_is_sealed(rec, &sealed));
    CHECK(!sealed, "plain");
    len = sizeof buf;
    CHECK_STATUS(emr_record_open(rec, patient->key, buf, &len), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_record_open(NULL, patient->key, buf, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_record_open(rec, NULL, buf, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_record_open(rec, patient->key, buf, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_record_is_sealed(rec, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_record_is_sealed(NULL, &sealed), EMR_NULL_ARGUMENT);
    emr_record_free(rec);
    emr_key_free(doctor);
}

static void test_every_access_status_seen(void) {
    test_context = "every SPEC 8 status reached from C";
    const emr_status all[] = {EMR_UNAUTHORIZED_DOCTOR,
                              EMR_TOO_MANY_ENTRIES,
                              EMR_ENTRY,
                              EMR_INVALID_ENTRY,
                              EMR_INVALID_ENTRY_SIGNATURE,
                              EMR_UNKNOWN_AUTHORITY,
                              EMR_DUPLICATE_GRANT,
                              EMR_UNKNOWN_GRANT,
                              EMR_ALREADY_REVOKED,
                              EMR_WRONG_CHAIN,
                              EMR_REVOCATION_NOT_YET_EFFECTIVE,
                              EMR_NOT_RECIPIENT,
                              EMR_DECRYPT_FAILED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(status_seen[all[i]], "status %s was never returned to C", emr_status_name(all[i]));
        CHECK(is_access_status(all[i]), "%s is an access status", emr_status_name(all[i]));
        CHECK(strcmp(emr_status_str(all[i]), "unknown status") != 0, "text of %s", emr_status_name(all[i]));
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_TEXT_DIR\n", argv[0]);
        return 2;
    }
    char dir[] = "/tmp/emr-test-access-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    load_registry(argv[1]);
    test_registry_scenario();
    test_open_chain_scenario();
    test_earlier_options_versions();
    test_reopen_with_other_authorities(dir);
    test_signed_entries_mining_and_pool();
    test_sealed_vectors(argv[1]);
    test_sealed_here();
    test_every_access_status_seen();

    scenario_free();
    for (size_t i = 0; i < authority_count; i++) {
        bytes_free(&authority_spki[i]);
        bytes_free(&authority_pkcs8[i]);
    }
    for (size_t i = 0; i < doctor_count; i++) {
        bytes_free(&doctor_spki[i]);
        bytes_free(&doctor_pkcs8[i]);
    }
    bytes_free(&outsider_spki);
    bytes_free(&outsider_pkcs8);
    for (size_t i = 0; i < recipient_count; i++) {
        emr_key_free(recipients[i].key);
        bytes_free(&recipients[i].spki);
    }
    rmdir(dir);
    return test_finish("test_access");
}
