/* test_core.c: C unit tests of the BiSUNA core (run under ASan/UBSan by `make test`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisuna.h"
#include "../src/internal.h"
#include "../src/search.h"

static int failures = 0;
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static bsn_params params_of(const char *text) {
    bsn_params p;
    memset(&p, 0, sizeof p);
    int rc = bsn_params_parse(text, strlen(text), &p);
    CHECK(rc == BSN_OK);
    return p;
}

static uint8_t *encode(const bsn_agent *a, size_t *n) {
    *n = bsn_agent_size(a);
    uint8_t *b = malloc(*n);
    CHECK(b != NULL && bsn_agent_encode(a, b, *n) == BSN_OK);
    return b;
}

static uint32_t crc32_ref(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}
static void fix_crc(uint8_t *b, size_t n) {
    uint32_t c = crc32_ref(b, n - 4);
    b[n - 4] = (uint8_t)c;
    b[n - 3] = (uint8_t)(c >> 8);
    b[n - 2] = (uint8_t)(c >> 16);
    b[n - 1] = (uint8_t)(c >> 24);
}

/* Alice and Bob are wires in_i -> out_i with weight 0xFFFF (cipher, mix xor, N words). */
static size_t wires_bytes(uint8_t *b, uint32_t N) {
    size_t pos = 0;
    memcpy(b, "BSNA", 4);
    b[4] = 1; b[5] = 0; b[6] = 2; b[7] = 0;
    pos = 8;
    for (int net = 0; net < 2; net++) {
        b[pos++] = (uint8_t)N; b[pos++] = 0; b[pos++] = (uint8_t)N; b[pos++] = 0;
        b[pos++] = 0; b[pos++] = 0; b[pos++] = (uint8_t)N; b[pos++] = 0;
        for (uint32_t i = 0; i < N; i++) {
            uint32_t from = i, to = N + i;
            b[pos++] = (uint8_t)from; b[pos++] = 0; b[pos++] = (uint8_t)to; b[pos++] = 0;
            b[pos++] = 0xFF; b[pos++] = 0xFF; b[pos++] = 0xFF; b[pos++] = 0xFF;
        }
    }
    pos += 4;
    fix_crc(b, pos);
    return pos;
}

static void test_params(void) {
    bsn_params p = params_of("env=cipher;payload_words=3;mix=xor;samples=256;population=100");
    CHECK(p.env == BSN_ENV_CIPHER && p.payload_words == 3 && p.samples == 256);
    CHECK(p.limits.max_neurons == 256 && p.limits.max_connections == 2048);
    const char *bad[] = {"", "env=", "env=cipherx", "env=cipher;", "env=cipher;;mix=xor",
                         "env=cipher;mix=and", "env=cipher;payload_words=0",
                         "env=cipher;payload_words=17", "env=cipher;payload_words=03",
                         "env=cipher;samples=-1", "env=cipher;env=cipher",
                         "env=multiplexer-6;mix=xor", "env=parity-n;n=1", "mix=xor",
                         "env=cipher;samples=99999999999", "env=cipher;max_neurons=7;mix=none;payload_words=3",
                         "env=mountain-car;max_steps=0", "env=cipher;bogus=1", "env=cipher;samples"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bsn_params q;
        int rc = bsn_params_parse(bad[i], strlen(bad[i]), &q);
        if (rc == BSN_OK) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(rc == BSN_E_SPEC || rc == BSN_E_LIMIT);
    }
    bsn_params q;
    const char *small = "env=cipher;mix=none;payload_words=3;max_neurons=8";
    CHECK(bsn_params_parse(small, strlen(small), &q) == BSN_E_LIMIT);
    CHECK(bsn_params_parse(NULL, 3, &q) == BSN_E_ARG);
}

static void test_wires_score(void) {
    uint8_t b[256];
    size_t n = wires_bytes(b, 3);
    bsn_agent *a = NULL;
    CHECK(bsn_agent_decode(b, n, NULL, NULL, &a) == BSN_OK);
    bsn_params p = params_of("env=cipher;payload_words=3;samples=512");
    uint64_t seeds[3] = {1, 2, 3};
    uint32_t s = 0;
    CHECK(bsn_score(a, &p, BSN_SCORER_CORE_1, seeds, 3, &s) == BSN_OK);
    CHECK(s == 1000000);
    CHECK(bsn_score(a, &p, 3, seeds, 3, &s) == BSN_E_SCORER);
    CHECK(bsn_score(a, &p, BSN_SCORER_CORE_2, seeds, 3, &s) == BSN_OK && s == 1000000);
    CHECK(bsn_score(a, &p, 1, seeds, 2, &s) == BSN_E_ARG);
    bsn_params m = params_of("env=multiplexer-6");
    CHECK(bsn_score(a, &m, 1, seeds, 3, &s) == BSN_E_SHAPE);
    size_t need = 0;
    CHECK(bsn_agent_dot(a, NULL, 0, &need) == BSN_E_SPACE && need > 10);
    char *dot = malloc(need);
    CHECK(bsn_agent_dot(a, dot, need, &need) == BSN_OK && strstr(dot, "digraph") == dot);
    free(dot);
    bsn_agent_free(a);
}

