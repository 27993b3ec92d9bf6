/* emr_mine_block through the C interface: mined blocks verify; one thread
 * from nonce 0 finds each vector's lowest nonce on every available engine;
 * ranges end (EXHAUSTED); time limits (TIMED_OUT); cancellation from another
 * thread, a signal handler and the progress callback (CANCELLED); progress
 * reports; several searches at once; NULL and bad arguments; many runs.
 *
 * Usage: test_mining DIR, where DIR holds mining.txt made by
 * vectors_to_text.py. Difficulties stay small: under valgrind hashing is
 * about 50 times slower, and valgrind hides SHA-NI and AVX-512, so only the
 * engines it can run are tested there (run.sh also runs this test natively).
 * Timing checks are generous bounds, never measurements. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "vectors.h"

/* Valgrind runs one thread at a time, and while the mining workers hash it
 * seldom hands the CPU to the thread that called emr_mine_block, so the
 * progress cadence (every 250 ms) is only checked natively. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND 0
#endif

static const uint8_t PREVIOUS[32] = {0x70, 0x72, 0x65, 0x76, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                     13,   14,   15,   16,   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};
static const uint8_t MINER[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74, 1, 2, 3,
                                    4,    5,    6,    7,    8,    9,    10,   11, 12, 13};
#define HEIGHT 7u
#define TIMESTAMP 1700000123u
/* Generous bounds for "promptly" and "soon", in seconds. */
#define PROMPT_SECONDS 10.0
/* A backstop so that a broken cancel fails a check instead of hanging. */
#define BACKSTOP_MS 60000u

/* A difficulty no search meets: about one id in 2^128 qualifies. */
static const emr_difficulty IMPOSSIBLE = {UINT64_MAX, UINT64_MAX};

static emr_difficulty difficulty(uint64_t lo) {
    emr_difficulty d = {lo, 0};
    return d;
}

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms) {
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* Options with the defaults, one thread count and one engine. */
static emr_mine_options options(size_t threads, emr_engine engine) {
    emr_mine_options o;
    CHECK_OK(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION));
    o.threads = threads;
    o.engine = engine;
    return o;
}

/* One search's results. */
typedef struct {
    emr_status status;
    emr_mine_outcome outcome;
    emr_block *block;
    emr_mine_stats stats;
} mined;

static mined mine_header(const uint8_t *previous, const uint8_t *miner, uint64_t height, uint64_t timestamp,
                         const emr_record *const *records, size_t count, emr_difficulty d,
                         const emr_mine_options *opts) {
    mined m;
    memset(&m, 0, sizeof m);
    m.status = emr_mine_block(previous, height, miner, records, count, timestamp, d, opts, &m.outcome, &m.block,
                              &m.stats);
    note_status(m.status);
    return m;
}

static mined mine(const emr_record *const *records, size_t count, emr_difficulty d, const emr_mine_options *opts) {
    return mine_header(PREVIOUS, MINER, HEIGHT, TIMESTAMP, records, count, d, opts);
}

/* The search ran and ended with `outcome`, with a block exactly when found. */
#define CHECK_OUTCOME(m, expected)                                                                                 \
    do {                                                                                                           \
        CHECK((m).status == EMR_OK, "emr_mine_block returned %s: %s", emr_status_name((m).status),                \
              emr_last_error_message());                                                                           \
        CHECK((m).outcome == (expected), "outcome %s, expected %s", emr_mine_outcome_name((m).outcome),           \
              emr_mine_outcome_name(expected));                                                                    \
        CHECK(((m).block != NULL) == ((expected) == EMR_MINE_FOUND), "block %p with outcome %s",                 \
              (void *)(m).block, emr_mine_outcome_name((m).outcome));                                              \
    } while (0)

/* A mined block has the template's fields, an id that matches them, and
 * verifies against `previous` (NULL: no state) at its difficulty. */
static void check_block(const emr_block *block, const uint8_t *previous32, const uint8_t *miner20, uint64_t height,
                        uint64_t timestamp, size_t count, emr_difficulty d, const emr_user_states *states) {
    if (block == NULL) return;
    uint8_t buf[32], id[32];
    uint64_t value = 0;
    size_t n = 0;
    emr_difficulty got;
    CHECK_OK(emr_block_previous(block, buf));
    CHECK(memcmp(buf, previous32, 32) == 0, "previous");
    CHECK_OK(emr_block_miner(block, buf));
    CHECK(memcmp(buf, miner20, 20) == 0, "miner");
    CHECK_OK(emr_block_height(block, &value));
    CHECK(value == height, "height %" PRIu64, value);
    CHECK_OK(emr_block_timestamp(block, &value));
    CHECK(value == timestamp, "timestamp %" PRIu64, value);
    CHECK_OK(emr_block_difficulty(block, &got));
    CHECK(got.lo == d.lo && got.hi == d.hi, "difficulty");
    CHECK_OK(emr_block_record_count(block, &n));
    CHECK(n == count, "record count %zu, expected %zu", n, count);
    CHECK_OK(emr_block_id(block, id));
    CHECK_OK(emr_block_calculate_id(block, buf));
    CHECK(memcmp(id, buf, 32) == 0, "block id and nonce agree");
    emr_user_states *changes = NULL;
    size_t failed = SIZE_MAX;
    emr_status record_status = EMR_OK;
    CHECK_OK(emr_block_verify_and_get_changes(block, d, states, EMR_DEFAULT_BLOCK_REWARD, &changes, &failed,
                                              &record_status));
    if (changes != NULL) {
        uint64_t balance = 0, nonce = 0;
        CHECK_OK(emr_user_states_get(changes, miner20, &balance, &nonce, NULL));
        CHECK(balance >= EMR_DEFAULT_BLOCK_REWARD, "miner rewarded: %" PRIu64, balance);
    }
    emr_user_states_free(changes);
}

