/* emr_chain_patient_fhir: a patient's history as an HL7 FHIR R4 Bundle
 * (JSON text and a NUL) through the caller's buffer: the size protocol,
 * texts kept as data (JSON-escaped), a sealed prescription marked as sealed
 * or opened with the patient's key, and NULL arguments refused.
 *
 * Usage: test_fhir */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdlib.h>

#include "common.h"

#define T0 UINT64_C(1767225600)

static const uint8_t MINER[20] = {0xc0, 0x01};
static const char *HOSTILE = "<b>Ibuprofen</b> \"200mg\"";

static void mine_next(emr_chain *chain, uint64_t t) {
    emr_mine_options opts;
    CHECK_OK(emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION));
    opts.threads = 1;
    emr_mine_outcome outcome = 0;
    emr_add_outcome added = EMR_ADD_NONE;
    emr_block *block = NULL;
    CHECK_OK(emr_chain_mine_next(chain, MINER, &t, &opts, &outcome, &block, &added));
    CHECK(added == EMR_ADD_EXTENDED, "mined: %s", emr_add_outcome_name(added));
    emr_block_free(block);
}

/* The bundle as a NUL-terminated string the caller frees. */
static char *bundle(const emr_chain *chain, const uint8_t *patient, const emr_key *const *keys, size_t n) {
    size_t len = 0;
    CHECK_STATUS(emr_chain_patient_fhir(chain, patient, keys, n, NULL, &len), EMR_BUFFER_TOO_SMALL);
    CHECK(len > 2, "a size is asked for: %zu", len);
    char *text = malloc(len);
    if (text == NULL) exit(2);
    size_t small = len - 1;
    CHECK_STATUS(emr_chain_patient_fhir(chain, patient, keys, n, (uint8_t *)text, &small), EMR_BUFFER_TOO_SMALL);
    CHECK(small == len, "the size needed again: %zu", small);
    CHECK_OK(emr_chain_patient_fhir(chain, patient, keys, n, (uint8_t *)text, &len));
    CHECK(strlen(text) + 1 == len, "one NUL, at the end");
    return text;
}

int main(void) {
    test_context = "FHIR bundle";
    emr_chain_options o;
    emr_chain *chain = NULL;
    CHECK_OK(emr_chain_options_default(&o, EMR_CHAIN_OPTIONS_VERSION));
    o.initial_difficulty.lo = 1;
    CHECK_OK(emr_chain_open(NULL, &o, &chain));
    if (chain == NULL) return 1;
    emr_key *doctor = NULL, *patient_key = NULL;
    CHECK_OK(emr_key_generate(EMR_CURVE_SECP256K1, &doctor));
    CHECK_OK(emr_key_generate(EMR_CURVE_P256, &patient_key));
    if (doctor == NULL || patient_key == NULL) return 1;
    uint8_t patient[20], der[128];
    size_t der_len = sizeof der;
    CHECK_OK(emr_key_public_key_hash(patient_key, patient));
    CHECK_OK(emr_key_public_key_der(patient_key, der, &der_len));

    emr_record *plain = NULL, *sealed = NULL;
    emr_submit_outcome outcome;
    CHECK_OK(emr_record_sign(doctor, patient, 20, HOSTILE, strlen(HOSTILE), 1, &plain));
    const uint8_t *readers[] = {der};
    const size_t reader_lens[] = {der_len};
    const char *secret = "Sertraline 50mg";
    CHECK_OK(emr_record_sign_sealed(doctor, patient, 20, secret, strlen(secret), 2, readers, reader_lens, 1, true, &sealed));
    CHECK_OK(emr_chain_submit(chain, plain, &outcome));
    CHECK_OK(emr_chain_submit(chain, sealed, &outcome));
    mine_next(chain, T0);

    char *text = bundle(chain, patient, NULL, 0);
    CHECK(strstr(text, "\"resourceType\":\"Bundle\"") != NULL, "a Bundle");
    CHECK(strstr(text, "\"type\":\"collection\"") != NULL, "a collection");
    CHECK(strstr(text, "<b>Ibuprofen</b> \\\"200mg\\\"") != NULL, "the text kept, JSON-escaped");
    CHECK(strstr(text, "sealed prescription: readable only by its recipients") != NULL, "sealed marked");
    CHECK(strstr(text, "Sertraline") == NULL, "not opened without a key");
    CHECK(strstr(text, "\"authoredOn\":\"2026-01-01T00:00:00Z\"") != NULL, "the block's time");
    free(text);

    const emr_key *keys[] = {patient_key};
    text = bundle(chain, patient, keys, 1);
    CHECK(strstr(text, "Sertraline 50mg") != NULL, "opened with the patient's key");
    free(text);

    const uint8_t nobody[20] = {9};
    text = bundle(chain, nobody, NULL, 0);
    CHECK(strstr(text, "MedicationRequest") == NULL, "a patient without records: no request");
    free(text);

    test_context = "FHIR NULL arguments";
    size_t len = 0;
    const emr_key *none[] = {NULL};
    CHECK_STATUS(emr_chain_patient_fhir(NULL, patient, NULL, 0, NULL, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_fhir(chain, NULL, NULL, 0, NULL, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_fhir(chain, patient, NULL, 1, NULL, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_fhir(chain, patient, none, 1, NULL, &len), EMR_NULL_ARGUMENT);
    CHECK_STATUS(emr_chain_patient_fhir(chain, patient, NULL, 0, NULL, NULL), EMR_NULL_ARGUMENT);

    emr_record_free(plain);
    emr_record_free(sealed);
    emr_key_free(doctor);
    emr_key_free(patient_key);
    emr_chain_free(chain);
    return test_finish("test_fhir");
}
