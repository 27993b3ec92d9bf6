/* Shared helpers for the C tests of libemr: check counting, hex, statuses. */
#ifndef EMR_TEST_COMMON_H
#define EMR_TEST_COMMON_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emr.h"

static unsigned long test_passed = 0;
static unsigned long test_failed = 0;
static const char *test_context = "";

static inline void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    test_failed++;
    fprintf(stderr, "FAIL %s:%d [%s]: ", file, line, test_context);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

/* CHECK(cond, "fmt", args...): one counted check. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed++;                                                                         \
        } else {                                                                                   \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
        }                                                                                          \
    } while (0)

/* Every status a check saw, to show that each kind is reachable from C. */
static unsigned char status_seen[300];

static inline void note_status(emr_status s) {
    if (s < sizeof status_seen) status_seen[s] = 1;
}

/* CHECK_STATUS(call, expected): the call returns exactly `expected`. */
#define CHECK_STATUS(call, expected)                                                               \
    do {                                                                                           \
        emr_status got_ = (call);                                                                  \
        emr_status want_ = (expected);                                                             \
        note_status(got_);                                                                         \
        if (got_ == want_) {                                                                       \
            test_passed++;                                                                         \
        } else {                                                                                   \
            test_fail(__FILE__, __LINE__, "%s returned %s (%u), expected %s (%u): %s", #call,      \
                      emr_status_name(got_), (unsigned)got_, emr_status_name(want_),               \
                      (unsigned)want_, emr_last_error_message());                                  \
        }                                                                                          \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, EMR_OK)

static inline int test_finish(const char *program) {
    printf("%s: %lu passed, %lu failed\n", program, test_passed, test_failed);
    /* The closing line run.sh reads. */
    printf("%lu passed, %lu failed\n", test_passed, test_failed);
    return test_failed == 0 ? 0 : 1;
}

/* The status spelled by the vectors' kind names. */
static const struct {
    const char *name;
    emr_status status;
} STATUS_NAMES[] = {
    {"ok", EMR_OK},
    {"hash_length", EMR_HASH_LENGTH},
    {"public_key_mismatch", EMR_PUBLIC_KEY_MISMATCH},
    {"invalid_prescription", EMR_INVALID_PRESCRIPTION},
    {"invalid_nonce", EMR_INVALID_NONCE},
    {"invalid_txid", EMR_INVALID_TXID},
    {"invalid_public_key", EMR_INVALID_PUBLIC_KEY},
    {"invalid_signature", EMR_INVALID_SIGNATURE},
    {"difficulty_mismatch", EMR_DIFFICULTY_MISMATCH},
    {"invalid_block_id", EMR_INVALID_BLOCK_ID},
    {"too_many_records", EMR_TOO_MANY_RECORDS},
    {"invalid_miner", EMR_INVALID_MINER},
    {"invalid_previous", EMR_INVALID_PREVIOUS},
    {"insufficient_work", EMR_INSUFFICIENT_WORK},
    {"record", EMR_RECORD},
    {"wrong_height", EMR_WRONG_HEIGHT},
    {"unknown_parent", EMR_UNKNOWN_PARENT},
    {"timestamp_too_early", EMR_TIMESTAMP_TOO_EARLY},
    {"timestamp_too_late", EMR_TIMESTAMP_TOO_LATE},
    {"invalid_checksum", EMR_INVALID_CHECKSUM},
    {"wrong_role", EMR_WRONG_ROLE},
    {"invalid_length", EMR_INVALID_LENGTH},
    {"invalid_character", EMR_INVALID_CHARACTER},
    {"mixed_case", EMR_MIXED_CASE},
    {"unauthorized_doctor", EMR_UNAUTHORIZED_DOCTOR},
    {"too_many_entries", EMR_TOO_MANY_ENTRIES},
    {"entry", EMR_ENTRY},
    {"invalid_entry", EMR_INVALID_ENTRY},
    {"invalid_entry_signature", EMR_INVALID_ENTRY_SIGNATURE},
    {"unknown_authority", EMR_UNKNOWN_AUTHORITY},
    {"duplicate_grant", EMR_DUPLICATE_GRANT},
    {"unknown_grant", EMR_UNKNOWN_GRANT},
    {"already_revoked", EMR_ALREADY_REVOKED},
    {"wrong_chain", EMR_WRONG_CHAIN},
    {"revocation_not_yet_effective", EMR_REVOCATION_NOT_YET_EFFECTIVE},
    {"not_recipient", EMR_NOT_RECIPIENT},
    {"decrypt_failed", EMR_DECRYPT_FAILED},
    {"unauthorized_dispenser", EMR_UNAUTHORIZED_DISPENSER},
    {"unauthorized_canceller", EMR_UNAUTHORIZED_CANCELLER},
    {"unknown_prescription", EMR_UNKNOWN_PRESCRIPTION},
    {"wrong_patient", EMR_WRONG_PATIENT},
    {"prescriber_revoked", EMR_PRESCRIBER_REVOKED},
    {"public_text_on_sealed", EMR_PUBLIC_TEXT_ON_SEALED},
    {"already_dispensed", EMR_ALREADY_DISPENSED},
    {"prescription_cancelled", EMR_PRESCRIPTION_CANCELLED},
    {"invalid_argument", EMR_INVALID_ARGUMENT},
    {"invalid_key", EMR_INVALID_KEY},
    {"decode", EMR_DECODE},
    {"not_found", EMR_NOT_FOUND},
    {"cancelled", EMR_CANCELLED},
    {"io", EMR_IO},
    {"locked", EMR_LOCKED},
    {"corrupt", EMR_CORRUPT},
    {"wrong_password", EMR_WRONG_PASSWORD},
    {"null_argument", EMR_NULL_ARGUMENT},
    {"buffer_too_small", EMR_BUFFER_TOO_SMALL},
    {"panic", EMR_PANIC},
};
#define STATUS_COUNT (sizeof STATUS_NAMES / sizeof STATUS_NAMES[0])

