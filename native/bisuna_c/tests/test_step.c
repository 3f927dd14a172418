/* test_step.c: the linear step against the step it replaced (tests/step_v1.c, frozen), on
 * random networks of every shape: every output of every step, the whole carried state
 * (previous states, feed-forward flags, outs) and the fuel must be identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisuna.h"
#include "../src/internal.h"

void bsn_net_step_v1(bsn_net *net, const uint16_t *in, uint16_t *out, uint64_t *fuel);

static int failures = 0;
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static uint64_t next(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

static int cmp_conn(const void *x, const void *y) {
    const bsn_conn *a = x, *b = y;
    uint64_t ka = ((uint64_t)a->to << 48) | ((uint64_t)a->from << 32) | ((uint64_t)a->mod << 16) | a->weight;
    uint64_t kb = ((uint64_t)b->to << 48) | ((uint64_t)b->from << 32) | ((uint64_t)b->mod << 16) | b->weight;
    return ka < kb ? -1 : ka > kb;
}

static const uint16_t WEIGHTS[8] = {0xFFFF, 0x0001, 0xFF00, 0x00FF, 0x0700, 0x8421, 0xF0F0, 0x0010};

/* A network built directly: `shape` picks the family. */
static bsn_net *build(uint64_t seed, int shape, uint32_t *n_in_out) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + (uint64_t)shape;
    uint32_t n_in = 1 + (uint32_t)(next(&x) % 6), n_out = 1 + (uint32_t)(next(&x) % 4);
    uint32_t hidden, nc;
    switch (shape) {
    case 0: hidden = (uint32_t)(next(&x) % 40); nc = 1 + (uint32_t)(next(&x) % 300); break;
    case 1: hidden = 20 + (uint32_t)(next(&x) % 150); nc = 200 + (uint32_t)(next(&x) % 3000); break;
    default: hidden = 60 + (uint32_t)(next(&x) % 200); nc = 0; break; /* chains and hubs */
    }
    uint32_t n = n_in + n_out + hidden, cap_c = nc + 4 * hidden + 64;
    bsn_net *net = bsn_net_new(NULL, n, cap_c);
    if (net == NULL) return NULL;
    net->n_in = n_in;
    net->n_out = n_out;
    net->n = n;
    uint32_t ctl_share = (uint32_t)(next(&x) % 4); /* 0: none ... 3: many control neurons */
    for (uint32_t i = 0; i < n; i++) {
        if (i < n_in) net->kind[i] = BSN_KIND_INPUT;
        else if (i < n_in + n_out) net->kind[i] = BSN_KIND_OUTPUT;
        else if (shape == 2) net->kind[i] = next(&x) % 8 == 0 ? BSN_KIND_ROLL : BSN_KIND_IDENTITY;
        else if (ctl_share && next(&x) % (8 / ctl_share) == 0) net->kind[i] = BSN_KIND_CONTROL;
        else net->kind[i] = (uint8_t)(2 + next(&x) % 6);
        net->rate[i] = i < n_in + n_out ? 0 : (uint8_t)(next(&x) % 3);
        if (shape == 2 && i >= n_in + n_out && next(&x) % 4) net->rate[i] = 0;
    }
    uint32_t k = 0;
    if (shape == 2) {
        /* identity chains from the inputs to the outputs, hubs fed by every chain link, and a
         * few modulated and recurrent connections */
        uint32_t prev = 0, hubs = 1 + (uint32_t)(next(&x) % 4);
        for (uint32_t h = n_in + n_out; h < n && k < cap_c; h++) {
            bsn_conn c = {(uint16_t)prev, (uint16_t)h, BSN_NONE, 0xFFFF};
            net->c[k++] = c;
            prev = h;
        }
        for (uint32_t o = n_in; o < n_in + n_out && k < cap_c; o++) {
            bsn_conn c = {(uint16_t)prev, (uint16_t)o, BSN_NONE, WEIGHTS[next(&x) % 8]};
            net->c[k++] = c;
        }
        for (uint32_t hb = 0; hb < hubs; hb++) {
            uint32_t hub = n_in + n_out + (uint32_t)(next(&x) % hidden);
            for (uint32_t h = n_in + n_out; h < n && k < cap_c; h += 1 + (uint32_t)(next(&x) % 3)) {
                int modulated = next(&x) % 5 == 0;
                bsn_conn c = {(uint16_t)h, (uint16_t)hub,
                              modulated ? (uint16_t)(n_in + next(&x) % (n - n_in)) : BSN_NONE,
                              modulated ? 0 : WEIGHTS[next(&x) % 8]};
                net->c[k++] = c;
            }
        }
        for (uint32_t r = 0; r < 8 && k < cap_c; r++) {
            bsn_conn c = {(uint16_t)(next(&x) % n), (uint16_t)(next(&x) % n), BSN_NONE,
                          WEIGHTS[next(&x) % 8]};
            net->c[k++] = c;
        }
    } else {
        for (; k < nc; k++) {
            bsn_conn c;
            c.from = (uint16_t)(next(&x) % n);
            c.to = (uint16_t)(next(&x) % n);
            if (next(&x) % 5 == 0) {
                c.mod = (uint16_t)(next(&x) % n);
                c.weight = 0;
            } else {
                c.mod = BSN_NONE;
                c.weight = next(&x) % 4 ? WEIGHTS[next(&x) % 8] : (uint16_t)next(&x);
            }
            net->c[k] = c;
        }
    }
    net->nc = k;
    qsort(net->c, net->nc, sizeof net->c[0], cmp_conn);
    bsn_net_prepare(net);
    *n_in_out = n_in | (n_out << 8);
    return net;
}