static void test_decode_errors(void) {
    uint8_t b[256], c[260];
    size_t n = wires_bytes(b, 2);
    bsn_agent *a = NULL;
    for (size_t k = 0; k < n; k++) {
        int rc = bsn_agent_decode(b, k, NULL, NULL, &a);
        CHECK(rc == BSN_E_TRUNCATED || (k >= 4 && rc == BSN_E_TRAILING) ||
              (k >= 8 && rc == BSN_E_CHECKSUM));
        CHECK(a == NULL);
    }
    memcpy(c, b, n);
    c[n] = 0;
    CHECK(bsn_agent_decode(c, n + 1, NULL, NULL, &a) == BSN_E_TRAILING);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, b, n);
            c[i] ^= (uint8_t)(1u << bit);
            CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) != BSN_OK);
        }
    memcpy(c, b, n); c[0] = 'X';
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_MAGIC);
    memcpy(c, b, n); c[4] = 2;
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_VERSION);
    memcpy(c, b, n); c[n - 1] ^= 1;
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_CHECKSUM);
    memcpy(c, b, n); c[6] = 0; fix_crc(c, n);
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_RANGE); /* zero networks */
    /* network 0, connection 0 starts at 16: from=0,to=2; connection 1: from=1,to=3 */
    memcpy(c, b, n); c[16] = 9; fix_crc(c, n);
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_RANGE); /* from out of range */
    memcpy(c, b, n); c[20] = 1; c[21] = 0; fix_crc(c, n);
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_NONCANONICAL); /* modulated, w != 0 */
    memcpy(c, b, n); c[18] = 3; c[26] = 2; fix_crc(c, n);
    CHECK(bsn_agent_decode(c, n, NULL, NULL, &a) == BSN_E_NONCANONICAL); /* out of order */
    bsn_limits lim = {3, 2048, 24576};
    CHECK(bsn_agent_decode(b, n, &lim, NULL, &a) == BSN_E_LIMIT);
    lim.max_neurons = 4; lim.max_connections = 1;
    CHECK(bsn_agent_decode(b, n, &lim, NULL, &a) == BSN_E_LIMIT);
    lim.max_connections = 2; lim.max_agent_bytes = (uint32_t)n - 1;
    CHECK(bsn_agent_decode(b, n, &lim, NULL, &a) == BSN_E_LIMIT);
    lim.max_agent_bytes = (uint32_t)n;
    CHECK(bsn_agent_decode(b, n, &lim, NULL, &a) == BSN_OK);
    bsn_agent_free(a);
    CHECK(bsn_agent_decode(NULL, 0, NULL, NULL, &a) == BSN_E_ARG);
}

static void test_round_trip_and_mutation(void) {
    const char *envs[] = {"env=cipher;payload_words=3;samples=64", "env=cipher;mix=none;payload_words=2;samples=32",
                          "env=multiplexer-6", "env=multiplexer-11", "env=parity-n;n=5",
                          "env=mountain-car;samples=2;max_steps=50"};
    for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++) {
        bsn_params p = params_of(envs[e]);
        for (uint64_t seed = 0; seed < 16; seed++) {
            bsn_agent *a = NULL;
            CHECK(bsn_agent_random(&p, seed, 200 + (uint32_t)seed * 20, NULL, &a) == BSN_OK);
            for (int gen = 0; gen < 10 && a; gen++) {
                size_t n;
                uint8_t *b = encode(a, &n);
                bsn_agent *d = NULL;
                CHECK(bsn_agent_decode(b, n, &p.limits, NULL, &d) == BSN_OK);
                size_t m;
                uint8_t *b2 = encode(d, &m);
                CHECK(m == n && memcmp(b, b2, n) == 0);
                CHECK(bsn_agent_spectrum(a) == bsn_agent_spectrum(d));
                uint64_t seeds[3] = {seed, 7, 8};
                uint32_t s1 = 0, s2 = 1;
                CHECK(bsn_score(a, &p, 1, seeds, 3, &s1) == BSN_OK);
                CHECK(bsn_score(d, &p, 1, seeds, 3, &s2) == BSN_OK);
                CHECK(s1 == s2 && s1 <= 1000000);
                bsn_agent *child = NULL;
                CHECK(bsn_agent_mutate(d, &p.limits, seed * 131 + (uint64_t)gen, 5, NULL, &child) == BSN_OK);
                free(b);
                free(b2);
                bsn_agent_free(d);
                bsn_agent_free(a);
                a = child;
            }
            bsn_agent_free(a);
        }
    }
}

