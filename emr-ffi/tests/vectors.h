/* Reading the vectors' text form (see vectors_to_text.py) in the C tests. */
#ifndef EMR_TEST_VECTORS_H
#define EMR_TEST_VECTORS_H

#include "common.h"

#define MAX_TOKENS 16

static inline int tokenize(char *line, char **tokens) {
    int n = 0;
    for (char *t = strtok(line, " \r\n"); t != NULL && n < MAX_TOKENS; t = strtok(NULL, " \r\n")) {
        tokens[n++] = t;
    }
    return n;
}

/* A name written as hex of UTF-8, decoded for messages. */
static char name_buf[256];

static inline const char *decode_name(const char *hex) {
    bytes_t b = hex_decode(hex);
    size_t n = b.len < sizeof name_buf - 1 ? b.len : sizeof name_buf - 1;
    memcpy(name_buf, b.data, n);
    name_buf[n] = 0;
    bytes_free(&b);
    return name_buf;
}

typedef struct {
    bytes_t dr_hash, patient_hash, dr_public_key, prescription, signature, txid;
    uint64_t nonce;
} vec_record;

/* tokens: dr_hash patient_hash dr_public_key prescription_hex nonce signature txid */
static inline vec_record parse_record(char **t) {
    vec_record r;
    r.dr_hash = hex_decode(t[0]);
    r.patient_hash = hex_decode(t[1]);
    r.dr_public_key = hex_decode(t[2]);
    r.prescription = hex_decode(t[3]);
    r.nonce = parse_u64(t[4]);
    r.signature = hex_decode(t[5]);
    r.txid = hex_decode(t[6]);
    return r;
}

static inline void vec_record_free(vec_record *r) {
    bytes_free(&r->dr_hash);
    bytes_free(&r->patient_hash);
    bytes_free(&r->dr_public_key);
    bytes_free(&r->prescription);
    bytes_free(&r->signature);
    bytes_free(&r->txid);
}

static inline emr_record_fields fields_of(const vec_record *r) {
    emr_record_fields f;
    f.dr_hash = r->dr_hash.data;
    f.dr_hash_len = r->dr_hash.len;
    f.patient_hash = r->patient_hash.data;
    f.patient_hash_len = r->patient_hash.len;
    f.dr_public_key = r->dr_public_key.data;
    f.dr_public_key_len = r->dr_public_key.len;
    f.prescription = (const char *)r->prescription.data;
    f.prescription_len = r->prescription.len;
    f.nonce = r->nonce;
    f.signature = r->signature.data;
    f.signature_len = r->signature.len;
    f.txid = r->txid.data;
    f.txid_len = r->txid.len;
    return f;
}

#endif /* EMR_TEST_VECTORS_H */
