/* The outside review's findings, each reproduced from C:
 * one key encoding only, PKCS#8 v2's public key, bounded verification
 * threads, and verification and mining in a child made by fork(). */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74, 1, 2, 3,
                                    4,    5,    6,    7,    8,    9,    10,   11, 12, 13};
static const uint8_t MINER[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static const uint8_t ZERO32[32] = {0};

#define RECORDS 8

static int contains_text(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

static emr_key *new_key(emr_curve curve) {
    emr_key *key = NULL;
    CHECK_OK(emr_key_generate(curve, &key));
    if (key == NULL) exit(1);
    return key;
}

/* DER TLV writer: returns the bytes written at out. */
static size_t tlv(uint8_t *out, uint8_t tag, const uint8_t *contents, size_t len) {
    size_t n = 0;
    out[n++] = tag;
    if (len < 0x80) {
        out[n++] = (uint8_t)len;
    } else if (len < 0x100) {
        out[n++] = 0x81;
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x82;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    memmove(out + n, contents, len);
    return n + len;
}

/* ---- 1. one key, one encoding ------------------------------------------ */

/* The replay: the record's key re-encoded as `point`, with dr_hash and txid
 * recomputed so that every hash check passes; it must be
 * EMR_INVALID_PUBLIC_KEY. */
static void check_reencoded(const emr_record *rec, const uint8_t *spki, size_t spki_len, const uint8_t *point,
                            size_t point_len, const char *form) {
    test_context = form;
    /* SEQUENCE { algorithm, BIT STRING { 00 point } }; the algorithm is the
     * original's, which starts at byte 2 and ends 68 bytes before the end. */
    uint8_t bits[80], body[120], new_spki[128], dr_hash[20], txid[32];
    bits[0] = 0;
    memcpy(bits + 1, point, point_len);
    size_t alg_len = spki_len - 2 - 68;
    memcpy(body, spki + 2, alg_len);
    size_t body_len = alg_len + tlv(body + alg_len, 0x03, bits, point_len + 1);
    size_t new_len = tlv(new_spki, 0x30, body, body_len);

    emr_record_fields f;
    CHECK_OK(emr_record_get_fields(rec, &f));
    CHECK_OK(emr_sha1(new_spki, new_len, dr_hash));
    f.dr_public_key = new_spki;
    f.dr_public_key_len = new_len;
    f.dr_hash = dr_hash;
    f.dr_hash_len = 20;
    CHECK_OK(emr_calculate_txid(&f, txid));
    f.txid = txid;
    f.txid_len = 32;
    CHECK_STATUS(emr_record_fields_verify(&f, 6), EMR_INVALID_PUBLIC_KEY);

    emr_record *replay = NULL;
    emr_status s = emr_record_new(&f, &replay);
    if (s == EMR_OK) {
        const emr_record *batch[2] = {rec, replay};
        uint64_t nonces[2] = {6, 6};
        size_t failed = 99;
        CHECK_STATUS(emr_verify_records(batch, nonces, 2, 0, &failed), EMR_INVALID_PUBLIC_KEY);
        CHECK(failed == 1, "failed index %zu", failed);
        emr_record_free(replay);
    } else {
        CHECK(s == EMR_INVALID_PUBLIC_KEY, "emr_record_new: %s", emr_status_name(s));
    }
}

static void test_one_encoding_per_key(emr_curve curve) {
    emr_key *key = new_key(curve);
    emr_record *rec = NULL;
    CHECK_OK(emr_record_sign(key, PATIENT, 20, "amoxicillin", 11, 7, &rec));
    CHECK_OK(emr_record_verify(rec, 6));
    uint8_t spki[128];
    size_t spki_len = sizeof spki;
    CHECK_OK(emr_key_public_key_der(key, spki, &spki_len));
    CHECK(spki_len == (curve == EMR_CURVE_SECP256K1 ? 88u : 91u), "spki length %zu", spki_len);
    const uint8_t *point = spki + spki_len - 65; /* 04 X Y */
    uint8_t parity = (uint8_t)(2 + (point[64] & 1));

    uint8_t compressed[33], hybrid[65], compact[33];
    compressed[0] = parity;
    memcpy(compressed + 1, point + 1, 32);
    memcpy(hybrid, point, 65);
    hybrid[0] = (uint8_t)(4 + parity);
    compact[0] = 0x05;
    memcpy(compact + 1, point + 1, 32);
    check_reencoded(rec, spki, spki_len, compressed, 33, "compressed point");
    check_reencoded(rec, spki, spki_len, hybrid, 65, "hybrid point");
    check_reencoded(rec, spki, spki_len, compact, 33, "05-form point");
    emr_record_free(rec);
    emr_key_free(key);
}

/* ---- 4. PKCS#8 v2's public key ------------------------------------------ */

/* key's PKCS#8 with `version` and `trailer` appended after the private key. */
static size_t pkcs8_with(const uint8_t *v1, size_t v1_len, uint8_t version, const uint8_t *trailer, size_t trailer_len,
                         uint8_t *out) {
    uint8_t body[512];
    size_t skip = 3; /* pyca's PKCS#8 starts 30 81 LEN */
    size_t body_len = v1_len - skip;
    memcpy(body, v1 + skip, body_len);
    body[2] = version; /* 02 01 VERSION */
    memcpy(body + body_len, trailer, trailer_len);
    return tlv(out, 0x30, body, body_len + trailer_len);
}

static void test_pkcs8_v2(emr_curve curve) {
    test_context = curve == EMR_CURVE_SECP256K1 ? "pkcs8 v2 secp256k1" : "pkcs8 v2 P-256";
    emr_key *key = new_key(curve);
    emr_key *other = new_key(curve);
    uint8_t v1[256], spki[128], other_spki[128];
    size_t v1_len = sizeof v1, spki_len = sizeof spki, other_len = sizeof other_spki;
    CHECK_OK(emr_key_to_der(key, v1, &v1_len));
    CHECK_OK(emr_key_public_key_der(key, spki, &spki_len));
    CHECK_OK(emr_key_public_key_der(other, other_spki, &other_len));

    uint8_t bits[66], own_pub[80], other_pub[80], attrs[8], trailer[200], der[400];
    bits[0] = 0;
    memcpy(bits + 1, spki + spki_len - 65, 65);
    size_t own_len = tlv(own_pub, 0x81, bits, 66);
    memcpy(bits + 1, other_spki + other_len - 65, 65);
    size_t oth_len = tlv(other_pub, 0x81, bits, 66);
    uint8_t empty_set[2] = {0x30, 0x00};
    size_t attrs_len = tlv(attrs, 0xa0, empty_set, 2);

    /* accepted: v2 with its own public key, after attributes */
    memcpy(trailer, attrs, attrs_len);
    memcpy(trailer + attrs_len, own_pub, own_len);
    size_t n = pkcs8_with(v1, v1_len, 1, trailer, attrs_len + own_len, der);
    emr_key *loaded = NULL;
    CHECK_OK(emr_key_from_der(der, n, &loaded));
    emr_key_free(loaded);

    n = pkcs8_with(v1, v1_len, 1, other_pub, oth_len, der);
    loaded = NULL;
    CHECK_STATUS(emr_key_from_der(der, n, &loaded), EMR_INVALID_KEY);
    CHECK(contains_text(emr_last_error_message(), "does not match"), "message: %s", emr_last_error_message());
    CHECK(loaded == NULL, "no key on failure");

    n = pkcs8_with(v1, v1_len, 0, own_pub, own_len, der);
    CHECK_STATUS(emr_key_from_der(der, n, &loaded), EMR_INVALID_KEY);

    memcpy(trailer, own_pub, own_len);
    memcpy(trailer + own_len, own_pub, own_len);
    n = pkcs8_with(v1, v1_len, 1, trailer, 2 * own_len, der);
    CHECK_STATUS(emr_key_from_der(der, n, &loaded), EMR_INVALID_KEY);

    memcpy(trailer, own_pub, own_len);
    memcpy(trailer + own_len, attrs, attrs_len);
    n = pkcs8_with(v1, v1_len, 1, trailer, own_len + attrs_len, der);
    CHECK_STATUS(emr_key_from_der(der, n, &loaded), EMR_INVALID_KEY);

    emr_key_free(other);
    emr_key_free(key);
}

/* ---- 2. bounded verification threads ------------------------------------ */

static int live_threads(void) {
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL) return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.') n++;
    }
    closedir(dir);
    return n;
}

typedef struct {
    emr_key *key;
    emr_record *records[RECORDS];
    uint64_t nonces[RECORDS];
} batch;

static void batch_make(batch *b) {
    b->key = new_key(EMR_CURVE_SECP256K1);
    for (size_t i = 0; i < RECORDS; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "dose %zu", i);
        CHECK_OK(emr_record_sign(b->key, PATIENT, 20, text, (size_t)len, i + 1, &b->records[i]));
        b->nonces[i] = i;
    }
}