static void test_population(void) {
    bsn_params p = params_of("env=cipher;payload_words=2;samples=64;population=30");
    bsn_pop *pop = NULL, *twin = NULL;
    CHECK(bsn_pop_new(&p, 42, NULL, &pop) == BSN_OK);
    CHECK(bsn_pop_new(&p, 42, NULL, &twin) == BSN_OK);
    size_t sz;
    CHECK(bsn_pop_ranked_size(pop, 0, &sz) == BSN_E_EMPTY);
    int64_t best[20], mean[20], best2[20];
    CHECK(bsn_pop_evolve(pop, 20, best, mean) == BSN_OK);
    CHECK(bsn_pop_evolve(twin, 20, best2, NULL) == BSN_OK);
    CHECK(memcmp(best, best2, sizeof best) == 0);
    CHECK(bsn_pop_generation(pop) == 20);
    for (int g = 0; g < 20; g++) CHECK(best[g] >= mean[g]);
    CHECK(bsn_pop_ranked_size(pop, 0, &sz) == BSN_OK);
    uint8_t *b = malloc(sz);
    int64_t fit;
    CHECK(bsn_pop_ranked_encode(pop, 0, b, sz, &fit) == BSN_OK && fit == best[19]);
    CHECK(bsn_pop_ranked_encode(pop, 0, b, sz - 1, &fit) == BSN_E_SPACE);
    bsn_agent *a = NULL;
    CHECK(bsn_agent_decode(b, sz, &p.limits, NULL, &a) == BSN_OK);
    const bsn_agent *mig[1] = {a};
    CHECK(bsn_pop_import(twin, mig, 1) == BSN_OK);
    CHECK(bsn_pop_import(twin, mig, 30) == BSN_E_ARG);
    uint8_t w[256];
    size_t wn = wires_bytes(w, 3);
    bsn_agent *wrong = NULL;
    CHECK(bsn_agent_decode(w, wn, NULL, NULL, &wrong) == BSN_OK);
    const bsn_agent *mig2[1] = {wrong};
    CHECK(bsn_pop_import(twin, mig2, 1) == BSN_E_SHAPE);
    CHECK(bsn_pop_evolve(twin, 3, NULL, NULL) == BSN_OK);
    bsn_agent_free(wrong);
    bsn_agent_free(a);
    free(b);
    bsn_pop_free(pop);
    bsn_pop_free(twin);
}

/* Every strategy: deterministic for a seed, canonical agents within the limits, fitness as
 * bsn_score gives it on the generation's seeds; es solves multiplexer-6 on a fixed seed. */