/* The statuses only a chain returns (test_chain.c reaches each of them). */
static inline int is_chain_status(emr_status s) {
    return (s >= EMR_WRONG_HEIGHT && s <= EMR_TIMESTAMP_TOO_LATE) || s == EMR_NOT_FOUND || s == EMR_LOCKED ||
           s == EMR_CORRUPT;
}

/* The statuses of SPEC section 8 (test_access.c reaches each of them). */
static inline int is_access_status(emr_status s) {
    return s == EMR_UNAUTHORIZED_DOCTOR || s == EMR_TOO_MANY_ENTRIES || s == EMR_ENTRY ||
           (s >= EMR_INVALID_ENTRY && s <= EMR_REVOCATION_NOT_YET_EFFECTIVE) || s == EMR_NOT_RECIPIENT ||
           s == EMR_DECRYPT_FAILED;
}

/* The statuses of SPEC section 10 (test_dispense.c reaches each of them). */
static inline int is_pharmacy_status(emr_status s) {
    return s >= EMR_UNAUTHORIZED_DISPENSER && s <= EMR_PRESCRIPTION_CANCELLED;
}

/* The status of a kind name; exits on an unknown name (a broken vector file). */
static inline emr_status status_from_name(const char *name) {
    for (size_t i = 0; i < STATUS_COUNT; i++) {
        if (strcmp(STATUS_NAMES[i].name, name) == 0) return STATUS_NAMES[i].status;
    }
    fprintf(stderr, "unknown status name %s\n", name);
    exit(2);
}

/* Byte strings with their length. */
typedef struct {
    uint8_t *data;
    size_t len;
} bytes_t;

static inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex ("-" is empty) into a new buffer; exits on bad input. The
 * buffer always has at least one byte so that it is never NULL. */
static inline bytes_t hex_decode(const char *hex) {
    bytes_t b = {NULL, 0};
    size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex);
    if (n % 2 != 0) {
        fprintf(stderr, "odd hex length: %s\n", hex);
        exit(2);
    }
    b.len = n / 2;
    b.data = malloc(b.len + 1);
    if (b.data == NULL) exit(3);
    for (size_t i = 0; i < b.len; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "bad hex: %s\n", hex);
            exit(2);
        }
        b.data[i] = (uint8_t)(hi * 16 + lo);
    }
    b.data[b.len] = 0;
    return b;
}

static inline void bytes_free(bytes_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

static inline int bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static inline uint64_t parse_u64(const char *s) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0') {
        fprintf(stderr, "bad integer: %s\n", s);
        exit(2);
    }
    return (uint64_t)v;
}

/* A fixed-seed PRNG (xorshift64*), so every run tries the same inputs. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static inline size_t rng_below(size_t n) {
    return n == 0 ? 0 : (size_t)(rng_next() % n);
}

#endif /* EMR_TEST_COMMON_H */
