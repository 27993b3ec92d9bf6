/*
 * emr.h - the C interface of cryptoemr (libemr).
 *
 * Tamper-evident electronic medical records: doctors sign prescription
 * records, records are grouped into proof-of-work blocks, and verifying a
 * block gives the user states it changes. Every rule lives in the Rust core;
 * this interface only translates types and errors.
 *
 * Link: after `make install`, $(pkg-config --cflags --libs emr) (shared,
 * soname libemr.so.1), or libemr.a with $(pkg-config --static --libs emr)
 * (static). What may change between versions: docs/ABI.md.
 *
 * Conventions (each function's documentation follows libsecp256k1's style:
 * Returns / Args / In / Out / In/Out, and a Thread-safety line):
 *
 * - Status. Every fallible function returns an emr_status: EMR_OK (0) or
 *   the kind of failure. Codes are stable numbers that never change.
 *   emr_status_str() gives a static description, emr_status_name() the
 *   kind's name, and emr_last_error_message() the detail of the last
 *   failure on the calling thread.
 * - Pointers. Every pointer argument is checked: NULL gives
 *   EMR_NULL_ARGUMENT unless the documentation says the argument may be
 *   NULL. A (pointer, length) pair may have a NULL pointer when the length
 *   is 0. Non-NULL pointers must point to memory of the documented size
 *   (hash arguments named ...20 / ...32 have exactly 20 / 32 bytes).
 * - Outputs. Results are written through out-pointers, and only on success
 *   unless documented otherwise. A new object is returned through a
 *   T **out that is set to NULL on failure. Variable-size bytes go to a
 *   caller buffer with an in/out length: *len holds the capacity on input
 *   and the size written on output; if the buffer is too small the call
 *   returns EMR_BUFFER_TOO_SMALL, writes the size needed to *len and nothing
 *   else (pass *len == 0, buf == NULL to ask for the size).
 * - Ownership. Objects (emr_key, emr_record, emr_entry, emr_block,
 *   emr_user_states, emr_cancel, emr_chain, emr_history, emr_pending,
 *   emr_grants, emr_dispensings, emr_conflicts, emr_entry_conflicts,
 *   emr_tls) are opaque and
 *   owned by the caller, who frees each exactly once with its *_free
 *   function; every *_free accepts NULL. Inputs are copied, never
 *   retained, unless documented otherwise.
 * - Threads. Objects are immutable except emr_user_states under its
 *   setters and emr_history under emr_history_next: any number of threads
 *   may read the same object at once. A function that changes or frees an
 *   object needs exclusive use of it. The exceptions are emr_cancel, made
 *   to be triggered from any thread while a search runs, and emr_chain,
 *   which any thread may call at any time: calls on one chain run one at
 *   a time (only emr_chain_free needs exclusive use).
 * - Absence. A height, txid or history entry that does not exist is
 *   EMR_NOT_FOUND; the tip of an empty chain is EMR_OK with a NULL block.
 * - Indexes. Every getter that takes an index (emr_block_record,
 *   emr_block_entry, emr_user_states_entry_at, emr_history_get,
 *   emr_chain_authority, emr_chain_pending_entry, emr_pending_get,
 *   emr_grants_get, emr_dispensings_get, emr_conflicts_get,
 *   emr_entry_conflicts_get) counts from 0,
 *   and an index past the end (index >= the length, SIZE_MAX included) is
 *   EMR_NOT_FOUND,
 *   never EMR_INVALID_ARGUMENT: nothing is written but a T **out, set to
 *   NULL as on every failure. NULL arguments are checked first
 *   (EMR_NULL_ARGUMENT).
 * - Options. emr_mine_options, emr_chain_options and emr_batch_options
 *   start with a version, set by their *_options_default from the
 *   header's EMR_*_OPTIONS_VERSION. The library accepts every version from
 *   1 up to its own, reading only that version's fields, so a program
 *   built with an earlier header keeps working (docs/ABI.md); a version it
 *   does not know (0, or a later header's) is EMR_INVALID_ARGUMENT.
 * - Mining. emr_mine_block returns EMR_OK whenever the search ran; whether
 *   it found a block, exhausted its range, was cancelled or timed out is
 *   its outcome (EMR_MINE_*), not a status.
 * - Panics. No Rust panic crosses this interface; a caught one is reported
 *   as EMR_PANIC (a bug in the library).
 * - Text. Prescriptions are UTF-8 bytes with an explicit length, not
 *   NUL-terminated; bytes that are not UTF-8 are EMR_INVALID_PRESCRIPTION.
 *   A valid record's prescription is at most EMR_MAX_PRESCRIPTION_BYTES
 *   (1024, a sealed text); a plain text at most
 *   EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200).
 * - Addresses. Hashes are 20 bytes in every function. The text a person
 *   types (emrd1... doctor, emrp1... patient, emrm1... miner) becomes those
 *   bytes through emr_address_decode with the role the caller expects: a
 *   typo is EMR_INVALID_CHECKSUM with its place, another role's address
 *   EMR_WRONG_ROLE. emr_address_encode writes a hash's address.
 * - Access (SPEC section 8). A chain created with authorities
 *   (emr_chain_options.authorities) accepts records only from doctors an
 *   authority admitted: grants and revocations are emr_entry objects
 *   (emr_grant_sign, emr_revocation_sign) carried in blocks
 *   (emr_block_new_with_entries, emr_mine_block_with_entries,
 *   emr_chain_submit_entry). Every entry names the chain it is made for,
 *   its id (emr_chain_id: the hash of the chain's parameters and salt),
 *   so an entry made for one chain is EMR_WRONG_CHAIN on another (SPEC
 *   v1.2). A prescription sealed to its readers
 *   (emr_record_sign_sealed) is read with a recipient's key
 *   (emr_record_open); it verifies everywhere like any record.
 * - Pharmacies (SPEC section 10). An authority admits a pharmacy with a
 *   dispenser grant (emr_dispenser_grant_sign); the pharmacy records each
 *   dispensing, countersigned by the patient (emr_dispense_sign, or
 *   emr_dispense_prepare, emr_dispense_digest and the two
 *   emr_dispense_add_*signature when the patient signs on their own
 *   device), and the prescriber or an authority may cancel
 *   (emr_cancellation_sign). All are emr_entry objects carried in blocks;
 *   the active chain holds at most one dispensing per prescription
 *   (emr_chain_prescription_state, emr_chain_dispensings). A dispensing
 *   that a sync drops for another pharmacy's is listed by
 *   emr_chain_entry_conflicts (SPEC 9.3).
 * - Nodes (SPEC section 9). emr_chain_sync brings a chain held by the
 *   caller in step with a node's URL (https:// with emr_tls credentials,
 *   or http:// to a loopback address); what goes wrong with the node is
 *   one of the peer statuses (EMR_PEER_UNREACHABLE ... EMR_SYNC_INCOMPLETE).
 */

#ifndef EMR_H
#define EMR_H

/* Generated by cbindgen from emr-ffi/src; do not edit. Run `make header`. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The length of every address in bytes: 4 prefix characters, the separator
 * `1`, 32 data characters and 6 checksum characters. Text is not
 * NUL-terminated: a buffer of EMR_ADDRESS_LEN + 1 leaves room to add one.
 */
#define EMR_ADDRESS_LEN 43

/**
 * The most positions emr_address_decode reports: a typo in one or two
 * characters is located, more are only detected.
 */
#define EMR_ADDRESS_MAX_POSITIONS 2

/**
 * The longest prescription a valid record carries, in bytes: a sealed
 * text ("sealed1:...", SPEC 8.2), whose plain text is at most
 * EMR_MAX_PLAIN_PRESCRIPTION_BYTES. A sealed text of t plain bytes to n
 * recipients is 8 + ceil(4 (2 + 102 n + t + 16) / 3) bytes (docs/FORMAT.md):
 * 32 bytes sealed to 3 recipients, the patient, one reader and the doctor,
 * make 483; the rule's limit is this constant. A buffer of this size holds
 * the prescription of every record that verifies, and so of every record
 * of a chain, a pool or a template (emr_record_prescription). A record
 * decoded from bytes and not verified may carry a longer one (it fails
 * verification with EMR_INVALID_PRESCRIPTION): EMR_BUFFER_TOO_SMALL then
 * gives its size.
 */
#define EMR_MAX_PRESCRIPTION_BYTES 1024

/**
 * The longest plain (unsealed) prescription, in bytes: what
 * emr_record_sign and emr_record_sign_sealed accept as plain text, and the
 * longest text emr_record_open writes.
 */
#define EMR_MAX_PLAIN_PRESCRIPTION_BYTES 200

/**
 * The most recipients a sealed prescription may have (the doctor included).
 */
#define EMR_MAX_RECIPIENTS 4

/**
 * The most threads emr_verify_records accepts (its threads argument).
 */
#define EMR_MAX_VERIFY_THREADS 1024

/**
 * The most entries a block may hold.
 */
#define EMR_MAX_ENTRIES 25

/**
 * The longest licence text of a grant, in UTF-8 bytes.
 */
#define EMR_MAX_LICENCE_BYTES 100

/**
 * The longest note of a dispense or reason of a cancellation, in UTF-8 bytes.
 */
#define EMR_MAX_NOTE_BYTES 100

/**
 * The reward a miner's balance grows by when the caller sets no other.
 */
#define EMR_DEFAULT_BLOCK_REWARD 10000

/**
 * The most records a block may hold.
 */
#define EMR_MAX_RECORDS 25

/**
 * The most worker threads a search accepts (emr_mine_options.threads).
 */
#define EMR_MAX_MINING_THREADS 1024

/**
 * The layout of emr_mine_options that this header declares (1, the only
 * version so far). Pass it to emr_mine_options_default; a later header
 * that adds fields raises it.
 *
 * A library accepts every version from 1 up to its own constant, reading
 * only the fields of the version the caller passes (docs/ABI.md): a
 * program built with an earlier header keeps working with a later library.
 * A version the library does not know (0, or a later header's with an
 * older library) is EMR_INVALID_ARGUMENT.
 */
#define EMR_MINE_OPTIONS_VERSION 1

/**
 * The layout of emr_chain_options that this header declares. Pass it to
 * emr_chain_options_default; a later header that adds fields raises it.
 * Version 2 added the authorities (SPEC 8.1); version 3 added max_future
 * and the salt (SPEC 5, v1.2). This library accepts 1, 2 and 3, giving
 * what an earlier version lacks its documented default.
 *
 * A library accepts every version from 1 up to its own constant, reading
 * only the fields of the version the caller passes (docs/ABI.md): a
 * program built with an earlier header keeps working with a later library.
 * A version the library does not know (0, or a later header's with an
 * older library) is EMR_INVALID_ARGUMENT.
 */
#define EMR_CHAIN_OPTIONS_VERSION 3

/**
 * The layout of emr_batch_options that this header declares (1, the only
 * version so far). Pass it to emr_batch_options_default; a later header
 * that adds fields raises it.
 *
 * A library accepts every version from 1 up to its own constant, reading
 * only the fields of the version the caller passes (docs/ABI.md): a
 * program built with an earlier header keeps working with a later library.
 * A version the library does not know (0, or a later header's with an
 * older library) is EMR_INVALID_ARGUMENT.
 */
#define EMR_BATCH_OPTIONS_VERSION 1

/**
 * The default of emr_chain_options.max_future (SPEC 5, v1.2): how far ahead
 * of the caller's clock (the `now` argument) a block's timestamp may be, in
 * seconds; later is EMR_TIMESTAMP_TOO_LATE. (ABI 0's EMR_MAX_FUTURE_SECONDS,
 * 7200, is gone: the limit is now a parameter of each chain.)
 */
#define EMR_DEFAULT_MAX_FUTURE_SECONDS 60

/**
 * Bytes of a chain's salt (emr_chain_options.salt).
 */
#define EMR_SALT_LEN 16

/**
 * A block: header fields, up to 25 records, block id and proof-of-work
 * nonce. Opaque; immutable once made, so one block may be read and
 * verified by several threads at once.
 */
typedef struct emr_block emr_block;

/**
 * A flag that stops a running emr_mine_block from another thread. Opaque.
 *
 * Once triggered it stays triggered (there is no reset: make a new handle
 * for the next search); a search started with a triggered handle ends at
 * once with EMR_MINE_CANCELLED. Any number of searches may share a handle.
 */
typedef struct emr_cancel emr_cancel;

/**
 * A chain (SPEC section 5): a tree of blocks, its heaviest branch as the
 * active chain, and the user states and record index of that branch, kept
 * in one SQLite database file (or in memory). Opaque.
 *
 * A handle opened for writing holds the file's write lock until it is
 * freed; any number of read-only handles (emr_chain_open_readonly), in this
 * process or others, may run beside it and see every block whose add has
 * returned. Calls on one handle run one at a time: a call made while
 * another thread's call on the same handle runs waits for it.
 */
typedef struct emr_chain emr_chain;

/**
 * A snapshot of the records a chain dropped for others (SPEC 9.3,
 * emr_chain_conflicts), oldest first, each with the record and block that
 * took its place. Opaque and immutable: several threads may read one at
 * once. Later changes to the chain (a dismissal, a new conflict) do not
 * change it, and it may outlive the chain it came from.
 */
typedef struct emr_conflicts emr_conflicts;

/**
 * A snapshot of a pharmacy's dispenses in the active chain
 * (emr_chain_dispensings), in chain order, each with its block. Opaque and
 * immutable: several threads may read one at once; it may outlive the
 * chain.
 */
typedef struct emr_dispensings emr_dispensings;

/**
 * An entry: an authority's grant admitting a doctor, its revocation of a
 * grant, its dispenser grant admitting a pharmacy, a pharmacy's dispense
 * of a prescription, or a cancellation of one (emr_entry_get_type).
 * Opaque; immutable once made, so one entry may be read and verified by
 * several threads at once.
 */
typedef struct emr_entry emr_entry;

/**
 * A snapshot of the dispenses and cancellations a chain dropped for
 * another (emr_chain_entry_conflicts), oldest first. Opaque and immutable:
 * several threads may read one at once; it may outlive the chain.
 */
typedef struct emr_entry_conflicts emr_entry_conflicts;

/**
 * A snapshot of a doctor's grants in the active chain (emr_chain_grants),
 * in chain order, each with its block's height and its revocation, if
 * any. Opaque and immutable: several threads may read one at once. Later
 * changes to the chain do not change it, and it may outlive the chain.
 */
typedef struct emr_grants emr_grants;

/**
 * A snapshot of records of the active chain with their places: a patient's
 * history (emr_chain_patient_history) or a doctor's records
 * (emr_chain_doctor_records), in chain order, with a cursor for
 * emr_history_next. Opaque.
 *
 * It is a copy: later changes to the chain do not change it, and it may
 * outlive the chain it came from.
 */
typedef struct emr_history emr_history;

/**
 * A doctor's private signing key (secp256k1 or P-256). Opaque.
 *
 * The secret scalar is wiped from memory when the key is freed. Keys are
 * immutable: one key may be used by several threads at once.
 */
typedef struct emr_key emr_key;

/**
 * A snapshot of a chain's pending records (emr_chain_pending): first the
 * ready ones, in the order emr_chain_template takes them, then the held
 * ones, in arrival order. Opaque. Later changes to the chain do not change
 * it, and it may outlive the chain it came from.
 */
typedef struct emr_pending emr_pending;

/**
 * A record (the original design's EMR): its fixed-size fields typed, the
 * others as given. Opaque; immutable once made, so one record may be read
 * and verified by several threads at once.
 */
typedef struct emr_record emr_record;

/**
 * A program's TLS identity in a consortium (SPEC 9.4): the consortium
 * authority's certificate, and the program's own certificate and key
 * (from `emr node ca new` and `emr node cert new`). Opaque; immutable
 * once made, so any number of threads may use it at once.
 */
typedef struct emr_tls emr_tls;

/**
 * A map from 20-byte hash (doctor, patient or miner) to its state: a
 * balance and a record nonce. A hash absent from the map has balance 0 and
 * nonce 0. Entries are visited in ascending byte order of their hash.
 * Opaque.
 */
typedef struct emr_user_states emr_user_states;

/**
 * The outcome of a call: `EMR_OK` (0) or the kind of failure.
 *
 * Every code's number is stable: it never changes and is never reused, so
 * it may be stored, logged and compared across library versions. New kinds
 * get new numbers. Ranges: 1-19 record kinds, 20-39 block kinds, 40-59
 * chain kinds (a block's place in a chain), 60-79 address kinds, 80-99
 * entry and sealing kinds (SPEC sections 8 and 10: 80-87 registry entries,
 * 90-91 sealing, 92-99 pharmacies), 100-109 general kinds,
 * 110-129 kinds of a peer node (SPEC section 9: emr_chain_sync), 130-199
 * general kinds to come, 200-299 kinds of the C interface itself.
 */
typedef uint32_t emr_status;

/**
 * Whose hash an address names: one of the `EMR_ROLE_*` values.
 */
typedef uint32_t emr_role;

/**
 * An elliptic curve: one of the `EMR_CURVE_*` values.
 */
typedef uint32_t emr_curve;

/**
 * A record's seven fields exactly as the caller holds them, unchecked:
 * each byte field is a (pointer, length) pair, where the pointer may be
 * NULL when the length is 0. Used to verify loose bytes in the
 * specification's order (emr_record_fields_verify), to build a record
 * (emr_record_new) and to view one (emr_record_get_fields).
 */
typedef struct emr_record_fields {
    /**
     * Should be 20 bytes: SHA-1 of dr_public_key.
     */
    const uint8_t *dr_hash;
    /**
     * Length of dr_hash in bytes.
     */
    size_t dr_hash_len;
    /**
     * Should be 20 bytes: the patient's public key hash.
     */
    const uint8_t *patient_hash;
    /**
     * Length of patient_hash in bytes.
     */
    size_t patient_hash_len;
    /**
     * Should be a DER SubjectPublicKeyInfo of an EC key on secp256k1 or P-256.
     */
    const uint8_t *dr_public_key;
    /**
     * Length of dr_public_key in bytes.
     */
    size_t dr_public_key_len;
    /**
     * UTF-8 text, not NUL-terminated (a NUL byte counted in
     * prescription_len is part of the text): a valid record's is a plain
     * text of at most EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200) or a sealed
     * one ("sealed1:...") of at most EMR_MAX_PRESCRIPTION_BYTES (1024).
     * Bytes that are not UTF-8 are "not text": EMR_INVALID_PRESCRIPTION.
     */
    const char *prescription;
    /**
     * Length of prescription in bytes.
     */
    size_t prescription_len;
    /**
     * The doctor's record counter: previous nonce + 1.
     */
    uint64_t nonce;
    /**
     * Should be a strict-DER ECDSA signature over the signature hash.
     */
    const uint8_t *signature;
    /**
     * Length of signature in bytes.
     */
    size_t signature_len;
    /**
     * Should be 32 bytes: the SHA-256 of the fields above.
     */
    const uint8_t *txid;
    /**
     * Length of txid in bytes.
     */
    size_t txid_len;
} emr_record_fields;

/**
 * What an entry is: one of the `EMR_ENTRY_*` values.
 */
typedef uint32_t emr_entry_type;

/**
 * The fields of a dispense or cancellation that name its prescription
 * (SPEC 10), as emr_dispense_new and emr_cancellation_new take them: a
 * caller's struct, read only during the call.
 */
typedef struct emr_prescription_ref {
    /**
     * Should be 20 bytes: the prescriber's dr_hash.
     */
    const uint8_t *dr_hash;
    /**
     * Length of dr_hash in bytes.
     */
    size_t dr_hash_len;
    /**
     * The record's nonce.
     */
    uint64_t nonce;
    /**
     * Should be 32 bytes: the record's signature hash
     * (emr_record_signature_hash).
     */
    const uint8_t *record_hash;
    /**
     * Length of record_hash in bytes.
     */
    size_t record_hash_len;
} emr_prescription_ref;

/**
 * A 128-bit unsigned difficulty, without a compiler-specific 128-bit type:
 * the value is hi * 2^64 + lo. Valid difficulties are 1 ..= 2^128-1 (any
 * value but zero); most fit in lo alone: (emr_difficulty){ .lo = 1000 }.
 */
typedef struct emr_difficulty {
    /**
     * The low 64 bits.
     */
    uint64_t lo;
    /**
     * The high 64 bits.
     */
    uint64_t hi;
} emr_difficulty;

/**
 * A block's fields exactly as the caller holds them, unchecked, to verify
 * loose bytes in the specification's order (emr_block_fields_verify). Each
 * byte field is a (pointer, length) pair whose pointer may be NULL when the
 * length is 0.
 */
typedef struct emr_block_fields {
    /**
     * Should be 32 bytes: the parent's block id (all zero at height 0).
     */
    const uint8_t *previous;
    /**
     * Length of previous in bytes.
     */
    size_t previous_len;
    /**
     * Height in the chain.
     */
    uint64_t height;
    /**
     * Should be 20 bytes: who is rewarded.
     */
    const uint8_t *miner;
    /**
     * Length of miner in bytes.
     */
    size_t miner_len;
    /**
     * The records, in order (at most 25 for a valid block).
     */
    const struct emr_record_fields *records;
    /**
     * Number of elements of records.
     */
    size_t record_count;
    /**
     * Unix seconds.
     */
    uint64_t timestamp;
    /**
     * The difficulty the block claims.
     */
    struct emr_difficulty difficulty;
    /**
     * Should be 32 bytes: SHA-256 of the header.
     */
    const uint8_t *block_id;
    /**
     * Length of block_id in bytes.
     */
    size_t block_id_len;
    /**
     * The proof-of-work nonce.
     */
    uint64_t nonce;
} emr_block_fields;

/**
 * A hash engine, one of the EMR_ENGINE_* values: an implementation of the
 * per-nonce hashing loop. Every engine finds the same nonces; they differ
 * only in speed and in the CPU features they need.
 */
typedef uint32_t emr_engine;

/**
 * How a search that ran ended: one of the EMR_MINE_* values.
 */
typedef uint32_t emr_mine_outcome;

/**
 * A progress callback: the hashes done so far (all threads together), the
 * hash rate so far, and the seconds since the search started, with the
 * options' user_data. It is called about every 250 ms while a search runs,
 * on the thread that called emr_mine_block (never concurrently with
 * itself), and only after at least 250 ms have passed. It must return
 * normally (no longjmp, no C++ exception); it may call into the library,
 * for example emr_cancel_trigger to stop the search.
 */
typedef void (*emr_mine_progress_fn)(uint64_t hashes,
                                     double hashes_per_second,
                                     double elapsed_seconds,
                                     void *user_data);

/**
 * How to run emr_mine_block. Initialize it with emr_mine_options_default
 * (which sets version and every default), then set the fields you need:
 *
 * ```c
 * emr_mine_options opts;
 * emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION);
 * opts.threads = 1;
 * ```
 *
 * Every default is zero, false or NULL. The nonce range is nonce_start up
 * to and including UINT64_MAX, or nonce_count nonces from nonce_start
 * (clipped at UINT64_MAX) when has_nonce_count is true, so that
 * has_nonce_count with nonce_count 0 is an empty range (EMR_MINE_EXHAUSTED
 * at once).
 */