/* Steps copies of `net` through both steps and compares everything they carry. */
static long compare(bsn_net *net, uint64_t seed, uint32_t steps, int wide_seen[2]) {
    bsn_net *old = bsn_net_new(NULL, net->cap_n, net->cap_c);
    if (old == NULL) { CHECK(0); return 0; }
    bsn_net_copy(old, net);
    bsn_net_reset(net, seed);
    bsn_net_reset(old, seed);
    uint64_t x = seed ^ 0xABCDEFull;
    uint16_t in[64], o_new[64], o_old[64];
    long diffs = 0;
    for (uint32_t t = 0; t < steps; t++) {
        for (uint32_t i = 0; i < net->n_in; i++) in[i] = next(&x) % 3 == 0 ? (uint16_t)next(&x) : (next(&x) & 1 ? 0xFFFF : 0);
        uint64_t f_old = 0;
        bsn_net_step(net, in, o_new);
        bsn_net_step_v1(old, in, o_old, &f_old);
        int same = memcmp(o_new, o_old, net->n_out * 2) == 0 &&
                   memcmp(net->prev, old->prev, net->n * 2) == 0 &&
                   memcmp(net->out, old->out, net->n * 2) == 0 &&
                   (net->nc == 0 || memcmp(net->pff, old->pff, net->nc) == 0) &&
                   net->step_fuel == f_old;
        if (!same) {
            if (diffs == 0)
                fprintf(stderr, "seed %llu step %u: outputs/state/fuel differ (fuel %llu vs %llu)\n",
                        (unsigned long long)seed, t, (unsigned long long)net->step_fuel,
                        (unsigned long long)f_old);
            diffs++;
        }
    }
    for (uint32_t i = 0; i < net->n; i++)
        if (net->in_start[i + 1] - net->in_start[i] > 16) wide_seen[net->kind[i] == BSN_KIND_CONTROL] = 1;
    CHECK(diffs == 0);
    bsn_dealloc(NULL, old);
    return 1;
}

int main(void) {
    long agents = 0;
    int wide[2] = {0, 0};
    /* agents as evolution makes them, for every environment shape */
    const char *envs[] = {"env=cipher;payload_words=3", "env=cipher;mix=none;payload_words=2",
                          "env=multiplexer-6", "env=multiplexer-11", "env=parity-n;n=5",
                          "env=mountain-car"};
    for (uint64_t seed = 0; seed < 300; seed++) {
        const char *e = envs[seed % 6];
        bsn_params p;
        CHECK(bsn_params_parse(e, strlen(e), &p) == BSN_OK);
        p.limits.max_connections = 4000;
        bsn_agent *a = NULL;
        CHECK(bsn_agent_random(&p, seed, 200 + (uint32_t)(seed % 9) * 700, NULL, &a) == BSN_OK);
        if (a == NULL) continue;
        for (uint32_t k = 0; k < a->n_nets; k++) agents += compare(a->nets[k], seed + k, 24, wide);
        bsn_agent_free(a);
    }
    /* random dense networks, and chains with hubs */
    for (int shape = 0; shape < 3; shape++) {
        for (uint64_t seed = 1; seed <= 350; seed++) {
            uint32_t io;
            bsn_net *net = build(seed, shape, &io);
            if (net == NULL) { CHECK(0); continue; }
            agents += compare(net, seed, shape == 1 ? 12 : 24, wide);
            bsn_dealloc(NULL, net);
        }
    }
    CHECK(agents >= 1000);
    CHECK(wide[0]); /* the counters of wide neurons were exercised */
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("step: linear step identical to the old step on %ld networks\n", agents);
    return 0;
}
