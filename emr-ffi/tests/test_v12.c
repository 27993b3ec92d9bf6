/* SPEC v1.2 through the C interface (ABI 1), with keys, chains and blocks
 * made here (test_access.c reads the v1.2 vectors, chain ids included):
 *
 * - chain ids: emr_chain_id from the parameters and salt of
 *   emr_chain_options version 3, salts given, random and read back,
 *   reopening with another salt or max_future;
 * - the grant-malleability attack: a grant is signed, mined, revoked; its
 *   signature (r, s) is turned into (r, n - s) here, byte by byte (the same
 *   arithmetic on a record gives a record that verifies, so it is a valid
 *   ECDSA signature): the entry is EMR_INVALID_ENTRY_SIGNATURE on its own,
 *   at submit and in a block (EMR_ENTRY, index 0), on both curves;
 * - a grant of the same content signed again: EMR_DUPLICATE_GRANT;
 * - a grant made for another chain: EMR_WRONG_CHAIN (and accepted there);
 * - a revocation with a future effective time: EMR_SUBMIT_HELD, left out
 *   of templates until their time reaches it, a block carrying it early
 *   refused with EMR_REVOCATION_NOT_YET_EFFECTIVE, then carried by
 *   emr_chain_mine_next;
 * - max_future: a block more than 60 s ahead is EMR_TIMESTAMP_TOO_LATE and
 *   accepted later; other max_future values; emr_chain_mine_next;
 * - emr_chain_submit_at: EMR_SUBMIT_CONFLICTS_WITH_PENDING with the pending
 *   txid, the same record (and its (r, n - s) twin) already pending, the
 *   caller's clock for authorization;
 * - EMR_ADD_STALE for a light side branch forking far below the tip, and
 *   the heavier branch from the same fork delivered in one call.
 *
 * Usage: test_v12 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define T0 UINT64_C(1700000000)

static const uint8_t ZERO32[32] = {0};
static const uint8_t MINER_A[20] = {0xa1};
static const uint8_t MINER_B[20] = {0xb2};
static const uint8_t PATIENT[20] = {0x70, 0x61};

/* ---- helpers ---------------------------------------------------------- */

static emr_key *new_key(emr_curve curve) {
    emr_key *key = NULL;
    CHECK_OK(emr_key_generate(curve, &key));
    if (key == NULL) exit(1);
    return key;
}

typedef struct {
    uint8_t der[128];
    size_t len;
} spki;

static spki spki_of(const emr_key *key) {
    spki s;
    s.len = sizeof s.der;
    CHECK_OK(emr_key_public_key_der(key, s.der, &s.len));
    return s;
}

static emr_difficulty diff1(void) {
    emr_difficulty d = {1, 0};
    return d;
}

/* Version-3 options: difficulty 1, the given authority (or none), salt
 * (or none: random) and max_future. */
static emr_chain_options options_with(const spki *authority, const uint8_t *salt, uint64_t max_future) {
    static const uint8_t *keys[1];
    static size_t lens[1];
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty = diff1();
    o.max_future = max_future;
    if (authority != NULL) {
        keys[0] = authority->der;
        lens[0] = authority->len;
        o.authorities = keys;
        o.authority_lens = lens;
        o.authority_count = 1;
    }
    if (salt != NULL) {
        o.has_salt = true;
        memcpy(o.salt, salt, EMR_SALT_LEN);
    }
    return o;
}

static emr_chain *open_with(const emr_chain_options *o) {
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open(NULL, o, &chain));
    if (chain == NULL) exit(1);
    return chain;
}

static void chain_id_of(const emr_chain *chain, uint8_t id[32]) {
    memset(id, 0, 32);
    CHECK_OK(emr_chain_id(chain, id));
}

/* A block mined on `previous` (id, all zero for a genesis) at `height`. */
static emr_block *mine(const uint8_t *previous, uint64_t height, const uint8_t *miner, emr_record *const *records,
                       size_t nr, emr_entry *const *entries, size_t ne, uint64_t t) {
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    CHECK_OK(emr_mine_block_with_entries(previous, height, miner, (const emr_record *const *)records, nr,
                                         (const emr_entry *const *)entries, ne, t, diff1(), &opts, &outcome, &block,
                                         NULL));
    CHECK(outcome == EMR_MINE_FOUND && block != NULL, "mined");
    if (block == NULL) exit(1);
    return block;
}

static void id_of(const emr_block *block, uint8_t id[32]) {
    CHECK_OK(emr_block_id(block, id));
}

/* Mines a block on `parent` (NULL: a genesis). */
static emr_block *mine_on(const emr_block *parent, const uint8_t *miner, emr_record *const *records, size_t nr,
                          emr_entry *const *entries, size_t ne, uint64_t t) {
    uint8_t previous[32];
    uint64_t height = 0;
    if (parent == NULL) {
        memset(previous, 0, 32);
    } else {
        id_of(parent, previous);
        CHECK_OK(emr_block_height(parent, &height));
        height++;
    }
    return mine(previous, height, miner, records, nr, entries, ne, t);
}

static emr_add_outcome add(emr_chain *chain, const emr_block *block) {
    emr_add_outcome outcome = EMR_ADD_NONE;
    emr_status s = emr_chain_add_block(chain, block, NULL, &outcome, NULL);
    note_status(s);
    CHECK(s == EMR_OK, "add_block: %s: %s", emr_status_name(s), emr_last_error_message());
    return outcome;
}

static uint64_t chain_len(const emr_chain *chain) {
    uint64_t n = 0;
    CHECK_OK(emr_chain_len(chain, &n));
    return n;
}

static void tip_id(const emr_chain *chain, uint8_t id[32]) {
    emr_block *tip = NULL;
    memset(id, 0, 32);
    CHECK_OK(emr_chain_tip(chain, &tip));
    if (tip != NULL) id_of(tip, id);
    emr_block_free(tip);
}

/* A grant of `doctor` by `authority` for the chain `chain_id`. */
static emr_entry *grant_for(const emr_key *authority, const uint8_t *chain_id, const emr_key *doctor, uint64_t nb,
                            uint64_t na) {
    spki d = spki_of(doctor);
    const char *licence = "GMC 7012345, Dr Test";
    emr_entry *g = NULL;
    CHECK_OK(emr_grant_sign(authority, chain_id, d.der, d.len, licence, strlen(licence), nb, na, &g));
    if (g == NULL) exit(1);
    return g;
}