typedef struct emr_mine_options {
    /**
     * EMR_MINE_OPTIONS_VERSION of the header the caller was compiled with,
     * set by emr_mine_options_default.
     */
    uint32_t version;
    /**
     * The engine: EMR_ENGINE_BEST (default) or an EMR_ENGINE_* value that
     * emr_mining_engine_available reports as available.
     */
    emr_engine engine;
    /**
     * Worker threads, 1 ..= EMR_MAX_MINING_THREADS; 0 (default): one per
     * available core. With one thread the result is the lowest valid nonce
     * at or after nonce_start; with several, a valid nonce that need not be
     * the lowest. Fewer are started when the range has fewer nonces.
     */
    size_t threads;
    /**
     * The first nonce tried (default 0).
     */
    uint64_t nonce_start;
    /**
     * false (default): try every nonce up to and including UINT64_MAX;
     * true: try nonce_count nonces.
     */
    bool has_nonce_count;
    /**
     * How many nonces to try when has_nonce_count is true (0 is an empty
     * range); ignored otherwise.
     */
    uint64_t nonce_count;
    /**
     * Stop after this many milliseconds (EMR_MINE_TIMED_OUT); 0 (default):
     * no time limit.
     */
    uint64_t time_limit_ms;
    /**
     * A cancel handle (EMR_MINE_CANCELLED when triggered); NULL (default):
     * none. It must stay valid until emr_mine_block returns.
     */
    const struct emr_cancel *cancel;
    /**
     * Called with progress about every 250 ms; NULL (default): none.
     */
    emr_mine_progress_fn progress;
    /**
     * Passed unchanged to progress; never dereferenced by the library.
     */
    void *user_data;
} emr_mine_options;

/**
 * Measurements of a search that ran (emr_mine_block's stats_out). Its
 * layout is fixed: later measurements will come in a new struct, never by
 * growing this one.
 */
typedef struct emr_mine_stats {
    /**
     * Nonces hashed, all threads together.
     */
    uint64_t hashes;
    /**
     * Wall-clock seconds of the whole search.
     */
    double seconds;
    /**
     * hashes / seconds (0 when nothing was timed).
     */
    double hashes_per_second;
    /**
     * Worker threads started (0 when the range was empty).
     */
    size_t threads;
    /**
     * The engine that ran (never EMR_ENGINE_BEST).
     */
    emr_engine engine;
} emr_mine_stats;

/**
 * The parameters of a chain (SPEC section 5) and how to open it. Initialize
 * it with emr_chain_options_default (which sets version and the
 * specification's defaults), then set the fields you need:
 *
 * ```c
 * emr_chain_options opts;
 * emr_chain_options_default(&opts, EMR_CHAIN_OPTIONS_VERSION);
 * opts.initial_difficulty.lo = 1;
 * ```
 *
 * The parameters are stored with a chain when it is created and fixed for
 * its life: opening an existing chain with other parameters is
 * EMR_INVALID_ARGUMENT, unless use_stored_params is true. They name the
 * chain: its id (emr_chain_id, SPEC 5) is their hash, salt included, and
 * every grant and revocation made for it carries that id.
 */
typedef struct emr_chain_options {
    /**
     * EMR_CHAIN_OPTIONS_VERSION of the header the caller was compiled
     * with, set by emr_chain_options_default.
     */
    uint32_t version;
    /**
     * false (default): the parameters below are the chain's; an existing
     * chain must have been created with exactly these. true: ignore the
     * parameters below and use the stored ones (the defaults for a new
     * chain), as NULL options do.
     */
    bool use_stored_params;
    /**
     * The difficulty of blocks 0 ..= window; 1 ..= 2^128-1 (default 1000).
     */
    struct emr_difficulty initial_difficulty;
    /**
     * Retarget window W, in blocks; at least 1 (default 10).
     */
    uint64_t window;
    /**
     * Target block time B, in seconds; at least 1 (default 12).
     */
    uint64_t block_time;
    /**
     * Adjustment clamp C: one retarget moves the difficulty by at most a
     * factor of C either way; at least 1 (default 4).
     */
    uint64_t max_adjust;
    /**
     * What a miner's balance grows by per block (default 10000,
     * EMR_DEFAULT_BLOCK_REWARD).
     */
    uint64_t block_reward;
    /**
     * Version 2. The chain's authorities (SPEC 8.1): authority_count public
     * keys, each SPKI DER (secp256k1 or P-256), whose grants decide which
     * doctors may write. Fixed for the chain's life: an existing chain must
     * have been created with exactly these, in this order (a caller of
     * version 1 gives none). NULL allowed when authority_count is 0, the
     * default: an open chain, where anyone may write and every entry fails
     * EMR_UNKNOWN_AUTHORITY. The keys are copied.
     */
    const uint8_t *const *authorities;
    /**
     * Version 2. The length of each key of authorities.
     */
    const size_t *authority_lens;
    /**
     * Version 2. The number of authorities (0: an open chain).
     */
    size_t authority_count;
    /**
     * Version 3. How far ahead of the caller's clock a block's timestamp
     * may be, in seconds (default EMR_DEFAULT_MAX_FUTURE_SECONDS, 60):
     * later is EMR_TIMESTAMP_TOO_LATE (emr_chain_add_block's now,
     * emr_chain_mine_next). A caller of an earlier version gets the
     * default.
     */
    uint64_t max_future;
    /**
     * Version 3. false (default): a new chain gets a random salt, and an
     * existing chain is opened whatever its salt. true: salt is the
     * chain's: a new chain is created with it, and an existing chain must
     * have it (EMR_INVALID_ARGUMENT otherwise). A caller of an earlier
     * version gives none. emr_chain_get_options sets it to true with the
     * chain's salt.
     */
    bool has_salt;
    /**
     * Version 3. With has_salt: the chain's 16-byte salt, which makes its
     * id unique among chains of equal settings (a test chain and the real
     * one); ignored otherwise (default all zero).
     */
    uint8_t salt[EMR_SALT_LEN];
} emr_chain_options;

/**
 * A progress callback of emr_chain_add_blocks and emr_chain_check: blocks
 * done so far and blocks in all, with the options' user_data.
 *
 * It is called about every 100 ms and once when the last block is done,
 * never concurrently with itself: on the calling thread for
 * emr_chain_add_blocks, on a library thread for emr_chain_check. It must
 * return normally (no longjmp, no C++ exception). It may call into the
 * library, for example emr_cancel_trigger to stop the work, but not on the
 * chain being worked on (that call returns EMR_INVALID_ARGUMENT).
 */
typedef void (*emr_chain_progress_fn)(uint64_t done, uint64_t total, void *user_data);

/**
 * How to run emr_chain_add_blocks and emr_chain_check. Initialize it with
 * emr_batch_options_default, then set the fields you need. Every default
 * is zero or NULL.
 */
typedef struct emr_batch_options {
    /**
     * EMR_BATCH_OPTIONS_VERSION of the header the caller was compiled
     * with, set by emr_batch_options_default.
     */
    uint32_t version;
    /**
     * Threads for the record signature checks, 1 ..=
     * EMR_MAX_VERIFY_THREADS; 0 (default): one per available core. No call
     * starts threads of its own for them: the library's one verification
     * pool runs them.
     */
    size_t threads;
    /**
     * A cancel handle: when triggered, the work stops between two blocks
     * with EMR_CANCELLED (blocks already added stay added); NULL (default):
     * none. It must stay valid until the call returns.
     */
    const struct emr_cancel *cancel;
    /**
     * Called with progress about every 100 ms and once at the end; NULL
     * (default): none. See emr_chain_progress_fn.
     */
    emr_chain_progress_fn progress;
    /**
     * Passed unchanged to progress; never dereferenced by the library.
     */
    void *user_data;
} emr_batch_options;

/**
 * What adding a block did: one of the EMR_ADD_* values.
 */
typedef uint32_t emr_add_outcome;

/**
 * Why a block was refused, for the statuses that belong to a block: the
 * chain kinds (EMR_WRONG_HEIGHT, EMR_UNKNOWN_PARENT,
 * EMR_TIMESTAMP_TOO_EARLY, EMR_TIMESTAMP_TOO_LATE) and the block kinds of
 * verification (EMR_DIFFICULTY_MISMATCH ... EMR_ENTRY), and, from
 * emr_chain_check, EMR_CORRUPT for a stored block that is damaged. Its
 * layout is fixed: later details will come in a new struct, never by
 * growing this one.
 */
typedef struct emr_block_failure {
    /**
     * The block's status.
     */
    emr_status status;
    /**
     * The failed block's height. When a heavier branch is refused because
     * one of its blocks fails, this is that block, which may be an ancestor
     * of the block offered.
     */
    uint64_t height;
    /**
     * Whether block_id holds the failed block's id (false when only its
     * height is known, as for damage found by emr_chain_check).
     */
    bool has_block_id;
    /**
     * The failed block's id when has_block_id is true; zero otherwise.
     */
    uint8_t block_id[32];
    /**
     * With EMR_RECORD: the index of the first failing record in the block.
     * With EMR_ENTRY: the index of the first failing entry (the layout is
     * fixed, so entries share the field). 0 otherwise.
     */
    size_t record_index;
    /**
     * With EMR_RECORD: that record's own status (EMR_INVALID_NONCE,
     * EMR_INVALID_SIGNATURE, EMR_UNAUTHORIZED_DOCTOR, ...). With EMR_ENTRY:
     * that entry's own status (EMR_INVALID_ENTRY ... EMR_ALREADY_REVOKED,
     * EMR_WRONG_CHAIN, EMR_REVOCATION_NOT_YET_EFFECTIVE).
     * EMR_OK otherwise.
     */
    emr_status record_status;
} emr_block_failure;

/**
 * What emr_chain_check found. Its layout is fixed, as emr_block_failure's.
 */
typedef struct emr_check_report {
    /**
     * Active blocks checked and found good, from height 0.
     */
    uint64_t blocks_ok;
    /**
     * Whether a bad block was found; the blocks after it are not checked.
     */
    bool found_bad;
    /**
     * The first bad block when found_bad is true (its height is
     * blocks_ok); all zero otherwise.
     */
    struct emr_block_failure bad;
} emr_check_report;

/**
 * What became of a prescription (SPEC 10): one of the `EMR_RX_*` values.
 */
typedef uint32_t emr_prescription_state;

/**
 * What emr_chain_submit or emr_chain_submit_entry did with a record or
 * entry: one of the EMR_SUBMIT_* values. Values may be added; a caller
 * treats one it does not know as "not added".
 */
typedef uint32_t emr_submit_outcome;

/**
 * What emr_chain_sync did. Its layout is fixed: later details will come
 * in a new struct, never by growing this one.
 */
typedef struct emr_sync_report {
    /**
     * Blocks received from the peer and offered to the chain.
     */
    uint64_t received;
    /**
     * Of those: blocks that extended the active chain.
     */
    uint64_t extended;
    /**
     * Blocks stored on a side branch.
     */
    uint64_t side_branch;
    /**
     * Blocks whose add moved the active chain to another branch.
     */
    uint64_t reorganized;
    /**
     * Blocks the chain already held.
     */
    uint64_t already_known;
    /**
     * Blocks judged stale at the end of the add (not stored).
     */
    uint64_t stale;
    /**
     * Records and entries newly kept as conflicts (SPEC 9.3,
     * emr_chain_conflicts).
     */
    uint64_t new_conflicts;
    /**
     * The active chain's length afterwards.
     */
    uint64_t height;
    /**
     * Its total difficulty afterwards, 256-bit big-endian (as
     * emr_chain_total_difficulty).
     */
    uint8_t work[32];
    /**
     * The total difficulty the peer advertised, 256-bit big-endian.
     */
    uint8_t peer_work[32];
    /**
     * Whether fork_height holds the height of the last block both chains
     * held (false when the peer was not heavier, or nothing was common).
     */
    bool has_fork;
    /**
     * That height when has_fork is true; 0 otherwise.
     */
    uint64_t fork_height;
} emr_sync_report;

/**
 * Success.
 */
#define EMR_OK 0

/**
 * Record: `dr_hash` or `patient_hash` is not 20 bytes.
 */
#define EMR_HASH_LENGTH 1

/**
 * Record: `dr_hash` is not the SHA-1 of `dr_public_key`.
 */
#define EMR_PUBLIC_KEY_MISMATCH 2

/**
 * Record: the prescription is not text (not UTF-8), is plain text over
 * EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200), or is a sealed text that is
 * malformed, over EMR_MAX_PRESCRIPTION_BYTES (1024) or not sealed to the
 * record's patient.
 */
#define EMR_INVALID_PRESCRIPTION 3

/**
 * Record: the nonce is not the doctor's previous nonce + 1.
 */
#define EMR_INVALID_NONCE 4

/**
 * Record: the txid is not 32 bytes or not the hash of the record's fields.
 */
#define EMR_INVALID_TXID 5

/**
 * Record: the public key is not a DER SPKI of a point on secp256k1 or P-256.
 */
#define EMR_INVALID_PUBLIC_KEY 6

/**
 * Record: the signature is not strict DER or does not verify.
 */
#define EMR_INVALID_SIGNATURE 7

/**
 * Record, in a chain with authorities: the doctor holds no active grant at
 * the block's timestamp (reported after the record's own checks, as the
 * record status of EMR_RECORD, and by the pool).
 */
#define EMR_UNAUTHORIZED_DOCTOR 8

/**
 * Block: the block's difficulty is not the expected difficulty.
 */
#define EMR_DIFFICULTY_MISMATCH 20

/**
 * Block: `block_id` is not 32 bytes or not the hash of the header.
 */
#define EMR_INVALID_BLOCK_ID 21

/**
 * Block: more than 25 records.
 */
#define EMR_TOO_MANY_RECORDS 22

/**
 * Block: `miner` is not 20 bytes.
 */
#define EMR_INVALID_MINER 23

/**
 * Block: `previous` is not 32 bytes.
 */
#define EMR_INVALID_PREVIOUS 24

/**
 * Block: the block id does not meet the difficulty's target.
 */
#define EMR_INSUFFICIENT_WORK 25

/**
 * Block: a record failed. Functions returning it also report the record's
 * index and its own record status through out-parameters.
 */
#define EMR_RECORD 26

/**
 * Block: more than 25 entries (checked right after the record count).
 */
#define EMR_TOO_MANY_ENTRIES 27

/**
 * Block: an entry (grant or revocation) failed. Functions returning it
 * also report the entry's index and its own entry status (EMR_INVALID_ENTRY
 * ... EMR_ALREADY_REVOKED, EMR_WRONG_CHAIN,
 * EMR_REVOCATION_NOT_YET_EFFECTIVE, EMR_UNAUTHORIZED_DISPENSER ...
 * EMR_PRESCRIPTION_CANCELLED) through out-parameters. Entries are
 * checked before records.
 */
#define EMR_ENTRY 28

/**
 * Chain: the block's height is not its parent's height + 1 (0 for a
 * genesis block).
 */
#define EMR_WRONG_HEIGHT 40

/**
 * Chain: the block's `previous` is the id of no block the chain knows.
 */
#define EMR_UNKNOWN_PARENT 41

/**
 * Chain: the block's timestamp is before its parent's.
 */
#define EMR_TIMESTAMP_TOO_EARLY 42

/**
 * Chain: the block's timestamp is more than the chain's max_future seconds
 * (emr_chain_options.max_future, default EMR_DEFAULT_MAX_FUTURE_SECONDS = 60)
 * after the caller's current time. Such a block is not remembered as
 * invalid: it may be offered again once its time has come.
 */
#define EMR_TIMESTAMP_TOO_LATE 43

/**
 * Address: the checksum does not match, a character is wrong; its index
 * is reported when it can be located (emr_address_decode).
 */
#define EMR_INVALID_CHECKSUM 60

/**
 * Address: a valid address of another role (a patient's where a doctor's
 * is expected, ...), or text without a role prefix.
 */
#define EMR_WRONG_ROLE 61

/**
 * Address: empty, longer than 90 bytes, or not holding a 20-byte hash.
 */
#define EMR_INVALID_LENGTH 62

/**
 * Address: a character that cannot stand at its place.
 */
#define EMR_INVALID_CHARACTER 63

/**
 * Address: upper and lower case mixed.
 */
#define EMR_MIXED_CASE 64

/**
 * Entry: a key that is not an uncompressed SPKI on a supported curve, a
 * licence that is not text or over 100 bytes, not_before > not_after, or a
 * grant id or chain id that is not 32 bytes.
 */
#define EMR_INVALID_ENTRY 80

/**
 * Entry: the signature is not strict DER, is high-S (s > n/2: an entry's
 * id covers its signature, so (r, n - s) would be a second entry of the
 * same content), or does not verify under the entry's authority.
 */
#define EMR_INVALID_ENTRY_SIGNATURE 81

/**
 * Entry: the authority is not one of the chain's (every entry of an open
 * chain fails here).
 */
#define EMR_UNKNOWN_AUTHORITY 82

/**
 * Entry: a grant with the same content (chain, doctor key, licence,
 * window and authority, whatever its signature) is already in the active
 * chain.
 */
#define EMR_DUPLICATE_GRANT 83

/**
 * Entry: a revocation of a grant the active chain does not hold.
 */
#define EMR_UNKNOWN_GRANT 84

/**
 * Entry: a revocation of a grant that is already revoked.
 */
#define EMR_ALREADY_REVOKED 85

/**
 * Entry: the entry's chain_id is not the id of the chain it is offered to
 * (an entry made for another chain, a test chain say; see emr_chain_id).
 */
#define EMR_WRONG_CHAIN 86

/**
 * Entry: a revocation whose effective time is later than the timestamp of
 * the block carrying it. A chain carries a revocation only once its time
 * has reached it; the pool holds it until then (EMR_SUBMIT_HELD).
 */
#define EMR_REVOCATION_NOT_YET_EFFECTIVE 87

/**
 * Sealing: the key opening a sealed record is not one of its recipients.
 */
#define EMR_NOT_RECIPIENT 90

/**
 * Sealing: the key is a recipient, but the sealed text does not decrypt
 * under it (tampered, or moved to another record) or is not UTF-8.
 */
#define EMR_DECRYPT_FAILED 91

/**
 * Entry: a dispense whose pharmacy holds no dispenser grant active at the
 * block's timestamp (every dispense of an open chain; a doctor's grant
 * never authorizes dispensing).
 */
#define EMR_UNAUTHORIZED_DISPENSER 92

/**
 * Entry: a cancellation by a key that is neither an authority of the
 * chain nor the prescriber's own key authorized at the block's timestamp.
 */
#define EMR_UNAUTHORIZED_CANCELLER 93

/**
 * Entry: no record with the dispense's or cancellation's (dr_hash, nonce)
 * in an earlier block of the active chain, or its signature hash is not
 * the entry's record hash.
 */
#define EMR_UNKNOWN_PRESCRIPTION 94

/**
 * Entry: a dispense whose patient key is not the prescription's patient's.
 */
#define EMR_WRONG_PATIENT 95

/**
 * Entry: a dispense of a prescription whose doctor was no longer
 * authorized at the time of the record's own block (a backdated
 * revocation over a stolen key's prescriptions).
 */
#define EMR_PRESCRIBER_REVOKED 96

/**
 * Entry: a note or reason on a sealed prescription (they are public).
 */
#define EMR_PUBLIC_TEXT_ON_SEALED 97

/**
 * Entry: the prescription is already dispensed in the active chain
 * (earlier in the same block included).
 */
#define EMR_ALREADY_DISPENSED 98

/**
 * Entry: the prescription is cancelled in the active chain.
 */
#define EMR_PRESCRIPTION_CANCELLED 99

/**
 * An argument outside its documented range (a zero difficulty, a thread
 * count over its maximum, an unknown curve, ...). An index past the end of
 * an indexed getter is EMR_NOT_FOUND instead ("Indexes" at the top of this
 * header).
 */
#define EMR_INVALID_ARGUMENT 100

/**
 * A private key that cannot be parsed or used (malformed, encrypted and
 * read without a password, a password for a key that is not encrypted,
 * unsupported curve or key encryption, scalar out of range, mismatched
 * public key).
 */
#define EMR_INVALID_KEY 101

/**
 * Bytes that are not a canonical encoding of a record or block.
 */
#define EMR_DECODE 102

/**
 * The thing asked for does not exist: a height past the tip, a txid in no
 * active block, an undo on an empty chain, the end of a history, an index
 * past the end of any indexed getter ("Indexes" at the top of this header).
 */
#define EMR_NOT_FOUND 103

/**
 * Work stopped by the caller before it finished. (emr_mine_block reports
 * a cancelled search as an outcome, EMR_MINE_CANCELLED, with EMR_OK.)
 */
#define EMR_CANCELLED 104

/**
 * The operating system refused something the call needed (such as
 * starting a thread).
 */
#define EMR_IO 105

/**
 * The chain is open for writing by another handle, in this process or
 * another; emr_last_error_message() names the file.
 */
#define EMR_LOCKED 106

/**
 * Stored data is damaged (a block that does not hash to its id or does not
 * decode, an index that disagrees with the blocks, a file that is not a
 * chain database). Never silently accepted.
 */
#define EMR_CORRUPT 107

/**
 * An encrypted private key's password does not decrypt it (or the
 * encrypted key is damaged): emr_key_decrypt.
 */
#define EMR_WRONG_PASSWORD 108

/**
 * Peer (SPEC 9): the node could not be asked: no connection, a failed TLS
 * handshake, a dropped connection, or no answer in time (connect 5 s, a
 * whole request 30 s). Try again later.
 */
#define EMR_PEER_UNREACHABLE 110

/**
 * Peer: the node answered with an HTTP error status (403: this client is
 * suspended; 429: over its request rate; 503: shutting down; 400, 404: a
 * request it does not serve); emr_last_error_message() gives it.
 */
#define EMR_PEER_REFUSED 111

/**
 * Peer: the node broke the protocol: an answer over its limit or
 * malformed, a block that fails the chain's checks, or less work
 * delivered than it advertised. A node suspends such a peer (SPEC 9.2).
 */
#define EMR_PEER_MISBEHAVED 112

/**
 * Peer: the node keeps another chain (another chain id or genesis block);
 * nothing was synced.
 */
#define EMR_PEER_INCOMPATIBLE 113

/**
 * Peer: a sync stopped before the node's heavier branch was whole, for a
 * reason that is nobody's fault yet (the node's chain moved meanwhile, or
 * a block is ahead of this clock). What was added stays; sync again later.
 */
#define EMR_SYNC_INCOMPLETE 114

/**
 * C interface: a required pointer argument is NULL (or a (pointer, length)
 * pair has a NULL pointer and a non-zero length).
 */
#define EMR_NULL_ARGUMENT 200

/**
 * C interface: the caller's output buffer is too small; the size needed
 * was written to the in/out length, and nothing else was written.
 */
#define EMR_BUFFER_TOO_SMALL 201

/**
 * C interface: a bug inside the library was caught at the boundary (a Rust
 * panic). Objects passed to the failed call should only be freed.
 */
#define EMR_PANIC 202

/**
 * A doctor (prefix `emrd`): a record's dr_hash, SHA-1 of the doctor's public key.
 */
#define EMR_ROLE_DOCTOR 1

/**
 * A patient (prefix `emrp`): a record's patient_hash.
 */
#define EMR_ROLE_PATIENT 2

/**
 * A miner (prefix `emrm`): a block's miner.
 */
#define EMR_ROLE_MINER 3

/**
 * secp256k1 (OID 1.3.132.0.10).
 */
#define EMR_CURVE_SECP256K1 1

/**
 * NIST P-256 / secp256r1 / prime256v1 (OID 1.2.840.10045.3.1.7).
 */
#define EMR_CURVE_P256 2

/**
 * A grant: admits the doctor whose key it names, from not_before to
 * not_after (both inclusive).
 */
#define EMR_ENTRY_GRANT 1

/**
 * A revocation: from its effective time on, the grant it names no longer
 * authorizes.
 */
#define EMR_ENTRY_REVOCATION 2

/**
 * A dispenser grant (SPEC 10): admits the pharmacy whose key it names to
 * dispense, from not_before to not_after (both inclusive).
 */
#define EMR_ENTRY_DISPENSER_GRANT 3

