/* Concurrency stress: eight pthreads share one emr_chain (a file) and add,
 * query, check, verify and mine at once, as the header's Thread-safety
 * lines allow (any thread may call a chain at any time; keys, records and
 * blocks are read by many threads at once; an emr_cancel is triggered from
 * another thread).
 *
 * Every answer must be consistent with some serial order of the calls:
 * - per reader, the length and the total difficulty never go down, and a
 *   doctor's record count never goes down (no call here removes a block,
 *   and a mined block can only tie the prepared branch, never overtake it);
 * - every call returns EMR_OK (or EMR_NOT_FOUND where asked about a
 *   record not yet added), every check is clean, a search cancelled from
 *   another thread ends promptly with EMR_MINE_CANCELLED;
 * - at the end, every prepared block is on the active chain and the
 *   chain's states equal those of a fresh chain replaying the active chain
 *   block by block.
 * A watchdog alarm ends the program (without its result line, so run.sh
 * fails it) if anything deadlocks.
 *
 * Usage: test_stress [SECONDS_OF_READING] (default EMR_STRESS_SECONDS or 3). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PREPARED 24 /* blocks on the prepared branch */
#define RECORDS_PER_BLOCK 2
#define WATCHDOG_SECONDS 600 /* valgrind is slow; a deadlock is forever */

static const uint64_t T0 = 1700000000;
static const uint8_t MINER_P[20] = {0x50};
static const uint8_t MINER_M[20] = {0x4d};
static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74};

static emr_key *doctor;
static uint8_t doctor_hash[20];
static emr_block *prepared[PREPARED];
static emr_record *records[PREPARED * RECORDS_PER_BLOCK];
static uint8_t txids[PREPARED * RECORDS_PER_BLOCK][32];
static emr_chain *chain;
static double read_seconds = 3;

/* Counted checks from several threads: one lock around the counters. */
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long t_passed, t_failed;

#define TCHECK(cond, ...)                                                                          \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        pthread_mutex_lock(&check_lock);                                                           \
        if (ok_) {                                                                                 \
            t_passed++;                                                                            \
        } else {                                                                                   \
            t_failed++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
        pthread_mutex_unlock(&check_lock);                                                         \
    } while (0)

#define TCHECK_OK(call)                                                                            \
    do {                                                                                           \
        emr_status s_ = (call);                                                                    \
        TCHECK(s_ == EMR_OK, "%s: %s: %s", #call, emr_status_name(s_), emr_last_error_message()); \
    } while (0)

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static _Atomic int adders_done;
static _Atomic int mined;
static _Atomic int miner_done;

/* The adders hold back the last prepared blocks until the miner has mined
 * its blocks: the prepared branch then outgrows every mined block, so the
 * final chain is exactly the prepared one, whatever the interleaving. */
#define MINED 3
static void wait_for_miner(void) {
    for (int i = 0; i < 60000 && !miner_done; i++) sleep_us(1000);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static emr_chain_options easy_options(void) {
    emr_chain_options o;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    o.initial_difficulty.hi = 0;
    o.block_time = 1;
    return o;
}

/* The prepared branch: PREPARED blocks one second apart, two records each. */
static void prepare(void) {
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctor));
    if (doctor == NULL) exit(1);
    CHECK_OK(emr_key_public_key_hash(doctor, doctor_hash));
    uint8_t previous[32] = {0};
    for (uint64_t h = 0; h < PREPARED; h++) {
        emr_record *in_block[RECORDS_PER_BLOCK];
        for (int r = 0; r < RECORDS_PER_BLOCK; r++) {
            size_t i = h * RECORDS_PER_BLOCK + (size_t)r;
            char text[64];
            snprintf(text, sizeof text, "stress h%llu r%d", (unsigned long long)h, r);
            CHECK_OK(emr_record_sign(doctor, PATIENT, 20, text, strlen(text), i + 1, &records[i]));
            if (records[i] == NULL) exit(1);
            CHECK_OK(emr_record_txid(records[i], txids[i]));
            in_block[r] = records[i];
        }
        emr_mine_options opts;
        emr_mine_outcome outcome = 0;
        CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
        opts.threads = 1;
        emr_difficulty one = {1, 0};
        CHECK_OK(emr_mine_block(previous, h, MINER_P, (const emr_record *const *)in_block, RECORDS_PER_BLOCK, T0 + h,
                                one, &opts, &outcome, &prepared[h], NULL));
        if (outcome != EMR_MINE_FOUND || prepared[h] == NULL) exit(1);
        CHECK_OK(emr_block_id(prepared[h], previous));
    }
}