static void test_strategies(void) {
    CHECK(strcmp(bsn_strategy_name(0), "suna") == 0);
    CHECK(strcmp(bsn_strategy_name(1), "es") == 0);
    CHECK(bsn_strategy_name(2) == NULL);
    bsn_params p = params_of("env=multiplexer-11;population=20;max_neurons=40;max_connections=60");
    bsn_pop *pop = NULL, *twin = NULL;
    CHECK(bsn_pop_new_with(&p, 7, "nope", NULL, &pop) == BSN_E_ARG && pop == NULL);
    CHECK(bsn_pop_new_with(&p, 7, NULL, NULL, &pop) == BSN_E_ARG);
    for (uint32_t s = 0; bsn_strategy_name(s) != NULL; s++) {
        CHECK(bsn_pop_new_with(&p, 7, bsn_strategy_name(s), NULL, &pop) == BSN_OK);
        CHECK(bsn_pop_new_with(&p, 7, bsn_strategy_name(s), NULL, &twin) == BSN_OK);
        int64_t best[30], best2[30];
        CHECK(bsn_pop_evolve(pop, 30, best, NULL) == BSN_OK);
        CHECK(bsn_pop_evolve(twin, 30, best2, NULL) == BSN_OK);
        CHECK(memcmp(best, best2, sizeof best) == 0);
        CHECK(bsn_pop_evaluations(pop) >= 30u * 16u);
        for (uint32_t r = 0; r < bsn_pop_size(pop); r++) {
            size_t n, n2;
            CHECK(bsn_pop_ranked_size(pop, r, &n) == BSN_OK);
            CHECK(bsn_pop_ranked_size(twin, r, &n2) == BSN_OK && n == n2);
            uint8_t *b = malloc(n), *b2 = malloc(n);
            int64_t fit, fit2;
            CHECK(bsn_pop_ranked_encode(pop, r, b, n, &fit) == BSN_OK);
            CHECK(bsn_pop_ranked_encode(twin, r, b2, n, &fit2) == BSN_OK);
            CHECK(fit == fit2 && memcmp(b, b2, n) == 0);
            bsn_agent *a = NULL;
            CHECK(bsn_agent_decode(b, n, &p.limits, NULL, &a) == BSN_OK);
            uint32_t score = 0;
            CHECK(a && bsn_score(a, &p, BSN_SCORER_CORE_1, pop->seeds, 2, &score) == BSN_OK);
            CHECK((int64_t)score == fit);
            bsn_agent_free(a);
            free(b);
            free(b2);
        }
        /* carried across an epoch: export the members, load them into a new population */
        uint32_t m = bsn_pop_members(pop);
        CHECK(m >= 1 && m <= bsn_pop_size(pop));
        bsn_agent *members[20];
        for (uint32_t i = 0; i < m; i++) {
            size_t n;
            CHECK(bsn_pop_member_size(pop, i, &n) == BSN_OK);
            uint8_t *b = malloc(n);
            CHECK(bsn_pop_member_encode(pop, i, b, n) == BSN_OK);
            CHECK(bsn_agent_decode(b, n, &p.limits, NULL, &members[i]) == BSN_OK);
            free(b);
        }
        CHECK(bsn_pop_member_size(pop, m, &(size_t){0}) == BSN_E_ARG);
        bsn_pop *next = NULL;
        CHECK(bsn_pop_new_with(&p, 8, bsn_strategy_name(s), NULL, &next) == BSN_OK);
        CHECK(bsn_pop_load(next, (const bsn_agent *const *)members, m + 1) == BSN_E_ARG);
        CHECK(bsn_pop_load(next, (const bsn_agent *const *)members, m) == BSN_OK);
        for (uint32_t i = 0; i < m; i++) { /* the loaded members are the exported ones */
            size_t n;
            CHECK(bsn_pop_member_size(next, i, &n) == BSN_OK && n == bsn_agent_size(members[i]));
            uint8_t *b = malloc(n), *b2 = malloc(n);
            CHECK(bsn_pop_member_encode(next, i, b, n) == BSN_OK);
            CHECK(bsn_agent_encode(members[i], b2, n) == BSN_OK && memcmp(b, b2, n) == 0);
            free(b);
            free(b2);
        }
        CHECK(bsn_pop_evolve(next, 2, NULL, NULL) == BSN_OK);
        CHECK(bsn_pop_import(next, (const bsn_agent *const *)members, 1) == BSN_OK);
        for (uint32_t i = 0; i < m; i++) bsn_agent_free(members[i]);
        bsn_pop_free(next);
        bsn_pop_free(pop);
        bsn_pop_free(twin);
    }
    /* known answer: es solves multiplexer-6 from seed 3 (in about 2,500 generations) */
    bsn_params q = params_of("env=multiplexer-6");
    CHECK(bsn_pop_new_with(&q, 3, "es", NULL, &pop) == BSN_OK);
    int64_t hi = 0, b1[100];
    for (int k = 0; k < 60 && hi < 1000000; k++) {
        CHECK(bsn_pop_evolve(pop, 100, b1, NULL) == BSN_OK);
        for (int g = 0; g < 100; g++) hi = b1[g] > hi ? b1[g] : hi;
    }
    CHECK(hi == 1000000);
    bsn_pop_free(pop);
}

/* ---- the failing allocator: fails the k-th allocation, counts live blocks ---------------- */
typedef struct { long fail_at, count, live; } failing;
static void *f_alloc(void *ctx, size_t n) {
    failing *f = ctx;
    if (f->count++ == f->fail_at) return NULL;
    void *p = malloc(n);
    if (p) f->live++;
    return p;
}
static void f_free(void *ctx, void *p) {
    failing *f = ctx;
    f->live--;
    free(p);
}