/* Signed records: record i by doctor i % 2 (secp256k1, P-256), so that both
 * doctors have consecutive nonces from 1. */
#define RECORDS 26
static emr_key *doctors[2];
static emr_record *records[RECORDS];

static void make_records(void) {
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctors[0]));
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &doctors[1]));
    if (doctors[0] == NULL || doctors[1] == NULL) exit(1);
    for (size_t i = 0; i < RECORDS; i++) {
        char text[32];
        snprintf(text, sizeof text, "Amoxicillin %zu mg", 100 + i);
        CHECK_OK(emr_record_sign(doctors[i % 2], PATIENT, 20, text, strlen(text), i / 2 + 1, &records[i]));
        if (records[i] == NULL) exit(1);
    }
}

static void free_records(void) {
    for (size_t i = 0; i < RECORDS; i++) emr_record_free(records[i]);
    emr_key_free(doctors[0]);
    emr_key_free(doctors[1]);
}

#define RECS ((const emr_record *const *)records)

/* The engines this CPU (or valgrind's virtual CPU) can run. */
static emr_engine available[8];
static size_t available_count = 0;
static emr_engine best_engine = EMR_ENGINE_BEST;

static void test_engines(void) {
    test_context = "engines";
    bool yes = false;
    CHECK_OK(emr_mining_engine_available(EMR_ENGINE_BEST, &yes));
    CHECK(yes, "best is available");
    CHECK_OK(emr_mining_engine_available(EMR_ENGINE_SCALAR, &yes));
    CHECK(yes, "scalar is available");
    CHECK_OK(emr_mining_engine_best(&best_engine));
    CHECK(best_engine != EMR_ENGINE_BEST && best_engine <= EMR_ENGINE_AVX512, "best is %u", best_engine);
    const char *names[] = {"best", "scalar", "avx2", "sha-ni", "avx512"};
    printf("engines:");
    for (emr_engine e = EMR_ENGINE_BEST; e <= EMR_ENGINE_AVX512; e++) {
        CHECK(strcmp(emr_mining_engine_name(e), names[e]) == 0, "name of %u: %s", e, emr_mining_engine_name(e));
        if (e == EMR_ENGINE_BEST) continue;
        yes = false;
        CHECK_OK(emr_mining_engine_available(e, &yes));
        if (yes) {
            available[available_count++] = e;
            printf(" %s", emr_mining_engine_name(e));
        }
        if (e == best_engine) CHECK(yes, "the best engine is available");
    }
    printf(" (best: %s)\n", emr_mining_engine_name(best_engine));
    /* The measured order: every available engine once, the best first. */
    emr_engine ranked[8] = {0};
    size_t ranked_count = 0;
    CHECK_OK(emr_mining_engines(ranked, 8, &ranked_count));
    CHECK(ranked_count == available_count, "%zu ranked engines, %zu available", ranked_count, available_count);
    CHECK(ranked[0] == best_engine, "best first: %u, %u", ranked[0], best_engine);
    printf("fastest first:");
    for (size_t i = 0; i < ranked_count; i++) {
        size_t seen = 0;
        for (size_t j = 0; j < available_count; j++) seen += ranked[i] == available[j];
        CHECK(seen == 1, "ranked engine %u is available once", ranked[i]);
        for (size_t j = 0; j < i; j++) CHECK(ranked[j] != ranked[i], "engine %u ranked twice", ranked[i]);
        printf(" %s", emr_mining_engine_name(ranked[i]));
    }
    printf("\n");
    emr_engine first = EMR_ENGINE_BEST;
    size_t again = 0;
    CHECK_OK(emr_mining_engines(&first, 1, &again));
    CHECK(again == ranked_count && first == ranked[0], "a short array gets the first, the count is whole");
    CHECK_OK(emr_mining_engines(NULL, 0, &again));
    CHECK(again == ranked_count, "count alone");
    CHECK_STATUS(emr_mining_engines(ranked, 8, NULL), EMR_NULL_ARGUMENT);
    CHECK(strcmp(emr_mining_engine_name(5), "unknown") == 0, "unknown engine name");
    CHECK(strcmp(emr_mining_engine_name(UINT32_MAX), "unknown") == 0, "unknown engine name");
    CHECK_STATUS(emr_mining_engine_available(5, &yes), EMR_INVALID_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "engine"), "message: %s", emr_last_error_message());
    CHECK_STATUS(emr_mining_engine_available(EMR_ENGINE_SCALAR, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_mining_engine_best(NULL), EMR_NULL_ARGUMENT);

    CHECK(strcmp(emr_mine_outcome_name(EMR_MINE_FOUND), "found") == 0, "found");
    CHECK(strcmp(emr_mine_outcome_name(EMR_MINE_EXHAUSTED), "exhausted") == 0, "exhausted");
    CHECK(strcmp(emr_mine_outcome_name(EMR_MINE_CANCELLED), "cancelled") == 0, "cancelled");
    CHECK(strcmp(emr_mine_outcome_name(EMR_MINE_TIMED_OUT), "timed_out") == 0, "timed_out");
    CHECK(strcmp(emr_mine_outcome_name(0), "unknown") == 0, "unknown outcome");
    CHECK(EMR_IO == 105 && strcmp(emr_status_name(EMR_IO), "io") == 0, "io status");
}