/**
 * A dispense (SPEC 10): a pharmacy handed a prescription over,
 * countersigned by the patient.
 */
#define EMR_ENTRY_DISPENSE 4

/**
 * A cancellation (SPEC 10): the prescriber or an authority withdrew a
 * prescription.
 */
#define EMR_ENTRY_CANCELLATION 5

/**
 * The fastest engine this CPU can run for the block being mined, as
 * measured on this CPU (a calibration of a few milliseconds, once per
 * process and header layout; see emr_mining_engines). Always available.
 */
#define EMR_ENGINE_BEST 0

/**
 * Portable code, one nonce at a time. Always available.
 */
#define EMR_ENGINE_SCALAR 1

/**
 * AVX2, 8 nonces at once (x86_64 with AVX2).
 */
#define EMR_ENGINE_AVX2 2

/**
 * The x86 SHA extensions (x86_64 with SHA, SSSE3 and SSE4.1).
 */
#define EMR_ENGINE_SHA_NI 3

/**
 * AVX-512F, 16 nonces at once (x86_64 with AVX-512F).
 */
#define EMR_ENGINE_AVX512 4

/**
 * A nonce was found: the block is returned.
 */
#define EMR_MINE_FOUND 1

/**
 * Every nonce of the range was tried and none meets the target.
 */
#define EMR_MINE_EXHAUSTED 2

/**
 * The cancel handle was triggered before a nonce was found.
 */
#define EMR_MINE_CANCELLED 3

/**
 * The time limit passed before a nonce was found.
 */
#define EMR_MINE_TIMED_OUT 4

/**
 * Not added: in a batch, the block that failed and every block after it
 * (and every block when the batch was refused as a whole).
 */
#define EMR_ADD_NONE 0

/**
 * The block extends the active chain and is its new tip.
 */
#define EMR_ADD_EXTENDED 1

/**
 * The block is stored on a branch no heavier than the active chain (a tie
 * keeps the branch seen first); its records are checked if that branch
 * ever becomes the active one.
 */
#define EMR_ADD_SIDE_BRANCH 2

/**
 * The block's branch became strictly heavier than the active chain: it is
 * now the active chain, with this block as its tip.
 */
#define EMR_ADD_REORGANIZED 3

/**
 * The block was already stored; nothing changed.
 */
#define EMR_ADD_ALREADY_KNOWN 4

/**
 * Not stored, and not an error (SPEC 5, v1.2): the block is on a side
 * branch that, at the end of the call that offered it, was neither
 * heavier than the active chain nor a competitor near its tip (one that
 * forks at most window blocks below the tip and reaches at most window
 * blocks past its fork). Nothing of that branch was stored and nothing is
 * remembered as invalid: a long heavier branch is offered whole, in one
 * emr_chain_add_blocks call, which judges it where the call ends.
 */
#define EMR_ADD_STALE 5

/**
 * Neither dispensed nor cancelled.
 */
#define EMR_RX_OPEN 1

/**
 * Dispensed: a dispense of it is in the active chain.
 */
#define EMR_RX_DISPENSED 2

/**
 * Cancelled: a cancellation of it is in the active chain.
 */
#define EMR_RX_CANCELLED 3

/**
 * Added to the pool, and it can go in the next block: its nonce follows
 * the doctor's nonce after the tip and the doctor's ready pending records
 * (an entry: it applies now).
 */
#define EMR_SUBMIT_READY 1

/**
 * Added to the pool and held: a record whose doctor's earlier nonce is
 * missing (it becomes ready when that record arrives), or a revocation
 * whose effective time the next block would not yet reach (templates take
 * it once their timestamp reaches it).
 */
#define EMR_SUBMIT_HELD 2

/**
 * The same record is already pending: the same (dr_hash, nonce) and the
 * same content (patient and text), its signature possibly the other form
 * (r, n - s) and so its txid another; or an entry with the same id.
 * Nothing changed.
 */
#define EMR_SUBMIT_ALREADY_PENDING 3

/**
 * Not added: another record with the same (dr_hash, nonce) but other
 * content (patient or text) is pending, so the doctor signed two records
 * with one nonce. The pool keeps the first; emr_chain_submit_at names it
 * (its txid). Nothing changed.
 */
#define EMR_SUBMIT_CONFLICTS_WITH_PENDING 4

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library version, `MAJOR.MINOR.PATCH`, as a static NUL-terminated string.
 *
 * cryptoemr has one version for every surface: this is also what
 * `pkg-config --modversion emr`, the Rust crate and the Python package
 * report. Binary compatibility is the soname's business (libemr.so.1), not
 * this string's: see docs/ABI.md.
 *
 * Returns: a pointer to static storage; never NULL.
 * Args:    none.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_version(void);

/**
 * A static, human-readable description of a status.
 *
 * Returns: a NUL-terminated string in static storage (never NULL, never
 *          freed); "unknown status" for a number that is not a status.
 * In:      status: any value.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_status_str(emr_status status);

/**
 * The status's kind as the specification spells it: "ok", "hash_length",
 * "invalid_txid", "record", "null_argument", ...
 *
 * Returns: a NUL-terminated string in static storage (never NULL, never
 *          freed); "unknown" for a number that is not a status.
 * In:      status: any value.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_status_name(emr_status status);

/**
 * The detail of the most recent failure on the calling thread: which
 * argument was NULL, which check failed and why, the size a buffer needs.
 *
 * Returns: a NUL-terminated string, "" if no call on this thread has failed
 *          yet; never NULL. It is owned by the library and stays valid
 *          until the next call into the library on the same thread.
 * Thread-safety: safe to call from any thread; each thread has its own
 *          message.
 */
const char *emr_last_error_message(void);

/**
 * Writes the address of a hash: lower case, EMR_ADDRESS_LEN bytes, not
 * NUL-terminated.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT for an unknown role;
 *          EMR_BUFFER_TOO_SMALL if *len is less than EMR_ADDRESS_LEN (written
 *          to *len); EMR_NULL_ARGUMENT if hash20 or len is NULL, or buf is
 *          NULL while *len > 0.
 * In:      role:   EMR_ROLE_DOCTOR, EMR_ROLE_PATIENT or EMR_ROLE_MINER.
 *          hash20: the 20-byte hash.
 * Out:     buf:    receives the address (NULL allowed when *len is 0).
 * In/Out:  len:    in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_address_encode(emr_role role, const uint8_t *hash20, uint8_t *buf, size_t *len);

/**
 * Decodes an address of the expected role into its 20-byte hash. Upper
 * case (all of it) is accepted. Nothing is ever corrected: a located typo
 * is reported for the person to fix.
 *
 * Returns: EMR_OK; else the first failure, in this order:
 *          EMR_INVALID_LENGTH (empty or over 90 bytes);
 *          EMR_INVALID_CHARACTER (a byte that cannot stand at its place,
 *          its index in *positions); EMR_MIXED_CASE; EMR_WRONG_ROLE (no role
 *          prefix); EMR_INVALID_LENGTH (not a 20-byte hash: a character left
 *          out or typed twice); EMR_INVALID_CHECKSUM (a typo: the indexes of
 *          one or two wrong characters in *positions when they can be
 *          located); EMR_WRONG_ROLE (a valid address of another role).
 *          EMR_INVALID_ARGUMENT for an unknown role; EMR_NULL_ARGUMENT if
 *          out20 is NULL, or text is NULL while len > 0.
 *          emr_last_error_message() names the roles and positions.
 * In:      text:        the address as typed, not NUL-terminated (NULL
 *                       allowed when len is 0).
 *          len:         its length in bytes.
 *          role:        the role the caller expects.
 * Out:     out20:       receives the hash; written only on EMR_OK.
 *          positions:   an array of EMR_ADDRESS_MAX_POSITIONS indexes into
 *                       text (0-based, ascending) of the characters to fix;
 *                       may be NULL if not wanted.
 *          n_positions: how many of positions were written: 0 on success
 *                       and when nothing can be located; may be NULL.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_address_decode(const char *text,
                              size_t len,
                              emr_role role,
                              uint8_t *out20,
                              size_t *positions,
                              size_t *n_positions);

/**
 * Generates a fresh private key from the operating system's random source.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT for an unknown curve;
 *          EMR_INVALID_KEY if the system random generator failed;
 *          EMR_NULL_ARGUMENT if out is NULL.
 * In:      curve: EMR_CURVE_SECP256K1 or EMR_CURVE_P256.
 * Out:     out:   a new key, freed by the caller with emr_key_free; NULL on
 *                 failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_key_generate(emr_curve curve, struct emr_key **out);

/**
 * Imports a private key from DER: PKCS#8 `PrivateKeyInfo` (what
 * pyca/cryptography and OpenSSL write by default) or SEC1 `ECPrivateKey`.
 *
 * Returns: EMR_OK; EMR_INVALID_KEY if the bytes are not such a key on
 *          secp256k1 or P-256 (malformed, encrypted, other curve, scalar out
 *          of range, stored public key not matching); EMR_NULL_ARGUMENT if
 *          out is NULL, or der is NULL while len > 0.
 * In:      der: the DER bytes (NULL allowed when len is 0).
 *          len: their length.
 * Out:     out: a new key, freed by the caller with emr_key_free; NULL on
 *               failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_key_from_der(const uint8_t *der, size_t len, struct emr_key **out);

/**
 * Imports a private key from PEM text: `-----BEGIN PRIVATE KEY-----`
 * (PKCS#8) or `-----BEGIN EC PRIVATE KEY-----` (SEC1). The text need not be
 * NUL-terminated; a terminating NUL counted in len is refused.
 *
 * Returns: EMR_OK; EMR_INVALID_KEY if the text is not such a key (including
 *          encrypted PEM: emr_key_decrypt reads it); EMR_NULL_ARGUMENT if out is NULL, or pem is NULL
 *          while len > 0.
 * In:      pem: the PEM text (NULL allowed when len is 0).
 *          len: its length in bytes.
 * Out:     out: a new key, freed by the caller with emr_key_free; NULL on
 *               failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_key_from_pem(const uint8_t *pem,
                            size_t len,
                            struct emr_key **out);

/**
 * Imports an encrypted private key: PEM `-----BEGIN ENCRYPTED PRIVATE
 * KEY-----` or its DER (PKCS#8 EncryptedPrivateKeyInfo with PBES2: PBKDF2
 * or scrypt, AES-CBC), as `openssl pkey -aes256`, pyca/cryptography and
 * emr_key_to_pem_encrypted write it, decrypted with password. A key file
 * asking for more than 10,000,000 PBKDF2 iterations or 256 MiB of scrypt
 * memory is refused before any work.
 *
 * Returns: EMR_OK; EMR_WRONG_PASSWORD if the password does not decrypt the
 *          key (or the encrypted key is damaged); EMR_INVALID_KEY if data
 *          is not an encrypted key (an unencrypted key included: use
 *          emr_key_from_pem) or uses an encryption not read;
 *          EMR_NULL_ARGUMENT if out is NULL, or data or password is NULL
 *          while its length is > 0.
 * In:      data:         the PEM text or DER bytes (NULL allowed when
 *                        len is 0).
 *          len:          its length in bytes.
 *          password:     the password's bytes, not NUL-terminated (NULL
 *                        allowed when password_len is 0).
 *          password_len: its length in bytes.
 * Out:     out:          a new key, freed by the caller with emr_key_free;
 *                        NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_key_decrypt(const uint8_t *data,
                           size_t len,
                           const uint8_t *password,
                           size_t password_len,
                           struct emr_key **out);

/**
 * Exports the private key as encrypted PKCS#8 PEM text (`-----BEGIN
 * ENCRYPTED PRIVATE KEY-----`): PBES2 with PBKDF2-HMAC-SHA256 (600,000
 * iterations, a random salt) and AES-256-CBC (a random IV), which OpenSSL,
 * pyca/cryptography and emr_key_decrypt read. The text is NOT
 * NUL-terminated: *len is its length. Every call encrypts anew (another
 * salt and IV, the same length for a key), a size query included: pass a
 * buffer of 1024 bytes to encrypt once. The library's own copies are
 * wiped.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len; nothing else written);
 *          EMR_INVALID_ARGUMENT if password_len is 0; EMR_NULL_ARGUMENT if
 *          key or len is NULL, buf is NULL while *len > 0, or password is
 *          NULL while password_len > 0.
 * Args:    key:          the key.
 * In:      password:     the password's bytes, not NUL-terminated.
 *          password_len: its length in bytes, at least 1.
 * Out:     buf:          receives the PEM text (NULL allowed when *len is 0).
 * In/Out:  len:          in: the capacity of buf; out: the size written or
 *                        needed.
 * Thread-safety: safe to call concurrently on the same key.
 */
emr_status emr_key_to_pem_encrypted(const struct emr_key *key,
                                    const uint8_t *password,
                                    size_t password_len,
                                    uint8_t *buf,
                                    size_t *len);

/**
 * Exports the private key as PKCS#8 DER, byte for byte what
 * pyca/cryptography writes for the same key. The library's own copies are
 * wiped; the caller's buffer holds the secret afterwards.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len; nothing else written);
 *          EMR_NULL_ARGUMENT if key or len is NULL, or buf is NULL while
 *          *len > 0.
 * Args:    key: the key.
 * Out:     buf: receives the DER bytes (NULL allowed when *len is 0, to ask
 *               for the size).
 * In/Out:  len: in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same key.
 */
emr_status emr_key_to_der(const struct emr_key *key, uint8_t *buf, size_t *len);

/**
 * Exports the private key as PKCS#8 PEM text (`-----BEGIN PRIVATE
 * KEY-----`, 64-character lines, final newline), as pyca/cryptography
 * writes it. The text is NOT NUL-terminated: *len is its length. The
 * library's own copies are wiped.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len; nothing else written);
 *          EMR_NULL_ARGUMENT if key or len is NULL, or buf is NULL while
 *          *len > 0.
 * Args:    key: the key.
 * Out:     buf: receives the PEM text (NULL allowed when *len is 0).
 * In/Out:  len: in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same key.
 */
emr_status emr_key_to_pem(const struct emr_key *key, uint8_t *buf, size_t *len);

/**
 * The public key as uncompressed DER SubjectPublicKeyInfo (88 bytes for
 * secp256k1, 91 for P-256): a record's dr_public_key.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if key or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    key: the key.
 * Out:     buf: receives the DER bytes (NULL allowed when *len is 0).
 * In/Out:  len: in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same key.
 */
emr_status emr_key_public_key_der(const struct emr_key *key, uint8_t *buf, size_t *len);

/**
 * SHA-1 of the public key's DER: a record's dr_hash.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if key or out20 is NULL.
 * Args:    key:   the key.
 * Out:     out20: receives 20 bytes.
 * Thread-safety: safe to call concurrently on the same key.
 */
emr_status emr_key_public_key_hash(const struct emr_key *key, uint8_t *out20);

/**
 * The key's curve.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if key or curve is NULL.
 * Args:    key:   the key.
 * Out:     curve: EMR_CURVE_SECP256K1 or EMR_CURVE_P256.
 * Thread-safety: safe to call concurrently on the same key.
 */
emr_status emr_key_curve(const struct emr_key *key, emr_curve *curve);

/**
 * Frees a key and wipes its secret. NULL is a no-op.
 *
 * Args:    key: a key from this library, or NULL. Not usable afterwards.
 * Thread-safety: no other thread may use the key during or after the call.
 */
void emr_key_free(struct emr_key *key);

/**
 * Signs a new record (create_signed_record): fills every field from the key
 * and these inputs.
 *
 * Returns: EMR_OK; EMR_HASH_LENGTH if patient_hash_len is not 20;
 *          EMR_INVALID_PRESCRIPTION if the prescription is not UTF-8, is
 *          plain text over EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200) or is a
 *          sealed text ("sealed1:...") that is malformed, over
 *          EMR_MAX_PRESCRIPTION_BYTES (1024) or not sealed to the patient;
 *          EMR_INVALID_NONCE if nonce is 0 (a doctor's first
 *          record has nonce 1); EMR_INVALID_KEY if the key could not sign;
 *          EMR_NULL_ARGUMENT if key or out is NULL, or a data pointer is
 *          NULL with a non-zero length.
 * Args:    key:              the doctor's private key.
 * In:      patient_hash:     the patient's 20-byte public key hash.
 *          patient_hash_len: its length (must be 20).
 *          prescription:     UTF-8 text, not NUL-terminated.
 *          prescription_len: its length in bytes (at most
 *                            EMR_MAX_PLAIN_PRESCRIPTION_BYTES, 200, for
 *                            plain text; to seal, use
 *                            emr_record_sign_sealed).
 *          nonce:            the doctor's previous nonce + 1.
 * Out:     out:              a new record, freed by the caller with
 *                            emr_record_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same key.
 */
emr_status emr_record_sign(const struct emr_key *key,
                           const uint8_t *patient_hash,
                           size_t patient_hash_len,
                           const char *prescription,
                           size_t prescription_len,
                           uint64_t nonce,
                           struct emr_record **out);

/**
 * Seals a prescription to its readers (SPEC 8.2) and signs the record whose
 * text is the sealed one ("sealed1:..."): only the recipients can read it
 * (emr_record_open), and it verifies everywhere as any record. A fresh
 * content key and a fresh ephemeral key per recipient are drawn for every
 * call; they are wiped when the call returns.
 *
 * The patient's public key must be among the recipients: its SHA-1 is the
 * record's patient_hash. With include_self the signing doctor's own key is
 * added (last) unless already listed, so the doctor can read what they
 * wrote. A key listed twice is sealed to once. What stays public: the
 * doctor, the patient hash, the nonce, the recipients' key hashes, and the
 * text's exact length.
 *
 * Returns: EMR_OK; EMR_HASH_LENGTH if patient_hash_len is not 20;
 *          EMR_INVALID_PUBLIC_KEY if a recipient is not an uncompressed
 *          SPKI on secp256k1 or P-256; EMR_INVALID_PRESCRIPTION if the text
 *          is not UTF-8 or is over EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200),
 *          if there are no or more than
 *          EMR_MAX_RECIPIENTS recipients (the doctor included), or if the
 *          patient is not among them; EMR_INVALID_NONCE if nonce is 0;
 *          EMR_INVALID_KEY if the key could not sign or the random source
 *          failed; EMR_NULL_ARGUMENT if key or out is NULL, recipients or
 *          recipient_lens is NULL while recipient_count > 0, an element of
 *          recipients is NULL with a non-zero length, or a data pointer is
 *          NULL with a non-zero length.
 * Args:    key:              the doctor's private key.
 * In:      patient_hash:     the patient's 20-byte public key hash.
 *          patient_hash_len: its length (must be 20).
 *          prescription:     the plain text, UTF-8, not NUL-terminated.
 *          prescription_len: its length in bytes (at most
 *                            EMR_MAX_PLAIN_PRESCRIPTION_BYTES, 200). The
 *                            sealed text the record carries is longer, at
 *                            most EMR_MAX_PRESCRIPTION_BYTES (1024).
 *          nonce:            the doctor's previous nonce + 1.
 *          recipients:       recipient_count public keys, each SPKI DER
 *                            (as emr_key_public_key_der writes them).
 *          recipient_lens:   the length of each key.
 *          recipient_count:  how many (0 is valid with include_self only
 *                            if the doctor is the patient).
 *          include_self:     add the doctor's own key (normally true).
 * Out:     out:              a new record, freed by the caller with
 *                            emr_record_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same key.
 */
emr_status emr_record_sign_sealed(const struct emr_key *key,
                                  const uint8_t *patient_hash,
                                  size_t patient_hash_len,
                                  const char *prescription,
                                  size_t prescription_len,
                                  uint64_t nonce,
                                  const uint8_t *const *recipients,
                                  const size_t *recipient_lens,
                                  size_t recipient_count,
                                  bool include_self,
                                  struct emr_record **out);

/**
 * Opens a sealed record's prescription with a recipient's private key
 * (SPEC 8.2), writing the plain text, UTF-8, NOT NUL-terminated. Opening
 * does not verify the record's signature (emr_record_verify does): the
 * text is bound to the record's dr_hash, patient_hash and nonce, so an
 * envelope moved to another record does not open.
 *
 * Each call decrypts anew; ask for the size first with *len == 0 or pass
 * a buffer of EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200, the longest plain
 * text: the envelope allows no more). The library's own copy of the text
 * is not kept.
 *
 * Returns: EMR_OK; EMR_NOT_RECIPIENT if the key is not one of the record's
 *          recipients; EMR_DECRYPT_FAILED if it is but the text does not
 *          decrypt under it (tampered, moved to another record) or is not
 *          UTF-8; EMR_INVALID_PRESCRIPTION if the sealed text is malformed;
 *          EMR_INVALID_ARGUMENT if the prescription is not sealed (it is
 *          plain text: read it with emr_record_prescription);
 *          EMR_BUFFER_TOO_SMALL if *len is less than the size needed
 *          (written to *len); EMR_NULL_ARGUMENT if record, key or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    record: the sealed record.
 *          key:    a recipient's private key (the patient's, the doctor's,
 *                  a pharmacy's...).
 * Out:     buf:    receives the text (NULL allowed when *len is 0).
 * In/Out:  len:    in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same record and key.
 */
emr_status emr_record_open(const struct emr_record *record,
                           const struct emr_key *key,
                           uint8_t *buf,
                           size_t *len);

/**
 * Whether the record's prescription is sealed (starts with "sealed1:").
 * Says nothing of whether it is well-formed: emr_record_verify does.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or sealed is NULL.
 * Args:    record: the record.
 * Out:     sealed: true for a sealed prescription, false for plain text.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_is_sealed(const struct emr_record *record, bool *sealed);

/**
 * Builds a record from loose fields. Checks only what a record cannot hold
 * (no signature or nonce check: call emr_record_verify).
 *
 * Returns: EMR_OK; EMR_HASH_LENGTH if dr_hash or patient_hash is not 20
 *          bytes; EMR_INVALID_PRESCRIPTION if the prescription is not
 *          UTF-8; EMR_INVALID_TXID if txid is not 32 bytes;
 *          EMR_NULL_ARGUMENT if fields or out is NULL, or a field pointer
 *          is NULL with a non-zero length.
 * In:      fields: the fields; the bytes are copied.
 * Out:     out:    a new record, freed by the caller with emr_record_free;
 *                  NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_record_new(const struct emr_record_fields *fields, struct emr_record **out);

/**
 * Views a record's fields: the pointers point into the record, valid while
 * the record lives (and only for reading). Copy the struct and change a
 * pointer to check altered fields with emr_record_fields_verify.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out is NULL.
 * Args:    record: the record.
 * Out:     out:    the fields, borrowing from the record.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_get_fields(const struct emr_record *record, struct emr_record_fields *out);

/**
 * Verifies a record against its doctor's previous nonce. The checks run in
 * the specification's order and the first failure is returned.
 *
 * Returns: EMR_OK if the record is valid; otherwise the first failing
 *          check's status, in this order: EMR_HASH_LENGTH,
 *          EMR_PUBLIC_KEY_MISMATCH, EMR_INVALID_PRESCRIPTION,
 *          EMR_INVALID_NONCE (nonce != previous_nonce + 1; nothing follows
 *          UINT64_MAX), EMR_INVALID_TXID, EMR_INVALID_PUBLIC_KEY,
 *          EMR_INVALID_SIGNATURE; EMR_NULL_ARGUMENT if record is NULL.
 * Args:    record:         the record.
 * In:      previous_nonce: the doctor's nonce before this record (0 before
 *                          the first).
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_verify(const struct emr_record *record, uint64_t previous_nonce);

/**
 * Verifies loose fields exactly as given, with the checks of
 * emr_record_verify in the same order (a field of the wrong length is
 * reported by the check it fails, never earlier).
 *
 * Returns: as emr_record_verify; prescription bytes that are not UTF-8 are
 *          EMR_INVALID_PRESCRIPTION ("not text"); EMR_NULL_ARGUMENT if
 *          fields is NULL or a field pointer is NULL with a non-zero length.
 * In:      fields:         the fields.
 *          previous_nonce: the doctor's nonce before this record.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_record_fields_verify(const struct emr_record_fields *fields,
                                    uint64_t previous_nonce);

/**
 * Verifies records[i] against previous_nonces[i] for every i, spread over
 * threads, and reports the failure with the lowest index, as a sequential
 * loop would.
 *
 * Returns: EMR_OK if every record verifies; otherwise the failing record's
 *          own status (EMR_INVALID_NONCE, EMR_INVALID_SIGNATURE, ...) with
 *          its index in *failed_index; EMR_INVALID_ARGUMENT if threads is
 *          above EMR_MAX_VERIFY_THREADS; EMR_NULL_ARGUMENT if records or
 *          previous_nonces is NULL while count > 0, or an element of
 *          records is NULL.
 * In:      records:         count record pointers.
 *          previous_nonces: count nonces, one per record.
 *          count:           the number of records (0 is valid).
 *          threads:         at most this many threads; 0 = one per
 *                           available core, 1 = only the calling thread.
 *                           Never more threads than records or cores are
 *                           used, and no call starts threads of its own:
 *                           the library keeps one pool per process (rebuilt
 *                           in a child after fork()).
 * Out:     failed_index:    the lowest failing index, written only when a
 *                           record fails; may be NULL if not wanted.
 * Thread-safety: safe to call from any thread; the records may be used
 *          concurrently by other readers.
 */
