/* Full and failing disks through the C interface (docs/DURABILITY.md,
 * "Full and failing disks"). run.sh starts this program with the faultfs
 * shim LD_PRELOAD'ed (EMR_FAULTFS_DIR, EMR_FAULTFS_CONTROL, EMR_FAULTFS_LOG
 * set); it makes the chain's files fail at random points (seeded, the seed
 * printed; EMR_FAULT_SEED replays a run) of mine_next, submit and undo.
 * Every failed call returns EMR_IO with emr_last_error_message() naming the
 * chain file ("disk full" for ENOSPC); nothing acknowledged is lost; the
 * same call succeeds on the same handle once the disk works; emr_chain_check
 * passes on the handle and on the reopened chain. */
#define _POSIX_C_SOURCE 200809L

#include <time.h>

#include "common.h"

static const uint8_t MINER[20] = {0x6d, 0x69, 0x6e, 0x65, 0x72};
static const uint8_t PATIENT[20] = {0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74};
static const char *const MODES[] = {"enospc", "eio-write", "eio-sync", "enospc-sync", "eio-read", "short-read"};

static const char *control;
static unsigned long generation;
static uint64_t rng_state;

static uint64_t next_random(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void arm(const char *mode, uint64_t after, uint64_t count) {
    FILE *f = fopen(control, "w"); /* in place: the shim keeps the file it opened */
    if (f == NULL) {
        perror(control);
        exit(1);
    }
    fprintf(f, "%lu %s %" PRIu64 " %" PRIu64 "\n", ++generation, mode, after, count);
    fclose(f);
}

static uint64_t pending_count(emr_chain *chain) {
    emr_pending *pending = NULL;
    size_t len = 0, ready = 0;
    CHECK_OK(emr_chain_pending(chain, &pending));
    CHECK_OK(emr_pending_len(pending, &len, &ready));
    emr_pending_free(pending);
    return len;
}

enum op { MINE, SUBMIT, UNDO };

/* One operation; EMR_OK or its status. The counts follow what was acknowledged. */
static emr_status attempt(emr_chain *chain, emr_key *doctor, enum op op, uint64_t *len, uint64_t *nonce, uint64_t *pending) {
    emr_status s;
    if (op == SUBMIT) {
        emr_record *rec = NULL;
        const char *text = "metformin 500 mg";
        CHECK_OK(emr_record_sign(doctor, PATIENT, 20, text, strlen(text), *nonce + 1, &rec));
        emr_submit_outcome outcome = 0;
        s = emr_chain_submit(chain, rec, &outcome);
        emr_record_free(rec);
        if (s == EMR_OK) {
            CHECK(outcome == EMR_SUBMIT_READY, "submit: ready");
            *nonce += 1;
            *pending += 1;
        }
    } else if (op == MINE) {
        emr_mine_options opts;
        CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
        opts.threads = 1;
        emr_mine_outcome outcome = 0;
        emr_add_outcome added = 0;
        emr_block *block = NULL;
        s = emr_chain_mine_next(chain, MINER, NULL, &opts, &outcome, &block, &added);
        if (s == EMR_OK) {
            size_t records = 0;
            CHECK(outcome == EMR_MINE_FOUND && added == EMR_ADD_EXTENDED, "mined and added");
            CHECK_OK(emr_block_record_count(block, &records));
            *len += 1;
            *pending -= records;
        }
        emr_block_free(block);
    } else {
        emr_block *removed = NULL;
        if (*len == 0) return EMR_OK;
        s = emr_chain_undo_last_block(chain, &removed);
        if (s == EMR_OK) {
            size_t records = 0;
            CHECK_OK(emr_block_record_count(removed, &records));
            *len -= 1;
            *pending += records; /* an undone block's records go back to the pool */
        }
        emr_block_free(removed);
    }
    return s;
}

int main(void) {
    const char *dir = getenv("EMR_FAULTFS_DIR");
    control = getenv("EMR_FAULTFS_CONTROL");
    const char *log = getenv("EMR_FAULTFS_LOG");
    if (dir == NULL || control == NULL || log == NULL) {
        fprintf(stderr, "test_faults: run it with the faultfs shim (run.sh sets EMR_FAULTFS_*)\n");
        return 1;
    }
    const char *seed_text = getenv("EMR_FAULT_SEED");
    rng_state = seed_text ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    printf("C fault campaign: seed %" PRIu64 " (EMR_FAULT_SEED=%" PRIu64 " replays it)\n", rng_state, rng_state);
    char file[4096];
    snprintf(file, sizeof file, "%s/chain.db", dir);
    arm("off", 0, 0);

    emr_key *doctor = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &doctor));
    emr_chain_options o;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    CHECK_OK(emr_chain_open(dir, &o, &chain));
    if (chain == NULL || doctor == NULL) return 1;

    uint64_t len = 0, nonce = 0, pending = 0, failures = 0;
    for (int round = 0; round < 24; round++) {
        enum op op = (enum op)(next_random() % 3);
        const char *mode = MODES[next_random() % 6];
        int sync = strstr(mode, "sync") != NULL;
        uint64_t after = sync ? next_random() % 3 : next_random() % (32 * 1024);
        uint64_t count = strcmp(mode, "eio-read") == 0 ? 0 : next_random() % 3;
        char when[160];
        snprintf(when, sizeof when, "round %d: op %d under %s after %" PRIu64 " count %" PRIu64, round, (int)op, mode, after,
                 count);
        test_context = when;
        arm(mode, after, count);
        emr_status s = attempt(chain, doctor, op, &len, &nonce, &pending);
        arm("off", 0, 0);
        if (s != EMR_OK) {
            failures++;
            const char *message = emr_last_error_message();
            CHECK(s == EMR_IO, "failed as %s, not io: %s", emr_status_name(s), message);
            CHECK(strstr(message, file) != NULL, "the message names %s: %s", file, message);
            if (strcmp(mode, "enospc") == 0 && strstr(message, "SQLite could not write") != NULL) {
                CHECK(strstr(message, "disk full") != NULL, "disk full: %s", message);
            }
            CHECK(strcmp(mode, "short-read") != 0, "a short read is read on, not failed: %s", message);
            CHECK_OK(attempt(chain, doctor, op, &len, &nonce, &pending)); /* the disk works again */
        }
        uint64_t got = 0;
        CHECK_OK(emr_chain_len(chain, &got));
        CHECK(got == len, "len %" PRIu64 ", acknowledged %" PRIu64, got, len);
        CHECK(pending_count(chain) == pending, "pending as acknowledged");
    }
    test_context = "the end";
    emr_check_report report;
    CHECK_OK(emr_chain_check(chain, NULL, &report));
    CHECK(!report.found_bad && report.blocks_ok == len, "check on the handle");
    emr_chain_free(chain);
    chain = NULL;
    CHECK_OK(emr_chain_open(dir, NULL, &chain));
    CHECK_OK(emr_chain_check(chain, NULL, &report));
    CHECK(!report.found_bad && report.blocks_ok == len, "check on the reopened chain");
    CHECK(pending_count(chain) == pending, "the pool reopened as acknowledged");
    emr_chain_free(chain);
    emr_key_free(doctor);

    unsigned long injected = 0;
    FILE *f = fopen(log, "r");
    for (int c; f != NULL && (c = fgetc(f)) != EOF;) injected += c == '\n';
    if (f != NULL) fclose(f);
    CHECK(injected > 0, "faults were injected");
    printf("%" PRIu64 " of 24 calls failed as io; %lu faults injected\n", failures, injected);
    printf("%lu passed, %lu failed\n", test_passed, test_failed);
    return test_failed != 0;
}