static void test_options_default(void) {
    test_context = "options_default";
    emr_mine_options o;
    memset(&o, 0xab, sizeof o);
    CHECK_OK(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION));
    CHECK(o.version == EMR_MINE_OPTIONS_VERSION && o.engine == EMR_ENGINE_BEST && o.threads == 0 &&
              o.nonce_start == 0 && !o.has_nonce_count && o.nonce_count == 0 && o.time_limit_ms == 0 &&
              o.cancel == NULL && o.progress == NULL && o.user_data == NULL,
          "every default is zero");
    emr_mine_options before;
    memset(&o, 0xab, sizeof o);
    memcpy(&before, &o, sizeof o);
    CHECK_STATUS(emr_mine_options_default(&o, 0), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION + 1), EMR_INVALID_ARGUMENT);
    CHECK(contains(emr_last_error_message(), "version"), "message: %s", emr_last_error_message());
    CHECK(memcmp(&o, &before, sizeof o) == 0, "nothing written on failure");
    CHECK_STATUS(emr_mine_options_default(NULL, EMR_MINE_OPTIONS_VERSION), EMR_NULL_ARGUMENT);
}

/* Blocks of 0, 1, 2, 5 and 25 records on 1 and 2 threads verify. */
static void test_mined_blocks_verify(void) {
    test_context = "mined_blocks_verify";
    const size_t counts[] = {0, 1, 2, 5, 25};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        for (size_t threads = 1; threads <= 2; threads++) {
            emr_mine_options o = options(threads, EMR_ENGINE_BEST);
            emr_difficulty d = difficulty(1000 + 1000 * c);
            mined m = mine(counts[c] ? RECS : NULL, counts[c], d, &o);
            CHECK_OUTCOME(m, EMR_MINE_FOUND);
            check_block(m.block, PREVIOUS, MINER, HEIGHT, TIMESTAMP, counts[c], d, NULL);
            /* The best engine is calibrated per header layout: for a block
             * of 25 records it is emr_mining_engine_best's; for fewer, SHA-NI
             * and AVX-512 run within a few percent of each other, and either
             * may measure faster. */
            bool engine_ok = counts[c] == 25 ? m.stats.engine == best_engine
                                             : m.stats.engine >= EMR_ENGINE_SCALAR && m.stats.engine <= EMR_ENGINE_AVX512;
            CHECK(m.stats.threads == threads && engine_ok && m.stats.hashes >= 1 &&
                      m.stats.seconds >= 0 && m.stats.hashes_per_second >= 0,
                  "stats: %zu threads, engine %u, %" PRIu64 " hashes", m.stats.threads, m.stats.engine,
                  m.stats.hashes);
            if (threads == 1 && m.block != NULL) {
                uint64_t nonce = 0;
                CHECK_OK(emr_block_nonce(m.block, &nonce));
                CHECK(m.stats.hashes > nonce, "one thread hashed every nonce up to %" PRIu64, nonce);
            }
            emr_block_free(m.block);
        }
    }
    /* stats_out may be NULL. */
    emr_mine_outcome outcome = 0;
    emr_block *block = NULL;
    emr_mine_options o = options(1, EMR_ENGINE_BEST);
    CHECK_OK(emr_mine_block(PREVIOUS, HEIGHT, MINER, RECS, 1, TIMESTAMP, difficulty(500), &o, &outcome, &block,
                            NULL));
    CHECK(outcome == EMR_MINE_FOUND && block != NULL, "found without stats");
    check_block(block, PREVIOUS, MINER, HEIGHT, TIMESTAMP, 1, difficulty(500), NULL);
    emr_block_free(block);
}

/* NULL options are the defaults, as is a struct from emr_mine_options_default. */
static void test_default_options(void) {
    test_context = "default_options";
    emr_mine_options o;
    CHECK_OK(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION));
    for (int with_struct = 0; with_struct <= 1; with_struct++) {
        mined m = mine(RECS, 2, difficulty(1500), with_struct ? &o : NULL);
        CHECK_OUTCOME(m, EMR_MINE_FOUND);
        check_block(m.block, PREVIOUS, MINER, HEIGHT, TIMESTAMP, 2, difficulty(1500), NULL);
        /* Two records: the best engine for that header layout, calibrated on its own. */
        CHECK(m.stats.engine >= EMR_ENGINE_SCALAR && m.stats.engine <= EMR_ENGINE_AVX512, "default engine %u",
              m.stats.engine);
        CHECK(m.stats.threads >= 1 && m.stats.threads <= EMR_MAX_MINING_THREADS, "default threads %zu",
              m.stats.threads);
        emr_block_free(m.block);
    }
}

/* --- the vectors: the lowest nonce from 0 on every engine ----------------- */

#define MAX_VEC_RECORDS 64
#define MAX_VEC_STATES 64

typedef struct {
    uint64_t balance, nonce;
    bytes_t hash;
} vec_state;

typedef struct {
    const char *name;
    char expected[64];
    emr_difficulty verify_difficulty, difficulty;
    bytes_t previous, miner, block_id;
    uint64_t height, timestamp, nonce;
    vec_state states[MAX_VEC_STATES];
    size_t state_count;
    vec_record records[MAX_VEC_RECORDS];
    size_t record_count;
} vec_mine;