emr_status emr_verify_records(const struct emr_record *const *records,
                              const uint64_t *previous_nonces,
                              size_t count,
                              size_t threads,
                              size_t *failed_index);

/**
 * Decodes a record from its canonical encoding (docs/FORMAT.md). Decoding
 * does not verify.
 *
 * Returns: EMR_OK; EMR_DECODE if the bytes are not exactly one canonical
 *          record (wrong tag or version, truncated, trailing bytes, a
 *          length past the end, a prescription that is not UTF-8);
 *          EMR_NULL_ARGUMENT if out is NULL, or bytes is NULL while len > 0.
 * In:      bytes: the encoding (NULL allowed when len is 0).
 *          len:   its length.
 * Out:     out:   a new record, freed by the caller with emr_record_free;
 *                 NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_record_parse(const uint8_t *bytes, size_t len, struct emr_record **out);

/**
 * Encodes a record canonically (docs/FORMAT.md); emr_record_parse gives it
 * back.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    record: the record.
 * Out:     buf:    receives the encoding (NULL allowed when *len is 0).
 * In/Out:  len:    in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_serialize(const struct emr_record *record, uint8_t *buf, size_t *len);

/**
 * The record's dr_hash field (the doctor's public key hash).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out20 is NULL.
 * Args:    record: the record.
 * Out:     out20:  receives 20 bytes.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_dr_hash(const struct emr_record *record, uint8_t *out20);

/**
 * The record's patient_hash field.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out20 is NULL.
 * Args:    record: the record.
 * Out:     out20:  receives 20 bytes.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_patient_hash(const struct emr_record *record, uint8_t *out20);

/**
 * The record's dr_public_key field (DER SubjectPublicKeyInfo).
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    record: the record.
 * Out:     buf:    receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:    in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_dr_public_key(const struct emr_record *record, uint8_t *buf, size_t *len);

/**
 * The record's prescription as UTF-8 bytes, NOT NUL-terminated: for a
 * sealed record, the sealed text itself ("sealed1:...", read the plain text
 * with emr_record_open).
 *
 * Its size: at most EMR_MAX_PRESCRIPTION_BYTES (1024, a sealed text; a
 * plain one is at most EMR_MAX_PLAIN_PRESCRIPTION_BYTES, 200) for every
 * record that verifies, so a buffer of EMR_MAX_PRESCRIPTION_BYTES always
 * suffices for records of a chain, a pool or a template; a record decoded
 * from bytes and not verified may carry more (EMR_BUFFER_TOO_SMALL gives
 * the size).
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    record: the record.
 * Out:     buf:    receives the text (NULL allowed when *len is 0).
 * In/Out:  len:    in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_prescription(const struct emr_record *record, uint8_t *buf, size_t *len);

/**
 * The record's signature field (DER ECDSA-Sig-Value).
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    record: the record.
 * Out:     buf:    receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:    in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_signature(const struct emr_record *record, uint8_t *buf, size_t *len);

/**
 * The record's txid field, as stored (emr_record_calculate_txid gives the
 * value the other fields call for).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out32 is NULL.
 * Args:    record: the record.
 * Out:     out32:  receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_txid(const struct emr_record *record, uint8_t *out32);

/**
 * The txid the record's other fields call for: SHA-256(dr_hash ||
 * patient_hash || dr_public_key || prescription || LE64(nonce) ||
 * signature).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out32 is NULL.
 * Args:    record: the record.
 * Out:     out32:  receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_calculate_txid(const struct emr_record *record, uint8_t *out32);

/**
 * The digest the doctor signs: SHA-256(patient_hash || prescription ||
 * LE64(nonce)).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out32 is NULL.
 * Args:    record: the record.
 * Out:     out32:  receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_signature_hash(const struct emr_record *record, uint8_t *out32);

/**
 * The record's nonce field.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or nonce is NULL.
 * Args:    record: the record.
 * Out:     nonce:  the nonce.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_nonce(const struct emr_record *record, uint64_t *nonce);

/**
 * Copies a record.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out is NULL.
 * Args:    record: the record.
 * Out:     out:    a new, independent record, freed by the caller with
 *                  emr_record_free; NULL on failure.
 * Thread-safety: safe to call concurrently on the same record.
 */
emr_status emr_record_clone(const struct emr_record *record, struct emr_record **out);

/**
 * Frees a record. NULL is a no-op.
 *
 * Args:    record: a record from this library, or NULL. Not usable
 *                  afterwards (nor are views from emr_record_get_fields).
 * Thread-safety: no other thread may use the record during or after the
 *          call.
 */
void emr_record_free(struct emr_record *record);

/**
 * The txid loose fields call for: SHA-256(dr_hash || patient_hash ||
 * dr_public_key || prescription || LE64(nonce) || signature), over the
 * bytes as given (no length checks); fields->txid is ignored.
 *
 * Returns: EMR_OK; EMR_INVALID_PRESCRIPTION if the prescription is not
 *          UTF-8; EMR_NULL_ARGUMENT if fields or out32 is NULL, or a field
 *          pointer is NULL with a non-zero length.
 * In:      fields: the fields.
 * Out:     out32:  receives 32 bytes.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_calculate_txid(const struct emr_record_fields *fields, uint8_t *out32);

/**
 * The digest a doctor signs: SHA-256(patient_hash || prescription ||
 * LE64(nonce)), over the bytes as given (no length checks).
 *
 * Returns: EMR_OK; EMR_INVALID_PRESCRIPTION if the prescription is not
 *          UTF-8; EMR_NULL_ARGUMENT if out32 is NULL, or a data pointer is
 *          NULL with a non-zero length.
 * In:      patient_hash:     the patient hash (normally 20 bytes).
 *          patient_hash_len: its length.
 *          prescription:     UTF-8 text, not NUL-terminated.
 *          prescription_len: its length in bytes.
 *          nonce:            the record nonce.
 * Out:     out32:            receives 32 bytes.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_calculate_signature_hash(const uint8_t *patient_hash,
                                        size_t patient_hash_len,
                                        const char *prescription,
                                        size_t prescription_len,
                                        uint64_t nonce,
                                        uint8_t *out32);

/**
 * SHA-1 (the protocol's H160): a dr_hash is emr_sha1 of a dr_public_key.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if out20 is NULL, or data is NULL
 *          while len > 0.
 * In:      data:  the bytes (NULL allowed when len is 0).
 *          len:   their length.
 * Out:     out20: receives 20 bytes.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_sha1(const uint8_t *data, size_t len, uint8_t *out20);

/**
 * Signs a grant (SPEC 8.1): the authority admits the doctor whose public key
 * is dr_public_key to write records, in the chain whose id is chain_id32,
 * from not_before to not_after, both inclusive (0 and UINT64_MAX for
 * "always"). The signature is low-S. Another chain refuses the grant
 * (EMR_WRONG_CHAIN), so a grant made for a test chain is no grant on the
 * real one.
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if dr_public_key is not an
 *          uncompressed SPKI on secp256k1 or P-256, the licence is not
 *          UTF-8 or is over 100 bytes, or not_before > not_after (a grant
 *          that could never verify); EMR_INVALID_KEY if the key could not
 *          sign; EMR_NULL_ARGUMENT if authority, chain_id32 or out is NULL,
 *          or a data pointer is NULL with a non-zero length.
 * Args:    authority:         the authority's private key.
 * In:      chain_id32:        the id of the chain the grant is for
 *                             (emr_chain_id of that chain), 32 bytes.
 *          dr_public_key:     the doctor's public key, SPKI DER.
 *          dr_public_key_len: its length.
 *          licence:           UTF-8 text (registration number, name), not
 *                             NUL-terminated.
 *          licence_len:       its length in bytes (at most 100).
 *          not_before:        first second the grant authorizes.
 *          not_after:         last second the grant authorizes.
 * Out:     out:               a new entry, freed by the caller with
 *                             emr_entry_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same key.
 */
emr_status emr_grant_sign(const struct emr_key *authority,
                          const uint8_t *chain_id32,
                          const uint8_t *dr_public_key,
                          size_t dr_public_key_len,
                          const char *licence,
                          size_t licence_len,
                          uint64_t not_before,
                          uint64_t not_after,
                          struct emr_entry **out);

/**
 * Signs a revocation (SPEC 8.1): from effective on, the grant whose id is
 * grant_id32 no longer authorizes, in the chain whose id is chain_id32.
 * Any authority of the chain may revoke any grant of the chain. The
 * signature is low-S.
 *
 * A chain carries a revocation only in a block whose timestamp has
 * reached effective (EMR_REVOCATION_NOT_YET_EFFECTIVE before); the pool
 * holds an early one (EMR_SUBMIT_HELD) until a template's time reaches
 * it. It may be backdated: records already in the chain stay.
 *
 * Returns: EMR_OK; EMR_INVALID_KEY if the key could not sign;
 *          EMR_NULL_ARGUMENT if authority, chain_id32, grant_id32 or out
 *          is NULL.
 * Args:    authority:  the authority's private key.
 * In:      chain_id32: the id of the chain the revocation is for
 *                      (emr_chain_id), 32 bytes.
 *          grant_id32: the grant's id (emr_entry_id of the grant), 32 bytes.
 *          effective:  Unix seconds from which the grant no longer
 *                      authorizes.
 * Out:     out:        a new entry, freed by the caller with
 *                      emr_entry_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same key.
 */
emr_status emr_revocation_sign(const struct emr_key *authority,
                               const uint8_t *chain_id32,
                               const uint8_t *grant_id32,
                               uint64_t effective,
                               struct emr_entry **out);

/**
 * Builds a grant from loose fields. Checks only what an entry cannot hold
 * (no key, window or signature check: call emr_entry_verify).
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if the licence is not UTF-8 or
 *          chain_id_len is not 32; EMR_NULL_ARGUMENT if out is NULL, or a
 *          data pointer is NULL with a non-zero length.
 * In:      chain_id, chain_id_len: the id of the chain the grant is for,
 *               32 bytes.
 *          dr_public_key, dr_public_key_len: the doctor's SPKI DER.
 *          licence, licence_len: the licence text, not NUL-terminated.
 *          not_before, not_after: the window, Unix seconds.
 *          authority, authority_len: the authority's SPKI DER.
 *          signature, signature_len: the authority's DER ECDSA signature.
 * Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
 *               on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_grant_new(const uint8_t *chain_id,
                         size_t chain_id_len,
                         const uint8_t *dr_public_key,
                         size_t dr_public_key_len,
                         const char *licence,
                         size_t licence_len,
                         uint64_t not_before,
                         uint64_t not_after,
                         const uint8_t *authority,
                         size_t authority_len,
                         const uint8_t *signature,
                         size_t signature_len,
                         struct emr_entry **out);

/**
 * Builds a revocation from loose fields. Checks only what an entry cannot
 * hold (no key or signature check: call emr_entry_verify).
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if chain_id_len or grant_id_len is
 *          not 32; EMR_NULL_ARGUMENT if out is NULL, or a data pointer is
 *          NULL with a non-zero length.
 * In:      chain_id, chain_id_len: the id of the chain the revocation is
 *               for, 32 bytes.
 *          grant_id, grant_id_len: the revoked grant's id, 32 bytes.
 *          effective: Unix seconds.
 *          authority, authority_len: the authority's SPKI DER.
 *          signature, signature_len: the authority's DER ECDSA signature.
 * Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
 *               on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_revocation_new(const uint8_t *chain_id,
                              size_t chain_id_len,
                              const uint8_t *grant_id,
                              size_t grant_id_len,
                              uint64_t effective,
                              const uint8_t *authority,
                              size_t authority_len,
                              const uint8_t *signature,
                              size_t signature_len,
                              struct emr_entry **out);

/**
 * Verifies an entry on its own: the stateless checks 1-2 of SPEC 8.1 (and
 * of SPEC 10), in order. Whether it names the chain (EMR_WRONG_CHAIN), whether its
 * authority belongs to the chain and whether the chain's registry and the
 * block's time accept it are decided when a block carrying it is added.
 *
 * Returns: EMR_OK if the entry is valid on its own; EMR_INVALID_ENTRY (a
 *          key not an uncompressed SPKI on a supported curve, a licence,
 *          note or reason over 100 bytes, not_before > not_after, a
 *          dr_hash that is not 20 bytes); then EMR_INVALID_ENTRY_SIGNATURE
 *          (not strict DER, high-S, or it does not verify under the
 *          entry's signer over its content, chain id included; a
 *          dispense's pharmacy signature, then its patient's);
 *          EMR_NULL_ARGUMENT if entry is NULL.
 * Args:    entry: the entry.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_verify(const struct emr_entry *entry);

/**
 * The entry's id: a grant's grant_id or a revocation's revocation_id,
 * SHA-256(preimage || signature). A block's id covers it, and a
 * revocation names a grant by it.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or out32 is NULL.
 * Args:    entry: the entry.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_id(const struct emr_entry *entry, uint8_t *out32);

/**
 * The id of the chain the entry is made for (SPEC 5, v1.2): a chain
 * carries the entry only when this is its own emr_chain_id, and refuses it
 * with EMR_WRONG_CHAIN otherwise.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or out32 is NULL.
 * Args:    entry: the entry.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_chain_id(const struct emr_entry *entry, uint8_t *out32);

/**
 * Which of the five types the entry is.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or type_out is NULL.
 * Args:    entry:    the entry.
 * Out:     type_out: EMR_ENTRY_GRANT, EMR_ENTRY_REVOCATION,
 *                    EMR_ENTRY_DISPENSER_GRANT, EMR_ENTRY_DISPENSE or
 *                    EMR_ENTRY_CANCELLATION.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_get_type(const struct emr_entry *entry, emr_entry_type *type_out);

/**
 * The entry's authority: the SPKI DER of the key that signed a grant, a
 * revocation or a dispenser grant.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT for a dispense or a cancellation,
 *          which no authority signs (emr_dispense_pharmacy_public_key,
 *          emr_cancellation_canceller); EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    entry: the entry.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_authority(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * The entry's signature (DER ECDSA-Sig-Value): by its authority, by the
 * pharmacy of a dispense (the patient's is emr_dispense_patient_signature),
 * by the canceller of a cancellation.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    entry: the entry.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_signature(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * A grant's dr_public_key: the admitted doctor's SPKI DER.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a revocation;
 *          EMR_BUFFER_TOO_SMALL if *len is less than the size needed
 *          (written to *len); EMR_NULL_ARGUMENT if entry or len is NULL, or
 *          buf is NULL while *len > 0.
 * Args:    entry: a grant.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_grant_dr_public_key(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * A grant's licence text as UTF-8 bytes, NOT NUL-terminated.
 *
 * Returns: as emr_grant_dr_public_key.
 * Args:    entry: a grant.
 * Out:     buf:   receives the text (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_grant_licence(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * A grant's doctor hash, SHA-1 of its dr_public_key: the dr_hash of the
 * records it authorizes.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a revocation;
 *          EMR_NULL_ARGUMENT if entry or out20 is NULL.
 * Args:    entry: a grant.
 * Out:     out20: receives 20 bytes.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_grant_dr_hash(const struct emr_entry *entry, uint8_t *out20);

/**
 * A grant's validity window, both ends inclusive.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a revocation;
 *          EMR_NULL_ARGUMENT if entry is NULL.
 * Args:    entry:      a grant.
 * Out:     not_before: the first second it authorizes; may be NULL if not
 *                      wanted.
 *          not_after:  the last second it authorizes; may be NULL if not
 *                      wanted.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_grant_window(const struct emr_entry *entry,
                            uint64_t *not_before,
                            uint64_t *not_after);

/**
 * A revocation's grant id: the id of the grant it withdraws.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a grant;
 *          EMR_NULL_ARGUMENT if entry or out32 is NULL.
 * Args:    entry: a revocation.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_revocation_grant_id(const struct emr_entry *entry, uint8_t *out32);

/**
 * A revocation's effective time: from this second on, the grant no longer
 * authorizes.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a grant;
 *          EMR_NULL_ARGUMENT if entry or effective is NULL.
 * Args:    entry:     a revocation.
 * Out:     effective: Unix seconds.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_revocation_effective(const struct emr_entry *entry, uint64_t *effective);

/**
 * Signs a dispenser grant (SPEC 10): the authority admits the pharmacy
 * whose public key is pharmacy_public_key to dispense, in the chain whose
 * id is chain_id32, from not_before to not_after, both inclusive (0 and
 * UINT64_MAX for "always"). A revocation (emr_revocation_sign) naming its
 * id withdraws it. It never authorizes records, and a doctor's grant never
 * authorizes dispensing. The signature is low-S.
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if pharmacy_public_key is not an
 *          uncompressed SPKI on secp256k1 or P-256, the licence is not
 *          UTF-8 or is over 100 bytes, or not_before > not_after;
 *          EMR_INVALID_KEY if the key could not sign; EMR_NULL_ARGUMENT if
 *          authority, chain_id32 or out is NULL, or a data pointer is NULL
 *          with a non-zero length.
 * Args:    authority:               the authority's private key.
 * In:      chain_id32:              the id of the chain the grant is for
 *                                   (emr_chain_id), 32 bytes.
 *          pharmacy_public_key:     the pharmacy's public key, SPKI DER.
 *          pharmacy_public_key_len: its length.
 *          licence:                 UTF-8 text, not NUL-terminated.
 *          licence_len:             its length in bytes (at most 100).
 *          not_before:              first second the grant authorizes.
 *          not_after:               last second the grant authorizes.
 * Out:     out:                     a new entry, freed by the caller with
 *                                   emr_entry_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same key.
 */
emr_status emr_dispenser_grant_sign(const struct emr_key *authority,
                                    const uint8_t *chain_id32,
                                    const uint8_t *pharmacy_public_key,
                                    size_t pharmacy_public_key_len,
                                    const char *licence,
                                    size_t licence_len,
                                    uint64_t not_before,
                                    uint64_t not_after,
                                    struct emr_entry **out);

/**
 * Signs, with both keys at hand, the dispensing (SPEC 10) of the
 * prescription record by the pharmacy's key to the patient's key, for the
 * chain chain_id32. The note (quantity, batch) is public. The chain
 * carries at most one dispensing per prescription. When the patient signs
 * on their own card or phone, use emr_dispense_prepare instead. Both
 * signatures are low-S.
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if the note is not UTF-8 or is over
 *          100 bytes; EMR_WRONG_PATIENT if the patient's key is not the
 *          record's patient's; EMR_PUBLIC_TEXT_ON_SEALED for a note on a
 *          sealed prescription; EMR_INVALID_KEY if a key could not sign;
 *          EMR_NULL_ARGUMENT if pharmacy, patient, chain_id32, record or
 *          out is NULL, or note is NULL with a non-zero note_len.
 * Args:    pharmacy:   the pharmacy's private key.
 *          patient:    the patient's private key.
 * In:      chain_id32: the id of the chain (emr_chain_id), 32 bytes.
 *          record:     the prescription, as the chain holds it.
 *          note:       UTF-8 text, not NUL-terminated (NULL allowed when
 *                      note_len is 0).
 *          note_len:   its length in bytes (at most 100).
 * Out:     out:        a new entry, freed by the caller with
 *                      emr_entry_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same keys.
 */
emr_status emr_dispense_sign(const struct emr_key *pharmacy,
                             const struct emr_key *patient,
                             const uint8_t *chain_id32,
                             const struct emr_record *record,
                             const char *note,
                             size_t note_len,
                             struct emr_entry **out);

/**
 * The first step of a dispensing the patient signs on their own card or
 * phone: the dispensing of record by the pharmacy whose public key is
 * pharmacy_public_key to the patient whose public key is
 * patient_public_key, with no signature yet. Give the patient's device
 * its digest (emr_dispense_digest); attach each signature made of it with
 * emr_dispense_add_signature (the pharmacy's) and
 * emr_dispense_add_patient_signature (the patient's).
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if a key is not an uncompressed SPKI
 *          on a supported curve, or the note is not UTF-8 or is over 100
 *          bytes; EMR_WRONG_PATIENT, EMR_PUBLIC_TEXT_ON_SEALED as for
 *          emr_dispense_sign; EMR_NULL_ARGUMENT if chain_id32, record or
 *          out is NULL, or a data pointer is NULL with a non-zero length.
 * In:      chain_id32: the id of the chain (emr_chain_id), 32 bytes.
 *          record:     the prescription, as the chain holds it.
 *          pharmacy_public_key, pharmacy_public_key_len: the pharmacy's
 *                      SPKI DER.
 *          patient_public_key, patient_public_key_len: the patient's SPKI
 *                      DER.
 *          note, note_len: UTF-8 text, not NUL-terminated.
 * Out:     out:        a new entry, freed by the caller with
 *                      emr_entry_free; NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_dispense_prepare(const uint8_t *chain_id32,
                                const struct emr_record *record,
                                const uint8_t *pharmacy_public_key,
                                size_t pharmacy_public_key_len,
                                const uint8_t *patient_public_key,
                                size_t patient_public_key_len,
                                const char *note,
                                size_t note_len,
                                struct emr_entry **out);

/**
 * A copy of a dispense with the pharmacy's signature of its digest
 * (emr_dispense_digest) attached, made elsewhere (an HSM, say): strict
 * DER; a high-S signature is stored in its low-S form, the same signature
 * for the key. The dispense given is not changed (entries are immutable).
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY_SIGNATURE if the signature is not
 *          strict DER or does not verify under the pharmacy's key;
 *          EMR_INVALID_ENTRY if that key is malformed;
 *          EMR_INVALID_ARGUMENT if the entry is not a dispense;
 *          EMR_NULL_ARGUMENT if dispense or out is NULL, or signature is
 *          NULL with a non-zero signature_len.
 * Args:    dispense:      a dispense (emr_dispense_prepare).
 * In:      signature:     DER ECDSA-Sig-Value of the digest.
 *          signature_len: its length.
 * Out:     out:           a new entry, freed by the caller with
 *                         emr_entry_free; NULL on failure.
 * Thread-safety: safe to call concurrently on the same dispense.
 */
