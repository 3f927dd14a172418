/* determinism.c: prints the scores of 1,000 random agents (and a short evolution's best
 * bytes), one per line, so builds from different compilers and levels can be compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisuna.h"

int main(void) {
    const char *envs[] = {"env=cipher;payload_words=3;samples=128", "env=cipher;mix=none;payload_words=2;samples=128",
                          "env=multiplexer-6", "env=multiplexer-11", "env=parity-n;n=6",
                          "env=mountain-car;samples=2;max_steps=200"};
    const size_t n_envs = sizeof envs / sizeof envs[0];
    for (uint64_t i = 0; i < 1000; i++) {
        bsn_params p;
        const char *e = envs[i % n_envs];
        if (bsn_params_parse(e, strlen(e), &p) != BSN_OK) return 1;
        bsn_agent *a = NULL;
        if (bsn_agent_random(&p, i, 200 + (uint32_t)(i % 7) * 600, NULL, &a) != BSN_OK) return 1;
        uint64_t seeds[3] = {i * 0x9E3779B97F4A7C15ull, i + 1, i + 2};
        uint32_t s = 0;
        if (bsn_score(a, &p, 1, seeds, 3, &s) != BSN_OK) return 1;
        printf("%llu %u %llx\n", (unsigned long long)i, s, (unsigned long long)bsn_agent_spectrum(a));
        bsn_agent_free(a);
    }
    for (size_t k = 0; k < n_envs; k++) {
        bsn_params p;
        if (bsn_params_parse(envs[k], strlen(envs[k]), &p) != BSN_OK) return 1;
        p.population = 30;
        bsn_pop *pop = NULL;
        if (bsn_pop_new(&p, 99 + k, NULL, &pop) != BSN_OK) return 1;
        int64_t best[10];
        if (bsn_pop_evolve(pop, 10, best, NULL) != BSN_OK) return 1;
        size_t sz;
        if (bsn_pop_ranked_size(pop, 0, &sz) != BSN_OK) return 1;
        uint8_t *b = malloc(sz);
        if (b == NULL || bsn_pop_ranked_encode(pop, 0, b, sz, NULL) != BSN_OK) return 1;
        printf("pop %zu best %lld bytes ", k, (long long)best[9]);
        for (size_t i = 0; i < sz; i++) printf("%02x", b[i]);
        printf("\n");
        free(b);
        bsn_pop_free(pop);
    }
    return 0;
}