static void vec_mine_free(vec_mine *v) {
    bytes_free(&v->previous);
    bytes_free(&v->miner);
    bytes_free(&v->block_id);
    for (size_t i = 0; i < v->state_count; i++) bytes_free(&v->states[i].hash);
    for (size_t i = 0; i < v->record_count; i++) vec_record_free(&v->records[i]);
    v->state_count = v->record_count = 0;
}

static int vectors_checked = 0;

static void run_vector(const vec_mine *v) {
    emr_record *recs[MAX_VEC_RECORDS] = {0};
    for (size_t i = 0; i < v->record_count; i++) {
        emr_record_fields f = fields_of(&v->records[i]);
        CHECK_OK(emr_record_new(&f, &recs[i]));
        if (recs[i] == NULL) return;
    }
    emr_user_states *states = NULL;
    CHECK_OK(emr_user_states_new(&states));
    for (size_t i = 0; i < v->state_count; i++) {
        CHECK_OK(emr_user_states_set(states, v->states[i].hash.data, v->states[i].balance, v->states[i].nonce));
    }
    const emr_record *const *rp = (const emr_record *const *)recs;
    int ok = strcmp(v->expected, "ok") == 0;
    for (size_t e = 0; e < available_count; e++) {
        emr_engine engine = available[e];
        emr_mine_options o = options(1, engine);
        mined m = mine_header(v->previous.data, v->miner.data, v->height, v->timestamp, rp, v->record_count,
                              v->difficulty, &o);
        if (v->record_count > EMR_MAX_RECORDS) {
            /* The core refuses a search for a block that can never be valid. */
            CHECK(m.status == EMR_INVALID_ARGUMENT && m.block == NULL, "%s on %s: %s", v->name,
                  emr_mine_outcome_name(m.outcome), emr_status_name(m.status));
            CHECK(contains(emr_last_error_message(), "25"), "message: %s", emr_last_error_message());
            continue;
        }
        CHECK_OUTCOME(m, EMR_MINE_FOUND);
        if (m.block == NULL) continue;
        uint64_t nonce = UINT64_MAX;
        uint8_t id[32];
        CHECK_OK(emr_block_nonce(m.block, &nonce));
        CHECK_OK(emr_block_id(m.block, id));
        CHECK(nonce == v->nonce, "%s on %s: nonce %" PRIu64 ", the lowest is %" PRIu64, v->name,
              emr_mining_engine_name(engine), nonce, v->nonce);
        CHECK(bytes_eq(id, 32, v->block_id.data, v->block_id.len), "%s on %s: block id", v->name,
              emr_mining_engine_name(engine));
        CHECK(m.stats.threads == 1 && m.stats.engine == engine, "stats: %zu threads, engine %s", m.stats.threads,
              emr_mining_engine_name(m.stats.engine));
        CHECK(m.stats.hashes > v->nonce && m.stats.hashes <= v->nonce + 16,
              "%" PRIu64 " hashes for nonce %" PRIu64 " (at most one batch past it)", m.stats.hashes, v->nonce);
        if (ok && e == 0) {
            /* The mined block is the vector's block, which verifies. */
            check_block(m.block, v->previous.data, v->miner.data, v->height, v->timestamp, v->record_count,
                        v->verify_difficulty, states);
        }
        emr_block_free(m.block);

        /* Every nonce below the lowest: the range is exhausted, no block. */
        o.has_nonce_count = true;
        o.nonce_count = v->nonce;
        m = mine_header(v->previous.data, v->miner.data, v->height, v->timestamp, rp, v->record_count,
                        v->difficulty, &o);
        CHECK_OUTCOME(m, EMR_MINE_EXHAUSTED);
        CHECK(m.stats.hashes == v->nonce && m.stats.threads == (v->nonce ? 1u : 0u),
              "exhausted after %" PRIu64 " hashes on %zu threads", m.stats.hashes, m.stats.threads);
        emr_block_free(m.block);

        /* A range of the lowest nonce alone finds it. */
        o.nonce_start = v->nonce;
        o.nonce_count = 1;
        m = mine_header(v->previous.data, v->miner.data, v->height, v->timestamp, rp, v->record_count,
                        v->difficulty, &o);
        CHECK_OUTCOME(m, EMR_MINE_FOUND);
        if (m.block != NULL) {
            CHECK_OK(emr_block_nonce(m.block, &nonce));
            CHECK(nonce == v->nonce && m.stats.hashes == 1, "one-nonce range: %" PRIu64, nonce);
        }
        emr_block_free(m.block);
    }
    emr_user_states_free(states);
    for (size_t i = 0; i < v->record_count; i++) emr_record_free(recs[i]);
    vectors_checked++;
}

