/* Durability through the C interface: a child process adds blocks to a file
 * chain and reports each block's height and id on a pipe once
 * emr_chain_add_block has returned; the parent kills it with SIGKILL at a
 * different moment each round, reopens the chain, and requires every
 * reported block to be on it, the chain to check clean, and a next block to
 * be accepted. Rounds: argv[1] (default 6). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const uint8_t MINER[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72, 0x4b};
static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74, 9};

#define MAX_ACKED 100000

typedef struct {
    uint64_t height;
    uint8_t id[32];
} acked_block;

static acked_block acked[MAX_ACKED];
static size_t acked_count = 0;

static emr_chain_options easy_options(void) {
    emr_chain_options opts;
    if (emr_chain_options_default(&opts, EMR_CHAIN_OPTIONS_VERSION) != EMR_OK) exit(2);
    opts.initial_difficulty.lo = 1; /* every id meets difficulty 1, and 12 s spacing keeps it there */
    opts.initial_difficulty.hi = 0;
    return opts;
}

/* The next block on the tip, with one record of `key` at `nonce`. */
static emr_status next_block(emr_chain *chain, const emr_key *key, uint64_t nonce, emr_block **out) {
    uint8_t previous[32] = {0};
    uint64_t height = 0, timestamp = 1700000000;
    emr_block *tip = NULL;
    emr_status s = emr_chain_tip(chain, &tip);
    if (s != EMR_OK) return s;
    if (tip != NULL) {
        uint64_t tip_time = 0;
        s = emr_block_id(tip, previous);
        if (s == EMR_OK) s = emr_block_height(tip, &height);
        if (s == EMR_OK) s = emr_block_timestamp(tip, &tip_time);
        emr_block_free(tip);
        if (s != EMR_OK) return s;
        height += 1;
        timestamp = tip_time + 12;
    }
    char text[48];
    int len = snprintf(text, sizeof text, "dose %llu", (unsigned long long)nonce);
    emr_record *record = NULL;
    s = emr_record_sign(key, PATIENT, 20, text, (size_t)len, nonce, &record);
    emr_difficulty difficulty;
    if (s == EMR_OK) s = emr_chain_next_difficulty(chain, &difficulty);
    emr_mine_outcome mined = EMR_MINE_EXHAUSTED;
    if (s == EMR_OK)
        s = emr_mine_block(previous, height, MINER, (const emr_record *const *)&record, 1, timestamp, difficulty,
                           NULL, &mined, out, NULL);
    emr_record_free(record);
    if (s == EMR_OK && mined != EMR_MINE_FOUND) s = EMR_INVALID_ARGUMENT;
    return s;
}

/* The child: adds blocks for ever, writing height and id of each after its
 * add returned. Its doctor key comes in as PKCS#8 so every round continues
 * the same doctor's nonces. */
static int child(const char *path, const uint8_t *key_der, size_t key_len, int out) {
    emr_key *key = NULL;
    emr_chain *chain = NULL;
    emr_chain_options opts = easy_options();
    if (emr_key_from_der(key_der, key_len, &key) != EMR_OK) return 3;
    if (emr_chain_open(path, &opts, &chain) != EMR_OK) return 4;
    uint8_t doctor[20];
    uint64_t balance = 0, nonce = 0;
    if (emr_key_public_key_hash(key, doctor) != EMR_OK || emr_chain_user_state(chain, doctor, &balance, &nonce) != EMR_OK)
        return 5;
    for (;;) {
        emr_block *block = NULL;
        if (next_block(chain, key, ++nonce, &block) != EMR_OK) return 6;
        emr_add_outcome outcome;
        if (emr_chain_add_block(chain, block, NULL, &outcome, NULL) != EMR_OK) return 7;
        acked_block report;
        if (emr_block_height(block, &report.height) != EMR_OK || emr_block_id(block, report.id) != EMR_OK) return 8;
        emr_block_free(block);
        if (write(out, &report, sizeof report) != (ssize_t)sizeof report) return 9;
    }
}