/* Adder one: block by block, a pause between blocks so that the others
 * run in between. */
static void *add_one_by_one(void *arg) {
    (void)arg;
    for (int h = 0; h < PREPARED; h++) {
        if (h == PREPARED - 4) wait_for_miner();
        emr_add_outcome outcome = EMR_ADD_NONE;
        TCHECK_OK(emr_chain_add_block(chain, prepared[h], NULL, &outcome, NULL));
        TCHECK(outcome != EMR_ADD_NONE, "add_block outcome");
        sleep_us(2000);
    }
    adders_done++;
    return NULL;
}

/* Adder two: the same blocks in batches of four (already known ones are
 * fine), with a progress callback and a cancel handle nobody triggers. */
static void *add_in_batches(void *arg) {
    (void)arg;
    emr_cancel *cancel = NULL;
    TCHECK_OK(emr_cancel_new(&cancel));
    for (int h = 0; h < PREPARED; h += 4) {
        if (h == PREPARED - 4) wait_for_miner();
        emr_batch_options b;
        TCHECK_OK(emr_batch_options_default(&b, EMR_BATCH_OPTIONS_VERSION));
        b.cancel = cancel;
        emr_add_outcome outcomes[4] = {0};
        size_t count = PREPARED - h < 4 ? (size_t)(PREPARED - h) : 4;
        TCHECK_OK(emr_chain_add_blocks(chain, (const emr_block *const *)&prepared[h], count, NULL, &b, outcomes, NULL,
                                       NULL));
        for (size_t i = 0; i < count; i++) TCHECK(outcomes[i] != EMR_ADD_NONE, "batch outcome %zu", i);
        sleep_us(5000);
    }
    emr_cancel_free(cancel);
    adders_done++;
    return NULL;
}

/* Three readers: monotonic length, difficulty and history; the tip is at
 * height len - 1; records are found where they were added, or not yet. */
static void *read_loop(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    uint64_t last_len = 0;
    uint8_t last_total[32] = {0};
    size_t last_history = 0;
    unsigned long rounds = 0;
    double until = now_seconds() + read_seconds;
    while (rounds < 20 || adders_done < 2 || now_seconds() < until) {
        rounds++;
        uint64_t len = 0;
        TCHECK_OK(emr_chain_len(chain, &len));
        TCHECK(len >= last_len, "length went down: %llu after %llu", (unsigned long long)len,
               (unsigned long long)last_len);
        last_len = len;
        uint8_t total[32];
        TCHECK_OK(emr_chain_total_difficulty(chain, total));
        TCHECK(memcmp(total, last_total, 32) >= 0, "total difficulty went down");
        memcpy(last_total, total, 32);
        emr_block *tip = NULL;
        TCHECK_OK(emr_chain_tip(chain, &tip));
        if (tip != NULL) {
            uint64_t h = 0;
            TCHECK_OK(emr_block_height(tip, &h));
            /* The tip is read after the length: the chain may have grown. */
            TCHECK(h + 1 >= len, "tip height %llu below length %llu", (unsigned long long)h, (unsigned long long)len);
        }
        emr_block_free(tip);
        uint64_t balance = 0, nonce = 0;
        TCHECK_OK(emr_chain_user_state(chain, doctor_hash, &balance, &nonce));
        TCHECK(nonce <= PREPARED * RECORDS_PER_BLOCK, "doctor nonce %llu", (unsigned long long)nonce);
        emr_history *history = NULL;
        TCHECK_OK(emr_chain_doctor_records(chain, doctor_hash, &history));
        size_t n = 0;
        TCHECK_OK(emr_history_len(history, &n));
        /* Read after the state: records may have been added in between. */
        TCHECK(n >= last_history && n >= nonce, "history %zu after %zu, nonce %llu", n, last_history,
               (unsigned long long)nonce);
        last_history = n;
        emr_history_free(history);
        size_t i = (size_t)rand_r(&seed) % (PREPARED * RECORDS_PER_BLOCK);
        uint64_t height = 0;
        uint8_t block_id[32];
        emr_record *found = NULL;
        emr_status s = emr_chain_find_record(chain, txids[i], &height, block_id, &found);
        TCHECK(s == EMR_OK || s == EMR_NOT_FOUND, "find_record: %s", emr_status_name(s));
        if (s == EMR_OK) TCHECK(height == i / RECORDS_PER_BLOCK, "record %zu at height %llu", i, (unsigned long long)height);
        emr_record_free(found);
        emr_block *at = NULL;
        s = emr_chain_block_at(chain, (uint64_t)rand_r(&seed) % (PREPARED + 2), &at);
        TCHECK(s == EMR_OK || s == EMR_NOT_FOUND, "block_at: %s", emr_status_name(s));
        emr_block_free(at);
    }
    return NULL;
}