static void test_vectors_lowest_nonce(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    vec_mine *v = calloc(1, sizeof *v);
    char name[256];
    char *line = NULL;
    size_t cap = 0;
    if (v == NULL) exit(3);
    while (getline(&line, &cap, f) > 0) {
        char *t[MAX_TOKENS];
        int n = tokenize(line, t);
        if (n == 0) continue;
        if (strcmp(t[0], "MINE") == 0 && n == 5) {
            vec_mine_free(v);
            snprintf(name, sizeof name, "%s", decode_name(t[1]));
            snprintf(v->expected, sizeof v->expected, "%s", t[2]);
            v->name = name;
            test_context = name;
            v->verify_difficulty.hi = parse_u64(t[3]);
            v->verify_difficulty.lo = parse_u64(t[4]);
        } else if (strcmp(t[0], "HEADER") == 0 && n == 9) {
            v->previous = hex_decode(t[1]);
            v->height = parse_u64(t[2]);
            v->miner = hex_decode(t[3]);
            v->timestamp = parse_u64(t[4]);
            v->difficulty.hi = parse_u64(t[5]);
            v->difficulty.lo = parse_u64(t[6]);
            v->block_id = hex_decode(t[7]);
            v->nonce = parse_u64(t[8]);
        } else if (strcmp(t[0], "STATE") == 0 && n == 4 && v->state_count < MAX_VEC_STATES) {
            vec_state *s = &v->states[v->state_count++];
            s->hash = hex_decode(t[1]);
            s->balance = parse_u64(t[2]);
            s->nonce = parse_u64(t[3]);
        } else if (strcmp(t[0], "RECORD") == 0 && n == 8 && v->record_count < MAX_VEC_RECORDS) {
            v->records[v->record_count++] = parse_record(t + 1);
        } else if (strcmp(t[0], "END") == 0 && n == 1) {
            if (v->previous.len != 32 || v->miner.len != 20) {
                fprintf(stderr, "mining.txt: %s has a malformed header\n", name);
                exit(2);
            }
            run_vector(v);
            vec_mine_free(v);
        } else {
            fprintf(stderr, "bad mining.txt line starting %s (%d tokens)\n", t[0], n);
            exit(2);
        }
    }
    vec_mine_free(v);
    free(v);
    free(line);
    fclose(f);
    test_context = "vectors";
    CHECK(vectors_checked > 0, "mining.txt had no vector");
    printf("vectors: the lowest nonce of %d blocks on %zu engines\n", vectors_checked, available_count);
}

/* --- ranges, time limits, progress, cancellation --------------------------- */

static void test_ranges(void) {
    test_context = "ranges";
    emr_mine_options o = options(1, EMR_ENGINE_BEST);
    o.has_nonce_count = true;
    o.nonce_count = 0;
    mined m = mine(NULL, 0, difficulty(1), &o);
    CHECK_OUTCOME(m, EMR_MINE_EXHAUSTED);
    CHECK(m.stats.hashes == 0 && m.stats.threads == 0, "empty range: %" PRIu64 " hashes on %zu threads",
          m.stats.hashes, m.stats.threads);

    /* The range ends at UINT64_MAX, with or without a count. */
    o = options(1, EMR_ENGINE_BEST);
    o.nonce_start = UINT64_MAX - 9;
    m = mine(RECS, 3, IMPOSSIBLE, &o);
    CHECK_OUTCOME(m, EMR_MINE_EXHAUSTED);
    CHECK(m.stats.hashes == 10 && m.stats.threads == 1, "top 10 nonces: %" PRIu64 " hashes", m.stats.hashes);
    o.threads = 4;
    o.has_nonce_count = true;
    o.nonce_count = UINT64_MAX;
    m = mine(RECS, 3, IMPOSSIBLE, &o);
    CHECK_OUTCOME(m, EMR_MINE_EXHAUSTED);
    CHECK(m.stats.hashes == 10 && m.stats.threads == 4, "clipped count: %" PRIu64 " hashes on %zu threads",
          m.stats.hashes, m.stats.threads);
    o.threads = 8;
    o.nonce_start = UINT64_MAX - 2;
    m = mine(RECS, 3, IMPOSSIBLE, &o);
    CHECK_OUTCOME(m, EMR_MINE_EXHAUSTED);
    CHECK(m.stats.hashes == 3 && m.stats.threads == 3, "fewer nonces than threads: %" PRIu64 " on %zu",
          m.stats.hashes, m.stats.threads);

    /* Difficulty 1 accepts every id, UINT64_MAX included. */
    o = options(1, EMR_ENGINE_BEST);
    o.nonce_start = UINT64_MAX;
    m = mine(RECS, 1, difficulty(1), &o);
    CHECK_OUTCOME(m, EMR_MINE_FOUND);
    uint64_t nonce = 0;
    if (m.block != NULL) CHECK_OK(emr_block_nonce(m.block, &nonce));
    CHECK(nonce == UINT64_MAX, "nonce %" PRIu64, nonce);
    check_block(m.block, PREVIOUS, MINER, HEIGHT, TIMESTAMP, 1, difficulty(1), NULL);
    emr_block_free(m.block);
}

/* What the progress callback saw. */
#define LOG_MAGIC 0x5eedf00du
typedef struct {
    unsigned magic; /* user_data arrived intact */
    pthread_t caller;
    int calls;
    int off_thread;     /* calls not on the thread that called emr_mine_block */
    int not_monotonic;  /* hashes or time went backwards */
    int inconsistent;   /* a rate that is not hashes / elapsed, or too early */
    uint64_t first_hashes, last_hashes;
    double last_elapsed;
    const emr_cancel *cancel_at_first_call;
} progress_log;

