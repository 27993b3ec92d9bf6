/* Not a test of the library: a program that frees one emr_key twice, which
 * run.sh builds with the sanitizers and expects to be stopped, so that a
 * sanitizer build that silently checks nothing (a flag lost, a runtime not
 * linked) fails the run instead of passing it. */
#include <stdio.h>

#include "emr.h"

int main(void) {
    struct emr_key *key = NULL;
    if (emr_key_generate(EMR_CURVE_SECP256K1, &key) != EMR_OK) return 2;
    emr_key_free(key);
    emr_key_free(key); /* the error the sanitizer must report */
    puts("double free not detected");
    return 0;
}