static void test_failing_allocator(void) {
    bsn_params p = params_of("env=cipher;payload_words=2;samples=32;population=6;max_neurons=64;max_connections=128");
    uint8_t w[256];
    size_t wn = wires_bytes(w, 2);
    int saw_nomem = 0;
    for (long k = 0;; k++) {
        failing f = {k, 0, 0};
        bsn_allocator al = {f_alloc, f_free, &f};
        bsn_pop *pop = NULL;
        int rc = bsn_pop_new(&p, 1, &al, &pop);
        if (rc == BSN_OK) {
            CHECK(bsn_pop_evolve(pop, 2, NULL, NULL) == BSN_OK);
            bsn_pop_free(pop);
            CHECK(f.live == 0);
            break;
        }
        CHECK(rc == BSN_E_NOMEM && pop == NULL && f.live == 0);
        saw_nomem = 1;
    }
    CHECK(saw_nomem);
    saw_nomem = 0;
    for (long k = 0;; k++) {
        failing f = {k, 0, 0};
        bsn_allocator al = {f_alloc, f_free, &f};
        bsn_pop *pop = NULL;
        int rc = bsn_pop_new_with(&p, 1, "es", &al, &pop);
        if (rc == BSN_OK) {
            CHECK(bsn_pop_evolve(pop, 2, NULL, NULL) == BSN_OK);
            bsn_pop_free(pop);
            CHECK(f.live == 0);
            break;
        }
        CHECK(rc == BSN_E_NOMEM && pop == NULL && f.live == 0);
        saw_nomem = 1;
    }
    CHECK(saw_nomem);
    for (long k = 0;; k++) {
        failing f = {k, 0, 0};
        bsn_allocator al = {f_alloc, f_free, &f};
        bsn_agent *a = NULL, *child = NULL;
        int rc = bsn_agent_decode(w, wn, NULL, &al, &a);
        if (rc != BSN_OK) {
            CHECK(rc == BSN_E_NOMEM && f.live == 0);
            continue;
        }
        uint64_t seeds[3] = {1, 2, 3};
        uint32_t s;
        rc = bsn_score(a, &p, 1, seeds, 3, &s);
        CHECK(rc == BSN_OK || rc == BSN_E_NOMEM);
        int rc2 = bsn_agent_mutate(a, &p.limits, 5, 5, &al, &child);
        CHECK(rc2 == BSN_OK || rc2 == BSN_E_NOMEM);
        bsn_agent_free(child);
        bsn_agent_free(a);
        CHECK(f.live == 0);
        if (rc == BSN_OK && rc2 == BSN_OK) break;
    }
    for (long k = 0;; k++) {
        failing f = {k, 0, 0};
        bsn_allocator al = {f_alloc, f_free, &f};
        bsn_agent *a = NULL;
        int rc = bsn_agent_random(&p, 3, 50, &al, &a);
        bsn_agent_free(a);
        CHECK(f.live == 0);
        if (rc == BSN_OK) break;
        CHECK(rc == BSN_E_NOMEM);
    }
}

/* The 64-lane path of the boolean tasks must equal the scalar definition on every agent. */
static void test_lanes_equal_scalar(void) {
    const char *envs[] = {"env=multiplexer-6", "env=multiplexer-11", "env=parity-n;n=2",
                          "env=parity-n;n=7"};
    long compared = 0;
    for (size_t e = 0; e < 4; e++) {
        bsn_params p = params_of(envs[e]);
        bsn_scratch sc;
        CHECK(bsn_scratch_new(&sc, &p, p.limits.max_neurons, NULL) == BSN_OK);
        for (uint64_t seed = 0; seed < 150; seed++) {
            bsn_agent *a = NULL;
            CHECK(bsn_agent_random(&p, seed, 100 + (uint32_t)seed * 13, NULL, &a) == BSN_OK);
            for (int gen = 0; gen < 4 && a; gen++) {
                {
                    uint64_t fl = 0, fs = 0, rl[32], rs[32];
                    uint32_t lanes = bsn_lanes_boolean(a->nets[0], p.env, 1, sc.lanes, sc.lanes_aux, UINT64_MAX, &fl, NULL);
                    uint32_t scalar = bsn_boolean_scalar(a, &p, 1, UINT64_MAX, &fs, NULL);
                    /* the optional per-case outcomes: the same cases right on both paths, and
                     * asking for them changes neither count */
                    uint64_t fl2 = 0, fs2 = 0;
                    uint32_t words = ((1u << a->nets[0]->n_in) + 63) / 64, nr = 0;
                    CHECK(bsn_lanes_boolean(a->nets[0], p.env, 1, sc.lanes, sc.lanes_aux, UINT64_MAX, &fl2, rl) == lanes);
                    CHECK(bsn_boolean_scalar(a, &p, 1, UINT64_MAX, &fs2, rs) == scalar);
                    CHECK(memcmp(rl, rs, words * sizeof *rl) == 0);
                    for (uint32_t w = 0; w < words; w++) nr += (uint32_t)bsn_pc64(rs[w]);
                    CHECK(nr == scalar);
                    if (lanes != scalar || fl != fs) fprintf(stderr, "%s seed %llu: lanes %u scalar %u, fuel %llu %llu\n", envs[e], (unsigned long long)seed, lanes, scalar, (unsigned long long)fl, (unsigned long long)fs);
                    CHECK(lanes == scalar);
                    CHECK(fl == fs); /* the lanes count fuel exactly as the scalar step does */
                    compared++;
                }
                bsn_agent *child = NULL;
                CHECK(bsn_agent_mutate(a, &p.limits, seed + (uint64_t)gen * 1000, 40, NULL, &child) == BSN_OK);
                bsn_agent_free(a);
                a = child;
            }
            bsn_agent_free(a);
        }
        bsn_scratch_free(&sc, NULL);
    }
    CHECK(compared > 1000);
}