static void on_progress(uint64_t hashes, double hashes_per_second, double elapsed_seconds, void *user_data) {
    progress_log *log = user_data;
    if (log == NULL || log->magic != LOG_MAGIC) {
        fprintf(stderr, "progress: user_data %p is not the options' user_data\n", user_data);
        exit(1);
    }
    if (!pthread_equal(pthread_self(), log->caller)) log->off_thread++;
    if (log->calls > 0 && (hashes < log->last_hashes || elapsed_seconds <= log->last_elapsed)) {
        log->not_monotonic++;
    }
    /* The first report comes after 250 ms; the rate is hashes / elapsed. */
    double error = hashes_per_second * elapsed_seconds - (double)hashes;
    if (error < 0) error = -error;
    if (elapsed_seconds < 0.24 || !isfinite(hashes_per_second) || error > 1e-6 * (double)hashes + 1.0) {
        log->inconsistent++;
    }
    if (log->calls == 0) log->first_hashes = hashes;
    log->last_hashes = hashes;
    log->last_elapsed = elapsed_seconds;
    log->calls++;
    if (log->cancel_at_first_call != NULL) emr_cancel_trigger(log->cancel_at_first_call);
}

static void test_time_limit_and_progress(void) {
    test_context = "time_limit_and_progress";
    progress_log log;
    memset(&log, 0, sizeof log);
    log.magic = LOG_MAGIC;
    log.caller = pthread_self();
    emr_mine_options o = options(2, EMR_ENGINE_BEST);
    o.time_limit_ms = 1000;
    o.progress = on_progress;
    o.user_data = &log;
    mined m = mine(RECS, 2, IMPOSSIBLE, &o);
    CHECK_OUTCOME(m, EMR_MINE_TIMED_OUT);
    CHECK(m.stats.seconds >= 0.999 && m.stats.seconds < 1.0 + PROMPT_SECONDS, "timed out after %.3f s",
          m.stats.seconds);
    CHECK(m.stats.hashes > 0 && m.stats.threads == 2, "%" PRIu64 " hashes on %zu threads", m.stats.hashes,
          m.stats.threads);
    printf("progress: %d calls in %.3f s%s\n", log.calls, m.stats.seconds,
           UNDER_VALGRIND ? " (under valgrind: cadence not checked)" : "");
    CHECK(log.off_thread == 0, "progress called on another thread %d times", log.off_thread);
    CHECK(log.not_monotonic == 0 && log.inconsistent == 0, "progress: %d not monotonic, %d inconsistent",
          log.not_monotonic, log.inconsistent);
    CHECK(log.last_hashes <= m.stats.hashes, "progress %" PRIu64 " of %" PRIu64 " hashes", log.last_hashes,
          m.stats.hashes);
    if (!UNDER_VALGRIND) {
        CHECK(log.calls >= 2, "progress called %d times in 1 s (every 250 ms)", log.calls);
        CHECK(log.last_hashes > log.first_hashes, "hashes grow: %" PRIu64 " then %" PRIu64, log.first_hashes,
              log.last_hashes);
    }
}

static void test_cancel_before_and_from_progress(void) {
    test_context = "cancel_before_and_from_progress";
    emr_cancel *cancel = NULL;
    bool triggered = true;
    CHECK_OK(emr_cancel_new(&cancel));
    CHECK_OK(emr_cancel_is_triggered(cancel, &triggered));
    CHECK(!triggered, "a new handle is not triggered");
    CHECK_OK(emr_cancel_trigger(cancel));
    CHECK_OK(emr_cancel_trigger(cancel));
    CHECK_OK(emr_cancel_is_triggered(cancel, &triggered));
    CHECK(triggered, "triggered");
    /* A search started with a triggered handle ends at once, without hashing. */
    emr_mine_options o = options(2, EMR_ENGINE_BEST);
    o.cancel = cancel;
    mined m = mine(RECS, 1, difficulty(1), &o);
    CHECK_OUTCOME(m, EMR_MINE_CANCELLED);
    CHECK(m.stats.hashes == 0, "%" PRIu64 " hashes", m.stats.hashes);
    emr_cancel_free(cancel);

    /* The progress callback may cancel the search it reports on. */
    cancel = NULL;
    CHECK_OK(emr_cancel_new(&cancel));
    progress_log log;
    memset(&log, 0, sizeof log);
    log.magic = LOG_MAGIC;
    log.caller = pthread_self();
    log.cancel_at_first_call = cancel;
    o = options(1, EMR_ENGINE_BEST);
    o.cancel = cancel;
    o.progress = on_progress;
    o.user_data = &log;
    o.time_limit_ms = BACKSTOP_MS;
    m = mine(RECS, 1, IMPOSSIBLE, &o);
    CHECK_OUTCOME(m, EMR_MINE_CANCELLED);
    CHECK(log.calls >= 1 && m.stats.seconds < PROMPT_SECONDS, "cancelled by the callback after %.3f s",
          m.stats.seconds);
    printf("cancel from the progress callback: after %.3f s\n", m.stats.seconds);
    emr_cancel_free(cancel);
}

typedef struct {
    const emr_cancel *cancel;
    pthread_t target; /* for signal_later */
    unsigned delay_ms;
    emr_status status;
    double at; /* when the trigger happened */
} later;

static void *trigger_later(void *p) {
    later *l = p;
    sleep_ms(l->delay_ms);
    l->at = now_seconds();
    l->status = emr_cancel_trigger(l->cancel);
    return NULL;
}

