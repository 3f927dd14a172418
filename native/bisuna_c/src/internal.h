/* internal.h: shared internals of the BiSUNA core (not installed, not part of the API). */
#ifndef BSN_INTERNAL_H
#define BSN_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "bisuna.h"

#if defined(__GNUC__) || defined(__clang__)
#define BSN_INTERNAL __attribute__((visibility("hidden")))
#else
#define BSN_INTERNAL
#endif

/* ---- generator: xoshiro256** seeded through splitmix64 ---------------------------------- */
typedef struct { uint64_t s[4]; } bsn_rng;

static inline uint64_t bsn_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline void bsn_rng_seed(bsn_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = bsn_splitmix64(&x);
}
static inline uint64_t bsn_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t bsn_rng_next(bsn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = bsn_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = bsn_rotl64(s[3], 45);
    return result;
}
/* Uniform in [0, n), n >= 1, without modulo bias (Lemire's method with rejection). */
static inline uint32_t bsn_rng_below(bsn_rng *r, uint32_t n) {
    uint64_t m = (uint64_t)(uint32_t)(bsn_rng_next(r) >> 32) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)(uint32_t)(bsn_rng_next(r) >> 32) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}
static inline uint16_t bsn_rng_word(bsn_rng *r) { return (uint16_t)(bsn_rng_next(r) >> 48); }

/* A random neuron's word for a step: a counter-based hash of the network's seed, the step
 * index t since the reset (for the boolean tasks: the case index) and the neuron id. The same
 * within a step however often the neuron runs, and independent of evaluation order, so
 * neurons the outputs do not depend on can be skipped and cases can run in parallel lanes
 * (lanes.c computes the same function on vectors). */
static inline uint16_t bsn_random_word(uint64_t seed, uint32_t t, uint32_t id) {
    uint32_t h = (uint32_t)seed ^ (t * 0x9E3779B9u);
    h ^= id * 0x85EBCA6Bu;
    h ^= (uint32_t)(seed >> 32);
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return (uint16_t)(h >> 16);
}

/* Population counts without a library call (x86-64's baseline has no popcnt instruction). */
static inline uint32_t bsn_pc16(uint32_t x) {
    x &= 0xFFFFu;
    x = x - ((x >> 1) & 0x5555u);
    x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
    x = (x + (x >> 4)) & 0x0F0Fu;
    return (x + (x >> 8)) & 0x1Fu;
}
static inline uint32_t bsn_pc64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}

/* ---- memory ------------------------------------------------------------------------------ */
BSN_INTERNAL void *bsn_alloc(const bsn_allocator *a, size_t n);
BSN_INTERNAL void bsn_dealloc(const bsn_allocator *a, void *p);

/* ---- networks ---------------------------------------------------------------------------- */
typedef struct { uint16_t from, to, mod, weight; } bsn_conn;

#define BSN_EXC_LIMIT 256u
#define BSN_FIRE_MIN 15u

typedef struct bsn_net {
    uint32_t n_in, n_out, n, cap_n; /* n: all neurons (inputs, outputs, hidden) */
    uint32_t nc, cap_c;
    uint8_t *kind, *rate, *primer;  /* per neuron; rate code 0,1,2 = firing rate 1,7,49 */
    bsn_conn *c;                    /* sorted by (to, from, mod, weight) */
    /* schedule, rebuilt by bsn_net_prepare */
    uint32_t *in_start;             /* CSR over c by `to`, cap_n + 1 */
    uint32_t *ctl_start, *ctl_idx;  /* outgoing connections of control neurons */
    uint16_t *primers, *controls, *others, *work; /* id lists of live neurons */
    uint32_t n_primers, n_controls, n_others;
    /* run-time state */
    uint16_t *state, *prev, *out, *exc;
    uint8_t *fired, *ff, *pff;
    uint8_t *live;                  /* per neuron: an output depends on it (schedule) */
    uint64_t seed;                  /* random neurons' stream */
    uint32_t t;                     /* steps since the reset */
    /* the linear step (net.c): what a neuron's firing changes, and per-step bookkeeping */
    uint32_t *src_start, *src_idx;  /* connections by source (non-control sources only) */
    uint32_t *mod_start, *mod_idx;  /* connections by modulator (non-control sources only) */
    uint16_t *acc, *cand, *next, *seen, *fire; /* per neuron (seen: executed this step) */
    uint32_t *stamp, *first, *fpass; /* per neuron: last pass queued, first and firing pass */
    uint16_t *bits;                 /* per wide neuron: 16 counters, one per accumulator bit */
    uint16_t *term;                 /* per connection into a wide neuron: its current term */
    uint8_t *flag;
    uint64_t fuel_fixed;            /* fuel of the inputs and live primers, every step */
    uint64_t step_fuel;             /* fuel of the last step (see bsn_net_step) */
} bsn_net;

struct bsn_agent {
    bsn_allocator alloc;
    uint32_t n_nets;
    bsn_net *nets[BSN_MAX_NETWORKS];
};