/* Dense random networks: many hidden neurons of every kind but random, control neurons,
 * modulators, self-loops, connections into inputs. */
static uint64_t lcg(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}
static int cmp_conn(const void *x, const void *y) {
    const uint16_t *a = x, *b = y;
    const int order[4] = {1, 0, 2, 3};
    for (int i = 0; i < 4; i++)
        if (a[order[i]] != b[order[i]]) return a[order[i]] < b[order[i]] ? -1 : 1;
    return 0;
}
static void test_lanes_equal_scalar_dense(void) {
    long dense_random = 0, dense_lanes = 0;
    const char *envs[] = {"env=multiplexer-6", "env=parity-n;n=4"};
    uint8_t buf[8 + 8 + 64 + 400 * 8 + 4];
    uint16_t conns[400][4];
    for (size_t e = 0; e < 2; e++) {
        bsn_params p = params_of(envs[e]);
        uint32_t n_in = e == 0 ? 6 : 4;
        bsn_scratch sc;
        CHECK(bsn_scratch_new(&sc, &p, 128, NULL) == BSN_OK);
        for (uint64_t seed = 1; seed <= 400; seed++) {
            uint64_t x = seed * 7919 + e;
            uint32_t hidden = (uint32_t)(lcg(&x) % 40), n = n_in + 1 + hidden;
            uint32_t nc = (uint32_t)(lcg(&x) % 300) + 1;
            size_t pos = 0;
            memcpy(buf, "BSNA\x01\x00\x01\x00", 8);
            pos = 8;
            buf[pos++] = (uint8_t)n_in; buf[pos++] = 0; buf[pos++] = 1; buf[pos++] = 0;
            buf[pos++] = (uint8_t)hidden; buf[pos++] = 0; buf[pos++] = (uint8_t)nc; buf[pos++] = (uint8_t)(nc >> 8);
            for (uint32_t h = 0; h < hidden; h++) {
                static const uint8_t kinds[6] = {2, 3, 4, 6, 7, 5};
                uint8_t kind = kinds[lcg(&x) % (seed % 4 == 0 ? 6 : 5)];
                if (lcg(&x) % 3 == 0) kind = 6; /* plenty of control neurons */
                buf[pos++] = (uint8_t)(kind | ((lcg(&x) % 3) << 4));
            }
            static const uint16_t weights[6] = {0xFFFF, 0x0001, 0xFF00, 0x00FF, 0x0700, 0x8421};
            for (uint32_t i = 0; i < nc; i++) {
                conns[i][0] = (uint16_t)(lcg(&x) % n);
                conns[i][1] = (uint16_t)(lcg(&x) % n);
                if (lcg(&x) % 5 == 0) {
                    conns[i][2] = (uint16_t)(lcg(&x) % n);
                    conns[i][3] = 0;
                } else {
                    conns[i][2] = 0xFFFF;
                    conns[i][3] = weights[lcg(&x) % 6];
                }
            }
            qsort(conns, nc, sizeof conns[0], cmp_conn);
            for (uint32_t i = 0; i < nc; i++)
                for (int f = 0; f < 4; f++) {
                    buf[pos++] = (uint8_t)conns[i][f];
                    buf[pos++] = (uint8_t)(conns[i][f] >> 8);
                }
            pos += 4;
            fix_crc(buf, pos);
            bsn_agent *a = NULL;
            CHECK(bsn_agent_decode(buf, pos, NULL, NULL, &a) == BSN_OK);
            if (a == NULL) continue;
            CHECK(bsn_lanes_supported(a->nets[0]));
            uint64_t fl = 0, fs = 0;
            uint32_t lanes = bsn_lanes_boolean(a->nets[0], p.env, 1, sc.lanes, sc.lanes_aux, UINT64_MAX, &fl, NULL);
            uint32_t scalar = bsn_boolean_scalar(a, &p, 1, UINT64_MAX, &fs, NULL);
            CHECK(fl == fs);
            dense_lanes++;
            for (uint32_t i = 0; i < a->nets[0]->n; i++) if (a->nets[0]->kind[i] == BSN_KIND_RANDOM) { dense_random++; break; }
            if (lanes != scalar) fprintf(stderr, "dense %s seed %llu: lanes %u scalar %u\n", envs[e], (unsigned long long)seed, lanes, scalar);
            CHECK(lanes == scalar);
            bsn_agent_free(a);
        }
        bsn_scratch_free(&sc, NULL);
    }
    CHECK(dense_lanes > 500 && dense_random > 20); /* random neurons were exercised */
}