static emr_entry *revocation_of(const emr_key *authority, const uint8_t *chain_id, const emr_entry *grant,
                                uint64_t effective) {
    uint8_t gid[32];
    CHECK_OK(emr_entry_id(grant, gid));
    emr_entry *r = NULL;
    CHECK_OK(emr_revocation_sign(authority, chain_id, gid, effective, &r));
    if (r == NULL) exit(1);
    return r;
}

/* Adds `block` and checks that it fails with EMR_ENTRY at `index`, the
 * entry's own status `want`, and the chain unchanged. */
static void check_entry_refused(emr_chain *chain, const emr_block *block, size_t index, emr_status want) {
    uint64_t before = chain_len(chain), height = 0;
    CHECK_OK(emr_block_height(block, &height));
    emr_block_failure f;
    memset(&f, 0xab, sizeof f);
    emr_add_outcome outcome = 77;
    CHECK_STATUS(emr_chain_add_block(chain, block, NULL, &outcome, &f), EMR_ENTRY);
    note_status(f.record_status);
    uint8_t id[32];
    id_of(block, id);
    CHECK(f.status == EMR_ENTRY && f.record_index == index && f.record_status == want,
          "failure: %s, entry %zu: %s (expected entry %zu: %s)", emr_status_name(f.status), f.record_index,
          emr_status_name(f.record_status), index, emr_status_name(want));
    CHECK(f.height == height && f.has_block_id && memcmp(f.block_id, id, 32) == 0, "the failure names the block");
    CHECK(outcome == 77, "outcome untouched on failure");
    CHECK(chain_len(chain) == before, "the chain is unchanged");
}

/* ---- (r, s) -> (r, n - s) ---------------------------------------------- */

