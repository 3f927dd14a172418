/* determinism.c: prints the scores of 1,000 random agents (and a short evolution's best
 * bytes), one per line, so builds from different compilers and levels can be compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisuna.h"
#include "../src/internal.h"

/* A hostile agent for `inputs` inputs and one output: input 0 -> random -> a chain of `len`
 * threshold neurons that fire one pass after another -> the output, and `hang` threshold
 * neurons fed by input 0 that never fire but run in every pass (and feed the output). */
static bsn_agent *hostile(uint32_t inputs, uint32_t len, uint32_t hang) {
    uint32_t n = inputs + 2 + len + hang, cap_c = len + 2 + 3 * hang;
    bsn_agent *a = bsn_agent_alloc(NULL, 1, &n, &cap_c);
    if (a == NULL) return NULL;
    bsn_net *net = a->nets[0];
    net->n_in = inputs;
    net->n_out = 1;
    net->n = n;
    uint32_t r = inputs + 1, t0 = r + 1, h0 = t0 + len, k = 0;
    for (uint32_t i = 0; i < n; i++) {
        net->kind[i] = i < inputs ? BSN_KIND_INPUT : i == inputs ? BSN_KIND_OUTPUT
                     : i == r ? BSN_KIND_RANDOM : BSN_KIND_THRESHOLD;
        net->rate[i] = 0;
    }
#define CONN(f, t, w) do { bsn_conn c_ = {(uint16_t)(f), (uint16_t)(t), BSN_NONE, (uint16_t)(w)}; net->c[k++] = c_; } while (0)
    /* in (to, from) order, as the format keeps them */
    CONN(t0 + len - 1, inputs, 0xFFFF);
    for (uint32_t h = 0; h < hang; h++) CONN(h0 + h, inputs, 0x0001);
    CONN(0, r, 0xFFFF);
    CONN(r, t0, 0xFFFF);
    for (uint32_t j = 1; j < len; j++) CONN(t0 + j - 1, t0 + j, 0xFFFF);
    for (uint32_t h = 0; h < hang; h++) {
        CONN(0, h0 + h, 0x0001);
        CONN(t0 + len - 1, h0 + h, 0x0001);
    }
#undef CONN
    net->nc = k;
    bsn_net_prepare(net);
    return a;
}

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
    /* fuel: the same counts and the same out-of-fuel verdicts everywhere */
    const char *fenvs[] = {"env=multiplexer-6;max_neurons=1024;max_connections=4096",
                           "env=mountain-car;samples=2;max_steps=100;max_neurons=1024;max_connections=4096",
                           "env=parity-n;n=4;max_neurons=1024;max_connections=4096"};
    for (size_t k = 0; k < 3; k++) {
        bsn_params p;
        if (bsn_params_parse(fenvs[k], strlen(fenvs[k]), &p) != BSN_OK) return 1;
        uint32_t ins = p.env == BSN_ENV_MOUNTAIN_CAR ? 2 : p.env == BSN_ENV_PARITY ? 4 : 6;
        for (uint32_t len = 50; len <= 400; len += 175) {
            bsn_agent *a = hostile(ins, len, 2 * len);
            if (a == NULL) return 1;
            uint64_t seeds[2] = {k + 1, len}, f1 = 0, f2 = 0;
            uint32_t s1 = 0, s2 = 0, o1 = 0, o2 = 0;
            if (bsn_score_detail(a, &p, 1, seeds, 2, &s1, &f1, &o1) != BSN_OK) return 1;
            if (bsn_score_detail(a, &p, 2, seeds, 2, &s2, &f2, &o2) != BSN_OK) return 1;
            printf("fuel %zu %u %u %u %llu %llu %u\n", k, len, s1, s2, (unsigned long long)f1,
                   (unsigned long long)f2, o2);
            bsn_agent_free(a);
        }
    }
    return 0;
}