/* A hostile multiplexer-6 agent: input -> random -> a chain of `len` threshold neurons (each
 * fires, so phase 4 takes len passes) -> the output, and `hang` threshold neurons fed by an
 * input (so they run from pass 1) that never fire, listen to the chain's end and feed the
 * output. */
static bsn_agent *hostile(uint32_t len, uint32_t hang) {
    uint32_t n_in = 6, hidden = 1 + len + hang, nc = 0;
    size_t cap = 16 + hidden + (size_t)(len + 2 + 3 * hang) * 8 + 4;
    uint8_t *buf = malloc(cap);
    uint16_t (*cs)[4] = malloc(sizeof *cs * (len + 2 + 3 * hang));
    if (buf == NULL || cs == NULL) return NULL;
    uint32_t r = n_in + 1, t0 = r + 1, h0 = t0 + len;
#define CONN(f, t, w) do { cs[nc][0] = (uint16_t)(f); cs[nc][1] = (uint16_t)(t); cs[nc][2] = 0xFFFF; cs[nc][3] = (uint16_t)(w); nc++; } while (0)
    CONN(0, r, 0xFFFF);
    CONN(r, t0, 0xFFFF);
    for (uint32_t k = 1; k < len; k++) CONN(t0 + k - 1, t0 + k, 0xFFFF);
    CONN(t0 + len - 1, n_in, 0xFFFF);
    for (uint32_t h = 0; h < hang; h++) {
        CONN(1, h0 + h, 0x0001);
        CONN(t0 + len - 1, h0 + h, 0x0001);
        CONN(h0 + h, n_in, 0x0001); /* so the output depends on it */
    }
#undef CONN
    qsort(cs, nc, sizeof cs[0], cmp_conn);
    size_t pos = 0;
    memcpy(buf, "BSNA\x01\x00\x01\x00", 8);
    pos = 8;
    buf[pos++] = (uint8_t)n_in; buf[pos++] = 0; buf[pos++] = 1; buf[pos++] = 0;
    buf[pos++] = (uint8_t)hidden; buf[pos++] = (uint8_t)(hidden >> 8);
    buf[pos++] = (uint8_t)nc; buf[pos++] = (uint8_t)(nc >> 8);
    buf[pos++] = BSN_KIND_RANDOM;
    for (uint32_t k = 0; k < len + hang; k++) buf[pos++] = BSN_KIND_THRESHOLD;
    for (uint32_t i = 0; i < nc; i++)
        for (int f = 0; f < 4; f++) {
            buf[pos++] = (uint8_t)cs[i][f];
            buf[pos++] = (uint8_t)(cs[i][f] >> 8);
        }
    pos += 4;
    fix_crc(buf, pos);
    bsn_agent *a = NULL;
    CHECK(bsn_agent_decode(buf, pos, NULL, NULL, &a) == BSN_OK);
    free(buf);
    free(cs);
    return a;
}

/* Fuel: the ceiling's formula and bound, an agent that runs out scores 0 under /2 (the same
 * on the lanes and the scalar path), /1 is unchanged, random agents do not run out. */