emr_status emr_dispense_add_signature(const struct emr_entry *dispense,
                                      const uint8_t *signature,
                                      size_t signature_len,
                                      struct emr_entry **out);

/**
 * A copy of a dispense with the patient's signature of its digest
 * attached, made on their card or phone; as emr_dispense_add_signature,
 * checked under the patient's key.
 *
 * Returns: as emr_dispense_add_signature.
 * Args:    dispense:      a dispense.
 * In:      signature:     DER ECDSA-Sig-Value of the digest.
 *          signature_len: its length.
 * Out:     out:           a new entry, freed by the caller with
 *                         emr_entry_free; NULL on failure.
 * Thread-safety: safe to call concurrently on the same dispense.
 */
emr_status emr_dispense_add_patient_signature(const struct emr_entry *dispense,
                                              const uint8_t *signature,
                                              size_t signature_len,
                                              struct emr_entry **out);

/**
 * Signs, with key (the prescriber's, or an authority's of the chain), the
 * cancellation (SPEC 10) of the prescription record for the chain
 * chain_id32. The reason is public. Whether the key may cancel is the
 * chain's to say (EMR_UNAUTHORIZED_CANCELLER). The signature is low-S.
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if the reason is not UTF-8 or is over
 *          100 bytes; EMR_PUBLIC_TEXT_ON_SEALED for a reason on a sealed
 *          prescription; EMR_INVALID_KEY if the key could not sign;
 *          EMR_NULL_ARGUMENT if key, chain_id32, record or out is NULL, or
 *          reason is NULL with a non-zero reason_len.
 * Args:    key:        the canceller's private key.
 * In:      chain_id32: the id of the chain (emr_chain_id), 32 bytes.
 *          record:     the prescription, as the chain holds it.
 *          reason:     UTF-8 text, not NUL-terminated (NULL allowed when
 *                      reason_len is 0).
 *          reason_len: its length in bytes (at most 100).
 * Out:     out:        a new entry, freed by the caller with
 *                      emr_entry_free; NULL on failure.
 * Thread-safety: safe to call from any thread, concurrently on the same key.
 */
emr_status emr_cancellation_sign(const struct emr_key *key,
                                 const uint8_t *chain_id32,
                                 const struct emr_record *record,
                                 const char *reason,
                                 size_t reason_len,
                                 struct emr_entry **out);

/**
 * Builds a dispenser grant from loose fields, as emr_grant_new builds a
 * grant (no key, window or signature check: call emr_entry_verify).
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if the licence is not UTF-8 or
 *          chain_id_len is not 32; EMR_NULL_ARGUMENT if out is NULL, or a
 *          data pointer is NULL with a non-zero length.
 * In:      chain_id, chain_id_len: the chain's id, 32 bytes.
 *          pharmacy_public_key, pharmacy_public_key_len: the pharmacy's
 *               SPKI DER.
 *          licence, licence_len: the licence text, not NUL-terminated.
 *          not_before, not_after: the window, Unix seconds.
 *          authority, authority_len: the authority's SPKI DER.
 *          signature, signature_len: the authority's DER ECDSA signature.
 * Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
 *               on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_dispenser_grant_new(const uint8_t *chain_id,
                                   size_t chain_id_len,
                                   const uint8_t *pharmacy_public_key,
                                   size_t pharmacy_public_key_len,
                                   const char *licence,
                                   size_t licence_len,
                                   uint64_t not_before,
                                   uint64_t not_after,
                                   const uint8_t *authority,
                                   size_t authority_len,
                                   const uint8_t *signature,
                                   size_t signature_len,
                                   struct emr_entry **out);

/**
 * Builds a dispense from loose fields. Checks only what an entry cannot
 * hold (no key or signature check: call emr_entry_verify).
 *
 * Returns: EMR_OK; EMR_INVALID_ENTRY if the note is not UTF-8, chain_id_len
 *          or the record hash's length is not 32 or the dr_hash's not 20;
 *          EMR_NULL_ARGUMENT if prescription or out is NULL, or a data
 *          pointer is NULL with a non-zero length.
 * In:      chain_id, chain_id_len: the chain's id, 32 bytes.
 *          prescription: the prescription the dispense names.
 *          pharmacy_public_key, pharmacy_public_key_len: SPKI DER.
 *          patient_public_key, patient_public_key_len: SPKI DER.
 *          note, note_len: the note, not NUL-terminated.
 *          signature, signature_len: the pharmacy's DER ECDSA signature.
 *          patient_signature, patient_signature_len: the patient's.
 * Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
 *               on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_dispense_new(const uint8_t *chain_id,
                            size_t chain_id_len,
                            const struct emr_prescription_ref *prescription,
                            const uint8_t *pharmacy_public_key,
                            size_t pharmacy_public_key_len,
                            const uint8_t *patient_public_key,
                            size_t patient_public_key_len,
                            const char *note,
                            size_t note_len,
                            const uint8_t *signature,
                            size_t signature_len,
                            const uint8_t *patient_signature,
                            size_t patient_signature_len,
                            struct emr_entry **out);

/**
 * Builds a cancellation from loose fields. Checks only what an entry
 * cannot hold (no key or signature check: call emr_entry_verify).
 *
 * Returns: as emr_dispense_new (the reason for the note).
 * In:      chain_id, chain_id_len: the chain's id, 32 bytes.
 *          prescription: the prescription the cancellation names.
 *          canceller, canceller_len: the canceller's SPKI DER.
 *          reason, reason_len: the reason, not NUL-terminated.
 *          signature, signature_len: the canceller's DER ECDSA signature.
 * Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
 *               on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_cancellation_new(const uint8_t *chain_id,
                                size_t chain_id_len,
                                const struct emr_prescription_ref *prescription,
                                const uint8_t *canceller,
                                size_t canceller_len,
                                const char *reason,
                                size_t reason_len,
                                const uint8_t *signature,
                                size_t signature_len,
                                struct emr_entry **out);

/**
 * A dispenser grant's pharmacy_public_key: the admitted pharmacy's SPKI DER.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispenser
 *          grant; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    entry: a dispenser grant.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispenser_grant_pharmacy_public_key(const struct emr_entry *entry,
                                                   uint8_t *buf,
                                                   size_t *len);

/**
 * A dispenser grant's licence text as UTF-8 bytes, NOT NUL-terminated.
 *
 * Returns: as emr_dispenser_grant_pharmacy_public_key.
 * Args:    entry: a dispenser grant.
 * Out:     buf:   receives the text (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispenser_grant_licence(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * A dispenser grant's validity window, both ends inclusive.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispenser
 *          grant; EMR_NULL_ARGUMENT if entry is NULL.
 * Args:    entry:      a dispenser grant.
 * Out:     not_before: the first second it authorizes; may be NULL if not
 *                      wanted.
 *          not_after:  the last second it authorizes; may be NULL if not
 *                      wanted.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispenser_grant_window(const struct emr_entry *entry,
                                      uint64_t *not_before,
                                      uint64_t *not_after);

/**
 * The prescription a dispense or cancellation names: its record's identity
 * (dr_hash, nonce) and content (the record's signature hash).
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is neither a dispense
 *          nor a cancellation; EMR_NULL_ARGUMENT if entry is NULL.
 * Args:    entry:         a dispense or a cancellation.
 * Out:     dr_hash20:     receives the prescriber's 20-byte hash; may be
 *                         NULL if not wanted.
 *          nonce:         the record's nonce; may be NULL if not wanted.
 *          record_hash32: receives the record's 32-byte signature hash;
 *                         may be NULL if not wanted.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_prescription(const struct emr_entry *entry,
                                  uint8_t *dr_hash20,
                                  uint64_t *nonce,
                                  uint8_t *record_hash32);

/**
 * A dispense's pharmacy_public_key: the dispensing pharmacy's SPKI DER.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispense;
 *          EMR_BUFFER_TOO_SMALL if *len is less than the size needed
 *          (written to *len); EMR_NULL_ARGUMENT if entry or len is NULL, or
 *          buf is NULL while *len > 0.
 * Args:    entry: a dispense.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispense_pharmacy_public_key(const struct emr_entry *entry,
                                            uint8_t *buf,
                                            size_t *len);

/**
 * A dispense's patient_public_key: the patient's SPKI DER (its SHA-1 is
 * the record's patient_hash).
 *
 * Returns: as emr_dispense_pharmacy_public_key.
 * Args:    entry: a dispense.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispense_patient_public_key(const struct emr_entry *entry,
                                           uint8_t *buf,
                                           size_t *len);

/**
 * A dispense's note (quantity, batch) as UTF-8 bytes, NOT NUL-terminated.
 *
 * Returns: as emr_dispense_pharmacy_public_key.
 * Args:    entry: a dispense.
 * Out:     buf:   receives the text (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispense_note(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * A dispense's patient signature (empty until attached); its pharmacy's
 * is emr_entry_signature.
 *
 * Returns: as emr_dispense_pharmacy_public_key.
 * Args:    entry: a dispense.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispense_patient_signature(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * The 32 bytes the pharmacy and the patient sign: SHA-256 of the
 * dispense's preimage (SPEC 10). A card or phone signs it as an
 * already-hashed message (ECDSA over the digest).
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispense;
 *          EMR_NULL_ARGUMENT if entry or out32 is NULL.
 * Args:    entry: a dispense.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_dispense_digest(const struct emr_entry *entry, uint8_t *out32);

/**
 * A cancellation's canceller: the SPKI DER of the key that signed it (the
 * prescriber's or an authority's).
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a
 *          cancellation; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    entry: a cancellation.
 * Out:     buf:   receives the bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_cancellation_canceller(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * A cancellation's reason as UTF-8 bytes, NOT NUL-terminated.
 *
 * Returns: as emr_cancellation_canceller.
 * Args:    entry: a cancellation.
 * Out:     buf:   receives the text (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_cancellation_reason(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * Decodes an entry from its canonical encoding (docs/FORMAT.md). Decoding
 * does not verify.
 *
 * Returns: EMR_OK; EMR_DECODE if the bytes are not exactly one canonical
 *          entry (unknown tag or version, among them version 1: entries
 *          made before SPEC v1.2 name no chain; truncated, trailing
 *          bytes, a length past the end, a licence that is not UTF-8);
 *          EMR_NULL_ARGUMENT if out is NULL, or bytes is NULL while len > 0.
 * In:      bytes: the encoding (NULL allowed when len is 0).
 *          len:   its length.
 * Out:     out:   a new entry, freed by the caller with emr_entry_free;
 *                 NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_entry_parse(const uint8_t *bytes, size_t len, struct emr_entry **out);

/**
 * Encodes an entry canonically (docs/FORMAT.md); emr_entry_parse gives it
 * back.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    entry: the entry.
 * Out:     buf:   receives the encoding (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_serialize(const struct emr_entry *entry, uint8_t *buf, size_t *len);

/**
 * Copies an entry.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or out is NULL.
 * Args:    entry: the entry.
 * Out:     out:   a new, independent entry, freed by the caller with
 *                 emr_entry_free; NULL on failure.
 * Thread-safety: safe to call concurrently on the same entry.
 */
emr_status emr_entry_clone(const struct emr_entry *entry, struct emr_entry **out);

/**
 * Frees an entry. NULL is a no-op.
 *
 * Args:    entry: an entry from this library, or NULL. Not usable afterwards.
 * Thread-safety: no other thread may use the entry during or after the
 *          call.
 */
void emr_entry_free(struct emr_entry *entry);

/**
 * Makes an empty map.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if out is NULL.
 * Out:     out: a new map, freed by the caller with emr_user_states_free;
 *               NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_user_states_new(struct emr_user_states **out);

/**
 * Sets the state of one hash, adding it if absent.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if states or hash20 is NULL.
 * Args:    states:  the map, changed.
 * In:      hash20:  the 20-byte hash.
 *          balance: its balance.
 *          nonce:   its nonce.
 * Thread-safety: no other thread may use the map during the call.
 */
emr_status emr_user_states_set(struct emr_user_states *states,
                               const uint8_t *hash20,
                               uint64_t balance,
                               uint64_t nonce);

/**
 * Copies every entry of `changes` into `states`, replacing the states of
 * hashes present in both: how a block's changes are applied.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if states or changes is NULL.
 * Args:    states:  the map, changed.
 * In:      changes: the entries to apply (may be the result of
 *                   emr_block_verify_and_get_changes). Must not be states.
 * Thread-safety: no other thread may use states during the call; changes
 *          may be read concurrently.
 */
emr_status emr_user_states_update(struct emr_user_states *states,
                                  const struct emr_user_states *changes);

/**
 * The state of one hash; an absent hash has balance 0 and nonce 0.
 *
 * Returns: EMR_OK (present or not); EMR_NULL_ARGUMENT if states, hash20,
 *          balance or nonce is NULL.
 * Args:    states:  the map.
 * In:      hash20:  the 20-byte hash.
 * Out:     balance: its balance.
 *          nonce:   its nonce.
 *          present: whether the hash is in the map; may be NULL if not
 *                   wanted.
 * Thread-safety: safe to call concurrently with other readers of the map.
 */
emr_status emr_user_states_get(const struct emr_user_states *states,
                               const uint8_t *hash20,
                               uint64_t *balance,
                               uint64_t *nonce,
                               bool *present);

/**
 * The number of entries.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if states or len is NULL.
 * Args:    states: the map.
 * Out:     len:    the number of entries.
 * Thread-safety: safe to call concurrently with other readers of the map.
 */
emr_status emr_user_states_len(const struct emr_user_states *states, size_t *len);

/**
 * The entry at a position, in ascending byte order of the hashes: index 0
 * is the smallest hash. Positions are stable until the map is changed.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the number of entries (an
 *          index past the end, see "Indexes" at the top of this header;
 *          nothing is written); EMR_NULL_ARGUMENT if any pointer is NULL.
 * Args:    states:   the map.
 * In:      index:    0 ..= len - 1.
 * Out:     hash_out20: receives the 20-byte hash.
 *          balance:  its balance.
 *          nonce:    its nonce.
 * Thread-safety: safe to call concurrently with other readers of the map.
 */
emr_status emr_user_states_entry_at(const struct emr_user_states *states,
                                    size_t index,
                                    uint8_t *hash_out20,
                                    uint64_t *balance,
                                    uint64_t *nonce);

/**
 * Frees a map. NULL is a no-op.
 *
 * Args:    states: a map from this library, or NULL. Not usable afterwards.
 * Thread-safety: no other thread may use the map during or after the call.
 */
void emr_user_states_free(struct emr_user_states *states);

/**
 * Builds a block from its fields; the records are copied. Checks only what
 * a block cannot hold, with the status verification would report (no
 * proof-of-work, id or record check: call emr_block_verify_and_get_changes).
 *
 * Returns: EMR_OK; EMR_DIFFICULTY_MISMATCH if difficulty is 0;
 *          EMR_INVALID_BLOCK_ID if block_id_len is not 32; EMR_INVALID_MINER
 *          if miner_len is not 20; EMR_INVALID_PREVIOUS if previous_len is
 *          not 32; EMR_NULL_ARGUMENT if out is NULL, a data pointer is NULL
 *          with a non-zero length, or an element of records is NULL.
 * In:      previous, previous_len: the parent's block id, 32 bytes.
 *          height:       height in the chain.
 *          miner, miner_len: who is rewarded, 20 bytes.
 *          records, record_count: the records in order (NULL allowed when
 *                        record_count is 0; more than 25 are accepted here
 *                        and refused by verification).
 *          timestamp:    Unix seconds.
 *          difficulty:   the block's difficulty.
 *          block_id, block_id_len: the block id, 32 bytes.
 *          nonce:        the proof-of-work nonce.
 * Out:     out:          a new block, freed by the caller with
 *                        emr_block_free; NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_block_new(const uint8_t *previous,
                         size_t previous_len,
                         uint64_t height,
                         const uint8_t *miner,
                         size_t miner_len,
                         const struct emr_record *const *records,
                         size_t record_count,
                         uint64_t timestamp,
                         struct emr_difficulty difficulty,
                         const uint8_t *block_id,
                         size_t block_id_len,
                         uint64_t nonce,
                         struct emr_block **out);

/**
 * Builds a block with registry entries (SPEC 8.1) from its fields; the
 * records and entries are copied. As emr_block_new, which it extends: a
 * block's id covers its entries' ids after its records' txids, and a block
 * without entries is exactly the block emr_block_new makes.
 *
 * Returns: as emr_block_new; EMR_NULL_ARGUMENT also if entries is NULL
 *          while entry_count > 0, or an element of entries is NULL.
 * In:      previous ... records, record_count: as for emr_block_new.
 *          entries, entry_count: the grants and revocations in order (NULL
 *                        allowed when entry_count is 0; more than 25 are
 *                        accepted here and refused by verification).
 *          timestamp ... nonce: as for emr_block_new.
 * Out:     out:          a new block, freed by the caller with
 *                        emr_block_free; NULL on failure.
 * Thread-safety: safe to call from any thread; the records and entries may
 *          be read by other threads meanwhile.
 */
emr_status emr_block_new_with_entries(const uint8_t *previous,
                                      size_t previous_len,
                                      uint64_t height,
                                      const uint8_t *miner,
                                      size_t miner_len,
                                      const struct emr_record *const *records,
                                      size_t record_count,
                                      const struct emr_entry *const *entries,
                                      size_t entry_count,
                                      uint64_t timestamp,
                                      struct emr_difficulty difficulty,
                                      const uint8_t *block_id,
                                      size_t block_id_len,
                                      uint64_t nonce,
                                      struct emr_block **out);

/**
 * Verifies a block (SPEC sections 3 and 8.1) and returns the user states it
 * changes. Checks, in order: the difficulty, the block id, the number of
 * records, the number of entries, the miner, previous, the proof of work,
 * then every entry on its own (signature included, low-S; whether it
 * names the chain, whether its authority and the registry accept it and
 * whether the block's time has reached a revocation are a chain's
 * questions), then every record (on
 * all cores), each against its doctor's nonce after the records before it.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if difficulty is 0; the block's
 *          failure: EMR_DIFFICULTY_MISMATCH, EMR_INVALID_BLOCK_ID,
 *          EMR_TOO_MANY_RECORDS, EMR_TOO_MANY_ENTRIES, EMR_INVALID_MINER,
 *          EMR_INVALID_PREVIOUS, EMR_INSUFFICIENT_WORK; EMR_ENTRY when an
 *          entry fails, with the lowest failing entry index in
 *          *failed_index and that entry's own status (EMR_INVALID_ENTRY,
 *          EMR_INVALID_ENTRY_SIGNATURE) in *failed_status; or EMR_RECORD
 *          when a record fails, with the lowest failing record index in
 *          *failed_index and that record's own status (EMR_INVALID_NONCE,
 *          ...) in *failed_status; EMR_NULL_ARGUMENT if block or
 *          changes_out is NULL.
 * Args:    block:        the block.
 * In:      difficulty:   the difficulty expected at the block's place.
 *          previous:     the user states before the block (not changed);
 *                        NULL is the empty map.
 *          block_reward: what the miner's balance grows by
 *                        (EMR_DEFAULT_BLOCK_REWARD normally); balances
 *                        saturate at UINT64_MAX.
 * Out:     changes_out:  a new map of the changed states only (each doctor
 *                        with records in the block, and the miner), freed
 *                        by the caller with emr_user_states_free; NULL on
 *                        failure.
 *          failed_index: the failing record's index with EMR_RECORD, the
 *                        failing entry's with EMR_ENTRY; written only then;
 *                        may be NULL if not wanted.
 *          failed_status: that record's or entry's own status, written
 *                        only with EMR_RECORD or EMR_ENTRY; may be NULL if
 *                        not wanted.
 * Thread-safety: safe to call concurrently with other readers of the block
 *          and of previous.
 */
emr_status emr_block_verify_and_get_changes(const struct emr_block *block,
                                            struct emr_difficulty difficulty,
                                            const struct emr_user_states *previous,
                                            uint64_t block_reward,
                                            struct emr_user_states **changes_out,
                                            size_t *failed_index,
                                            emr_status *failed_status);

/**
 * Verifies loose block fields exactly as given, with the checks of
 * emr_block_verify_and_get_changes in the same order (a field of the wrong
 * length is reported by the check it fails, never earlier). Records are
 * checked as emr_record_fields_verify does. emr_block_fields has no
 * entries (its layout is fixed): a block with entries is built with
 * emr_block_new_with_entries and verified as an emr_block.
 *
 * Returns: as emr_block_verify_and_get_changes; EMR_NULL_ARGUMENT also if
 *          fields is NULL or a pointer inside it is NULL with a non-zero
 *          length.
 * In:      fields:       the block's fields.
 *          difficulty, previous, block_reward: as for
 *                        emr_block_verify_and_get_changes.
 * Out:     changes_out, failed_index, failed_status: as for
 *                        emr_block_verify_and_get_changes.
 * Thread-safety: safe to call concurrently with other readers of previous.
 */
emr_status emr_block_fields_verify(const struct emr_block_fields *fields,
                                   struct emr_difficulty difficulty,
                                   const struct emr_user_states *previous,
                                   uint64_t block_reward,
                                   struct emr_user_states **changes_out,
                                   size_t *failed_index,
                                   emr_status *failed_status);

/**
 * The block id the block's header calls for: SHA-256(previous || miner ||
 * txid_1 || ... || txid_n || entry_id_1 || ... || entry_id_m ||
 * LE64(timestamp) || LE128(difficulty) || LE64(nonce)).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out32 is NULL.
 * Args:    block: the block.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_calculate_id(const struct emr_block *block, uint8_t *out32);

/**
 * The block id loose fields call for, over the bytes as given (no length
 * checks; the records' txids as given); fields->block_id is ignored.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if fields or out32 is NULL, or a
 *          pointer inside fields is NULL with a non-zero length.
 * In:      fields: the block's fields.
 * Out:     out32:  receives 32 bytes.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_block_fields_calculate_id(const struct emr_block_fields *fields, uint8_t *out32);

/**
 * Decodes a block from its canonical encoding (docs/FORMAT.md). Decoding
 * does not verify.
 *
 * Returns: EMR_OK; EMR_DECODE if the bytes are not exactly one canonical
 *          block (wrong tag or version, truncated, trailing bytes, a count
 *          or length past the end, difficulty 0, a record that does not
 *          decode); EMR_NULL_ARGUMENT if out is NULL, or bytes is NULL while
 *          len > 0.
 * In:      bytes: the encoding (NULL allowed when len is 0).
 *          len:   its length.
 * Out:     out:   a new block, freed by the caller with emr_block_free;
 *                 NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_block_parse(const uint8_t *bytes, size_t len, struct emr_block **out);

/**
 * Encodes a block canonically (docs/FORMAT.md); emr_block_parse gives it
 * back.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len); EMR_NULL_ARGUMENT if block or len is
 *          NULL, or buf is NULL while *len > 0.
 * Args:    block: the block.
 * Out:     buf:   receives the encoding (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_serialize(const struct emr_block *block, uint8_t *buf, size_t *len);

/**
 * The block's previous field (the parent's block id).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out32 is NULL.
 * Args:    block: the block.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_previous(const struct emr_block *block, uint8_t *out32);

/**
 * The block's height field.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or height is NULL.
 * Args:    block:  the block.
 * Out:     height: the height.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_height(const struct emr_block *block, uint64_t *height);

/**
 * The block's miner field.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out20 is NULL.
 * Args:    block: the block.
 * Out:     out20: receives 20 bytes.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_miner(const struct emr_block *block, uint8_t *out20);

/**
 * The number of records in the block.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or count is NULL.
 * Args:    block: the block.
 * Out:     count: the number of records.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_record_count(const struct emr_block *block, size_t *count);

/**
 * A copy of one of the block's records.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the record count (an index
 *          past the end, see "Indexes" at the top of this header);
 *          EMR_NULL_ARGUMENT if block or out is NULL.
 * Args:    block: the block.
 * In:      index: 0 ..= record count - 1.
 * Out:     out:   a new record, independent of the block, freed by the
 *                 caller with emr_record_free; NULL on failure.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_record(const struct emr_block *block, size_t index, struct emr_record **out);

/**
 * The number of registry entries (grants, revocations) in the block.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or count is NULL.
 * Args:    block: the block.
 * Out:     count: the number of entries (0 for most blocks).
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_entry_count(const struct emr_block *block, size_t *count);

/**
 * A copy of one of the block's entries.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the entry count (an index
 *          past the end, see "Indexes" at the top of this header);
 *          EMR_NULL_ARGUMENT if block or out is NULL.
 * Args:    block: the block.
 * In:      index: 0 ..= entry count - 1.
 * Out:     out:   a new entry, independent of the block, freed by the
 *                 caller with emr_entry_free; NULL on failure.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_entry(const struct emr_block *block, size_t index, struct emr_entry **out);

/**
 * The block's timestamp field (Unix seconds).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or timestamp is NULL.
 * Args:    block:     the block.
 * Out:     timestamp: the timestamp.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_timestamp(const struct emr_block *block, uint64_t *timestamp);

/**
 * The block's difficulty field.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or difficulty is NULL.
 * Args:    block:      the block.
 * Out:     difficulty: the difficulty (never 0).
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_difficulty(const struct emr_block *block, struct emr_difficulty *difficulty);

/**
 * The block's block_id field, as stored (emr_block_calculate_id gives the
 * value the header calls for).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out32 is NULL.
 * Args:    block: the block.
 * Out:     out32: receives 32 bytes.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_id(const struct emr_block *block, uint8_t *out32);

/**
 * The block's proof-of-work nonce.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if block or nonce is NULL.
 * Args:    block: the block.
 * Out:     nonce: the nonce.
 * Thread-safety: safe to call concurrently on the same block.
 */
