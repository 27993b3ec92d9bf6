/* SPEC 9 from C: emr_chain_sync (a one-shot sync of a chain held in
 * process from a node's URL), emr_tls_new / emr_tls_free, and the peer
 * statuses (EMR_PEER_*, EMR_SYNC_INCOMPLETE).
 *
 * A site's chain (a file, difficulty 1, a fixed salt, three blocks mined
 * here) is served by a real node: the `emr` binary given as argument runs
 * `emr node serve DIR --listen 127.0.0.1:0 --local 127.0.0.1:0` with
 * certificates made by `emr node ca new` / `emr node cert new`, as a child
 * process on loopback only. Its marker file (DIR/chain.db-node.json) names
 * its listeners. A chain held here in memory with the same parameters
 * syncs from it over plain HTTP (the local listener) and, a second one,
 * over HTTPS with mutual TLS: the report counts the three blocks, the tip
 * and the work agree, progress was called; a second sync adds nothing. A
 * chain with another salt is EMR_PEER_INCOMPATIBLE; a triggered cancel
 * handle EMR_CANCELLED; a closed port EMR_PEER_UNREACHABLE; bad URLs and
 * credentials EMR_INVALID_ARGUMENT; NULLs EMR_NULL_ARGUMENT. The node is
 * stopped with SIGTERM (then SIGKILL if needed) and every file removed.
 * Every wait is bounded.
 *
 * Usage: test_sync EMR_BINARY */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define T0 UINT64_C(1700000000)
#define BLOCKS 3

static const uint8_t MINER[20] = {0x5e, 0x01};
static const uint8_t SALT[EMR_SALT_LEN] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static const uint8_t OTHER_SALT[EMR_SALT_LEN] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

static char dir[64];
static pid_t node = -1;

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static const char *FILES[] = {"chain.db",  "chain.db-wal", "chain.db-shm", "chain.db.lock", "chain.db-node.json",
                              "node.log",  "ca.key",       "ca.pem",       "node.key",      "node.pem",
                              "client.key", "client.pem",  "cli.log"};