BSN_INTERNAL bsn_net *bsn_net_new(const bsn_allocator *a, uint32_t cap_n, uint32_t cap_c);
BSN_INTERNAL void bsn_net_copy(bsn_net *dst, const bsn_net *src); /* dst caps suffice */
BSN_INTERNAL void bsn_net_prepare(bsn_net *net);
BSN_INTERNAL void bsn_net_reset(bsn_net *net, uint64_t seed);
/* One step. Sets net->step_fuel: neurons + connections of the network (the clean-up), plus
 * 1 + the number of incoming connections for every neuron execution that the step's
 * definition (docs/bisuna.md, phases 1-5, over the live neurons) makes, passes included, whether
 * or not this implementation repeats the work. */
BSN_INTERNAL void bsn_net_step(bsn_net *net, const uint16_t *in, uint16_t *out);
BSN_INTERNAL void bsn_net_init_io(bsn_net *net, uint32_t n_in, uint32_t n_out);
BSN_INTERNAL void bsn_net_structural(bsn_net *net, bsn_rng *r);
BSN_INTERNAL void bsn_net_weights(bsn_net *net, bsn_rng *r);
BSN_INTERNAL void bsn_net_remove_orphans(bsn_net *net);
BSN_INTERNAL uint64_t bsn_net_spectrum_counts(const bsn_net *net, uint32_t counts[7]);

BSN_INTERNAL bsn_agent *bsn_agent_alloc(const bsn_allocator *a, uint32_t n_nets,
                                        const uint32_t *cap_n, const uint32_t *cap_c);
BSN_INTERNAL uint64_t bsn_spectrum_of(const bsn_agent *a);
BSN_INTERNAL uint32_t bsn_agent_neurons(const bsn_agent *a);
BSN_INTERNAL int bsn_agent_fits(const bsn_agent *a, const bsn_params *p);
BSN_INTERNAL void bsn_agent_reproduce(bsn_agent *a, bsn_rng *r, uint32_t structural);

/* ---- environments ------------------------------------------------------------------------ */
typedef struct bsn_lane_neuron bsn_lane_neuron;

typedef struct bsn_scratch {
    uint16_t *words; /* cipher: P, K, C, Q: 4 × samples × N words */
    uint64_t *gf;    /* cipher attacker 3: rows × (vector words + rhs words) */
    uint32_t *counts;/* cipher attacker 2: 16N × 4 */
    void *lanes_raw; /* boolean tasks: per-neuron lane vectors (aligned within) */
    bsn_lane_neuron *lanes;
    uint16_t *lanes_aux;  /* 10 × neurons words: live-neuron lists */
    uint32_t lanes_neurons;
    /* fuel (env.c): an evaluation stops as soon as fuel_used exceeds fuel_limit, sets
     * out_of_fuel and returns 0. bsn_scratch_new: no limit, not counted on the lanes. */
    uint64_t fuel_limit, fuel_used;
    int count_fuel, out_of_fuel;
    /* mountain-car training (the es sets it; 0 everywhere else, and always when scoring):
     * episode e of n starts at a draw within the e-th n-th of the start interval, in place
     * of a draw over all of it (same mean, much less noise between agents' fitness). */
    int mc_stratified;
} bsn_scratch;

/* Scratch for evaluating agents of up to `neurons` neurons per network. */
BSN_INTERNAL int bsn_scratch_new(bsn_scratch *s, const bsn_params *p, uint32_t neurons,
                                 const bsn_allocator *a);
BSN_INTERNAL void bsn_scratch_free(bsn_scratch *s, const bsn_allocator *a);
BSN_INTERNAL size_t bsn_lanes_bytes(uint32_t neurons);
BSN_INTERNAL size_t bsn_lanes_align(void);
BSN_INTERNAL int bsn_lanes_supported(const bsn_net *net);
BSN_INTERNAL uint32_t bsn_lanes_boolean(const bsn_net *net, uint32_t env, uint64_t seed,
                                        bsn_lane_neuron *L, uint16_t *aux, uint64_t limit,
                                        uint64_t *fuel, uint64_t *right);
/* The scalar reference for the boolean tasks (what the lanes must reproduce); adds the fuel
 * of the cases it runs to *fuel and stops after the case where it exceeds `limit`. */
BSN_INTERNAL uint32_t bsn_boolean_scalar(bsn_agent *a, const bsn_params *p, uint64_t seed,
                                         uint64_t limit, uint64_t *fuel, uint64_t *right);
/* Sets the scratch's fuel limit for a scorer version: none for /1, bsn_fuel_ceiling for /2.
 * BSN_E_SCORER, BSN_E_SPEC (the ceiling exceeds BSN_FUEL_BOUND). */
BSN_INTERNAL int bsn_fuel_setup(bsn_scratch *s, const bsn_params *p, uint32_t scorer);

/* Scores (train = 0: the marketplace score, 0..1e6) or training fitness (train = 1). */
BSN_INTERNAL int64_t bsn_evaluate(bsn_agent *a, const bsn_params *p, const uint64_t *seeds,
                                  bsn_scratch *s, int train);

#endif