/* Reads whole reports until `deadline_ms` passes (or the child stops). */
static void collect(int in, long deadline_ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= deadline_ms) return;
        struct pollfd p = {in, POLLIN, 0};
        if (poll(&p, 1, (int)(deadline_ms - elapsed)) <= 0) return;
        acked_block report;
        ssize_t n = read(in, &report, sizeof report);
        if (n != (ssize_t)sizeof report) return; /* the child ended, or a torn report of a killed child */
        if (acked_count < MAX_ACKED) acked[acked_count++] = report;
    }
}

static void verify_reopened(const char *path, int round) {
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_open_readonly(path, &chain));
    if (chain == NULL) return;
    size_t missing = 0;
    for (size_t i = 0; i < acked_count; i++) {
        emr_block *block = NULL;
        uint8_t id[32];
        emr_status s = emr_chain_block_at(chain, acked[i].height, &block);
        if (s != EMR_OK || emr_block_id(block, id) != EMR_OK || memcmp(id, acked[i].id, 32) != 0) missing++;
        emr_block_free(block);
    }
    CHECK(missing == 0, "round %d: %zu of %zu acknowledged blocks missing", round, missing, acked_count);
    emr_chain_free(chain);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 6;
    char dir[64], path[96];
    snprintf(dir, sizeof dir, "/tmp/emr-test-kill-XXXXXX");
    if (mkdtemp(dir) == NULL) return 2;
    snprintf(path, sizeof path, "%s/chain.db", dir);

    emr_key *key = NULL;
    uint8_t key_der[256];
    size_t key_len = sizeof key_der;
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &key));
    CHECK_OK(emr_key_to_der(key, key_der, &key_len));
    emr_key_free(key);

    srand(20261127);
    for (int round = 0; round < rounds; round++) {
        test_context = "kill round";
        int fds[2];
        if (pipe(fds) != 0) return 2;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            close(fds[0]);
            _exit(child(path, key_der, key_len, fds[1]));
        }
        close(fds[1]);
        /* Valgrind runs the child slowly: give it time to get going, then
         * kill it at a different moment each round. */
        collect(fds[0], 1500 + rand() % 1500);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        collect(fds[0], 50); /* reports written just before the kill */
        close(fds[0]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: the child ended by itself (status %d)",
              round, status);
        verify_reopened(path, round);
    }
    CHECK(acked_count > 0, "no block was acknowledged in %d rounds", rounds);

    /* The writer reopens: the chain checks clean and takes the next block. */
    test_context = "after the rounds";
    emr_chain *chain = NULL;
    emr_chain_options opts = easy_options();
    CHECK_OK(emr_chain_open(path, &opts, &chain));
    emr_check_report report;
    memset(&report, 0, sizeof report);
    CHECK_OK(emr_chain_check(chain, NULL, &report));
    CHECK(!report.found_bad, "check found a bad block: %s", emr_last_error_message());
    uint64_t len = 0;
    CHECK_OK(emr_chain_len(chain, &len));
    CHECK(len >= acked_count, "%llu blocks, %zu acknowledged", (unsigned long long)len, acked_count);
    CHECK_OK(emr_key_from_der(key_der, key_len, &key));
    uint8_t doctor[20];
    uint64_t balance = 0, nonce = 0;
    CHECK_OK(emr_key_public_key_hash(key, doctor));
    CHECK_OK(emr_chain_user_state(chain, doctor, &balance, &nonce));
    emr_block *block = NULL;
    CHECK_OK(next_block(chain, key, nonce + 1, &block));
    emr_add_outcome outcome = EMR_ADD_NONE;
    CHECK_OK(emr_chain_add_block(chain, block, NULL, &outcome, NULL));
    CHECK(outcome == EMR_ADD_EXTENDED, "outcome %s", emr_add_outcome_name(outcome));
    emr_block_free(block);
    emr_key_free(key);
    emr_chain_free(chain);

    char wal[128], shm[128];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    rmdir(dir);
    printf("%zu blocks acknowledged over %d kills, none lost\n", acked_count, rounds);
    printf("%lu passed, %lu failed\n", test_passed, test_failed);
    return test_failed == 0 ? 0 : 1;
}