/* One checker (emr_chain_check over the whole chain) and record
 * verification over records other threads read at the same time. */
static void *check_loop(void *arg) {
    (void)arg;
    uint64_t previous[PREPARED * RECORDS_PER_BLOCK];
    for (size_t i = 0; i < PREPARED * RECORDS_PER_BLOCK; i++) previous[i] = i;
    unsigned long rounds = 0;
    double until = now_seconds() + read_seconds;
    while (rounds < 3 || adders_done < 2 || now_seconds() < until) {
        rounds++;
        emr_check_report report;
        TCHECK_OK(emr_chain_check(chain, NULL, &report));
        TCHECK(!report.found_bad, "check found a bad block");
        size_t failed = SIZE_MAX;
        TCHECK_OK(emr_verify_records((const emr_record *const *)records, previous, PREPARED * RECORDS_PER_BLOCK, 2,
                                     &failed));
    }
    return NULL;
}

/* The miner: MINED blocks by emr_chain_mine_next on whatever the tip is,
 * for miner M, with no records (the pool is empty). Its blocks extend the
 * tip or tie the prepared branch at one height; later prepared blocks
 * outweigh them. */
static void *mine_loop(void *arg) {
    (void)arg;
    while (mined < MINED) {
        emr_mine_options o;
        TCHECK_OK(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION));
        o.threads = 1;
        o.time_limit_ms = 2000;
        emr_mine_outcome outcome = 0;
        emr_block *block = NULL;
        emr_add_outcome added = EMR_ADD_NONE;
        /* A timestamp after every prepared block's: mined blocks stay valid
         * children of any tip. */
        uint64_t ts = T0 + PREPARED + 100;
        TCHECK_OK(emr_chain_mine_next(chain, MINER_M, &ts, &o, &outcome, &block, &added));
        /* Under valgrind, eight threads share one core: a search may run
         * out of time before it is scheduled enough, and simply retries. */
        TCHECK((outcome == EMR_MINE_FOUND && block != NULL) || (outcome == EMR_MINE_TIMED_OUT && block == NULL),
               "mine_next: %s", emr_mine_outcome_name(outcome));
        if (block != NULL) mined++;
        emr_block_free(block);
        sleep_us(3000);
    }
    miner_done = 1;
    return NULL;
}

/* emr_mine_next cancelled from another thread while the others run. */
struct cancel_run {
    emr_cancel *cancel;
    emr_status status;
    emr_mine_outcome outcome;
};

static void *mine_until_cancelled(void *arg) {
    struct cancel_run *run = arg;
    emr_mine_options o;
    TCHECK_OK(emr_mine_options_default(&o, EMR_MINE_OPTIONS_VERSION));
    o.threads = 1;
    o.cancel = run->cancel;
    emr_block *block = NULL;
    /* A difficulty no search meets: only the cancel ends it. */
    emr_difficulty impossible = {0, UINT64_MAX};
    uint8_t previous[32] = {0};
    run->status = emr_mine_block(previous, 0, MINER_M, NULL, 0, T0, impossible, &o, &run->outcome, &block, NULL);
    emr_block_free(block);
    return NULL;
}