static void test_cancel_from_thread(void) {
    test_context = "cancel_from_thread";
    emr_cancel *cancel = NULL;
    CHECK_OK(emr_cancel_new(&cancel));
    later l = {cancel, pthread_self(), 200, EMR_PANIC, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, trigger_later, &l) != 0) exit(3);
    emr_mine_options o = options(2, EMR_ENGINE_BEST);
    o.cancel = cancel;
    o.time_limit_ms = BACKSTOP_MS;
    mined m = mine(RECS, 3, IMPOSSIBLE, &o);
    double returned = now_seconds();
    pthread_join(thread, NULL);
    CHECK_OUTCOME(m, EMR_MINE_CANCELLED);
    CHECK(l.status == EMR_OK, "trigger returned %s", emr_status_name(l.status));
    CHECK(returned - l.at < PROMPT_SECONDS, "returned %.3f s after the trigger", returned - l.at);
    printf("cancel from a thread: returned %.3f s after the trigger\n", returned - l.at);
    CHECK(m.stats.hashes > 0, "hashed before the cancel");
    bool triggered = false;
    CHECK_OK(emr_cancel_is_triggered(cancel, &triggered));
    CHECK(triggered, "still triggered");
    emr_cancel_free(cancel);
}

/* Ctrl-C: a signal handler may trigger the handle. */
static const emr_cancel *signal_cancel = NULL;
static volatile sig_atomic_t signal_status = -1;

static void on_signal(int sig) {
    (void)sig;
    signal_status = (sig_atomic_t)emr_cancel_trigger(signal_cancel);
}

static void *signal_later(void *p) {
    later *l = p;
    sleep_ms(l->delay_ms);
    l->at = now_seconds();
    pthread_kill(l->target, SIGUSR1);
    return NULL;
}

static void test_cancel_from_signal_handler(void) {
    test_context = "cancel_from_signal_handler";
    emr_cancel *cancel = NULL;
    CHECK_OK(emr_cancel_new(&cancel));
    signal_cancel = cancel;
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGUSR1, &action, &previous) != 0) exit(3);
    later l = {cancel, pthread_self(), 200, EMR_PANIC, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, signal_later, &l) != 0) exit(3);
    emr_mine_options o = options(2, EMR_ENGINE_BEST);
    o.cancel = cancel;
    o.time_limit_ms = BACKSTOP_MS;
    mined m = mine(RECS, 1, IMPOSSIBLE, &o);
    double returned = now_seconds();
    pthread_join(thread, NULL);
    sigaction(SIGUSR1, &previous, NULL);
    CHECK_OUTCOME(m, EMR_MINE_CANCELLED);
    CHECK(signal_status == EMR_OK, "trigger in the handler returned %d", (int)signal_status);
    CHECK(returned - l.at < PROMPT_SECONDS, "returned %.3f s after the signal", returned - l.at);
    printf("cancel from a signal handler: returned %.3f s after the signal\n", returned - l.at);
    emr_cancel_free(cancel);
    signal_cancel = NULL;
}

/* --- several searches at once, many searches ------------------------------- */

typedef struct {
    size_t count;
    emr_difficulty d;
    mined m;
} concurrent_search;

static void *search_thread(void *p) {
    concurrent_search *s = p;
    emr_mine_options o;
    memset(&o, 0, sizeof o);
    s->m.status = emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION);
    if (s->m.status != EMR_OK) return NULL;
    o.threads = 2;
    s->m = mine(RECS, s->count, s->d, &o);
    return NULL;
}

static void test_concurrent_searches(void) {
    test_context = "concurrent_searches";
    concurrent_search s[3];
    pthread_t threads[3];
    for (size_t i = 0; i < 3; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].count = i + 1;
        s[i].d = difficulty(1500 + 500 * i);
        if (pthread_create(&threads[i], NULL, search_thread, &s[i]) != 0) exit(3);
    }
    for (size_t i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        CHECK_OUTCOME(s[i].m, EMR_MINE_FOUND);
        check_block(s[i].m.block, PREVIOUS, MINER, HEIGHT, TIMESTAMP, s[i].count, s[i].d, NULL);
        emr_block_free(s[i].m.block);
    }
}

static void test_many_runs(void) {
    test_context = "many_runs";
    const int runs = 50;
    int valid = 0;
    for (int i = 0; i < runs; i++) {
        size_t threads = 2 + (size_t)(i % 3);
        size_t count = (size_t)(i % 4);
        emr_difficulty d = difficulty(200 + 97 * (uint64_t)i);
        emr_mine_options o = options(threads, available[(size_t)i % available_count]);
        o.nonce_start = (uint64_t)i * 1000003u;
        mined m = mine_header(PREVIOUS, MINER, HEIGHT, TIMESTAMP + (uint64_t)i, count ? RECS : NULL, count, d, &o);
        CHECK_OUTCOME(m, EMR_MINE_FOUND);
        if (m.block != NULL) {
            unsigned long before = test_failed;
            uint64_t nonce = 0;
            CHECK_OK(emr_block_nonce(m.block, &nonce));
            CHECK(nonce >= o.nonce_start, "nonce %" PRIu64 " in the range from %" PRIu64, nonce, o.nonce_start);
            check_block(m.block, PREVIOUS, MINER, HEIGHT, TIMESTAMP + (uint64_t)i, count, d, NULL);
            if (test_failed == before) valid++;
        }
        emr_block_free(m.block);
    }
    printf("many runs: %d of %d multi-thread blocks valid\n", valid, runs);
}

/* --- NULL and bad arguments ------------------------------------------------ */

