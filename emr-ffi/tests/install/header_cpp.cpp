// emr.h from C++17 (scripts/test_install.sh, `make test-install`): compiled
// with g++ -std=c++17 -Wall -Wextra -Werror against the installed header and
// library, and run. It owns handles with std::unique_ptr, which is how a C++
// caller would hold them, and checks emr_version() against the version the
// build says (argv[1]).
#include <emr.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace {

struct KeyFree {
    void operator()(emr_key *key) const noexcept { emr_key_free(key); }
};
struct RecordFree {
    void operator()(emr_record *record) const noexcept { emr_record_free(record); }
};

int failures = 0;

void check(bool ok, const std::string &what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failures;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s EXPECTED_VERSION\n", argv[0]);
        return 2;
    }
    const std::string version = emr_version();
    check(version == argv[1], "emr_version() is " + version + ", the build's is " + argv[1]);

    emr_key *raw_key = nullptr;
    check(emr_key_generate(EMR_CURVE_P256, &raw_key) == EMR_OK, "emr_key_generate");
    std::unique_ptr<emr_key, KeyFree> key(raw_key);

    uint8_t doctor[20] = {};
    check(emr_key_public_key_hash(key.get(), doctor) == EMR_OK, "emr_key_public_key_hash");
    char address[EMR_ADDRESS_LEN] = {};
    size_t len = sizeof address;
    check(emr_address_encode(EMR_ROLE_DOCTOR, doctor, reinterpret_cast<uint8_t *>(address), &len) == EMR_OK &&
              len == EMR_ADDRESS_LEN && std::strncmp(address, "emrd1", 5) == 0,
          "emr_address_encode: " + std::string(address, len));

    uint8_t back[20] = {};
    check(emr_address_decode(address, len, EMR_ROLE_DOCTOR, back, nullptr, nullptr) == EMR_OK &&
              std::memcmp(back, doctor, sizeof back) == 0,
          "emr_address_decode gives the hash back");
    const emr_status wrong_role = emr_address_decode(address, len, EMR_ROLE_PATIENT, back, nullptr, nullptr);
    check(wrong_role == EMR_WRONG_ROLE, std::string("a doctor's address as a patient's: ") + emr_status_name(wrong_role));

    const std::string text = "Amoxicillin 500mg, 3x daily";
    emr_record *raw_record = nullptr;
    check(emr_record_sign(key.get(), back, sizeof back, text.data(), text.size(), 1, &raw_record) == EMR_OK,
          "emr_record_sign");
    std::unique_ptr<emr_record, RecordFree> record(raw_record);
    check(emr_record_verify(record.get(), 0) == EMR_OK, "emr_record_verify");
    check(emr_record_verify(record.get(), 1) == EMR_INVALID_NONCE, "a replayed record is EMR_INVALID_NONCE");
    check(emr_record_verify(nullptr, 0) == EMR_NULL_ARGUMENT, "NULL is EMR_NULL_ARGUMENT");

    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