emr_status emr_block_nonce(const struct emr_block *block, uint64_t *nonce);

/**
 * Frees a block. NULL is a no-op.
 *
 * Args:    block: a block from this library, or NULL. Not usable afterwards.
 * Thread-safety: no other thread may use the block during or after the call.
 */
void emr_block_free(struct emr_block *block);

/**
 * Whether this CPU can run an engine (detected at run time).
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if engine is not an EMR_ENGINE_*
 *          value; EMR_NULL_ARGUMENT if available is NULL.
 * In:      engine:    an EMR_ENGINE_* value (EMR_ENGINE_BEST and
 *                     EMR_ENGINE_SCALAR are always available).
 * Out:     available: whether emr_mine_block may use it.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_mining_engine_available(emr_engine engine, bool *available);

/**
 * The engine EMR_ENGINE_BEST stands for on this CPU.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if engine is NULL.
 * Out:     engine: an EMR_ENGINE_* value other than EMR_ENGINE_BEST.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_mining_engine_best(emr_engine *engine);

/**
 * The engines this CPU can run, fastest first as measured on this CPU for
 * a 25-record block (the first is what EMR_ENGINE_BEST stands for). The
 * first call of the process measures every engine for a few milliseconds;
 * later calls return the cached order.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if count is NULL; EMR_INVALID_ARGUMENT
 *          if engines is misaligned or capacity is absurdly large.
 * Out:     engines:  the first min(*count, capacity) engines, fastest first
 *                    (may be NULL when capacity is 0).
 *          count:    how many engines this CPU can run (at most 8).
 * In:      capacity: the number of elements engines has room for.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_mining_engines(emr_engine *engines, size_t capacity, size_t *count);

/**
 * An engine's short name: "best", "scalar", "avx2", "sha-ni", "avx512".
 *
 * Returns: a NUL-terminated string in static storage (never NULL, never
 *          freed); "unknown" for a number that is not an engine.
 * In:      engine: any value.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_mining_engine_name(emr_engine engine);

/**
 * An outcome's name: "found", "exhausted", "cancelled", "timed_out".
 *
 * Returns: a NUL-terminated string in static storage (never NULL, never
 *          freed); "unknown" for a number that is not an outcome.
 * In:      outcome: any value.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_mine_outcome_name(emr_mine_outcome outcome);

/**
 * Makes a cancel handle that is not triggered.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if out is NULL.
 * Out:     out: a new handle, freed by the caller with emr_cancel_free;
 *               NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_cancel_new(struct emr_cancel **out);

/**
 * Triggers a cancel handle: every emr_mine_block using it stops within a
 * few milliseconds with EMR_MINE_CANCELLED (a nonce already found is still
 * returned). Triggering twice is harmless.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if cancel is NULL.
 * Args:    cancel: the handle.
 * Thread-safety: safe to call from any thread at any time, concurrently
 *          with searches using the handle and with other triggers. With a
 *          valid handle it only does an atomic store (no allocation, no
 *          lock), so it may be called from a signal handler (Ctrl-C).
 */
emr_status emr_cancel_trigger(const struct emr_cancel *cancel);

/**
 * Whether a cancel handle was triggered.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if cancel or triggered is NULL.
 * Args:    cancel:    the handle.
 * Out:     triggered: whether emr_cancel_trigger was called on it.
 * Thread-safety: safe to call from any thread at any time.
 */
emr_status emr_cancel_is_triggered(const struct emr_cancel *cancel, bool *triggered);

/**
 * Frees a cancel handle. NULL is a no-op.
 *
 * Args:    cancel: a handle from this library, or NULL. Not usable
 *                  afterwards.
 * Thread-safety: no other thread may use the handle during or after the
 *          call, and no emr_mine_block using it may still be running.
 */
void emr_cancel_free(struct emr_cancel *cancel);

/**
 * Fills options with the defaults: every nonce from 0, all cores, the best
 * engine, no time limit, no cancel handle, no progress callback.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
 *          knows (0, or above its own; nothing is written);
 *          EMR_NULL_ARGUMENT if options is NULL.
 * In:      version: EMR_MINE_OPTIONS_VERSION of the caller's header (any
 *                   version from 1 up to the library's own is accepted).
 * Out:     options: the defaults, with options->version = version.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_mine_options_default(struct emr_mine_options *options, uint32_t version);

/**
 * Mines a block (SPEC section 4): searches the nonce range for a nonce
 * whose block id, SHA-256(previous || miner || txids || LE64(timestamp) ||
 * LE128(difficulty) || LE64(nonce)), meets the difficulty's target, hashing
 * the constant header prefix once and splitting the range between threads.
 *
 * The status says whether the search could run; how it ended is
 * *outcome_out, and only EMR_MINE_FOUND comes with a block:
 *   EMR_OK, EMR_MINE_FOUND:     *block_out is a new block whose block id
 *                               and nonce agree and meet difficulty;
 *   EMR_OK, EMR_MINE_EXHAUSTED: every nonce of the range was tried;
 *   EMR_OK, EMR_MINE_CANCELLED: options->cancel was triggered;
 *   EMR_OK, EMR_MINE_TIMED_OUT: options->time_limit_ms passed;
 * *block_out is NULL for all but EMR_MINE_FOUND.
 *
 * The records are not verified: a block of bad records is mined like any
 * other and refused by emr_block_verify_and_get_changes. Verify records
 * (emr_verify_records) before spending work on them.
 *
 * Returns: EMR_OK when the search ran, whatever its outcome;
 *          EMR_INVALID_ARGUMENT if difficulty is 0, record_count is over
 *          25 (EMR_MAX_RECORDS: such a block can never be valid, so the
 *          search is refused, as the core refuses it), options->version is
 *          not one this library knows (every version from 1 up to its own
 *          EMR_MINE_OPTIONS_VERSION is accepted, so a program built with
 *          an earlier header keeps working), options->threads is over
 *          EMR_MAX_MINING_THREADS, or options->engine is unknown or not
 *          available on this CPU (the message says which);
 *          EMR_IO if the operating system refused to start a thread;
 *          EMR_NULL_ARGUMENT if previous32, miner20, outcome_out or
 *          block_out is NULL, records is NULL while record_count > 0, or an
 *          element of records is NULL.
 * In:      previous32:   the parent's block id, 32 bytes (all zero at
 *                        height 0).
 *          height:       height in the chain.
 *          miner20:      who is rewarded, 20 bytes.
 *          records, record_count: the records in order, at most 25 (NULL
 *                        allowed when record_count is 0); copied.
 *          timestamp:    Unix seconds.
 *          difficulty:   the difficulty to meet, 1 ..= 2^128-1.
 *          options:      how to search (see emr_mine_options); NULL: the
 *                        defaults (all cores, every nonce from 0, no limit,
 *                        no cancel, no progress, the best engine).
 * Out:     outcome_out:  how the search ended, written when EMR_OK is
 *                        returned.
 *          block_out:    the mined block with EMR_MINE_FOUND, freed by the
 *                        caller with emr_block_free; NULL otherwise and on
 *                        failure.
 *          stats_out:    hashes, time, rate, threads and engine, written
 *                        when EMR_OK is returned; may be NULL if not wanted.
 * Thread-safety: safe to call from any thread, several searches at once;
 *          the records may be read by other threads meanwhile. The call
 *          blocks until the search ends; it starts up to options->threads
 *          worker threads and joins them all before it returns. The
 *          progress callback runs on the calling thread. Besides the time
 *          limit, only emr_cancel_trigger (from any thread, a signal
 *          handler, or the callback) stops a search early.
 */
emr_status emr_mine_block(const uint8_t *previous32,
                          uint64_t height,
                          const uint8_t *miner20,
                          const struct emr_record *const *records,
                          size_t record_count,
                          uint64_t timestamp,
                          struct emr_difficulty difficulty,
                          const struct emr_mine_options *options,
                          emr_mine_outcome *outcome_out,
                          struct emr_block **block_out,
                          struct emr_mine_stats *stats_out);

/**
 * Mines a block carrying registry entries (SPEC 8.1): as emr_mine_block,
 * which it extends; the block id covers the entries' ids after the
 * records' txids. Neither records nor entries are verified.
 *
 * Returns: as emr_mine_block; EMR_INVALID_ARGUMENT also if entry_count is
 *          over 25 (EMR_MAX_ENTRIES); EMR_NULL_ARGUMENT also if entries is
 *          NULL while entry_count > 0, or an element of entries is NULL.
 * In:      previous32 ... record_count: as for emr_mine_block.
 *          entries, entry_count: the grants and revocations in order, at
 *                        most 25 (NULL allowed when entry_count is 0); copied.
 *          timestamp, difficulty, options: as for emr_mine_block.
 * Out:     outcome_out, block_out, stats_out: as for emr_mine_block.
 * Thread-safety: as emr_mine_block; the entries may be read by other
 *          threads meanwhile.
 */
emr_status emr_mine_block_with_entries(const uint8_t *previous32,
                                       uint64_t height,
                                       const uint8_t *miner20,
                                       const struct emr_record *const *records,
                                       size_t record_count,
                                       const struct emr_entry *const *entries,
                                       size_t entry_count,
                                       uint64_t timestamp,
                                       struct emr_difficulty difficulty,
                                       const struct emr_mine_options *options,
                                       emr_mine_outcome *outcome_out,
                                       struct emr_block **block_out,
                                       struct emr_mine_stats *stats_out);

/**
 * Fills options with the specification's parameters (initial difficulty
 * 1000, window 10, block time 12 s, clamp 4, reward 10000, no
 * authorities, max_future 60 s, no salt: a random one for a new chain)
 * and use_stored_params false. Only the fields of the given version are
 * written.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
 *          knows (0, or above its own; nothing is written);
 *          EMR_NULL_ARGUMENT if options is NULL.
 * In:      version: EMR_CHAIN_OPTIONS_VERSION of the caller's header (any
 *                   version from 1 up to the library's own is accepted:
 *                   only that version's fields are written).
 * Out:     options: the defaults, with options->version = version.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_chain_options_default(struct emr_chain_options *options, uint32_t version);

/**
 * Fills options with the defaults: all cores, no cancel handle, no
 * progress callback.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
 *          knows (0, or above its own; nothing is written);
 *          EMR_NULL_ARGUMENT if options is NULL.
 * In:      version: EMR_BATCH_OPTIONS_VERSION of the caller's header (any
 *                   version from 1 up to the library's own is accepted).
 * Out:     options: the defaults, with options->version = version.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_batch_options_default(struct emr_batch_options *options, uint32_t version);

/**
 * Opens a chain for writing: the database file at path, created when it
 * does not exist or is empty, or a chain in memory when path is NULL (gone
 * when freed). Nothing is replayed on open; the newest block is read and
 * checked against its id, so damage there is reported at once
 * (emr_chain_check looks at everything).
 *
 * The handle holds the file's write lock until emr_chain_free: a second
 * writer, in this process or another, gets EMR_LOCKED, and a writer that
 * dies releases the lock. Every block is durable when its add returns.
 *
 * A new chain stores its parameters with its salt (options->salt when
 * options->has_salt, else a random one); its id (emr_chain_id) is their
 * hash. A chain file written before SPEC v1.2 (format 2) is upgraded on
 * its first writable open, with the salt given or a random one, and
 * re-checked under v1.2's rules; a file holding grants or revocations
 * made before v1.2 (which name no chain) cannot be upgraded and is
 * refused, the message saying why.
 *
 * Returns: EMR_OK; EMR_LOCKED if another handle has the file open for
 *          writing (the message names the file); EMR_INVALID_ARGUMENT if
 *          path is "", options->version is not one this library knows
 *          (0, or above its own EMR_CHAIN_OPTIONS_VERSION: every version
 *          from 1 up is accepted, an earlier one with the defaults for
 *          the fields it lacks), a parameter is out of range
 *          (initial_difficulty 0, window, block_time or max_adjust 0, an
 *          authority that is not an EC SPKI or is listed twice), the chain
 *          exists and was created with other parameters (another salt
 *          included, when options->has_salt), or it cannot be upgraded to
 *          SPEC v1.2;
 *          EMR_CORRUPT if the file is not a chain database or its stored
 *          data is damaged (or an upgraded chain fails its re-check);
 *          EMR_IO if the operating system or SQLite fails (no such
 *          directory, permissions, ...); EMR_NULL_ARGUMENT if out is NULL.
 * In:      path:    a NUL-terminated file path (bytes, not necessarily
 *                   UTF-8), or a directory, meaning its file chain.db (as
 *                   the command line keeps a chain); NULL for a chain in
 *                   memory.
 *          options: the chain's parameters (see emr_chain_options); NULL:
 *                   the stored parameters, or the defaults for a new chain.
 * Out:     out:     a new chain, freed (and closed) by the caller with
 *                   emr_chain_free; NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_chain_open(const char *path,
                          const struct emr_chain_options *options,
                          struct emr_chain **out);

/**
 * Opens an existing chain for reading only, with its stored parameters. It
 * may run beside a writer (in this process or another) and sees each block
 * once the writer's add has returned. Adding and undoing return
 * EMR_INVALID_ARGUMENT.
 *
 * Returns: EMR_OK; EMR_CORRUPT if the file is not a chain database or is
 *          damaged; EMR_IO if it cannot be opened (does not exist, ...);
 *          EMR_INVALID_ARGUMENT if path is ""; EMR_NULL_ARGUMENT if path or
 *          out is NULL.
 * In:      path: a NUL-terminated file path.
 * Out:     out:  a new chain, freed by the caller with emr_chain_free; NULL
 *                on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_chain_open_readonly(const char *path, struct emr_chain **out);

/**
 * Closes and frees a chain, releasing its write lock. Every block added is
 * already durable, so there is nothing to flush. NULL is a no-op.
 *
 * Args:    chain: a chain from this library, or NULL. Not usable afterwards
 *                 (histories taken from it stay valid).
 * Thread-safety: no other thread may use the chain during or after the
 *          call.
 */
void emr_chain_free(struct emr_chain *chain);

/**
 * The chain's parameters, as emr_chain_options with use_stored_params
 * false and (version 3) has_salt true with the chain's salt: passing them
 * to emr_chain_open makes or opens a chain with the same parameters, and
 * so the same id.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
 *          knows (0, or above its own; nothing is written);
 *          EMR_NULL_ARGUMENT if chain or options is NULL.
 * Args:    chain:   the chain.
 * In:      version: EMR_CHAIN_OPTIONS_VERSION of the caller's header (any
 *                   version from 1 up to the library's own is accepted:
 *                   only that version's fields are written).
 * Out:     options: the parameters, with options->version = version. Its
 *                   authorities and authority_lens point into the chain:
 *                   valid, for reading only, until emr_chain_free.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_get_options(const struct emr_chain *chain,
                                 struct emr_chain_options *options,
                                 uint32_t version);

/**
 * The chain's id (SPEC 5, v1.2): SHA-256 over "cryptoemr/chain/v1" and
 * its parameters (initial difficulty, window, block time, clamp, reward,
 * max_future, the authorities in order, the salt). Every grant and
 * revocation made for this chain carries it (emr_grant_sign's
 * chain_id32); an entry with another id is EMR_WRONG_CHAIN here. A site
 * joining a consortium checks the parameters it is handed against the id
 * it was given out of band.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if chain or out32 is NULL.
 * Args:    chain: the chain.
 * Out:     out32: receives the 32-byte id.
 * Thread-safety: safe to call from any thread, at any time (the id is
 *          fixed for the chain's life).
 */
emr_status emr_chain_id(const struct emr_chain *chain, uint8_t *out32);

/**
 * An outcome's name: "none", "extended", "side_branch", "reorganized",
 * "already_known", "stale".
 *
 * Returns: a NUL-terminated string in static storage (never NULL, never
 *          freed); "unknown" for a number that is not an outcome.
 * In:      outcome: any value.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_add_outcome_name(emr_add_outcome outcome);

/**
 * Adds a block (SPEC section 5), durably before returning.
 *
 * Checks, in order: EMR_UNKNOWN_PARENT (previous is the id of no stored
 * block; all zero at height 0 starts a branch from genesis),
 * EMR_WRONG_HEIGHT, EMR_TIMESTAMP_TOO_EARLY, EMR_TIMESTAMP_TOO_LATE (only
 * when now is given; such a block is not remembered, so it may be offered
 * again once its time has come), then verification (SPEC section 3:
 * checks 1-6) with the difficulty expected at the block's place in its
 * own branch. A block that joins the active chain is then checked in
 * full: its entries against the chain (EMR_ENTRY with EMR_WRONG_CHAIN,
 * EMR_UNKNOWN_AUTHORITY, ..., EMR_REVOCATION_NOT_YET_EFFECTIVE) and its
 * records. A block of a side branch is EMR_ADD_STALE (not stored) unless
 * its branch forks at most window blocks below the tip and reaches at most
 * window blocks past the fork; otherwise its records and entries pass
 * every check that needs no state before it is stored, and the rest when
 * the branch becomes active. A branch that becomes strictly heavier than
 * the active chain becomes the active chain atomically; if one of its
 * blocks fails, that block and its descendants are remembered as invalid
 * (refused with the same status when offered again), and the active
 * chain, states and queries are exactly as before.
 *
 * The pool (emr_chain_submit, emr_chain_pending) follows the active chain
 * in the same transaction: the records and entries of a block that joins
 * it leave the pool, and those of every block that leaves it in a
 * reorganization (EMR_ADD_REORGANIZED) come back to the pool, to be mined
 * again, unless the new active chain carries them too. A record that
 * cannot come back because a block of the new active chain carries
 * another record of its doctor with its nonce (other content) is not lost:
 * it is kept as a conflict (emr_chain_conflicts, SPEC 9.3), as a pending
 * record overtaken in the same way is.
 *
 * Returns: EMR_OK with *outcome (EMR_ADD_STALE included: not an error);
 *          EMR_UNKNOWN_PARENT, EMR_WRONG_HEIGHT, EMR_TIMESTAMP_TOO_EARLY,
 *          EMR_TIMESTAMP_TOO_LATE; a verification status
 *          (EMR_DIFFICULTY_MISMATCH, EMR_INVALID_BLOCK_ID,
 *          EMR_TOO_MANY_RECORDS, EMR_INSUFFICIENT_WORK, EMR_ENTRY,
 *          EMR_RECORD, ...) of the block or of the block of its branch that
 *          failed, named in *failure; EMR_INVALID_ARGUMENT if the chain is
 *          read-only; EMR_CORRUPT, EMR_IO if storage fails (nothing is
 *          changed); EMR_NULL_ARGUMENT if chain or block is NULL.
 * Args:    chain:   the chain, changed.
 * In:      block:   the block; copied.
 *          now:     the caller's current Unix time, to refuse a block more
 *                   than the chain's max_future seconds (default
 *                   EMR_DEFAULT_MAX_FUTURE_SECONDS) ahead of it; NULL
 *                   skips that check (replaying history).
 * Out:     outcome: what adding did (an EMR_ADD_* other than
 *                   EMR_ADD_NONE), written on EMR_OK; may be NULL if not
 *                   wanted.
 *          failure: which block failed and why, written when the status
 *                   belongs to a block (see emr_block_failure); may be NULL
 *                   if not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time. The block may be read by other threads meanwhile.
 */
emr_status emr_chain_add_block(struct emr_chain *chain,
                               const struct emr_block *block,
                               const uint64_t *now,
                               emr_add_outcome *outcome,
                               struct emr_block_failure *failure);

/**
 * Adds blocks in order, as a loop of emr_chain_add_block would, but faster:
 * record signatures are checked on several threads ahead of the in-order
 * checks, and the batch is one transaction. Stops at the first block that
 * fails (or at cancellation); the blocks before it are kept and durable.
 *
 * Side branches are judged where the call ends (SPEC 5, v1.2): a long
 * branch that is heavier than the active chain once all its blocks are in
 * reorganizes however far below the tip it forks, so deliver it in one
 * call (a node streams it page by page into one call); the call's blocks
 * of a branch that is then neither heavier nor near the tip are
 * EMR_ADD_STALE, none of them stored.
 *
 * The pool follows the active chain as for emr_chain_add_block: records
 * and entries of blocks that join it leave the pool; those of blocks that
 * leave it in a reorganization come back to the pool, unless the new
 * active chain carries them too, and a record that cannot come back
 * because another record took its doctor's nonce is kept as a conflict
 * (emr_chain_conflicts).
 *
 * Returns: EMR_OK when every block was added; otherwise the status of the
 *          block at *failed_index, as emr_chain_add_block reports it (with
 *          *failure), or EMR_CANCELLED when options->cancel was triggered
 *          (*failed_index is the first block not added);
 *          EMR_CORRUPT, EMR_IO if storage fails (outcomes then say which
 *          blocks, if any, were kept); EMR_INVALID_ARGUMENT also if the
 *          chain is read-only, options->version is not one this library
 *          knows (every version from 1 up to its own
 *          EMR_BATCH_OPTIONS_VERSION is accepted) or options->threads is over
 *          EMR_MAX_VERIFY_THREADS;
 *          EMR_NULL_ARGUMENT if chain is NULL, blocks is NULL while
 *          count > 0, or an element of blocks is NULL.
 * Args:    chain:    the chain, changed.
 * In:      blocks, count: the blocks in order (NULL allowed when count is
 *                    0); copied.
 *          now:      as for emr_chain_add_block; NULL skips the check.
 *          options:  threads, cancel handle and progress callback (see
 *                    emr_batch_options); NULL: the defaults.
 * Out:     outcomes: count elements, or NULL if not wanted. Written
 *                    whatever the status, unless outcomes itself is refused
 *                    (misaligned): element i is block i's outcome, or
 *                    EMR_ADD_NONE when block i was not added (the failed
 *                    block, the blocks after it, every block when the call
 *                    failed before adding any, or after a storage failure
 *                    that kept nothing).
 *          failed_index: the index of the block that failed or at which
 *                    the batch was cancelled, written when the batch ran
 *                    and stopped early; may be NULL if not wanted.
 *          failure:  which block failed and why, as for
 *                    emr_chain_add_block (the failed block of a heavier
 *                    branch may be an ancestor of blocks[*failed_index]);
 *                    may be NULL if not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time. The progress callback runs on the calling thread;
 *          emr_cancel_trigger may be called from any thread.
 */
