/* Resource limits through the C interface: buffers that claim huge
 * lengths, deeply nested and very long DER, an oversized PEM and address,
 * and a 1 GiB sparse file opened as a chain. Each call must fail with its
 * status and leave the peak resident set (getrusage ru_maxrss) within a few
 * MiB of what it was after the input was built: nothing is copied whole or
 * sized by a length field. Under valgrind the peak is valgrind's own, so the
 * bound is generous (LIMIT_KIB), far below the inputs' sizes. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

#define MIB ((size_t)1 << 20)
#define LIMIT_KIB (24L * 1024)

static long peak_kib(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

#define CHECK_BOUNDED(before, what)                                                                \
    do {                                                                                           \
        long grew_ = peak_kib() - (before);                                                        \
        CHECK(grew_ < LIMIT_KIB, "%s: peak grew by %ld KiB", what, grew_);                         \
        printf("%-40s peak +%ld KiB\n", what, grew_);                                              \
    } while (0)

static void put_le64(uint8_t *out, uint64_t v) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i));
}

static void test_claimed_lengths(void) {
    test_context = "claimed lengths";
    uint8_t record[2 + 40 + 8 + 4096] = {'R', 1};
    put_le64(record + 42, UINT64_MAX);
    emr_record *r = NULL;
    long before = peak_kib();
    CHECK_STATUS(emr_record_parse(record, sizeof record, &r), EMR_DECODE);
    put_le64(record + 42, (uint64_t)1 << 40);
    CHECK_STATUS(emr_record_parse(record, sizeof record, &r), EMR_DECODE);
    CHECK(r == NULL, "no record");
    CHECK_BOUNDED(before, "record claiming 2^64-1 and 2^40 bytes");

    uint8_t block[2 + 124 + 8 + 4096];
    memset(block, 1, sizeof block);
    block[0] = 'B';
    block[1] = 1;
    put_le64(block + 2 + 124, UINT64_MAX);
    emr_block *b = NULL;
    before = peak_kib();
    CHECK_STATUS(emr_block_parse(block, sizeof block, &b), EMR_DECODE);
    CHECK(b == NULL, "no block");
    CHECK_BOUNDED(before, "block claiming 2^64-1 records");
}

static void test_der_and_pem(void) {
    test_context = "DER and PEM";
    size_t n = 32 * MIB;
    uint8_t *nested = malloc(n);
    uint8_t *pem = malloc(n + 64);
    if (nested == NULL || pem == NULL) exit(1);
    for (size_t i = 0; i + 1 < n; i += 2) {
        nested[i] = 0x30;
        nested[i + 1] = 0x80;
    }
    emr_key *key = NULL;
    long before = peak_kib();
    CHECK_STATUS(emr_key_from_der(nested, n, &key), EMR_INVALID_KEY);
    CHECK_BOUNDED(before, "32 MiB of nested SEQUENCE headers");
    /* A 4-byte DER length over 32 MiB. */
    nested[1] = 0x84;
    before = peak_kib();
    CHECK_STATUS(emr_key_from_der(nested, n, &key), EMR_INVALID_KEY);
    CHECK_BOUNDED(before, "32 MiB DER with a 4-byte length");

    size_t len = (size_t)sprintf((char *)pem, "-----BEGIN PRIVATE KEY-----\n");
    while (len + 100 < n) {
        memset(pem + len, 'A', 64);
        pem[len + 64] = '\n';
        len += 65;
    }
    len += (size_t)sprintf((char *)pem + len, "-----END PRIVATE KEY-----\n");
    before = peak_kib();
    CHECK_STATUS(emr_key_from_pem(pem, len, &key), EMR_INVALID_KEY);
    CHECK(key == NULL, "no key");
    CHECK_BOUNDED(before, "32 MiB PEM of valid base64");

    memset(pem, 'q', n);
    memcpy(pem, "emrd1", 5);
    uint8_t hash[20];
    before = peak_kib();
    CHECK_STATUS(emr_address_decode((const char *)pem, n, EMR_ROLE_DOCTOR, hash, NULL, NULL), EMR_INVALID_LENGTH);
    CHECK_BOUNDED(before, "32 MiB address");
    free(nested);
    free(pem);
}

static void test_sparse_chain(void) {
    test_context = "1 GiB sparse chain file";
    char path[] = "/tmp/emr-test-limits-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) exit(1);
    CHECK(ftruncate(fd, (off_t)1 << 30) == 0, "ftruncate");
    close(fd);
    emr_chain *chain = NULL;
    long before = peak_kib();
    CHECK_STATUS(emr_chain_open(path, NULL, &chain), EMR_CORRUPT);
    CHECK_STATUS(emr_chain_open_readonly(path, &chain), EMR_CORRUPT);
    CHECK(chain == NULL, "no chain");
    CHECK_BOUNDED(before, "1 GiB of zeros opened as a chain");
    char other[64];
    const char *suffixes[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(other, sizeof other, "%s%s", path, suffixes[i]);
        unlink(other);
    }
    unlink(path);
}

int main(void) {
    test_claimed_lengths();
    test_der_and_pem();
    test_sparse_chain();
    return test_finish("test_limits");
}