static void batch_free(batch *b) {
    for (size_t i = 0; i < RECORDS; i++) emr_record_free(b->records[i]);
    emr_key_free(b->key);
}

static emr_status verify(const batch *b, size_t count, size_t threads) {
    return emr_verify_records((const emr_record *const *)b->records, b->nonces, count, threads, NULL);
}

static void test_thread_bounds(const batch *b) {
    test_context = "thread bounds";
    CHECK_OK(verify(b, RECORDS, 0));
    int before = live_threads();
    for (size_t threads = 2; threads <= 64; threads++) {
        CHECK_OK(verify(b, RECORDS, threads));
        CHECK_OK(verify(b, 2, threads));
    }
    CHECK_OK(verify(b, RECORDS, EMR_MAX_VERIFY_THREADS));
    int after = live_threads();
    CHECK(before > 0 && after <= before + 2, "%d threads before, %d after", before, after);

    CHECK_STATUS(verify(b, RECORDS, EMR_MAX_VERIFY_THREADS + 1), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(verify(b, RECORDS, 8000), EMR_INVALID_ARGUMENT);
    CHECK(contains_text(emr_last_error_message(), "1024"), "message: %s", emr_last_error_message());
    CHECK(live_threads() == after, "a refused call started threads");
}

/* ---- 3. fork -------------------------------------------------------------- */

/* What the child runs: parallel verification, a block check, mining. */
static int child_work(const batch *b) {
    if (verify(b, RECORDS, 0) != EMR_OK || verify(b, RECORDS, 2) != EMR_OK) return 1;
    emr_mine_options opts;
    if (emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION) != EMR_OK) return 2;
    opts.threads = 2;
    emr_difficulty d = {16, 0};
    emr_mine_outcome outcome;
    emr_block *block = NULL;
    if (emr_mine_block(ZERO32, 0, MINER, (const emr_record *const *)b->records, RECORDS, 1700000000, d, &opts,
                       &outcome, &block, NULL) != EMR_OK ||
        outcome != EMR_MINE_FOUND)
        return 3;
    emr_user_states *empty = NULL, *changes = NULL;
    int rc = 0;
    if (emr_user_states_new(&empty) != EMR_OK ||
        emr_block_verify_and_get_changes(block, d, empty, 10000, &changes, NULL, NULL) != EMR_OK)
        rc = 4;
    emr_user_states_free(changes);
    emr_user_states_free(empty);
    emr_block_free(block);
    return rc;
}