emr_status emr_chain_add_blocks(struct emr_chain *chain,
                                const struct emr_block *const *blocks,
                                size_t count,
                                const uint64_t *now,
                                const struct emr_batch_options *options,
                                emr_add_outcome *outcomes,
                                size_t *failed_index,
                                struct emr_block_failure *failure);

/**
 * Takes the tip block off the active chain and out of the store (with any
 * side-branch blocks built on it), restoring the user states before it.
 * The block is forgotten: adding it again verifies and connects it anew.
 * No other branch is switched to, even a heavier one.
 *
 * The block's records and entries come back to the pool (emr_chain_pending,
 * emr_chain_pending_entry, emr_chain_template), none lost, to be mined
 * again. A returned record that a block joining the active chain later
 * overtakes (another record of its doctor with its nonce, other content)
 * is kept as a conflict (emr_chain_conflicts, SPEC 9.3), not dropped
 * silently.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if the chain has no block;
 *          EMR_INVALID_ARGUMENT if the chain is read-only; EMR_CORRUPT,
 *          EMR_IO if storage fails (nothing is changed); EMR_NULL_ARGUMENT
 *          if chain is NULL.
 * Args:    chain:   the chain, changed.
 * Out:     removed: the block taken off, freed by the caller with
 *                   emr_block_free; NULL on failure. May be NULL if not
 *                   wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_undo_last_block(struct emr_chain *chain, struct emr_block **removed);

/**
 * Writes a copy of the chain, as of one committed state, to the new file
 * path: the file to copy back in the chain file's place to restore it
 * (docs/OPERATIONS.md, "Backups"). Every page is read through its checksum
 * check and written with a fresh one, and the copy is read back whole
 * before it appears at path (it is written under a temporary name beside
 * it, then linked into place, never over a file): path is either absent
 * or a complete copy. Works on a read-only chain while a writer adds
 * blocks, in this process or another.
 *
 * Returns: EMR_OK; EMR_IO if path exists (a backup never overwrites) or
 *          cannot be written; EMR_CORRUPT if a page of the chain is
 *          damaged (nothing is left at path); EMR_INVALID_ARGUMENT if path
 *          is ""; EMR_NULL_ARGUMENT if chain or path is NULL.
 * Args:    chain: the chain, unchanged.
 * In:      path:  a NUL-terminated file path that does not exist yet.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_backup(const struct emr_chain *chain, const char *path);

/**
 * The number of blocks in the active chain (the tip's height + 1; 0 when
 * empty).
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
 *          if chain or len is NULL.
 * Args:    chain: the chain.
 * Out:     len:   the number of blocks.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_len(const struct emr_chain *chain, uint64_t *len);

/**
 * The active chain's last block. An empty chain has no tip: EMR_OK with
 * *out set to NULL (an empty chain is a normal state, not a failure).
 *
 * Returns: EMR_OK (*out NULL for an empty chain); EMR_CORRUPT if the stored
 *          block is damaged; EMR_IO if storage fails; EMR_NULL_ARGUMENT if
 *          chain or out is NULL.
 * Args:    chain: the chain.
 * Out:     out:   a new block (a copy), freed by the caller with
 *                 emr_block_free; NULL for an empty chain and on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_tip(const struct emr_chain *chain, struct emr_block **out);

/**
 * The active block at a height.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if height is past the tip (the chain has
 *          height or fewer blocks); EMR_CORRUPT if the stored block is
 *          damaged; EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain or
 *          out is NULL.
 * Args:    chain:  the chain.
 * In:      height: 0 ..= the tip's height.
 * Out:     out:    a new block (a copy), freed by the caller with
 *                  emr_block_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_block_at(const struct emr_chain *chain,
                              uint64_t height,
                              struct emr_block **out);

/**
 * The active chain's total difficulty: the sum of its blocks'
 * difficulties, exact, as a 256-bit unsigned big-endian integer (it can
 * exceed 128 bits). Branches are compared by it. All zero for an empty
 * chain.
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
 *          if chain or out32 is NULL.
 * Args:    chain: the chain.
 * Out:     out32: receives 32 bytes, most significant first.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_total_difficulty(const struct emr_chain *chain, uint8_t *out32);

/**
 * The difficulty the next block on the tip must carry (SPEC section 5's
 * retarget rule; the initial difficulty for the first window + 1 blocks).
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
 *          if chain or difficulty is NULL.
 * Args:    chain:      the chain.
 * Out:     difficulty: the difficulty (never 0).
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_next_difficulty(const struct emr_chain *chain,
                                     struct emr_difficulty *difficulty);

/**
 * A user's state after the active chain: a doctor's, patient's or miner's
 * balance and record nonce. A hash the chain never touched has balance 0
 * and nonce 0 (not EMR_NOT_FOUND).
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
 *          if chain, hash20, balance or nonce is NULL.
 * Args:    chain:   the chain.
 * In:      hash20:  the user's 20-byte hash.
 * Out:     balance: the balance.
 *          nonce:   the nonce of the user's last record as a doctor.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_user_state(const struct emr_chain *chain,
                                const uint8_t *hash20,
                                uint64_t *balance,
                                uint64_t *nonce);

/**
 * The record with a txid in the active chain, with its place.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if no active block holds a record with
 *          this txid (side branches are not searched); EMR_CORRUPT,
 *          EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain, txid32 or
 *          record is NULL.
 * Args:    chain:      the chain.
 * In:      txid32:     the record's 32-byte txid.
 * Out:     height:     its block's height; may be NULL if not wanted.
 *          block_id32: receives its block's 32-byte id; may be NULL if not
 *                      wanted.
 *          record:     a new record, freed by the caller with
 *                      emr_record_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_find_record(const struct emr_chain *chain,
                                 const uint8_t *txid32,
                                 uint64_t *height,
                                 uint8_t *block_id32,
                                 struct emr_record **record);

/**
 * Every record for a patient in the active chain, in chain order, with
 * each record's block height and id: a snapshot to walk with
 * emr_history_next (or emr_history_get). A patient with no record gets an
 * empty history, not EMR_NOT_FOUND.
 *
 * Returns: EMR_OK; EMR_CORRUPT if a stored block is damaged; EMR_IO if
 *          storage fails; EMR_NULL_ARGUMENT if chain, patient20 or out is
 *          NULL.
 * Args:    chain:     the chain.
 * In:      patient20: the patient's 20-byte hash.
 * Out:     out:       a new history, freed by the caller with
 *                     emr_history_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_patient_history(const struct emr_chain *chain,
                                     const uint8_t *patient20,
                                     struct emr_history **out);

/**
 * Every record by a doctor in the active chain, in chain order (so in
 * nonce order), with each record's block height and id: a snapshot to walk
 * with emr_history_next (or emr_history_get). Empty for a doctor with no
 * record.
 *
 * Returns: as emr_chain_patient_history; EMR_NULL_ARGUMENT if chain, dr20
 *          or out is NULL.
 * Args:    chain: the chain.
 * In:      dr20:  the doctor's 20-byte hash (SHA-1 of the public key).
 * Out:     out:   a new history, freed by the caller with
 *                 emr_history_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_doctor_records(const struct emr_chain *chain,
                                    const uint8_t *dr20,
                                    struct emr_history **out);

/**
 * The number of records in a history (however far emr_history_next has
 * gone).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if history or len is NULL.
 * Args:    history: the history.
 * Out:     len:     the number of records.
 * Thread-safety: safe to call concurrently with other readers of the
 *          history (not with emr_history_next on it).
 */
emr_status emr_history_len(const struct emr_history *history, size_t *len);

/**
 * The next record of a history and its place, advancing the cursor (the
 * first call gives the first record). After the last record it returns
 * EMR_NOT_FOUND, and keeps doing so:
 *
 * ```c
 * uint64_t height; uint8_t block_id[32]; emr_record *rec;
 * while ((s = emr_history_next(it, &height, block_id, &rec)) == EMR_OK) {
 *     ...; emr_record_free(rec);
 * }
 * if (s != EMR_NOT_FOUND) ...an error...
 * ```
 *
 * Returns: EMR_OK with the next record; EMR_NOT_FOUND at the end (nothing
 *          written but *record = NULL); EMR_NULL_ARGUMENT if history is
 *          NULL.
 * Args:    history:    the history, whose cursor advances.
 * Out:     height:     the record's block height; may be NULL if not
 *                      wanted.
 *          block_id32: receives the block's 32-byte id; may be NULL if not
 *                      wanted.
 *          record:     a new record, freed by the caller with
 *                      emr_record_free, NULL at the end and on failure;
 *                      may be NULL if not wanted.
 * Thread-safety: no other thread may use the history during the call.
 */
emr_status emr_history_next(struct emr_history *history,
                            uint64_t *height,
                            uint8_t *block_id32,
                            struct emr_record **record);

/**
 * The record at a position of a history and its place, without moving the
 * cursor of emr_history_next.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the number of records (an
 *          index past the end, see "Indexes" at the top of this header;
 *          *record is set to NULL, nothing else is written);
 *          EMR_NULL_ARGUMENT if history is NULL.
 * Args:    history:    the history.
 * In:      index:      0 ..= len - 1 (chain order).
 * Out:     height, block_id32, record: as for emr_history_next; each may be
 *                      NULL if not wanted.
 * Thread-safety: safe to call concurrently with other readers of the
 *          history (not with emr_history_next on it).
 */
emr_status emr_history_get(const struct emr_history *history,
                           size_t index,
                           uint64_t *height,
                           uint8_t *block_id32,
                           struct emr_record **record);

/**
 * Frees a history. NULL is a no-op.
 *
 * Args:    history: a history from this library, or NULL. Not usable
 *                   afterwards.
 * Thread-safety: no other thread may use the history during or after the
 *          call.
 */
void emr_history_free(struct emr_history *history);

/**
 * Re-validates every stored active block in order from an empty state, as
 * if each were added anew without a clock (every signature included), and
 * reports the first bad one; when all are good, the stored user states,
 * total difficulty and record index must equal what the blocks give, and
 * side-branch blocks must hash to their ids. Reads only: a read-only handle
 * may check a chain a writer is extending (it checks one snapshot).
 *
 * The status says whether the check reached a verdict; the verdict is the
 * report:
 *   EMR_OK, !report->found_bad: every block is good;
 *   EMR_OK, report->found_bad: report->bad names the first bad block (a
 *     verification or chain status, or EMR_CORRUPT for damaged bytes), and
 *     emr_last_error_message() describes it.
 *
 * Returns: EMR_OK when the check reached a verdict, good or bad;
 *          EMR_CORRUPT if the blocks are good but the stored states, index
 *          or side blocks disagree with them, or SQLite finds damage;
 *          EMR_CANCELLED if options->cancel was triggered; EMR_IO if
 *          storage fails; EMR_INVALID_ARGUMENT if options->version is not
 *          one this library knows (every version from 1 up to its own
 *          EMR_BATCH_OPTIONS_VERSION is accepted) or options->threads is over
 *          EMR_MAX_VERIFY_THREADS; EMR_NULL_ARGUMENT if chain or report is
 *          NULL.
 * Args:    chain:   the chain.
 * In:      options: threads, cancel handle and progress callback (see
 *                   emr_batch_options; the callback runs on a library
 *                   thread); NULL: the defaults.
 * Out:     report:  the verdict, written on EMR_OK.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time. The call starts a few threads of its own (reading,
 *          decoding, replaying) and joins them before it returns.
 */
emr_status emr_chain_check(const struct emr_chain *chain,
                           const struct emr_batch_options *options,
                           struct emr_check_report *report);

/**
 * The number of the chain's authorities (0 for an open chain).
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if chain or count is NULL.
 * Args:    chain: the chain.
 * Out:     count: the number of authorities.
 * Thread-safety: safe to call from any thread, at any time (the
 *          authorities are fixed for the chain's life).
 */
emr_status emr_chain_authority_count(const struct emr_chain *chain, size_t *count);

/**
 * One of the chain's authorities, as uncompressed SPKI DER (the bytes an
 * entry's authority must equal).
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the authority count (an
 *          index past the end, see "Indexes" at the top of this header;
 *          *len is not written); EMR_BUFFER_TOO_SMALL if *len is less than
 *          the size needed (written to *len); EMR_NULL_ARGUMENT if chain or
 *          len is NULL, or buf is NULL while *len > 0.
 * Args:    chain: the chain.
 * In:      index: 0 ..= authority count - 1, in the order the chain was
 *                 created with.
 * Out:     buf:   receives the DER bytes (NULL allowed when *len is 0).
 * In/Out:  len:   in: the capacity of buf; out: the size written or needed.
 * Thread-safety: safe to call from any thread, at any time.
 */
emr_status emr_chain_authority(const struct emr_chain *chain,
                               size_t index,
                               uint8_t *buf,
                               size_t *len);

/**
 * Every grant the active chain holds for a doctor, in chain order, with
 * the height of the block that carries it and its revocation's effective
 * time if the active chain revokes it. A grant a reorganisation or undo
 * removed is gone from later snapshots.
 *
 * Returns: EMR_OK (an empty snapshot for a doctor without grants, and for
 *          every doctor of an open chain); EMR_CORRUPT, EMR_IO if storage
 *          fails; EMR_NULL_ARGUMENT if chain, dr_hash20 or out is NULL.
 * Args:    chain:     the chain.
 * In:      dr_hash20: the doctor's hash (SHA-1 of its public key), 20 bytes.
 * Out:     out:       a new snapshot, freed by the caller with
 *                     emr_grants_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_grants(const struct emr_chain *chain,
                            const uint8_t *dr_hash20,
                            struct emr_grants **out);

/**
 * The number of grants in a snapshot.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if grants or len is NULL.
 * Args:    grants: the snapshot.
 * Out:     len:    the number of grants.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_grants_len(const struct emr_grants *grants, size_t *len);

/**
 * One grant of a snapshot, with where it was granted and whether it was
 * revoked.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
 *          index past the end, see "Indexes" at the top of this header;
 *          *grant is set to NULL, nothing else is written);
 *          EMR_NULL_ARGUMENT if grants is NULL.
 * Args:    grants:    the snapshot.
 * In:      index:     0 ..= length - 1, in chain order.
 * Out:     grant:     a new entry (the grant), freed by the caller with
 *                     emr_entry_free; NULL on failure; may be NULL if not
 *                     wanted.
 *          height:    the height of the block that carries it; may be NULL
 *                     if not wanted.
 *          revoked:   whether the active chain revokes it; may be NULL if
 *                     not wanted.
 *          effective: the revocation's effective time when revoked is
 *                     true, 0 otherwise; may be NULL if not wanted.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_grants_get(const struct emr_grants *grants,
                          size_t index,
                          struct emr_entry **grant,
                          uint64_t *height,
                          bool *revoked,
                          uint64_t *effective);

/**
 * Frees a grants snapshot. NULL is a no-op.
 *
 * Args:    grants: a snapshot from this library, or NULL. Not usable
 *                  afterwards (entries taken from it stay valid).
 * Thread-safety: no other thread may use the snapshot during or after the
 *          call.
 */
void emr_grants_free(struct emr_grants *grants);

/**
 * Whether the active chain authorizes a doctor to write at a time: it
 * holds a grant for the doctor with not_before <= timestamp <= not_after
 * that is not revoked with effective <= timestamp. What a block at that
 * timestamp on the tip asks of its records' doctors. Always false in an
 * open chain (which has no grants, and where every doctor may write).
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails;
 *          EMR_NULL_ARGUMENT if chain, dr_hash20 or authorized is NULL.
 * Args:    chain:      the chain.
 * In:      dr_hash20:  the doctor's hash, 20 bytes.
 *          timestamp:  Unix seconds.
 * Out:     authorized: the answer.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_is_authorized(const struct emr_chain *chain,
                                   const uint8_t *dr_hash20,
                                   uint64_t timestamp,
                                   bool *authorized);

/**
 * What became of the prescription (dr_hash, nonce) in the active chain:
 * open, dispensed (by which pharmacy, when, in which block) or cancelled
 * (by whom, why). The "who" and "why" are the entry's fields
 * (emr_dispense_pharmacy_public_key, emr_cancellation_canceller,
 * emr_cancellation_reason).
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if the active chain holds no record of
 *          that doctor with that nonce (nothing is written but *entry =
 *          NULL); EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
 *          if chain, dr_hash20 or state is NULL.
 * Args:    chain:      the chain.
 * In:      dr_hash20:  the prescriber's 20-byte hash.
 *          nonce:      the record's nonce.
 * Out:     state:      EMR_RX_OPEN, EMR_RX_DISPENSED or EMR_RX_CANCELLED.
 *          entry:      a new entry, the dispense or the cancellation (NULL
 *                      when open), freed by the caller with
 *                      emr_entry_free; may be NULL if not wanted.
 *          height:     the height of that entry's block (0 when open); may
 *                      be NULL if not wanted.
 *          block_id32: receives that block's 32-byte id (zeros when open);
 *                      may be NULL if not wanted.
 *          timestamp:  that block's timestamp, when it was dispensed or
 *                      cancelled (0 when open); may be NULL if not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_prescription_state(const struct emr_chain *chain,
                                        const uint8_t *dr_hash20,
                                        uint64_t nonce,
                                        emr_prescription_state *state,
                                        struct emr_entry **entry,
                                        uint64_t *height,
                                        uint8_t *block_id32,
                                        uint64_t *timestamp);

/**
 * Whether the active chain lets a pharmacy dispense at a time: it holds a
 * dispenser grant for the pharmacy with not_before <= timestamp <=
 * not_after not revoked with effective <= timestamp. Always false in an
 * open chain.
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails;
 *          EMR_NULL_ARGUMENT if chain, pharmacy_hash20 or authorized is NULL.
 * Args:    chain:           the chain.
 * In:      pharmacy_hash20: SHA-1 of the pharmacy's public key (SPKI DER).
 *          timestamp:       Unix seconds.
 * Out:     authorized:      the answer.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_is_dispenser_authorized(const struct emr_chain *chain,
                                             const uint8_t *pharmacy_hash20,
                                             uint64_t timestamp,
                                             bool *authorized);

/**
 * Every dispense by a pharmacy in the active chain, in chain order. A
 * dispense a reorganisation or undo removed is gone from later snapshots.
 *
 * Returns: EMR_OK (an empty snapshot for a pharmacy that dispensed
 *          nothing); EMR_CORRUPT, EMR_IO if storage fails;
 *          EMR_NULL_ARGUMENT if chain, pharmacy_hash20 or out is NULL.
 * Args:    chain:           the chain.
 * In:      pharmacy_hash20: SHA-1 of the pharmacy's public key.
 * Out:     out:             a new snapshot, freed by the caller with
 *                           emr_dispensings_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_dispensings(const struct emr_chain *chain,
                                 const uint8_t *pharmacy_hash20,
                                 struct emr_dispensings **out);

/**
 * The number of dispenses in a snapshot.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if dispensings or len is NULL.
 * Args:    dispensings: the snapshot.
 * Out:     len:         the number of dispenses.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_dispensings_len(const struct emr_dispensings *dispensings, size_t *len);

/**
 * One dispense of a snapshot, with its block.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
 *          index past the end, see "Indexes" at the top of this header;
 *          *dispense is set to NULL, nothing else is written);
 *          EMR_NULL_ARGUMENT if dispensings is NULL.
 * Args:    dispensings: the snapshot.
 * In:      index:       0 ..= length - 1, in chain order.
 * Out:     dispense:    a new entry (the dispense), freed by the caller
 *                       with emr_entry_free; NULL on failure; may be NULL
 *                       if not wanted.
 *          height:      its block's height; may be NULL if not wanted.
 *          block_id32:  receives its block's 32-byte id; may be NULL if
 *                       not wanted.
 *          timestamp:   its block's timestamp; may be NULL if not wanted.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_dispensings_get(const struct emr_dispensings *dispensings,
                               size_t index,
                               struct emr_entry **dispense,
                               uint64_t *height,
                               uint8_t *block_id32,
                               uint64_t *timestamp);

/**
 * Frees a dispensings snapshot. NULL is a no-op.
 *
 * Args:    dispensings: a snapshot from this library, or NULL. Not usable
 *                       afterwards (entries taken from it stay valid).
 * Thread-safety: no other thread may use the snapshot during or after the
 *          call.
 */
void emr_dispensings_free(struct emr_dispensings *dispensings);

/**
 * A submit outcome's name: "ready", "held", "already_pending",
 * "conflicts_with_pending".
 *
 * Returns: a NUL-terminated string in static storage (never NULL, never
 *          freed); "unknown" for a number that is not an outcome.
 * In:      outcome: any value.
 * Thread-safety: safe to call from any thread.
 */
const char *emr_submit_outcome_name(emr_submit_outcome outcome);

/**
 * Offers a record to the chain's pool of records waiting for a block; the
 * pool is stored in the chain's database, durably when this returns.
 *
 * The record is verified in SPEC order (signature included) against its
 * doctor's nonce after the tip: a nonce the chain has already used fails
 * with the first failing check (EMR_INVALID_NONCE when the others pass).
 * A later nonce is pooled: EMR_SUBMIT_READY when it follows the doctor's
 * nonce after the tip and the doctor's ready records, EMR_SUBMIT_HELD when
 * an earlier nonce is missing, EMR_SUBMIT_ALREADY_PENDING (nothing
 * changes) when the same record is pending, and
 * EMR_SUBMIT_CONFLICTS_WITH_PENDING (nothing changes) when another record
 * with the same (dr_hash, nonce) is (emr_chain_submit_at names it). In a
 * chain with authorities, a record that passes its own checks is then
 * refused unless its doctor is authorized at the later of the current time
 * and the tip's timestamp, by the chain's grants and the pending entries.
 *
 * Returns: EMR_OK with *outcome; the record's status (EMR_INVALID_NONCE,
 *          EMR_INVALID_TXID, EMR_INVALID_SIGNATURE, ...) when it fails
 *          verification; EMR_UNAUTHORIZED_DOCTOR as above;
 *          EMR_INVALID_ARGUMENT if the chain is read-only;
 *          EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT if
 *          chain or record is NULL.
 * Args:    chain:   the chain, changed.
 * In:      record:  the record; copied.
 * Out:     outcome: an EMR_SUBMIT_* value, written on EMR_OK; may be NULL
 *                   if not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time (emr_chain_mine_next on another thread does not hold
 *          the chain while it mines).
 */
emr_status emr_chain_submit(struct emr_chain *chain,
                            const struct emr_record *record,
                            emr_submit_outcome *outcome);

/**
 * emr_chain_submit with the caller's clock, and the pending record that a
 * conflict names.
 *
 * The record is checked and pooled as emr_chain_submit does it; in a chain
 * with authorities its doctor must be authorized at the later of *now and
 * the tip's timestamp (the next block can be no earlier than the tip).
 *
 * Returns: as emr_chain_submit.
 * Args:    chain:          the chain, changed.
 * In:      record:         the record; copied.
 *          now:            the caller's Unix time; NULL: the current time.
 * Out:     outcome:        an EMR_SUBMIT_* value, written on EMR_OK; may be
 *                          NULL if not wanted.
 *          pending_txid32: with EMR_SUBMIT_CONFLICTS_WITH_PENDING, receives
 *                          the 32-byte txid of the pending record that
 *                          holds the doctor's nonce (the pool keeps it);
 *                          not written otherwise. May be NULL if not
 *                          wanted.
 * Thread-safety: as emr_chain_submit.
 */
