/* fuzz_agent.c: libFuzzer target for the agent decoder. A decoded agent must re-encode to
 * exactly the input (canonical), dump, run, score and mutate without a fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bisuna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void check_one(const uint8_t *data, size_t size);

/* Each input is decoded as given and, so that mutations get past the checksum to the
 * structure checks, once more with its last four bytes replaced by the right CRC-32. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_one(data, size);
    if (size >= 12) {
        uint8_t *copy = malloc(size);
        if (copy == NULL) return 0;
        memcpy(copy, data, size);
        uint32_t c = crc32_ieee(copy, size - 4);
        copy[size - 4] = (uint8_t)c;
        copy[size - 3] = (uint8_t)(c >> 8);
        copy[size - 2] = (uint8_t)(c >> 16);
        copy[size - 1] = (uint8_t)(c >> 24);
        check_one(copy, size);
        free(copy);
    }
    return 0;
}

static void check_one(const uint8_t *data, size_t size) {
    bsn_limits lim = {256, 2048, 24576};
    bsn_agent *a = NULL;
    int rc = bsn_agent_decode(data, size, size & 1 ? &lim : NULL, NULL, &a);
    if (rc != BSN_OK) {
        if (a != NULL) __builtin_trap();
        return;
    }
    size_t n = bsn_agent_size(a);
    uint8_t *b = malloc(n);
    if (b == NULL || n != size || bsn_agent_encode(a, b, n) != BSN_OK || memcmp(b, data, n) != 0)
        __builtin_trap();
    free(b);
    size_t need = 0;
    (void)bsn_agent_dot(a, NULL, 0, &need);
    char *dot = malloc(need);
    if (dot == NULL || bsn_agent_dot(a, dot, need, &need) != BSN_OK) __builtin_trap();
    free(dot);
    uint32_t in = 0, out = 0;
    if (bsn_agent_network_info(a, 0, &in, &out, NULL, NULL, NULL, NULL) != BSN_OK) __builtin_trap();
    if (in <= 64 && out <= 64) {
        uint16_t inputs[3 * 64], outputs[3 * 64];
        for (size_t i = 0; i < 3 * 64; i++) inputs[i] = (uint16_t)(i * 2654435761u);
        if (bsn_agent_run(a, 0, inputs, 3, outputs, 7) != BSN_OK) __builtin_trap();
    }
    bsn_params p;
    const char *envs[] = {"env=multiplexer-6", "env=cipher;payload_words=1;samples=16",
                          "env=parity-n;n=2", "env=mountain-car;samples=1;max_steps=20"};
    for (size_t e = 0; e < 4; e++) {
        if (bsn_params_parse(envs[e], strlen(envs[e]), &p) != BSN_OK) __builtin_trap();
        uint64_t seeds[3] = {1, 2, 3};
        uint32_t s = 0;
        rc = bsn_score(a, &p, 1, seeds, 3, &s);
        if (rc != BSN_OK && rc != BSN_E_SHAPE) __builtin_trap();
        if (s > 1000000) __builtin_trap();
    }
    bsn_agent *child = NULL;
    rc = bsn_agent_mutate(a, &lim, size, 5, NULL, &child);
    if (rc != BSN_OK && rc != BSN_E_LIMIT) __builtin_trap();
    bsn_agent_free(child);
    bsn_agent_free(a);
}