static void check_replay(void) {
    /* The final states equal a serial replay of the active chain. */
    uint64_t len = 0;
    CHECK_OK(emr_chain_len(chain, &len));
    CHECK(len == PREPARED, "length %llu", (unsigned long long)len);
    emr_chain_options o = easy_options();
    emr_chain *replay = NULL;
    CHECK_OK(emr_chain_open(NULL, &o, &replay));
    if (replay == NULL) exit(1);
    for (uint64_t h = 0; h < len; h++) {
        emr_block *b = NULL;
        CHECK_OK(emr_chain_block_at(chain, h, &b));
        if (h < PREPARED) {
            uint8_t a[32], p[32];
            CHECK_OK(emr_block_id(b, a));
            CHECK_OK(emr_block_id(prepared[h], p));
            CHECK(memcmp(a, p, 32) == 0, "height %llu is the prepared block", (unsigned long long)h);
        }
        emr_add_outcome outcome = EMR_ADD_NONE;
        CHECK_OK(emr_chain_add_block(replay, b, NULL, &outcome, NULL));
        CHECK(outcome == EMR_ADD_EXTENDED, "replay extends");
        emr_block_free(b);
    }
    const uint8_t *users[] = {doctor_hash, MINER_P, MINER_M};
    for (size_t u = 0; u < 3; u++) {
        uint64_t b1, n1, b2, n2;
        CHECK_OK(emr_chain_user_state(chain, users[u], &b1, &n1));
        CHECK_OK(emr_chain_user_state(replay, users[u], &b2, &n2));
        CHECK(b1 == b2 && n1 == n2, "user %zu: %llu/%llu vs replay %llu/%llu", u, (unsigned long long)b1,
              (unsigned long long)n1, (unsigned long long)b2, (unsigned long long)n2);
    }
    uint8_t t1[32], t2[32];
    CHECK_OK(emr_chain_total_difficulty(chain, t1));
    CHECK_OK(emr_chain_total_difficulty(replay, t2));
    CHECK(memcmp(t1, t2, 32) == 0, "total difficulty equals the replay's");
    uint64_t balance, nonce;
    CHECK_OK(emr_chain_user_state(chain, doctor_hash, &balance, &nonce));
    CHECK(nonce == PREPARED * RECORDS_PER_BLOCK, "every record is in: doctor nonce %llu", (unsigned long long)nonce);
    emr_chain_free(replay);
}

int main(int argc, char **argv) {
    const char *env = getenv("EMR_STRESS_SECONDS");
    if (argc > 1) read_seconds = atof(argv[1]);
    else if (env != NULL) read_seconds = atof(env);
    /* A deadlock ends the run by SIGALRM, without a result line. */
    alarm(WATCHDOG_SECONDS);
    prepare();
    char dir[] = "/tmp/emr-test-stress-XXXXXX";
    if (mkdtemp(dir) == NULL) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/chain.db", dir);
    emr_chain_options o = easy_options();
    CHECK_OK(emr_chain_open(path, &o, &chain));
    if (chain == NULL) return 1;

    pthread_t threads[8];
    struct cancel_run cancel_run = {NULL, EMR_PANIC, 0};
    CHECK_OK(emr_cancel_new(&cancel_run.cancel));
    int t = 0;
    pthread_create(&threads[t++], NULL, add_one_by_one, NULL);
    pthread_create(&threads[t++], NULL, add_in_batches, NULL);
    for (uintptr_t r = 0; r < 3; r++) pthread_create(&threads[t++], NULL, read_loop, (void *)(r + 1));
    pthread_create(&threads[t++], NULL, check_loop, NULL);
    pthread_create(&threads[t++], NULL, mine_loop, NULL);
    pthread_create(&threads[t++], NULL, mine_until_cancelled, &cancel_run);
    double started = now_seconds();
    /* The cancel comes from this thread while the other seven run. */
    sleep_us(200000);
    CHECK_OK(emr_cancel_trigger(cancel_run.cancel));
    for (int i = 0; i < t; i++) pthread_join(threads[i], NULL);
    double elapsed = now_seconds() - started;
    CHECK(cancel_run.status == EMR_OK && cancel_run.outcome == EMR_MINE_CANCELLED, "mine_block cancelled: %s, %s",
          emr_status_name(cancel_run.status), emr_mine_outcome_name(cancel_run.outcome));
    emr_cancel_free(cancel_run.cancel);
    test_passed += t_passed;
    test_failed += t_failed;
    CHECK(mined == MINED, "the miner mined %d blocks", (int)mined);
    check_replay();
    emr_check_report report;
    CHECK_OK(emr_chain_check(chain, NULL, &report));
    CHECK(!report.found_bad, "final check");
    emr_chain_free(chain);

    /* The file as it was left: reopened, the same chain. */
    CHECK_OK(emr_chain_open_readonly(path, &chain));
    if (chain != NULL) {
        check_replay();
        emr_chain_free(chain);
    }
    printf("8 threads for %.1f s, %d blocks mined beside %d prepared\n", elapsed, (int)mined, PREPARED);
    char file[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
    rmdir(dir);
    for (int h = 0; h < PREPARED; h++) emr_block_free(prepared[h]);
    for (size_t i = 0; i < PREPARED * RECORDS_PER_BLOCK; i++) emr_record_free(records[i]);
    emr_key_free(doctor);
    return test_finish("test_stress");
}