static void test_fuel(void) {
    uint64_t c = 0;
    bsn_params p = params_of("env=multiplexer-6");
    CHECK(bsn_fuel_ceiling(&p, &c) == BSN_OK && c == 4ull * 64 * (256 + 2048));
    p = params_of("env=cipher;samples=4096");
    CHECK(bsn_fuel_ceiling(&p, &c) == BSN_OK && c == 4ull * 2 * 4096 * (256 + 2048));
    p = params_of("env=mountain-car;samples=16;max_steps=1000");
    CHECK(bsn_fuel_ceiling(&p, &c) == BSN_OK && c == 4ull * 16000 * (256 + 2048));
    p = params_of("env=mountain-car;samples=4096;max_steps=100000;max_neurons=4096;max_connections=65535");
    CHECK(bsn_fuel_ceiling(&p, &c) == BSN_E_SPEC);
    CHECK(bsn_fuel_ceiling(NULL, &c) == BSN_E_ARG);
    uint64_t seeds[2] = {5, 6};
    uint32_t s = 9, oof = 9;
    bsn_agent *big = hostile(10, 10);
    CHECK(bsn_score(big, &p, BSN_SCORER_CORE_2, seeds, 2, &s) == BSN_E_SPEC); /* refused */
    bsn_agent_free(big);

    bsn_params m = params_of("env=multiplexer-6;max_neurons=1024;max_connections=4096");
    bsn_agent *a = hostile(300, 400);
    CHECK(a != NULL);
    if (a == NULL) return;
    uint32_t s1 = 0;
    uint64_t f1 = 0, f2 = 0;
    CHECK(bsn_score_detail(a, &m, BSN_SCORER_CORE_1, seeds, 2, &s1, &f1, &oof) == BSN_OK);
    CHECK(oof == 0 && s1 > 0); /* /1: no ceiling, the old score */
    CHECK(bsn_fuel_ceiling(&m, &c) == BSN_OK && f1 > c);
    CHECK(bsn_score_detail(a, &m, BSN_SCORER_CORE_2, seeds, 2, &s, &f2, &oof) == BSN_OK);
    CHECK(s == 0 && oof == 1 && f2 > c && f2 <= f1);
    uint64_t fs = 0;
    (void)bsn_boolean_scalar(a, &m, seeds[1], c, &fs, NULL); /* the scalar path stops too */
    CHECK(fs > c);
    size_t failed = 9;
    uint8_t oofs[2] = {9, 9};
    uint32_t scores[2];
    bsn_agent *pair[2] = {a, NULL};
    CHECK(bsn_agent_random(&m, 3, 300, NULL, &pair[1]) == BSN_OK);
    CHECK(bsn_score_batch_detail(pair, 2, &m, BSN_SCORER_CORE_2, seeds, 2, scores, NULL, oofs, &failed) == BSN_OK);
    CHECK(scores[0] == 0 && oofs[0] == 1 && oofs[1] == 0);
    uint32_t r1 = 0;
    CHECK(bsn_score(pair[1], &m, BSN_SCORER_CORE_1, seeds, 2, &r1) == BSN_OK && r1 == scores[1]);
    bsn_agent_free(pair[1]);
    bsn_agent_free(a);
}

/* docs/scorer.md 11.4: the fuel of the three steps of the network of 10.2 */
static void test_fuel_worked_example(void) {
    static const char *hex =
        "42534e4101000100020001000300070004061703000200ffffffff05000200ffffff0000000300ffffffff"
        "01000300ffff0f0f040003000100000001000400ffffffff02000500ffffffff55c8ee31";
    uint8_t buf[128];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        buf[i] = (uint8_t)v;
    }
    bsn_agent *a = NULL;
    CHECK(bsn_agent_decode(buf, n, NULL, NULL, &a) == BSN_OK);
    if (a == NULL) return;
    CHECK(bsn_agent_reset(a, 0, 0, 0) == BSN_OK);
    const uint16_t in[3][2] = {{0xffff, 0xffff}, {0xffff, 0}, {0, 0xffff}};
    const uint16_t want_out[3] = {0x0000, 0xffff, 0xff00};
    const uint64_t want_fuel[3] = {24, 20, 26};
    for (int k = 0; k < 3; k++) {
        uint16_t out[1] = {0};
        CHECK(bsn_agent_step(a, 0, in[k], 2, out, 1) == BSN_OK);
        CHECK(out[0] == want_out[k]);
        CHECK(a->nets[0]->step_fuel == want_fuel[k]);
    }
    bsn_agent_free(a);
}

int main(void) {
    test_fuel();
    test_fuel_worked_example();
    test_lanes_equal_scalar();
    test_lanes_equal_scalar_dense();
    test_params();
    test_wires_score();
    test_decode_errors();
    test_round_trip_and_mutation();
    test_population();
    test_strategies();
    test_failing_allocator();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C unit tests: all passed\n");
    return 0;
}