emr_status emr_chain_submit_at(struct emr_chain *chain,
                               const struct emr_record *record,
                               const uint64_t *now,
                               emr_submit_outcome *outcome,
                               uint8_t *pending_txid32);

/**
 * Offers a grant or revocation to the chain's pool, for the next blocks
 * (emr_chain_template and emr_chain_mine_next take the pending entries that
 * still apply, in arrival order); durable when this returns.
 *
 * The entry is checked as a block on the tip at the later of the current
 * time and the tip's timestamp would check it after the pending entries
 * (SPEC 8.1 checks 1-6, in order): a revocation may name a grant that is
 * itself still pending. A revocation that passes every check but whose
 * effective time is later than that is held: templates take it once their
 * timestamp reaches effective (a block carrying it earlier is refused with
 * EMR_REVOCATION_NOT_YET_EFFECTIVE).
 *
 * Returns: EMR_OK with *outcome EMR_SUBMIT_READY (added),
 *          EMR_SUBMIT_HELD (a revocation added, waiting for its effective
 *          time) or EMR_SUBMIT_ALREADY_PENDING (an entry with its id is
 *          pending; nothing changed); the entry's status when it fails:
 *          EMR_INVALID_ENTRY, EMR_INVALID_ENTRY_SIGNATURE (high-S
 *          included), EMR_WRONG_CHAIN (made for another chain),
 *          EMR_UNKNOWN_AUTHORITY (every entry of an open chain),
 *          EMR_DUPLICATE_GRANT (a grant of the same content, whatever its
 *          signature), EMR_UNKNOWN_GRANT, EMR_ALREADY_REVOKED;
 *          EMR_INVALID_ARGUMENT if the chain is read-only; EMR_CORRUPT,
 *          EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain or entry is
 *          NULL.
 * Args:    chain:   the chain, changed.
 * In:      entry:   the entry; copied.
 * Out:     outcome: an EMR_SUBMIT_* value, written on EMR_OK; may be NULL
 *                   if not wanted.
 * Thread-safety: as emr_chain_submit.
 */
emr_status emr_chain_submit_entry(struct emr_chain *chain,
                                  const struct emr_entry *entry,
                                  emr_submit_outcome *outcome);

/**
 * emr_chain_submit_entry with the caller's clock: the entry is checked as a
 * block on the tip at the later of *now and the tip's timestamp would
 * check it, so a revocation whose effective time is later than that is
 * EMR_SUBMIT_HELD.
 *
 * Returns: as emr_chain_submit_entry.
 * Args:    chain:   the chain, changed.
 * In:      entry:   the entry; copied.
 *          now:     the caller's Unix time; NULL: the current time.
 * Out:     outcome: an EMR_SUBMIT_* value, written on EMR_OK; may be NULL
 *                   if not wanted.
 * Thread-safety: as emr_chain_submit.
 */
emr_status emr_chain_submit_entry_at(struct emr_chain *chain,
                                     const struct emr_entry *entry,
                                     const uint64_t *now,
                                     emr_submit_outcome *outcome);

/**
 * The number of entries waiting in the chain's pool.
 *
 * Returns: EMR_OK; EMR_CORRUPT if a pooled entry is damaged; EMR_IO if
 *          storage fails; EMR_NULL_ARGUMENT if chain or count is NULL.
 * Args:    chain: the chain.
 * Out:     count: the number of pending entries.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_pending_entry_count(const struct emr_chain *chain, size_t *count);

/**
 * One entry waiting in the chain's pool, in arrival order. An entry that
 * no longer applies (its grant was revoked by a block meanwhile, ...)
 * stays listed; templates skip it.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the number of pending
 *          entries (an index past the end, see "Indexes" at the top of
 *          this header; *out is set to NULL); EMR_CORRUPT, EMR_IO if
 *          storage fails; EMR_NULL_ARGUMENT if chain or out is NULL.
 * Args:    chain: the chain.
 * In:      index: 0 ..= pending entry count - 1.
 * Out:     out:   a new entry, freed by the caller with emr_entry_free;
 *                 NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_pending_entry(const struct emr_chain *chain,
                                   size_t index,
                                   struct emr_entry **out);

/**
 * Every pending record of the chain's pool, as a snapshot: the ready ones
 * first, in template order, then the held ones, in arrival order.
 *
 * Returns: EMR_OK; EMR_CORRUPT if a pooled record is damaged; EMR_IO if
 *          storage fails; EMR_NULL_ARGUMENT if chain or out is NULL.
 * Args:    chain: the chain.
 * Out:     out:   a new snapshot, freed by the caller with
 *                 emr_pending_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_pending(const struct emr_chain *chain, struct emr_pending **out);

/**
 * How many records a pending snapshot holds, and how many of them (the
 * first ones) are ready.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if pending is NULL.
 * Args:    pending: the snapshot.
 * Out:     len:     all its records; may be NULL if not wanted.
 *          ready:   its ready records (indexes 0 .. ready-1; the held ones
 *                   follow); may be NULL if not wanted.
 * Thread-safety: safe to call from any thread concurrently with other
 *          readers of the snapshot.
 */
emr_status emr_pending_len(const struct emr_pending *pending, size_t *len, size_t *ready);

/**
 * A copy of the record at `index` of a pending snapshot.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= its length (an index past the
 *          end, see "Indexes" at the top of this header; *out is set to
 *          NULL); EMR_NULL_ARGUMENT if pending or out is NULL.
 * Args:    pending: the snapshot.
 * In:      index:   0 .. len-1.
 * Out:     out:     a new record, freed by the caller with
 *                   emr_record_free; NULL on failure.
 * Thread-safety: safe to call from any thread concurrently with other
 *          readers of the snapshot.
 */
emr_status emr_pending_get(const struct emr_pending *pending,
                           size_t index,
                           struct emr_record **out);

/**
 * Frees a pending snapshot. NULL is a no-op.
 *
 * Args:    pending: a snapshot from this library, or NULL. Not usable
 *                   afterwards (records taken from it stay valid).
 * Thread-safety: no other thread may use the snapshot during or after the
 *          call.
 */
void emr_pending_free(struct emr_pending *pending);

/**
 * Every record the chain dropped for another (SPEC 9.3, "no record lost
 * silently"), as a snapshot, oldest first. A record is dropped when a
 * block joins the active chain carrying another record of its doctor with
 * its nonce but other content (patient or text): the record was pending,
 * or a reorganisation took its block off the active chain and returned it
 * to the pool. Typically the doctor signed at two sites before they
 * synced; the doctor re-signs it with a new nonce. Such a record can be
 * neither pending nor mined (its nonce is taken: submitting it again is
 * EMR_INVALID_NONCE), so the chain keeps it here, with the record and
 * block that took its place, until emr_chain_dismiss_conflict or until a
 * block carrying it joins the active chain again (a reorganisation back).
 * The conflicts are stored in the chain's database.
 *
 * Returns: EMR_OK (an empty snapshot when there is no conflict);
 *          EMR_CORRUPT if a stored conflict is damaged; EMR_IO if storage
 *          fails; EMR_NULL_ARGUMENT if chain or out is NULL.
 * Args:    chain: the chain; a read-only one too.
 * Out:     out:   a new snapshot, freed by the caller with
 *                 emr_conflicts_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_conflicts(const struct emr_chain *chain, struct emr_conflicts **out);

/**
 * The number of conflicts in a snapshot.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if conflicts or len is NULL.
 * Args:    conflicts: the snapshot.
 * Out:     len:       the number of conflicts.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_conflicts_len(const struct emr_conflicts *conflicts, size_t *len);

/**
 * One conflict of a snapshot: the dropped record, the record that took
 * its place (same doctor, same nonce, other content) and the active block
 * that carries that one.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
 *          index past the end, see "Indexes" at the top of this header;
 *          *record is set to NULL, nothing else is written);
 *          EMR_NULL_ARGUMENT if conflicts is NULL.
 * Args:    conflicts:     the snapshot.
 * In:      index:         0 ..= length - 1, oldest first.
 * Out:     record:        the dropped record, a new record freed by the
 *                         caller with emr_record_free; NULL on failure;
 *                         may be NULL if not wanted.
 *          replaced_by32: receives the 32-byte txid of the record that
 *                         took its place; may be NULL if not wanted.
 *          block_id32:    receives the 32-byte id of the block that
 *                         carries that record; may be NULL if not wanted.
 *          height:        that block's height; may be NULL if not wanted.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_conflicts_get(const struct emr_conflicts *conflicts,
                             size_t index,
                             struct emr_record **record,
                             uint8_t *replaced_by32,
                             uint8_t *block_id32,
                             uint64_t *height);

/**
 * Frees a conflicts snapshot. NULL is a no-op.
 *
 * Args:    conflicts: a snapshot from this library, or NULL. Not usable
 *                     afterwards (records taken from it stay valid).
 * Thread-safety: no other thread may use the snapshot during or after the
 *          call.
 */
void emr_conflicts_free(struct emr_conflicts *conflicts);

/**
 * Stops listing the conflict of the dropped record with this txid (the
 * doctor has re-signed the prescription with a new nonce, say); durable
 * when this returns. A txid that names no conflict changes nothing and is
 * not an error: *dismissed is false.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the chain is read-only;
 *          EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain
 *          or txid32 is NULL.
 * Args:    chain:     the chain, changed.
 * In:      txid32:    the dropped record's 32-byte txid (emr_record_txid
 *                     of the record emr_conflicts_get gives).
 * Out:     dismissed: whether a conflict was listed and is no longer,
 *                     written on EMR_OK; may be NULL if not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_dismiss_conflict(struct emr_chain *chain,
                                      const uint8_t *txid32,
                                      bool *dismissed);

/**
 * Every dispense and cancellation the chain dropped for another (SPEC
 * 9.3, SPEC 10), as a snapshot, oldest first. Typically two pharmacies
 * dispensed one prescription at two sites that had not synced: when the
 * heavier branch joined, the other pharmacy's dispense took the
 * prescription, so this one can be neither pending nor mined; the chain
 * keeps it with the entry that took its place (naming both pharmacies)
 * and that entry's block, until emr_chain_dismiss_entry_conflict or until
 * the entry itself is in the active chain again. A cancellation a dispense
 * overtook is kept the same way. Stored in the chain's database.
 *
 * Returns: EMR_OK (an empty snapshot when there is no conflict);
 *          EMR_CORRUPT if a stored conflict is damaged; EMR_IO if storage
 *          fails; EMR_NULL_ARGUMENT if chain or out is NULL.
 * Args:    chain: the chain; a read-only one too.
 * Out:     out:   a new snapshot, freed by the caller with
 *                 emr_entry_conflicts_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_entry_conflicts(const struct emr_chain *chain,
                                     struct emr_entry_conflicts **out);

/**
 * The number of conflicts in an entry conflicts snapshot.
 *
 * Returns: EMR_OK; EMR_NULL_ARGUMENT if conflicts or len is NULL.
 * Args:    conflicts: the snapshot.
 * Out:     len:       the number of conflicts.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_entry_conflicts_len(const struct emr_entry_conflicts *conflicts, size_t *len);

/**
 * One conflict of an entry conflicts snapshot: the dropped entry, the
 * entry that took its prescription (for two dispenses, the two pharmacies:
 * emr_dispense_pharmacy_public_key of each) and the block that carried
 * that one.
 *
 * Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
 *          index past the end, see "Indexes" at the top of this header;
 *          *entry and *replaced_by are set to NULL, nothing else is
 *          written); EMR_NULL_ARGUMENT if conflicts is NULL.
 * Args:    conflicts:   the snapshot.
 * In:      index:       0 ..= length - 1, oldest first.
 * Out:     entry:       the dropped dispense or cancellation, a new entry
 *                       freed by the caller with emr_entry_free; NULL on
 *                       failure; may be NULL if not wanted.
 *          replaced_by: the entry that took its prescription, likewise.
 *          block_id32:  receives the 32-byte id of the block that carried
 *                       replaced_by; may be NULL if not wanted.
 *          height:      that block's height; may be NULL if not wanted.
 * Thread-safety: safe to call concurrently on the same snapshot.
 */
emr_status emr_entry_conflicts_get(const struct emr_entry_conflicts *conflicts,
                                   size_t index,
                                   struct emr_entry **entry,
                                   struct emr_entry **replaced_by,
                                   uint8_t *block_id32,
                                   uint64_t *height);

/**
 * Frees an entry conflicts snapshot. NULL is a no-op.
 *
 * Args:    conflicts: a snapshot from this library, or NULL. Not usable
 *                     afterwards (entries taken from it stay valid).
 * Thread-safety: no other thread may use the snapshot during or after the
 *          call.
 */
void emr_entry_conflicts_free(struct emr_entry_conflicts *conflicts);

/**
 * Stops listing the conflict of the dropped entry with this id (the
 * pharmacies have settled, say); durable when this returns. An id that
 * names no conflict changes nothing and is not an error: *dismissed is
 * false.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if the chain is read-only;
 *          EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain
 *          or entry_id32 is NULL.
 * Args:    chain:      the chain, changed.
 * In:      entry_id32: the dropped entry's 32-byte id (emr_entry_id).
 * Out:     dismissed:  whether a conflict was listed and is no longer,
 *                      written on EMR_OK; may be NULL if not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_dismiss_entry_conflict(struct emr_chain *chain,
                                            const uint8_t *entry_id32,
                                            bool *dismissed);

/**
 * The next block to mine on the chain: previous is the tip's id (all zero
 * for an empty chain), height the chain's length, difficulty the next
 * difficulty, timestamp the later of *timestamp (NULL: the current time)
 * and the tip's, the records up to 25 ready records of the pool, each
 * doctor's nonces consecutive (in a chain with authorities, only records
 * the block would authorize), and the entries up to 25 pending entries
 * that still apply at its timestamp (a held revocation once the timestamp
 * reaches its effective time), in arrival order (emr_block_entry_count and
 * emr_block_entry read them; emr_mine_block_with_entries mines them). It
 * is returned as a block whose block id is
 * all zero and nonce 0: pass its fields to emr_mine_block, or use
 * emr_chain_mine_next.
 *
 * Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails;
 *          EMR_NULL_ARGUMENT if chain, miner20 or out is NULL.
 * Args:    chain:     the chain.
 * In:      miner20:   who is rewarded, 20 bytes.
 *          timestamp: Unix seconds; NULL: the current time.
 * Out:     out:       a new block, freed by the caller with
 *                     emr_block_free; NULL on failure.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_template(const struct emr_chain *chain,
                              const uint8_t *miner20,
                              const uint64_t *timestamp,
                              struct emr_block **out);

/**
 * Mines the chain's next block (emr_chain_template) and adds it, in one
 * call: the search runs as emr_mine_block runs it, with every option of
 * options, without holding the chain. When the tip moves meanwhile (another
 * thread added a block to this handle: one at the same height, a
 * reorganisation, an undo), the search stops within a few milliseconds and
 * starts over on the new tip with the pool as it then is.
 *
 * The status says whether the call could run; how it ended is
 * *outcome_out:
 *   EMR_OK, EMR_MINE_FOUND:     *block_out is the block mined and added
 *                               (*added_out says how, normally
 *                               EMR_ADD_EXTENDED);
 *   EMR_OK, EMR_MINE_EXHAUSTED: every nonce of the range was tried on the
 *                               current tip;
 *   EMR_OK, EMR_MINE_CANCELLED: options->cancel was triggered;
 *   EMR_OK, EMR_MINE_TIMED_OUT: options->time_limit_ms (for the whole
 *                               call, restarts included) passed.
 * The progress callback gets hashes and seconds since the call started.
 * The block is added as emr_chain_add_block adds it, the pool following the
 * active chain the same way (its records and entries leave the pool; those
 * of blocks leaving the active chain come back, or become conflicts,
 * emr_chain_conflicts, when another record took their doctor's nonce).
 *
 * Returns: EMR_OK when the call ran, whatever its outcome;
 *          EMR_TIMESTAMP_TOO_LATE if the template's timestamp is more than
 *          the chain's max_future seconds (default
 *          EMR_DEFAULT_MAX_FUTURE_SECONDS) ahead of the current time
 *          (nothing is mined); EMR_INVALID_ARGUMENT if the chain is read-only or for the
 *          options emr_mine_block refuses; EMR_IO if a thread cannot start
 *          or storage fails; EMR_CORRUPT; EMR_NULL_ARGUMENT if chain,
 *          miner20, outcome_out or block_out is NULL.
 * Args:    chain:       the chain, changed.
 * In:      miner20:     who is rewarded, 20 bytes.
 *          timestamp:   the block's Unix time; NULL: the current time, read
 *                       again at every start.
 *          options:     how to search (see emr_mine_options); NULL: the
 *                       defaults.
 * Out:     outcome_out: how the call ended (an EMR_MINE_* value), written
 *                       on EMR_OK.
 *          block_out:   the added block with EMR_MINE_FOUND, freed by the
 *                       caller with emr_block_free; NULL otherwise.
 *          added_out:   with EMR_MINE_FOUND, what adding did; may be NULL
 *                       if not wanted.
 * Thread-safety: safe to call from any thread; other calls on the same
 *          chain may run meanwhile from other threads (they wait only while
 *          this call takes the template or adds its block). The progress
 *          callback runs on the calling thread and may call into the
 *          library, this chain included. The chain must not be freed until
 *          the call returns.
 */
emr_status emr_chain_mine_next(struct emr_chain *chain,
                               const uint8_t *miner20,
                               const uint64_t *timestamp,
                               const struct emr_mine_options *options,
                               emr_mine_outcome *outcome_out,
                               struct emr_block **block_out,
                               emr_add_outcome *added_out);

/**
 * Makes TLS credentials from three PEM texts: the consortium authority's
 * certificate, the program's certificate (signed by that authority) and
 * its private key. Connections made with them speak TLS 1.3 only, trust
 * only that authority (not the system's roots) and present the
 * certificate.
 *
 * Returns: EMR_OK; EMR_INVALID_ARGUMENT if a certificate does not parse
 *          as PEM, or the program's certificate was not issued by the
 *          authority for a node (emr_last_error_message() says which);
 *          EMR_INVALID_KEY if the key does not parse or is not the
 *          certificate's; EMR_NULL_ARGUMENT if out is NULL or a pointer is
 *          NULL with a non-zero length.
 * In:      ca_pem, ca_len:     the authority's certificate (PEM bytes).
 *          cert_pem, cert_len: the program's certificate (PEM bytes).
 *          key_pem, key_len:   its private key (PEM bytes); copied.
 * Out:     out: the credentials, freed with emr_tls_free; NULL on failure.
 * Thread-safety: safe to call from any thread.
 */
emr_status emr_tls_new(const uint8_t *ca_pem,
                       size_t ca_len,
                       const uint8_t *cert_pem,
                       size_t cert_len,
                       const uint8_t *key_pem,
                       size_t key_len,
                       struct emr_tls **out);

/**
 * Frees credentials made by emr_tls_new. NULL is allowed.
 *
 * Args:    tls: the credentials; not used afterwards.
 * Thread-safety: needs exclusive use of tls.
 */
void emr_tls_free(struct emr_tls *tls);

/**
 * Brings the chain in step with the node at url, once (SPEC 9.2): reads
 * its /v1/info; when its chain is another one (another chain id or
 * genesis) fails with EMR_PEER_INCOMPATIBLE; when its work is greater
 * than this chain's, finds the last common block, fetches every block
 * after it page by page and adds them all in one add call (as
 * emr_chain_add_blocks: a reorganization happens exactly as there, and a
 * record that cannot return to the pool is kept as a conflict,
 * emr_chain_conflicts). A node no heavier gives EMR_OK with
 * report->received == 0.
 *
 * Every connection is bounded in time (connect 5 s, a whole request 30 s)
 * and in what it reads. Plain http:// is allowed to a loopback address
 * (127.0.0.1, ::1, localhost) only; https:// needs tls.
 *
 * Returns: EMR_OK; EMR_PEER_UNREACHABLE if the node could not be asked
 *          (no connection, a failed TLS handshake, no answer in time);
 *          EMR_PEER_REFUSED if it answered an HTTP error status (403 this
 *          client is suspended, 429 too many requests, 503 shutting
 *          down); EMR_PEER_MISBEHAVED if it broke the protocol (an answer
 *          over its limit or malformed, a block that fails the chain's
 *          checks, less work delivered than advertised);
 *          EMR_PEER_INCOMPATIBLE (above); EMR_SYNC_INCOMPLETE if the sync
 *          stopped for a reason that is nobody's fault yet (the node's
 *          chain moved meanwhile, a block ahead of this clock: sync again
 *          later); EMR_CANCELLED if options->cancel was triggered; the
 *          chain's own statuses (EMR_LOCKED, EMR_CORRUPT, EMR_IO; and
 *          EMR_INVALID_ARGUMENT if it is read-only). Blocks added before a
 *          failure stay added (each passed every check).
 *          EMR_INVALID_ARGUMENT also for a URL that is not
 *          http(s)://HOST:PORT, plain http:// to another machine, https://
 *          without tls, or options as for emr_chain_add_blocks;
 *          EMR_NULL_ARGUMENT if chain or url is NULL.
 * Args:    chain:   the chain, changed; held for the whole call.
 * In:      url:     the node's URL, NUL-terminated, e.g.
 *                   "https://node-a.example:8443" or "http://127.0.0.1:8080".
 *          tls:     the credentials for https://, or NULL (plain http://).
 *          options: the cancel handle and the progress callback (blocks
 *                   added so far of those the node announced), as for
 *                   emr_chain_add_blocks; options->threads is checked but
 *                   the checks run on the library's verification pool on
 *                   every core. NULL: the defaults.
 * Out:     report:  what the sync did, written on EMR_OK; may be NULL if
 *                   not wanted.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time (this one holds it while it waits for the network).
 *          The progress callback runs on the calling thread;
 *          emr_cancel_trigger may be called from any thread.
 */
emr_status emr_chain_sync(struct emr_chain *chain,
                          const char *url,
                          const struct emr_tls *tls,
                          const struct emr_batch_options *options,
                          struct emr_sync_report *report);

/**
 * A patient's history in the active chain as an HL7 FHIR R4 Bundle of
 * type collection (docs/FHIR.md), as UTF-8 JSON text followed by a NUL.
 * Sealed prescriptions that one of keys may read are shown opened; the
 * others are marked as sealed. The same history gives the same text.
 *
 * Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
 *          needed (written to *len: the text and its NUL); EMR_CORRUPT,
 *          EMR_IO for storage failures; EMR_NULL_ARGUMENT if chain,
 *          patient20 or len is NULL, keys is NULL while keys_len > 0, an
 *          element of keys is NULL, or buf is NULL while *len > 0.
 * Args:    chain:     the chain.
 * In:      patient20: the patient's 20-byte hash.
 *          keys:      readers' private keys to open sealed prescriptions
 *                     with (NULL allowed when keys_len is 0).
 *          keys_len:  how many.
 * Out:     buf:       receives the JSON text and a NUL.
 * In/Out:  len:       in: the capacity of buf; out: the bytes written or
 *                     needed, the NUL included.
 * Thread-safety: safe to call from any thread; calls on one chain run one
 *          at a time.
 */
emr_status emr_chain_patient_fhir(const struct emr_chain *chain,
                                  const uint8_t *patient20,
                                  const struct emr_key *const *keys,
                                  size_t keys_len,
                                  uint8_t *buf,
                                  size_t *len);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* EMR_H */