/* A failed call leaves *block_out NULL and *outcome_out untouched. */
#define CHECK_REFUSED(expected, previous, miner, recs, count, d, opts, outcome_p, block_p)                          \
    do {                                                                                                           \
        emr_block **block_out_ = (block_p);                                                                        \
        outcome = 77;                                                                                              \
        block = (emr_block *)&block;                                                                               \
        CHECK_STATUS(emr_mine_block(previous, HEIGHT, miner, recs, count, TIMESTAMP, d, opts, outcome_p,          \
                                    block_out_, &stats),                                                           \
                     expected);                                                                                    \
        CHECK(outcome == 77, "outcome written on failure");                                                        \
        CHECK(block_out_ == NULL || block == NULL, "block_out reset to NULL on failure");                         \
    } while (0)

static void test_bad_arguments(void) {
    test_context = "bad_arguments";
    emr_mine_outcome outcome = 77;
    emr_block *block = NULL;
    emr_mine_stats stats;
    emr_difficulty d = difficulty(100);
    emr_mine_options o = options(1, EMR_ENGINE_BEST);

    CHECK_REFUSED(EMR_NULL_ARGUMENT, NULL, MINER, RECS, 1, d, &o, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "previous32"), "message: %s", emr_last_error_message());
    CHECK_REFUSED(EMR_NULL_ARGUMENT, PREVIOUS, NULL, RECS, 1, d, &o, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "miner20"), "message: %s", emr_last_error_message());
    CHECK_REFUSED(EMR_NULL_ARGUMENT, PREVIOUS, MINER, NULL, 1, d, &o, &outcome, &block);
    const emr_record *with_null[3] = {records[0], NULL, records[2]};
    CHECK_REFUSED(EMR_NULL_ARGUMENT, PREVIOUS, MINER, with_null, 3, d, &o, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "records[1]"), "message: %s", emr_last_error_message());
    CHECK_REFUSED(EMR_NULL_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &o, NULL, &block);
    CHECK(contains(emr_last_error_message(), "outcome_out"), "message: %s", emr_last_error_message());
    CHECK_REFUSED(EMR_NULL_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &o, &outcome, NULL);
    CHECK(contains(emr_last_error_message(), "block_out"), "message: %s", emr_last_error_message());

    CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, 1, difficulty(0), &o, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "difficulty"), "message: %s", emr_last_error_message());
    CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, EMR_MAX_RECORDS + 1, d, &o, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "25"), "message: %s", emr_last_error_message());

    emr_mine_options bad = o;
    bad.version = 0;
    CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &bad, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "emr_mine_options_default"), "message: %s", emr_last_error_message());
    bad.version = EMR_MINE_OPTIONS_VERSION + 1;
    CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &bad, &outcome, &block);
    bad = o;
    bad.threads = EMR_MAX_MINING_THREADS + 1;
    CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &bad, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "threads"), "message: %s", emr_last_error_message());
    bad = o;
    bad.engine = 5;
    CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &bad, &outcome, &block);
    CHECK(contains(emr_last_error_message(), "unknown engine"), "message: %s", emr_last_error_message());
    int unavailable_tested = 0;
    for (emr_engine e = EMR_ENGINE_SCALAR; e <= EMR_ENGINE_AVX512; e++) {
        bool yes = true;
        CHECK_OK(emr_mining_engine_available(e, &yes));
        if (yes) continue;
        bad.engine = e;
        CHECK_REFUSED(EMR_INVALID_ARGUMENT, PREVIOUS, MINER, RECS, 1, d, &bad, &outcome, &block);
        CHECK(contains(emr_last_error_message(), "not available"), "message: %s", emr_last_error_message());
        unavailable_tested++;
    }
    printf("unavailable engines refused: %d\n", unavailable_tested);

    /* Zero records may come as NULL; the most threads the core accepts run. */
    bad = o;
    bad.threads = EMR_MAX_MINING_THREADS;
    bad.has_nonce_count = true;
    bad.nonce_count = 3;
    mined m = mine(NULL, 0, IMPOSSIBLE, &bad);
    CHECK_OUTCOME(m, EMR_MINE_EXHAUSTED);
    CHECK(m.stats.threads == 3, "%zu threads for 3 nonces", m.stats.threads);

    /* Cancel handles. */
    bool triggered = false;
    emr_cancel *cancel = NULL;
    CHECK_STATUS(emr_cancel_new(NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_cancel_trigger(NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_cancel_is_triggered(NULL, &triggered), EMR_NULL_ARGUMENT);
    CHECK_OK(emr_cancel_new(&cancel));
    CHECK_STATUS(emr_cancel_is_triggered(cancel, NULL), EMR_NULL_ARGUMENT);
    emr_cancel_free(cancel);
    emr_cancel_free(NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTOR_TEXT_DIR\n", argv[0]);
        return 2;
    }
    double started = now_seconds();
    make_records();
    test_engines();
    test_options_default();
    test_bad_arguments();
    test_mined_blocks_verify();
    test_default_options();
    char path[4096];
    snprintf(path, sizeof path, "%s/mining.txt", argv[1]);
    test_vectors_lowest_nonce(path);
    test_ranges();
    test_time_limit_and_progress();
    test_cancel_before_and_from_progress();
    test_cancel_from_thread();
    test_cancel_from_signal_handler();
    test_concurrent_searches();
    test_many_runs();
    free_records();
    printf("test_mining ran in %.1f s\n", now_seconds() - started);
    return test_finish("test_mining");
}