static void remove_dir(void) {
    char path[128];
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        path_in(path, sizeof path, FILES[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Stops the node: SIGTERM, up to 10 s, then SIGKILL. */
static void stop_node(void) {
    if (node <= 0) return;
    kill(node, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; i++) {
        if (waitpid(node, &status, WNOHANG) == node) {
            node = -1;
            return;
        }
        sleep_ms(50);
    }
    kill(node, SIGKILL);
    waitpid(node, &status, 0);
    node = -1;
}

static void bail(const char *why) {
    fprintf(stderr, "test_sync: %s\n", why);
    stop_node();
    remove_dir();
    test_failed++;
    test_finish("test_sync");
    exit(1);
}

/* Runs argv (the emr binary and its arguments) to completion, its output
 * in DIR/cli.log; its exit status, -1 if it could not run. */
static int run_emr(char *const argv[]) {
    char log[128];
    path_in(log, sizeof log, "cli.log");
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    for (int i = 0; i < 600; i++) { /* 30 s */
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* The whole of a small file, NUL-terminated, in buf; false if unreadable. */
static bool read_small(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n > 0;
}

/* The string after `key` (e.g. "\"url\":\"") up to the next quote. */
static bool field_after(const char *json, const char *key, char *out, size_t cap) {
    const char *at = strstr(json, key);
    if (at == NULL) return false;
    at += strlen(key);
    const char *end = strchr(at, '"');
    if (end == NULL || (size_t)(end - at) >= cap) return false;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = 0;
    return true;
}

/* A chain with the site's parameters (or another salt); at path or in memory. */
static emr_chain *open_chain(const char *path, const uint8_t *salt) {
    emr_chain_options o;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    o.has_salt = true;
    memcpy(o.salt, salt, EMR_SALT_LEN);
    CHECK_OK(emr_chain_open(path, &o, &chain));
    if (chain == NULL) bail("cannot open a chain");
    return chain;
}

/* Mines BLOCKS empty blocks onto the chain. */
static void mine_blocks(emr_chain *chain) {
    uint8_t previous[32] = {0};
    for (uint64_t height = 0; height < BLOCKS; height++) {
        emr_mine_options opts;
        CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
        opts.threads = 1;
        emr_difficulty diff = {1, 0};
        emr_mine_outcome outcome = 0;
        emr_block *block = NULL;
        CHECK_OK(emr_mine_block(previous, height, MINER, NULL, 0, T0 + height, diff, &opts, &outcome, &block, NULL));
        if (block == NULL) bail("mining failed");
        emr_add_outcome added = EMR_ADD_NONE;
        CHECK_OK(emr_chain_add_block(chain, block, NULL, &added, NULL));
        CHECK(added == EMR_ADD_EXTENDED, "block %" PRIu64 " extended", height);
        CHECK_OK(emr_block_id(block, previous));
        emr_block_free(block);
    }
}

static void tip_id(const emr_chain *chain, uint8_t id[32]) {
    emr_block *tip = NULL;
    memset(id, 0, 32);
    CHECK_OK(emr_chain_tip(chain, &tip));
    if (tip != NULL) CHECK_OK(emr_block_id(tip, id));
    emr_block_free(tip);
}

static uint64_t progress_calls = 0;
static uint64_t progress_last_done = 0;

static void on_progress(uint64_t done, uint64_t total, void *user_data) {
    (void)total;
    *(uint64_t *)user_data += 1;
    progress_calls++;
    progress_last_done = done;
}

static bool read_file(const char *name, uint8_t *buf, size_t cap, size_t *len) {
    char path[128];
    path_in(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    *len = fread(buf, 1, cap, f);
    fclose(f);
    return *len > 0 && *len < cap;
}

/* The consortium's certificates, made by the emr binary. */
static void make_certificates(const char *emr) {
    char ca_key[128], ca_pem[128], node_key[128], node_pem[128], client_key[128], client_pem[128];
    path_in(ca_key, sizeof ca_key, "ca.key");
    path_in(ca_pem, sizeof ca_pem, "ca.pem");
    path_in(node_key, sizeof node_key, "node.key");
    path_in(node_pem, sizeof node_pem, "node.pem");
    path_in(client_key, sizeof client_key, "client.key");
    path_in(client_pem, sizeof client_pem, "client.pem");
    char *ca[] = {(char *)emr, "node", "ca", "new", "--name", "test consortium", "--out-key", ca_key, "--out-cert",
                  ca_pem, NULL};
    CHECK(run_emr(ca) == 0, "emr node ca new");
    char *cert[] = {(char *)emr, "node", "cert", "new", "--ca", ca_pem, "--ca-key", ca_key, "--name", "127.0.0.1",
                    "--out-key", node_key, "--out-cert", node_pem, NULL};
    CHECK(run_emr(cert) == 0, "emr node cert new (node)");
    char *client[] = {(char *)emr, "node", "cert", "new", "--ca", ca_pem, "--ca-key", ca_key, "--name", "localhost",
                      "--out-key", client_key, "--out-cert", client_pem, NULL};
    CHECK(run_emr(client) == 0, "emr node cert new (client)");
}

/* Starts the node on DIR; fills the local (http) URL and the TLS one. */
static void start_node(const char *emr, char *http_url, char *https_url, size_t cap) {
    char log[128], marker[128], ca_pem[128], node_key[128], node_pem[128];
    path_in(log, sizeof log, "node.log");
    path_in(marker, sizeof marker, "chain.db-node.json");
    path_in(ca_pem, sizeof ca_pem, "ca.pem");
    path_in(node_key, sizeof node_key, "node.key");
    path_in(node_pem, sizeof node_pem, "node.pem");
    node = fork();
    if (node < 0) bail("fork failed");
    if (node == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(emr, emr, "node", "serve", dir, "--listen", "127.0.0.1:0", "--local", "127.0.0.1:0", "--ca", ca_pem,
              "--cert", node_pem, "--key", node_key, "--log", "warn", (char *)NULL);
        _exit(127);
    }
    char json[1024];
    char listen[64];
    for (int i = 0; i < 400; i++) { /* 20 s */
        if (read_small(marker, json, sizeof json) && field_after(json, "\"url\":\"", http_url, cap) &&
            field_after(json, "\"listen\":[\"", listen, sizeof listen)) {
            snprintf(https_url, cap, "https://%s", listen);
            return;
        }
        int status = 0;
        if (waitpid(node, &status, WNOHANG) == node) {
            node = -1;
            char text[2048];
            if (read_small(log, text, sizeof text)) fprintf(stderr, "node log:\n%s\n", text);
            bail("the node exited before listening");
        }
        sleep_ms(50);
    }
    bail("the node did not write its marker within 20 s");
}

static void check_report(const emr_sync_report *r, const emr_chain *local, const emr_chain *site_view) {
    CHECK(r->received == BLOCKS && r->extended == BLOCKS, "received %" PRIu64 ", extended %" PRIu64, r->received,
          r->extended);
    CHECK(r->side_branch == 0 && r->reorganized == 0 && r->already_known == 0 && r->stale == 0 &&
              r->new_conflicts == 0,
          "nothing else counted");
    CHECK(r->height == BLOCKS, "height %" PRIu64, r->height);
    CHECK(!r->has_fork && r->fork_height == 0, "no common block with an empty chain");
    uint8_t work[32], tip_local[32], tip_site[32];
    CHECK_OK(emr_chain_total_difficulty(local, work));
    CHECK(memcmp(work, r->work, 32) == 0, "report's work is the chain's");
    CHECK(memcmp(work, r->peer_work, 32) == 0, "the peer's work reached");
    CHECK(work[31] == BLOCKS, "work %u", (unsigned)work[31]);
    tip_id(local, tip_local);
    tip_id(site_view, tip_site);
    CHECK(memcmp(tip_local, tip_site, 32) == 0, "the synced chain's tip is the node's");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_sync EMR_BINARY\n");
        return 2;
    }
    const char *emr = argv[1];
    if (access(emr, X_OK) != 0) {
        fprintf(stderr, "test_sync: %s is not an executable (build it: cargo build --release -p emr-cli)\n", emr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    strcpy(dir, "/tmp/emr-test-sync-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char db[128];
    path_in(db, sizeof db, "chain.db");

    test_context = "statuses";
    CHECK(EMR_PEER_UNREACHABLE == 110 && EMR_PEER_REFUSED == 111 && EMR_PEER_MISBEHAVED == 112 &&
              EMR_PEER_INCOMPATIBLE == 113 && EMR_SYNC_INCOMPLETE == 114,
          "stable peer status numbers");
    CHECK(strcmp(emr_status_name(EMR_PEER_UNREACHABLE), "peer_unreachable") == 0, "name");
    CHECK(strcmp(emr_status_name(EMR_PEER_REFUSED), "peer_refused") == 0, "name");
    CHECK(strcmp(emr_status_name(EMR_PEER_MISBEHAVED), "peer_misbehaved") == 0, "name");
    CHECK(strcmp(emr_status_name(EMR_PEER_INCOMPATIBLE), "peer_incompatible") == 0, "name");
    CHECK(strcmp(emr_status_name(EMR_SYNC_INCOMPLETE), "sync_incomplete") == 0, "name");
    CHECK(strcmp(emr_status_str(EMR_SYNC_INCOMPLETE), "unknown status") != 0, "text");

    test_context = "site";
    emr_chain *site = open_chain(db, SALT);
    mine_blocks(site);
    emr_chain_free(site);
    make_certificates(emr);

    test_context = "serve";
    char http_url[96], https_url[96];
    start_node(emr, http_url, https_url, sizeof http_url);
    CHECK(strncmp(http_url, "http://127.0.0.1:", 17) == 0, "local url %s", http_url);
    emr_chain *site_view = NULL;
    CHECK_OK(emr_chain_open_readonly(db, &site_view));
    if (site_view == NULL) bail("cannot read the site's chain");

    test_context = "sync over http";
    emr_chain *local = open_chain(NULL, SALT);
    emr_batch_options options;
    CHECK_OK(emr_batch_options_default(&options, EMR_BATCH_OPTIONS_VERSION));
    uint64_t calls = 0;
    options.progress = on_progress;
    options.user_data = &calls;
    emr_sync_report report;
    memset(&report, 0xAB, sizeof report);
    CHECK_OK(emr_chain_sync(local, http_url, NULL, &options, &report));
    check_report(&report, local, site_view);
    CHECK(calls > 0 && progress_last_done == BLOCKS, "progress called %" PRIu64 " times, last done %" PRIu64, calls,
          progress_last_done);
    /* Again: nothing new. */
    memset(&report, 0xAB, sizeof report);
    CHECK_OK(emr_chain_sync(local, http_url, NULL, NULL, &report));
    CHECK(report.received == 0 && report.height == BLOCKS && !report.has_fork, "a second sync adds nothing");
    CHECK_OK(emr_chain_sync(local, http_url, NULL, NULL, NULL));
    emr_chain_free(local);

    test_context = "sync over https";
    uint8_t ca[8192], cert[8192], key[8192];
    size_t ca_len = 0, cert_len = 0, key_len = 0;
    bool have = read_file("ca.pem", ca, sizeof ca, &ca_len) && read_file("client.pem", cert, sizeof cert, &cert_len) &&
                read_file("client.key", key, sizeof key, &key_len);
    CHECK(have, "the certificates were written");
    emr_tls *tls = NULL;
    CHECK_OK(emr_tls_new(ca, ca_len, cert, cert_len, key, key_len, &tls));
    local = open_chain(NULL, SALT);
    CHECK_OK(emr_chain_sync(local, https_url, tls, NULL, &report));
    check_report(&report, local, site_view);
    emr_chain_free(local);
    /* The node's certificate names 127.0.0.1, not localhost. */
    char by_name[96];
    snprintf(by_name, sizeof by_name, "https://localhost:%s", strrchr(https_url, ':') + 1);
    local = open_chain(NULL, SALT);
    CHECK_STATUS(emr_chain_sync(local, by_name, tls, NULL, NULL), EMR_PEER_UNREACHABLE);
    CHECK(strstr(emr_last_error_message(), "TLS") != NULL, "a handshake failure: %s", emr_last_error_message());
    /* https without credentials, and a plain client on the TLS port. */
    CHECK_STATUS(emr_chain_sync(local, https_url, NULL, NULL, NULL), EMR_INVALID_ARGUMENT);
    char plain_on_tls[96];
    snprintf(plain_on_tls, sizeof plain_on_tls, "http://%s", https_url + strlen("https://"));
    emr_status s = emr_chain_sync(local, plain_on_tls, NULL, NULL, NULL);
    CHECK(s == EMR_PEER_UNREACHABLE || s == EMR_PEER_MISBEHAVED, "plain HTTP to a TLS listener: %s",
          emr_status_name(s));
    emr_chain_free(local);

    test_context = "failures";
    local = open_chain(NULL, OTHER_SALT);
    CHECK_STATUS(emr_chain_sync(local, http_url, NULL, NULL, &report), EMR_PEER_INCOMPATIBLE);
    CHECK(strstr(emr_last_error_message(), "chain id") != NULL, "says why: %s", emr_last_error_message());
    uint64_t len = 99;
    CHECK_OK(emr_chain_len(local, &len));
    CHECK(len == 0, "nothing synced from another chain");
    emr_chain_free(local);

    local = open_chain(NULL, SALT);
    emr_cancel *cancel = NULL;
    CHECK_OK(emr_cancel_new(&cancel));
    CHECK_OK(emr_cancel_trigger(cancel));
    CHECK_OK(emr_batch_options_default(&options, EMR_BATCH_OPTIONS_VERSION));
    options.cancel = cancel;
    CHECK_STATUS(emr_chain_sync(local, http_url, NULL, &options, NULL), EMR_CANCELLED);
    emr_cancel_free(cancel);
    options.cancel = NULL;
    options.version = 99;
    CHECK_STATUS(emr_chain_sync(local, http_url, NULL, &options, NULL), EMR_INVALID_ARGUMENT);

    CHECK_STATUS(emr_chain_sync(local, "http://127.0.0.1:1", NULL, NULL, NULL), EMR_PEER_UNREACHABLE);
    CHECK_STATUS(emr_chain_sync(local, "http://192.0.2.1:8080", NULL, NULL, NULL), EMR_INVALID_ARGUMENT);
    CHECK(strstr(emr_last_error_message(), "loopback") != NULL, "plain http is loopback only: %s",
          emr_last_error_message());
    CHECK_STATUS(emr_chain_sync(local, "ftp://127.0.0.1:21", NULL, NULL, NULL), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_chain_sync(local, "http://127.0.0.1", NULL, NULL, NULL), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_chain_sync(local, "", NULL, NULL, NULL), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_chain_sync(local, NULL, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_sync(NULL, http_url, NULL, NULL, NULL), EMR_NULL_ARGUMENT);
    CHECK_OK(emr_chain_len(local, &len));
    CHECK(len == 0, "no failed call added anything");
    emr_chain_free(local);

    /* A chain as heavy as the node's (a read-only view of its file) gets nothing. */
    CHECK_STATUS(emr_chain_sync(site_view, http_url, NULL, NULL, NULL), EMR_OK);
    emr_chain_free(site_view);

    test_context = "tls";
    emr_tls *bad = (emr_tls *)1;
    CHECK_STATUS(emr_tls_new((const uint8_t *)"junk", 4, cert, cert_len, key, key_len, &bad), EMR_INVALID_ARGUMENT);
    CHECK(bad == NULL, "out NULL after failure");
    CHECK_STATUS(emr_tls_new(ca, ca_len, cert, cert_len, (const uint8_t *)"junk", 4, &bad), EMR_INVALID_KEY);
    /* The authority's own certificate is no node certificate. */
    CHECK_STATUS(emr_tls_new(ca, ca_len, ca, ca_len, key, key_len, &bad), EMR_INVALID_ARGUMENT);
    CHECK_STATUS(emr_tls_new(ca, ca_len, cert, cert_len, key, key_len, NULL), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_tls_new(NULL, 5, cert, cert_len, key, key_len, &bad), EMR_NULL_ARGUMENT);
    emr_tls_free(NULL);
    emr_tls_free(tls);

    stop_node();
    remove_dir();
    return test_finish("test_sync");
}