/* The group orders, big-endian. */
static const uint8_t SECP256K1_N[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                        0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
static const uint8_t P256_N[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                   0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

/* Writes a DER INTEGER of the 32-byte big-endian value v (minimal: leading
 * zero bytes dropped, one 0x00 added when the top bit is set). */
static size_t der_integer(const uint8_t v[32], uint8_t *out) {
    size_t start = 0;
    while (start < 31 && v[start] == 0) start++;
    size_t pad = (v[start] & 0x80) ? 1 : 0, len = 32 - start + pad;
    out[0] = 0x02;
    out[1] = (uint8_t)len;
    if (pad) out[2] = 0;
    memcpy(out + 2 + pad, v + start, 32 - start);
    return 2 + len;
}

/* Reads a DER INTEGER of at most 32 bytes (after an optional 0x00) into a
 * 32-byte big-endian value; returns the bytes read, 0 on malformed input. */
static size_t read_der_integer(const uint8_t *in, size_t avail, uint8_t v[32]) {
    if (avail < 2 || in[0] != 0x02 || in[1] == 0 || (size_t)in[1] + 2 > avail) return 0;
    const uint8_t *p = in + 2;
    size_t len = in[1];
    if (len > 1 && p[0] == 0) {
        p++;
        len--;
    }
    if (len > 32) return 0;
    memset(v, 0, 32);
    memcpy(v + 32 - len, p, len);
    return 2 + (size_t)in[1];
}

/* The signature DER (r, s) as (r, n - s): n - s computed byte by byte from
 * the least significant end with a borrow. Returns the new length. */
static size_t flip_s(const uint8_t *sig, size_t sig_len, const uint8_t n[32], uint8_t *out) {
    uint8_t r[32], s[32], ns[32];
    CHECK(sig_len >= 8 && sig[0] == 0x30 && (size_t)sig[1] + 2 == sig_len, "a DER SEQUENCE");
    size_t rl = read_der_integer(sig + 2, sig_len - 2, r);
    size_t sl = rl ? read_der_integer(sig + 2 + rl, sig_len - 2 - rl, s) : 0;
    CHECK(rl > 0 && sl > 0 && 2 + rl + sl == sig_len, "two INTEGERs");
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = (int)n[i] - (int)s[i] - borrow;
        borrow = d < 0;
        ns[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    CHECK(borrow == 0 && memcmp(ns, s, 32) != 0, "0 < s < n, s != n - s");
    uint8_t body[80];
    size_t len = der_integer(r, body);
    len += der_integer(ns, body + len);
    out[0] = 0x30;
    out[1] = (uint8_t)len;
    memcpy(out + 2, body, len);
    return len + 2;
}

/* A record's (r, n - s) twin with its own txid. */
static emr_record *record_twin(const emr_record *rec, const uint8_t n[32]) {
    emr_record_fields f;
    CHECK_OK(emr_record_get_fields(rec, &f));
    uint8_t sig[80], txid[32];
    size_t sig_len = flip_s(f.signature, f.signature_len, n, sig);
    f.signature = sig;
    f.signature_len = sig_len;
    CHECK_OK(emr_calculate_txid(&f, txid));
    f.txid = txid;
    f.txid_len = 32;
    emr_record *twin = NULL;
    CHECK_OK(emr_record_new(&f, &twin));
    if (twin == NULL) exit(1);
    return twin;
}

static emr_record *sign(const emr_key *doctor, const uint8_t *patient, const char *text, uint64_t nonce) {
    emr_record *r = NULL;
    CHECK_OK(emr_record_sign(doctor, patient, 20, text, strlen(text), nonce, &r));
    if (r == NULL) exit(1);
    return r;
}

/* ---- chain ids ---------------------------------------------------------- */

static void test_chain_ids(const char *dir) {
    test_context = "chain ids";
    emr_chain_options o;
    memset(&o, 0x5a, sizeof o);
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    bool zero_salt = true;
    for (size_t i = 0; i < EMR_SALT_LEN; i++) zero_salt = zero_salt && o.salt[i] == 0;
    CHECK(o.version == 3 && o.max_future == EMR_DEFAULT_MAX_FUTURE_SECONDS && o.max_future == 60 && !o.has_salt &&
              zero_salt,
          "version-3 defaults: max_future 60, no salt");

    const uint8_t salt1[EMR_SALT_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const uint8_t salt2[EMR_SALT_LEN] = {16, 15, 14};
    uint8_t a[32], b[32];
    emr_chain_options o1 = options_with(NULL, salt1, 60);
    emr_chain *c1 = open_with(&o1), *c2 = open_with(&o1);
    chain_id_of(c1, a);
    chain_id_of(c2, b);
    CHECK(memcmp(a, b, 32) == 0, "the same parameters and salt: the same id");
    CHECK(memcmp(a, ZERO32, 32) != 0, "an id");
    emr_chain_free(c2);
    emr_chain_options other = options_with(NULL, salt2, 60);
    c2 = open_with(&other);
    chain_id_of(c2, b);
    CHECK(memcmp(a, b, 32) != 0, "another salt: another id");
    emr_chain_free(c2);
    other = options_with(NULL, salt1, 61);
    c2 = open_with(&other);
    chain_id_of(c2, b);
    CHECK(memcmp(a, b, 32) != 0, "another max_future: another id");
    emr_chain_free(c2);
    emr_key *authority = new_key(EMR_CURVE_P256);
    spki auth = spki_of(authority);
    other = options_with(&auth, salt1, 60);
    c2 = open_with(&other);
    chain_id_of(c2, b);
    CHECK(memcmp(a, b, 32) != 0, "another authority list: another id");
    emr_chain_free(c2);
    other = options_with(NULL, salt1, 60);
    other.block_reward = 1;
    c2 = open_with(&other);
    chain_id_of(c2, b);
    CHECK(memcmp(a, b, 32) != 0, "another reward: another id");
    emr_chain_free(c2);
    /* No salt: a random one each time. */
    emr_chain_options unsalted = options_with(NULL, NULL, 60);
    emr_chain *r1 = open_with(&unsalted), *r2 = open_with(&unsalted);
    chain_id_of(r1, a);
    chain_id_of(r2, b);
    CHECK(memcmp(a, b, 32) != 0, "random salts: different ids");
    emr_chain_options back;
    CHECK_OK(emr_chain_get_options(r1, &back, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(back.has_salt && !back.use_stored_params && back.max_future == 60, "a random salt is read back");
    /* The options read back make the same chain again. */
    emr_chain *again = open_with(&back);
    chain_id_of(again, b);
    CHECK(memcmp(a, b, 32) == 0, "options read back: the same id");
    emr_chain_free(again);
    emr_chain_free(r1);
    emr_chain_free(r2);
    CHECK_OK(emr_chain_get_options(c1, &back, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(back.has_salt && memcmp(back.salt, salt1, EMR_SALT_LEN) == 0, "the given salt read back");
    emr_chain_free(c1);

    /* A file: the salt is stored; reopening with another salt or
     * max_future is refused, without one any salt is taken. */
    test_context = "chain ids: a file";
    char path[4096];
    snprintf(path, sizeof path, "%s/salted.db", dir);
    emr_chain_options o3600 = options_with(&auth, salt1, 3600);
    emr_chain *file = NULL;
    CHECK_OK(emr_chain_open(path, &o3600, &file));
    chain_id_of(file, a);
    emr_chain_free(file);
    file = NULL;
    emr_chain_options wrong_salt = options_with(&auth, salt2, 3600);
    CHECK_STATUS(emr_chain_open(path, &wrong_salt, &file), EMR_INVALID_ARGUMENT);
    CHECK(file == NULL, "no chain on failure");
    emr_chain_options wrong_future = options_with(&auth, salt1, 60);
    CHECK_STATUS(emr_chain_open(path, &wrong_future, &file), EMR_INVALID_ARGUMENT);
    emr_chain_options any_salt = options_with(&auth, NULL, 3600);
    CHECK_OK(emr_chain_open(path, &any_salt, &file));
    chain_id_of(file, b);
    CHECK(memcmp(a, b, 32) == 0, "reopened without a salt: the stored one");
    CHECK_OK(emr_chain_get_options(file, &back, EMR_CHAIN_OPTIONS_VERSION));
    CHECK(back.max_future == 3600 && back.has_salt && memcmp(back.salt, salt1, EMR_SALT_LEN) == 0,
          "stored max_future and salt");
    emr_chain_free(file);
    CHECK_OK(emr_chain_open(path, NULL, &file));
    chain_id_of(file, b);
    CHECK(memcmp(a, b, 32) == 0, "reopened with NULL options");
    emr_chain_free(file);
    CHECK_OK(emr_chain_open_readonly(path, &file));
    chain_id_of(file, b);
    CHECK(memcmp(a, b, 32) == 0, "read-only: the same id");
    emr_chain_free(file);
    unlink(path);

    CHECK_STATUS(emr_chain_id(NULL, a), EMR_NULL_ARGUMENT);
    emr_key_free(authority);
}

/* ---- the grant-malleability attack, duplicates, another chain ----------- */

static void test_malleability(emr_curve curve) {
    const uint8_t *n = curve == EMR_CURVE_P256 ? P256_N : SECP256K1_N;
    test_context = curve == EMR_CURVE_P256 ? "malleability (P-256 authority)" : "malleability (secp256k1 authority)";
    emr_key *authority = new_key(curve), *doctor = new_key(EMR_CURVE_SECP256K1), *doctor2 = new_key(EMR_CURVE_P256);
    spki auth = spki_of(authority);
    emr_chain_options o = options_with(&auth, NULL, 60);
    emr_chain *chain = open_with(&o);
    uint8_t chain_id[32];
    chain_id_of(chain, chain_id);

    /* The flip is right: a record (signed by the same key, on the same
     * curve) with (r, n - s) verifies. */
    emr_record *rec = sign(authority, PATIENT, "a record", 1);
    emr_record *twin = record_twin(rec, n);
    CHECK_OK(emr_record_verify(twin, 0));
    uint8_t t1[32], t2[32];
    CHECK_OK(emr_record_txid(rec, t1));
    CHECK_OK(emr_record_txid(twin, t2));
    CHECK(memcmp(t1, t2, 32) != 0, "the twin has another txid");
    emr_record_free(twin);
    emr_record_free(rec);

    /* Granted at T0, revoked from T0 + 12 by the next block. */
    emr_entry *grant = grant_for(authority, chain_id, doctor, 0, UINT64_MAX);
    CHECK_OK(emr_entry_verify(grant));
    emr_block *b0 = mine_on(NULL, MINER_A, NULL, 0, &grant, 1, T0);
    CHECK(add(chain, b0) == EMR_ADD_EXTENDED, "granted");
    emr_entry *revocation = revocation_of(authority, chain_id, grant, T0 + 12);
    emr_block *b1 = mine_on(b0, MINER_A, NULL, 0, &revocation, 1, T0 + 12);
    CHECK(add(chain, b1) == EMR_ADD_EXTENDED, "revoked");
    uint8_t dr[20];
    bool authorized = true;
    CHECK_OK(emr_key_public_key_hash(doctor, dr));
    CHECK_OK(emr_chain_is_authorized(chain, dr, T0 + 24, &authorized));
    CHECK(!authorized, "revoked");

    /* The attacker's copy: every field of the grant, the signature flipped. */
    uint8_t sig[80], flipped[80], dpk[128], lic[128], cid[32];
    size_t sig_len = sizeof sig, dpk_len = sizeof dpk, lic_len = sizeof lic;
    uint64_t nb = 1, na = 1;
    CHECK_OK(emr_entry_signature(grant, sig, &sig_len));
    CHECK_OK(emr_grant_dr_public_key(grant, dpk, &dpk_len));
    CHECK_OK(emr_grant_licence(grant, lic, &lic_len));
    CHECK_OK(emr_grant_window(grant, &nb, &na));
    CHECK_OK(emr_entry_chain_id(grant, cid));
    size_t flipped_len = flip_s(sig, sig_len, n, flipped);
    CHECK(flipped_len != sig_len || memcmp(flipped, sig, sig_len) != 0, "another signature");
    emr_entry *copy = NULL;
    CHECK_OK(emr_grant_new(cid, 32, dpk, dpk_len, (const char *)lic, lic_len, nb, na, auth.der, auth.len, flipped,
                           flipped_len, &copy));
    if (copy == NULL) exit(1);
    uint8_t gid[32], copy_id[32];
    CHECK_OK(emr_entry_id(grant, gid));
    CHECK_OK(emr_entry_id(copy, copy_id));
    CHECK(memcmp(gid, copy_id, 32) != 0, "a new id for the same content");
    CHECK_STATUS(emr_entry_verify(copy), EMR_INVALID_ENTRY_SIGNATURE);
    emr_submit_outcome so = 77;
    CHECK_STATUS(emr_chain_submit_entry(chain, copy, &so), EMR_INVALID_ENTRY_SIGNATURE);
    CHECK(so == 77, "outcome untouched on failure");
    uint64_t now = T0 + 24;
    CHECK_STATUS(emr_chain_submit_entry_at(chain, copy, &now, &so), EMR_INVALID_ENTRY_SIGNATURE);
    size_t pending = 9;
    CHECK_OK(emr_chain_pending_entry_count(chain, &pending));
    CHECK(pending == 0, "nothing pooled");
    emr_block *b2 = mine_on(b1, MINER_A, NULL, 0, &copy, 1, T0 + 24);
    check_entry_refused(chain, b2, 0, EMR_INVALID_ENTRY_SIGNATURE);
    /* The block on its own says the same (a stateless check). */
    emr_user_states *changes = NULL;
    size_t failed_index = 9;
    emr_status failed_status = 0;
    CHECK_STATUS(emr_block_verify_and_get_changes(b2, diff1(), NULL, EMR_DEFAULT_BLOCK_REWARD, &changes,
                                                  &failed_index, &failed_status),
                 EMR_ENTRY);
    CHECK(failed_index == 0 && failed_status == EMR_INVALID_ENTRY_SIGNATURE && changes == NULL,
          "own verification: entry %zu %s", failed_index, emr_status_name(failed_status));
    /* Behind a valid entry it is index 1. */
    emr_entry *grant2 = grant_for(authority, chain_id, doctor2, 0, UINT64_MAX);
    emr_entry *pair[2] = {grant2, copy};
    emr_block *b2b = mine_on(b1, MINER_B, NULL, 0, pair, 2, T0 + 24);
    check_entry_refused(chain, b2b, 1, EMR_INVALID_ENTRY_SIGNATURE);
    /* And the doctor stays out. */
    emr_record *r1 = sign(doctor, PATIENT, "after revocation", 1);
    emr_block *b2c = mine_on(b1, MINER_A, &r1, 1, NULL, 0, T0 + 24);
    emr_block_failure f;
    CHECK_STATUS(emr_chain_add_block(chain, b2c, NULL, NULL, &f), EMR_RECORD);
    CHECK(f.record_status == EMR_UNAUTHORIZED_DOCTOR, "still unauthorized: %s", emr_status_name(f.record_status));

    /* The authority signs the same content again: no way back either. */
    test_context = curve == EMR_CURVE_P256 ? "duplicate_grant (P-256)" : "duplicate_grant (secp256k1)";
    emr_entry *again = grant_for(authority, chain_id, doctor, 0, UINT64_MAX);
    uint8_t again_id[32];
    CHECK_OK(emr_entry_id(again, again_id));
    /* P-256 signatures are randomized here (another id); secp256k1's are
     * deterministic (the same entry): either way the same content. */
    if (curve == EMR_CURVE_P256) CHECK(memcmp(again_id, gid, 32) != 0, "a second signature: another id");
    CHECK_OK(emr_entry_verify(again));
    CHECK_STATUS(emr_chain_submit_entry(chain, again, &so), EMR_DUPLICATE_GRANT);
    emr_block *b2d = mine_on(b1, MINER_A, NULL, 0, &again, 1, T0 + 24);
    check_entry_refused(chain, b2d, 0, EMR_DUPLICATE_GRANT);
    /* Other content (another window) is a new grant. */
    emr_entry *renewed = grant_for(authority, chain_id, doctor, T0, UINT64_MAX);
    CHECK_OK(emr_chain_submit_entry(chain, renewed, &so));
    CHECK(so == EMR_SUBMIT_READY, "a renewal with other content is ready");

    /* A grant made for another chain (same authority and settings, another
     * salt): valid on its own, EMR_WRONG_CHAIN here, accepted there. */
    test_context = curve == EMR_CURVE_P256 ? "wrong_chain (P-256)" : "wrong_chain (secp256k1)";
    emr_chain *test_chain = open_with(&o);
    uint8_t test_id[32];
    chain_id_of(test_chain, test_id);
    CHECK(memcmp(test_id, chain_id, 32) != 0, "another chain id");
    emr_entry *foreign = grant_for(authority, test_id, doctor2, 0, UINT64_MAX);
    CHECK_OK(emr_entry_verify(foreign));
    CHECK_STATUS(emr_chain_submit_entry(chain, foreign, &so), EMR_WRONG_CHAIN);
    emr_block *b2e = mine_on(b1, MINER_A, NULL, 0, &foreign, 1, T0 + 24);
    check_entry_refused(chain, b2e, 0, EMR_WRONG_CHAIN);
    CHECK_OK(emr_chain_submit_entry(test_chain, foreign, &so));
    CHECK(so == EMR_SUBMIT_READY, "ready on its own chain");
    emr_block *g = mine_on(NULL, MINER_A, NULL, 0, &foreign, 1, T0);
    CHECK(add(test_chain, g) == EMR_ADD_EXTENDED, "carried on its own chain");
    /* A revocation for another chain, too. */
    emr_entry *foreign_rev = revocation_of(authority, test_id, grant, T0);
    CHECK_STATUS(emr_chain_submit_entry(chain, foreign_rev, &so), EMR_WRONG_CHAIN);
    emr_chain_free(test_chain);

    emr_block *blocks[] = {b0, b1, b2, b2b, b2c, b2d, b2e, g};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) emr_block_free(blocks[i]);
    emr_entry *entries[] = {grant, revocation, copy, grant2, again, renewed, foreign, foreign_rev};
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) emr_entry_free(entries[i]);
    emr_record_free(r1);
    emr_chain_free(chain);
    emr_key_free(authority);
    emr_key_free(doctor);
    emr_key_free(doctor2);
}

/* ---- a revocation waiting for its time ---------------------------------- */

static size_t entry_count(const emr_block *block) {
    size_t n = 99;
    CHECK_OK(emr_block_entry_count(block, &n));
    return n;
}

static void test_held_revocation(void) {
    test_context = "held revocation";
    emr_key *authority = new_key(EMR_CURVE_P256), *doctor = new_key(EMR_CURVE_SECP256K1),
            *doctor2 = new_key(EMR_CURVE_SECP256K1);
    spki auth = spki_of(authority);
    emr_chain_options o = options_with(&auth, NULL, 60);
    emr_chain *chain = open_with(&o);
    uint8_t chain_id[32], dr[20];
    chain_id_of(chain, chain_id);
    CHECK_OK(emr_key_public_key_hash(doctor, dr));
    emr_entry *grants[2] = {grant_for(authority, chain_id, doctor, 0, UINT64_MAX),
                            grant_for(authority, chain_id, doctor2, 0, UINT64_MAX)};
    emr_block *b0 = mine_on(NULL, MINER_A, NULL, 0, grants, 2, T0);
    CHECK(add(chain, b0) == EMR_ADD_EXTENDED, "granted");

    /* Effective at T0 + 100: at T0 + 10 the next block could not carry it. */
    emr_entry *rev = revocation_of(authority, chain_id, grants[0], T0 + 100);
    CHECK_OK(emr_entry_verify(rev));
    emr_submit_outcome so = 0;
    uint64_t now = T0 + 10;
    CHECK_OK(emr_chain_submit_entry_at(chain, rev, &now, &so));
    CHECK(so == EMR_SUBMIT_HELD, "held: %s", emr_submit_outcome_name(so));
    CHECK(strcmp(emr_submit_outcome_name(so), "held") == 0, "named held");
    CHECK_OK(emr_chain_submit_entry_at(chain, rev, &now, &so));
    CHECK(so == EMR_SUBMIT_ALREADY_PENDING, "the same entry again");
    size_t pending = 0;
    CHECK_OK(emr_chain_pending_entry_count(chain, &pending));
    CHECK(pending == 1, "pooled");

    /* Templates leave it out until their time reaches effective. */
    emr_block *tmpl = NULL;
    uint64_t t = T0 + 50;
    CHECK_OK(emr_chain_template(chain, MINER_A, &t, &tmpl));
    CHECK(entry_count(tmpl) == 0, "a template at T0 + 50 leaves it out");
    emr_block_free(tmpl);
    t = T0 + 100;
    CHECK_OK(emr_chain_template(chain, MINER_A, &t, &tmpl));
    CHECK(entry_count(tmpl) == 1, "a template at T0 + 100 carries it");
    emr_block_free(tmpl);

    /* A block that carries it early is refused. */
    emr_block *early = mine_on(b0, MINER_A, NULL, 0, &rev, 1, T0 + 50);
    check_entry_refused(chain, early, 0, EMR_REVOCATION_NOT_YET_EFFECTIVE);
    /* Its own verification cannot tell (it needs the chain's time rule). */
    emr_user_states *changes = NULL;
    CHECK_OK(emr_block_verify_and_get_changes(early, diff1(), NULL, EMR_DEFAULT_BLOCK_REWARD, &changes, NULL, NULL));
    emr_user_states_free(changes);
    /* mine_next takes it from the pool once the block's time reaches it. */
    bool a = false;
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_mine_outcome outcome = 0;
    emr_add_outcome added = 0;
    emr_block *mined = NULL;
    t = T0 + 60;
    CHECK_OK(emr_chain_mine_next(chain, MINER_B, &t, &opts, &outcome, &mined, &added));
    CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED && entry_count(mined) == 0,
          "mine_next at T0 + 60 leaves it in the pool");
    emr_block_free(mined);
    t = T0 + 100;
    CHECK_OK(emr_chain_mine_next(chain, MINER_B, &t, &opts, &outcome, &mined, &added));
    CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED && entry_count(mined) == 1,
          "mine_next at T0 + 100 carries it");
    emr_block_free(mined);
    CHECK_OK(emr_chain_pending_entry_count(chain, &pending));
    CHECK(pending == 0, "the pool is empty");
    CHECK_OK(emr_chain_is_authorized(chain, dr, T0 + 99, &a));
    CHECK(a, "authorized before effective");
    CHECK_OK(emr_chain_is_authorized(chain, dr, T0 + 100, &a));
    CHECK(!a, "not from effective on");
    CHECK_STATUS(emr_chain_submit_entry(chain, rev, &so), EMR_ALREADY_REVOKED);

    /* With the wall clock (emr_chain_submit_entry, and _at with NULL now):
     * a revocation effective in the far future is held too. */
    emr_entry *far = revocation_of(authority, chain_id, grants[1], UINT64_MAX);
    CHECK_OK(emr_chain_submit_entry(chain, far, &so));
    CHECK(so == EMR_SUBMIT_HELD, "far future, wall clock: held");
    emr_entry *far2 = revocation_of(authority, chain_id, grants[1], UINT64_MAX - 1);
    CHECK_OK(emr_chain_submit_entry_at(chain, far2, NULL, &so));
    CHECK(so == EMR_SUBMIT_HELD, "far future, NULL now: held");
    CHECK_OK(emr_chain_submit_entry_at(chain, far2, NULL, NULL));

    CHECK_STATUS(emr_chain_submit_entry_at(NULL, far, &now, &so), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_submit_entry_at(chain, NULL, &now, &so), EMR_NULL_ARGUMENT);

    emr_block_free(b0);
    emr_block_free(early);
    emr_entry_free(grants[0]);
    emr_entry_free(grants[1]);
    emr_entry_free(rev);
    emr_entry_free(far);
    emr_entry_free(far2);
    emr_chain_free(chain);
    emr_key_free(authority);
    emr_key_free(doctor);
    emr_key_free(doctor2);
}

/* ---- max_future ------------------------------------------------------------ */

/* Adds `block` with the clock `now`; returns the status. */
static emr_status add_at(emr_chain *chain, const emr_block *block, uint64_t now, emr_add_outcome *outcome,
                         emr_block_failure *failure) {
    emr_status s = emr_chain_add_block(chain, block, &now, outcome, failure);
    note_status(s);
    return s;
}

static void test_max_future(void) {
    test_context = "max_future 60 (the default)";
    emr_chain_options o = options_with(NULL, NULL, EMR_DEFAULT_MAX_FUTURE_SECONDS);
    emr_chain *chain = open_with(&o);
    emr_block *b0 = mine_on(NULL, MINER_A, NULL, 0, NULL, 0, T0);
    CHECK(add(chain, b0) == EMR_ADD_EXTENDED, "genesis");
    uint64_t now = T0 + 100;
    emr_block *ahead = mine_on(b0, MINER_A, NULL, 0, NULL, 0, now + 61);
    uint8_t ahead_id[32];
    id_of(ahead, ahead_id);
    emr_block_failure f;
    memset(&f, 0, sizeof f);
    emr_add_outcome outcome = 77;
    CHECK(add_at(chain, ahead, now, &outcome, &f) == EMR_TIMESTAMP_TOO_LATE, "61 s ahead: too late");
    CHECK(f.status == EMR_TIMESTAMP_TOO_LATE && f.height == 1 && f.has_block_id &&
              memcmp(f.block_id, ahead_id, 32) == 0 && f.record_status == EMR_OK,
          "the failure names the block");
    CHECK(outcome == 77 && chain_len(chain) == 1, "nothing added");
    /* Not remembered as invalid: the same answer while it is early... */
    CHECK(add_at(chain, ahead, now, &outcome, NULL) == EMR_TIMESTAMP_TOO_LATE, "still too late");
    /* ...and accepted once its time has come (60 s ahead is the limit). */
    CHECK(add_at(chain, ahead, now + 1, &outcome, NULL) == EMR_OK && outcome == EMR_ADD_EXTENDED,
          "accepted 1 s later, exactly 60 s ahead");
    /* A batch: refused as its first block, then accepted. */
    emr_block *ahead2 = mine_on(ahead, MINER_A, NULL, 0, NULL, 0, now + 200);
    const emr_block *batch[1] = {ahead2};
    emr_add_outcome outcomes[1] = {77};
    size_t failed_index = 9;
    CHECK_STATUS(emr_chain_add_blocks(chain, batch, 1, &now, NULL, outcomes, &failed_index, &f),
                 EMR_TIMESTAMP_TOO_LATE);
    CHECK(outcomes[0] == EMR_ADD_NONE && failed_index == 0 && f.status == EMR_TIMESTAMP_TOO_LATE, "batch refused");
    uint64_t later = now + 140;
    CHECK_OK(emr_chain_add_blocks(chain, batch, 1, &later, NULL, outcomes, NULL, NULL));
    CHECK(outcomes[0] == EMR_ADD_EXTENDED, "batch accepted later");
    emr_chain_free(chain);

    /* Other limits, given in the options. */
    test_context = "max_future 3600 and 0";
    for (int k = 0; k < 2; k++) {
        uint64_t limit = k == 0 ? 3600 : 0;
        o = options_with(NULL, NULL, limit);
        chain = open_with(&o);
        emr_chain_options back;
        CHECK_OK(emr_chain_get_options(chain, &back, EMR_CHAIN_OPTIONS_VERSION));
        CHECK(back.max_future == limit, "max_future read back");
        CHECK(add(chain, b0) == EMR_ADD_EXTENDED, "genesis");
        emr_block *past = mine_on(b0, MINER_A, NULL, 0, NULL, 0, now + limit + 1);
        emr_block *at = mine_on(b0, MINER_B, NULL, 0, NULL, 0, now + limit);
        CHECK(add_at(chain, past, now, &outcome, NULL) == EMR_TIMESTAMP_TOO_LATE, "limit + 1: too late");
        CHECK(add_at(chain, at, now, &outcome, NULL) == EMR_OK && outcome == EMR_ADD_EXTENDED, "the limit: accepted");
        emr_block_free(past);
        emr_block_free(at);
        emr_chain_free(chain);
    }

    /* emr_chain_mine_next checks the template's time against the wall
     * clock before mining. */
    test_context = "max_future and mine_next";
    uint64_t wall = (uint64_t)time(NULL);
    uint64_t t = wall + 600;
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_mine_outcome mined_outcome = 0;
    emr_block *mined = (emr_block *)&mined;
    o = options_with(NULL, NULL, EMR_DEFAULT_MAX_FUTURE_SECONDS);
    chain = open_with(&o);
    CHECK_STATUS(emr_chain_mine_next(chain, MINER_A, &t, &opts, &mined_outcome, &mined, NULL),
                 EMR_TIMESTAMP_TOO_LATE);
    CHECK(mined == NULL && chain_len(chain) == 0, "nothing mined");
    emr_chain_free(chain);
    o = options_with(NULL, NULL, 3600);
    chain = open_with(&o);
    CHECK_OK(emr_chain_mine_next(chain, MINER_A, &t, &opts, &mined_outcome, &mined, NULL));
    CHECK(mined_outcome == EMR_MINE_FOUND && chain_len(chain) == 1, "10 minutes ahead is within 3600 s");
    emr_block_free(mined);
    emr_chain_free(chain);

    emr_block_free(b0);
    emr_block_free(ahead);
    emr_block_free(ahead2);
}

/* ---- conflicts in the pool ------------------------------------------------ */

static void test_conflicts_with_pending(void) {
    test_context = "conflicts_with_pending";
    emr_chain_options o = options_with(NULL, NULL, 60);
    emr_chain *chain = open_with(&o);
    emr_key *doctor = new_key(EMR_CURVE_SECP256K1);
    emr_record *first = sign(doctor, PATIENT, "Amoxicillin 500 mg", 1);
    uint8_t first_txid[32], txid[32];
    CHECK_OK(emr_record_txid(first, first_txid));
    emr_submit_outcome so = 0;
    memset(txid, 0xaa, sizeof txid);
    CHECK_OK(emr_chain_submit_at(chain, first, NULL, &so, txid));
    CHECK(so == EMR_SUBMIT_READY, "ready");
    bool untouched = true;
    for (size_t i = 0; i < 32; i++) untouched = untouched && txid[i] == 0xaa;
    CHECK(untouched, "pending_txid not written without a conflict");

    /* The doctor signs another text with the same nonce. */
    emr_record *second = sign(doctor, PATIENT, "Ibuprofen 400 mg", 1);
    CHECK_OK(emr_chain_submit_at(chain, second, NULL, &so, txid));
    CHECK(so == EMR_SUBMIT_CONFLICTS_WITH_PENDING, "conflict: %s", emr_submit_outcome_name(so));
    CHECK(memcmp(txid, first_txid, 32) == 0, "pending_txid names the first record");
    CHECK(strcmp(emr_submit_outcome_name(so), "conflicts_with_pending") == 0, "named");
    /* Another patient, same nonce: a conflict too. */
    uint8_t other_patient[20] = {0x99};
    emr_record *third = sign(doctor, other_patient, "Amoxicillin 500 mg", 1);
    memset(txid, 0, sizeof txid);
    CHECK_OK(emr_chain_submit_at(chain, third, NULL, &so, txid));
    CHECK(so == EMR_SUBMIT_CONFLICTS_WITH_PENDING && memcmp(txid, first_txid, 32) == 0, "another patient");
    /* emr_chain_submit reports the outcome (without the txid). */
    CHECK_OK(emr_chain_submit(chain, second, &so));
    CHECK(so == EMR_SUBMIT_CONFLICTS_WITH_PENDING, "emr_chain_submit: conflict");
    CHECK_OK(emr_chain_submit_at(chain, second, NULL, NULL, NULL));

    /* The same record, and its (r, n - s) twin (another txid, the same
     * content), are already pending. */
    memset(txid, 0xaa, sizeof txid);
    CHECK_OK(emr_chain_submit_at(chain, first, NULL, &so, txid));
    CHECK(so == EMR_SUBMIT_ALREADY_PENDING, "the same record");
    emr_record *twin = record_twin(first, SECP256K1_N);
    CHECK_OK(emr_record_verify(twin, 0));
    CHECK_OK(emr_chain_submit_at(chain, twin, NULL, &so, txid));
    CHECK(so == EMR_SUBMIT_ALREADY_PENDING, "the twin: %s", emr_submit_outcome_name(so));
    untouched = true;
    for (size_t i = 0; i < 32; i++) untouched = untouched && txid[i] == 0xaa;
    CHECK(untouched, "pending_txid not written for already_pending");

    /* The pool holds the first record only. */
    emr_pending *p = NULL;
    size_t len = 0;
    CHECK_OK(emr_chain_pending(chain, &p));
    CHECK_OK(emr_pending_len(p, &len, NULL));
    emr_record *held = NULL;
    CHECK_OK(emr_pending_get(p, 0, &held));
    CHECK_OK(emr_record_txid(held, txid));
    CHECK(len == 1 && memcmp(txid, first_txid, 32) == 0, "the first record stays");
    emr_record_free(held);
    emr_pending_free(p);

    CHECK_STATUS(emr_chain_submit_at(NULL, first, NULL, &so, txid), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_submit_at(chain, NULL, NULL, &so, txid), EMR_NULL_ARGUMENT);
    emr_chain_free(chain);

    /* The caller's clock decides a doctor's authorization. */
    test_context = "emr_chain_submit_at's clock";
    emr_key *authority = new_key(EMR_CURVE_P256);
    spki auth = spki_of(authority);
    o = options_with(&auth, NULL, 60);
    chain = open_with(&o);
    uint8_t chain_id[32];
    chain_id_of(chain, chain_id);
    emr_entry *grant = grant_for(authority, chain_id, doctor, 0, T0 + 1000);
    emr_block *b0 = mine_on(NULL, MINER_A, NULL, 0, &grant, 1, T0);
    CHECK(add(chain, b0) == EMR_ADD_EXTENDED, "granted until T0 + 1000");
    uint64_t now = T0 + 2000;
    CHECK_STATUS(emr_chain_submit_at(chain, first, &now, &so, NULL), EMR_UNAUTHORIZED_DOCTOR);
    now = T0 + 500;
    CHECK_OK(emr_chain_submit_at(chain, first, &now, &so, NULL));
    CHECK(so == EMR_SUBMIT_READY, "within the grant's window");
    /* The wall clock is past the window. */
    CHECK_STATUS(emr_chain_submit(chain, second, &so), EMR_UNAUTHORIZED_DOCTOR);

    emr_block_free(b0);
    emr_entry_free(grant);
    emr_chain_free(chain);
    emr_key_free(authority);
    emr_record_free(first);
    emr_record_free(second);
    emr_record_free(third);
    emr_record_free(twin);
    emr_key_free(doctor);
}

/* ---- stale side branches ---------------------------------------------------- */

#define MAIN_LEN 15

static void test_stale_branches(void) {
    test_context = "stale side branches";
    /* Window 10, block time 12: blocks 12 s apart keep difficulty 1. */
    emr_chain_options o = options_with(NULL, NULL, 60);
    emr_chain *chain = open_with(&o);
    emr_block *main_chain[MAIN_LEN];
    for (int h = 0; h < MAIN_LEN; h++) {
        main_chain[h] = mine_on(h ? main_chain[h - 1] : NULL, MINER_A, NULL, 0, NULL, 0, T0 + 12 * (uint64_t)h);
        CHECK(add(chain, main_chain[h]) == EMR_ADD_EXTENDED, "main block %d", h);
    }
    uint8_t tip[32], now_tip[32];
    tip_id(chain, tip);

    /* A light branch from block 0: 14 blocks below the tip (window 10). */
    emr_block *side[MAIN_LEN + 1];
    for (int h = 1; h <= MAIN_LEN; h++) {
        side[h] = mine_on(h > 1 ? side[h - 1] : main_chain[0], MINER_B, NULL, 0, NULL, 0, T0 + 12 * (uint64_t)h);
    }
    emr_add_outcome outcome = 77;
    CHECK_OK(emr_chain_add_block(chain, side[1], NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_STALE, "one light block far below the tip: %s", emr_add_outcome_name(outcome));
    CHECK(strcmp(emr_add_outcome_name(EMR_ADD_STALE), "stale") == 0, "named stale");
    /* Not stored: offered again, it is stale again, not already known. */
    CHECK_OK(emr_chain_add_block(chain, side[1], NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_STALE, "not stored: %s", emr_add_outcome_name(outcome));
    tip_id(chain, now_tip);
    CHECK(chain_len(chain) == MAIN_LEN && memcmp(tip, now_tip, 32) == 0, "the chain is unchanged");
    /* Three light blocks in one call: all stale, the call succeeds. */
    const emr_block *three[3] = {side[1], side[2], side[3]};
    emr_add_outcome outcomes[3] = {0, 0, 0};
    CHECK_OK(emr_chain_add_blocks(chain, three, 3, NULL, NULL, outcomes, NULL, NULL));
    CHECK(outcomes[0] == EMR_ADD_STALE && outcomes[1] == EMR_ADD_STALE && outcomes[2] == EMR_ADD_STALE,
          "a light branch in one call: %s %s %s", emr_add_outcome_name(outcomes[0]),
          emr_add_outcome_name(outcomes[1]), emr_add_outcome_name(outcomes[2]));
    CHECK(chain_len(chain) == MAIN_LEN, "nothing stored");
    /* Its blocks' parent was not stored either. */
    CHECK_STATUS(emr_chain_add_block(chain, side[2], NULL, NULL, NULL), EMR_UNKNOWN_PARENT);

    /* A competitor near the tip is kept as a side branch. */
    emr_block *near = mine_on(main_chain[MAIN_LEN - 2], MINER_B, NULL, 0, NULL, 0, T0 + 12 * (MAIN_LEN - 1));
    CHECK(add(chain, near) == EMR_ADD_SIDE_BRANCH, "a tie one block below the tip: side branch");
    CHECK(add(chain, near) == EMR_ADD_ALREADY_KNOWN, "and stored");

    /* The heavier branch from the same fork, in one call: it reorganizes
     * however far below the tip it forks. */
    const emr_block *heavy[MAIN_LEN];
    for (int h = 1; h <= MAIN_LEN; h++) heavy[h - 1] = side[h];
    emr_add_outcome heavy_outcomes[MAIN_LEN];
    CHECK_OK(emr_chain_add_blocks(chain, heavy, MAIN_LEN, NULL, NULL, heavy_outcomes, NULL, NULL));
    CHECK(heavy_outcomes[MAIN_LEN - 1] == EMR_ADD_REORGANIZED, "the last block reorganizes: %s",
          emr_add_outcome_name(heavy_outcomes[MAIN_LEN - 1]));
    bool any_stale = false;
    for (int i = 0; i < MAIN_LEN; i++) any_stale = any_stale || heavy_outcomes[i] == EMR_ADD_STALE;
    CHECK(!any_stale, "no block of the heavier branch is stale");
    uint8_t want[32];
    tip_id(chain, now_tip);
    id_of(side[MAIN_LEN], want);
    CHECK(chain_len(chain) == MAIN_LEN + 1 && memcmp(now_tip, want, 32) == 0, "the heavier branch is active");
    /* The old main chain now forks at block 0, 15 blocks below the new
     * tip: a block on it (a tie) is stale. */
    emr_block *old_next = mine_on(main_chain[MAIN_LEN - 1], MINER_A, NULL, 0, NULL, 0, T0 + 12 * MAIN_LEN);
    CHECK_OK(emr_chain_add_block(chain, old_next, NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_STALE, "a block on the old branch: %s", emr_add_outcome_name(outcome));

    for (int h = 0; h < MAIN_LEN; h++) emr_block_free(main_chain[h]);
    for (int h = 1; h <= MAIN_LEN; h++) emr_block_free(side[h]);
    emr_block_free(near);
    emr_block_free(old_next);
    emr_chain_free(chain);
}

static void test_every_v12_status_seen(void) {
    test_context = "every SPEC v1.2 status reached from C";
    const emr_status all[] = {EMR_WRONG_CHAIN, EMR_REVOCATION_NOT_YET_EFFECTIVE, EMR_INVALID_ENTRY_SIGNATURE,
                              EMR_DUPLICATE_GRANT, EMR_TIMESTAMP_TOO_LATE, EMR_ENTRY};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(status_seen[all[i]], "status %s was never returned to C", emr_status_name(all[i]));
    }
    CHECK(EMR_WRONG_CHAIN == 86 && EMR_REVOCATION_NOT_YET_EFFECTIVE == 87, "stable numbers");
    CHECK(strcmp(emr_status_name(EMR_WRONG_CHAIN), "wrong_chain") == 0 &&
              strcmp(emr_status_name(EMR_REVOCATION_NOT_YET_EFFECTIVE), "revocation_not_yet_effective") == 0,
          "names");
    CHECK(strcmp(emr_status_str(EMR_WRONG_CHAIN), "unknown status") != 0 &&
              strcmp(emr_status_str(EMR_REVOCATION_NOT_YET_EFFECTIVE), "unknown status") != 0,
          "texts");
    CHECK(EMR_ADD_STALE == 5 && EMR_SUBMIT_CONFLICTS_WITH_PENDING == 4, "outcomes appended");
}

int main(void) {
    char dir[] = "/tmp/emr-test-v12-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    test_chain_ids(dir);
    test_malleability(EMR_CURVE_P256);
    test_malleability(EMR_CURVE_SECP256K1);
    test_held_revocation();
    test_max_future();
    test_conflicts_with_pending();
    test_stale_branches();
    test_every_v12_status_seen();
    rmdir(dir);
    return test_finish("test_v12");
}
