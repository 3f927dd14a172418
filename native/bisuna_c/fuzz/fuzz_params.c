/* fuzz_params.c: libFuzzer target for the spec-parameter parser. Whatever it accepts must be
 * in range, give a shape, and round-trip through a random agent of that shape. */
#include <stdint.h>
#include <string.h>

#include "bisuna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bsn_params p;
    int rc = bsn_params_parse((const char *)data, size, &p);
    if (rc != BSN_OK) {
        if (rc != BSN_E_SPEC && rc != BSN_E_LIMIT) __builtin_trap();
        return 0;
    }
    if (p.env < BSN_ENV_CIPHER || p.env > BSN_ENV_MOUNTAIN_CAR || p.population < 2 ||
        p.population > 10000 || p.limits.max_neurons > 4096 || p.limits.max_connections > 65535)
        __builtin_trap();
    uint32_t n, in[BSN_MAX_NETWORKS], out[BSN_MAX_NETWORKS];
    if (bsn_env_shape(&p, &n, in, out) != BSN_OK || n < 1 || n > 2) __builtin_trap();
    for (uint32_t k = 0; k < n; k++)
        if (in[k] + out[k] > p.limits.max_neurons) __builtin_trap();
    bsn_agent *a = NULL;
    if (bsn_agent_random(&p, size, 20, NULL, &a) != BSN_OK) __builtin_trap();
    if (bsn_agent_networks(a) != n) __builtin_trap();
    bsn_agent_free(a);
    return 0;
}