static void test_fork(const batch *b) {
    test_context = "fork";
    CHECK_OK(verify(b, RECORDS, 2)); /* the pool exists in the parent now */
    /* The child reports through a pipe, not its exit status: under valgrind
     * the child's own leak check flags the parent's pool, whose threads did
     * not come along (by design), and would replace the status with 99. */
    int report[2];
    CHECK(pipe(report) == 0, "pipe failed");
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid < 0) return;
    if (pid == 0) {
        unsigned char rc = (unsigned char)child_work(b);
        _exit(write(report[1], &rc, 1) == 1 ? 0 : 1);
    }
    close(report[1]);
    /* Valgrind runs the child too, slowly: allow it minutes, not seconds. */
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 10) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (waited_ms > 240000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(report[0]);
            CHECK(0, "the forked child hung");
            return;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    unsigned char rc = 0xff;
    CHECK(read(report[0], &rc, 1) == 1 && rc == 0, "child result %u", rc);
    CHECK(WIFEXITED(status), "child status %d", status);
    close(report[0]);
    CHECK_OK(verify(b, RECORDS, 2)); /* and the parent's pool still works */
}

int main(void) {
    test_one_encoding_per_key(EMR_CURVE_SECP256K1);
    test_one_encoding_per_key(EMR_CURVE_P256);
    test_pkcs8_v2(EMR_CURVE_SECP256K1);
    test_pkcs8_v2(EMR_CURVE_P256);
    batch b;
    batch_make(&b);
    test_thread_bounds(&b);
    test_fork(&b);
    batch_free(&b);
    printf("%lu passed, %lu failed\n", test_passed, test_failed);
    return test_failed == 0 ? 0 : 1;
}
