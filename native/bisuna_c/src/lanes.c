/* lanes.c: one step from a reset state for 64 cases at once (the boolean tasks).
 *
 * Each case of multiplexer-6/11 and parity-n is one step after a reset, so previous states
 * and previous feed-forward flags are all 0 and the cases are independent: lane i of every
 * vector below is case base + i. Decisions that differ between cases (fired, inhibited,
 * executed) are per-lane masks; a loop (control batches, passes) runs while any lane needs
 * it. A lane that has finished its passes re-executes only neurons that did not fire, whose
 * inputs have not changed, so it computes the same values again: the result is the scalar
 * step's, bit for bit (random neurons too: their word is a counter-based hash of the case and
 * the neuron, bsn_random_word). Only neurons the output depends on are run. */
#include "internal.h"

/* The vector helpers below are static and always inlined: no vector crosses a real call, so
 * the psABI note about passing vectors by value does not apply. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define LANES 64
typedef uint16_t lv __attribute__((vector_size(LANES * 2)));
typedef uint32_t lw __attribute__((vector_size(LANES * 4)));

/* Only fired and exc are cleared per batch: state is read only through fired (and written
 * before a lane fires), out only of the output after step 5 wrote every lane. */
struct bsn_lane_neuron {
    lv fired, exc, state, out, tmp, pend;
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__gnu_linux__) && \
    !defined(BSN_NO_CLONES)
#define BSN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BSN_CLONES
#endif
#define BSN_INLINE static inline __attribute__((always_inline))

size_t bsn_lanes_bytes(uint32_t neurons) { return (size_t)neurons * sizeof(bsn_lane_neuron); }
size_t bsn_lanes_align(void) { return sizeof(lv); }

int bsn_lanes_supported(const bsn_net *net) { return net->n_in <= 16 && net->n_out == 1; }

BSN_INLINE int any(lv v) {
    uint64_t q[LANES / 4];
    memcpy(q, &v, sizeof q);
    uint64_t r = 0;
    for (int i = 0; i < LANES / 4; i++) r |= q[i];
    return r != 0;
}

BSN_INLINE lv popcnt(lv x) {
    x = x - ((x >> 1) & 0x5555);
    x = (x & 0x3333) + ((x >> 2) & 0x3333);
    x = (x + (x >> 4)) & 0x0F0F;
    return (x + (x >> 8)) & 0x001F;
}

/* The modulation word: the modulator's state where it fired (previous state is 0), 0 where
 * it is inhibited. */
BSN_INLINE lv mod_word(const bsn_lane_neuron *L, uint32_t m) {
    lv excited = (lv)(L[m].exc < BSN_EXC_LIMIT);
    return excited & L[m].fired & L[m].state;
}

/* bsn_random_word on every lane: t = case index. */
BSN_INLINE lv random_words(uint64_t seed, lw t, uint32_t id) {
    lw h = (uint32_t)seed ^ (t * 0x9E3779B9u);
    h ^= id * 0x85EBCA6Bu;
    h ^= (uint32_t)(seed >> 32);
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return __builtin_convertvector(h >> 16, lv);
}

typedef struct { uint64_t seed; lw t; } draw_ctx;

BSN_INLINE void lexec(const bsn_net *net, bsn_lane_neuron *L, uint32_t id, lv m,
                      const draw_ctx *dc) {
    static const uint16_t BETA[3] = {0xFFFFu, 0x07FFu, 0x003Fu};
    lv acc = {0};
    for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
        const bsn_conn *c = &net->c[i];
        uint32_t s = c->from;
        if (net->kind[s] == BSN_KIND_CONTROL) continue;
        lv v = L[s].fired & L[s].state;
        if (c->mod == BSN_NONE) acc |= v & c->weight;
        else acc |= v & mod_word(L, c->mod);
    }
    lv out;
    switch (net->kind[id]) {
    case BSN_KIND_ACTIVATION: out = popcnt(acc); break;
    case BSN_KIND_THRESHOLD:
    case BSN_KIND_CONTROL: out = (lv)(popcnt(acc) >= 4) & 255; break;
    case BSN_KIND_ROLL: out = (acc << 1) | (acc >> 15); break;
    case BSN_KIND_RANDOM:
        out = random_words(dc->seed, dc->t, id);
        break;
    default: out = acc; break;
    }
    lv st = ~out & BETA[net->rate[id]];
    L[id].out = (L[id].out & ~m) | (out & m);
    L[id].state = (L[id].state & ~m) | (st & m);
}

BSN_INLINE lv has_ff(const bsn_net *net, const bsn_lane_neuron *L, uint32_t id) {
    lv r = {0};
    for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
        const bsn_conn *c = &net->c[i];
        if (c->mod == BSN_NONE && net->kind[c->from] != BSN_KIND_CONTROL) r |= L[c->from].fired;
    }
    return r;
}

BSN_INLINE void lapply(const bsn_net *net, bsn_lane_neuron *L, uint32_t ctl, lv m) {
    lv st = L[ctl].state & m;
    for (uint32_t k = net->ctl_start[ctl]; k < net->ctl_start[ctl + 1]; k++) {
        const bsn_conn *c = &net->c[net->ctl_idx[k]];
        if (c->mod == BSN_NONE) L[c->to].exc |= st & c->weight;
        else L[c->to].exc |= st & mod_word(L, c->mod);
    }
}

/* Marks the neurons the output depends on (backwards over sources, modulators and control
 * connections, through inputs too: a control connection into an input matters when that
 * input modulates) and lists the live primers, controls and others in id order.
 * A neuron outside this set cannot change the output; dropping it only removes passes in
 * which live neurons would recompute what they already hold. */
typedef struct {
    uint16_t *primers, *controls, *others, *all, *inputs;
    uint32_t n_primers, n_controls, n_others, n_all, n_inputs;
} live_lists;

static void live_schedule(const bsn_net *net, uint16_t *aux, live_lists *ls) {
    uint32_t n = net->n;
    uint16_t *stack = aux;
    uint8_t *live = (uint8_t *)(void *)(aux + 6 * (size_t)n);
    ls->primers = aux + n;
    ls->controls = aux + 2 * (size_t)n;
    ls->others = aux + 3 * (size_t)n;
    ls->all = aux + 4 * (size_t)n;
    ls->inputs = aux + 5 * (size_t)n;
    memset(live, 0, n);
    uint32_t top = 0;
    live[net->n_in] = 1;
    stack[top++] = (uint16_t)net->n_in;
#ifdef BSN_FULL_SCHEDULE
    memset(live, 1, n);
    top = 0;
#endif
    while (top) {
        uint32_t y = stack[--top];
        for (uint32_t i = net->in_start[y]; i < net->in_start[y + 1]; i++) {
            uint32_t s = net->c[i].from, m = net->c[i].mod;
            if (!live[s]) {
                live[s] = 1;
                stack[top++] = (uint16_t)s;
            }
            if (m != BSN_NONE && !live[m]) {
                live[m] = 1;
                stack[top++] = (uint16_t)m;
            }
        }
    }
    ls->n_primers = ls->n_controls = ls->n_others = ls->n_all = ls->n_inputs = 0;
    for (uint32_t i = 0; i < net->n_in; i++)
        if (live[i]) ls->inputs[ls->n_inputs++] = (uint16_t)i;
    for (uint32_t k = 0; k < net->n_primers; k++)
        if (live[net->primers[k]]) ls->primers[ls->n_primers++] = net->primers[k];
    for (uint32_t k = 0; k < net->n_controls; k++)
        if (live[net->controls[k]]) ls->controls[ls->n_controls++] = net->controls[k];
    for (uint32_t k = 0; k < net->n_others; k++)
        if (live[net->others[k]]) ls->others[ls->n_others++] = net->others[k];
    for (uint32_t i = 0; i < n; i++)
        if (live[i]) ls->all[ls->n_all++] = (uint16_t)i;
}

/* Correct cases of a boolean task (env: BSN_ENV_MUX6, MUX11 or PARITY); random neurons draw
 * from `seed`. aux: 7 × neurons 16-bit words of scratch. */
BSN_CLONES uint32_t bsn_lanes_boolean(const bsn_net *net, uint32_t env, uint64_t seed,
                                      bsn_lane_neuron *L, uint16_t *aux) {
    uint32_t nb = net->n_in, cases = 1u << nb, correct = 0;
    lv ones = ~(lv){0}, idx;
    live_lists ls;
    live_schedule(net, aux, &ls);
    draw_ctx dc;
    dc.seed = seed;
    for (int i = 0; i < LANES; i++) idx[i] = (uint16_t)i;
    lv valid = cases >= LANES ? ones : (lv)(idx < (uint16_t)cases); /* lanes that are cases */
    for (uint32_t base = 0; base < cases; base += LANES) {
        for (uint32_t k = 0; k < ls.n_all; k++) memset(&L[ls.all[k]], 0, 2 * sizeof(lv));
        lv c = idx + (uint16_t)base;
        dc.t = __builtin_convertvector(idx, lw) + base;
        for (uint32_t k = 0; k < ls.n_inputs; k++) {
            uint32_t j = ls.inputs[k];
            lv obs = (lv)(((c >> j) & 1) != 0);
            L[j].state = ~obs;
            L[j].fired = ones;
        }
        for (uint32_t k = 0; k < ls.n_primers; k++) lexec(net, L, ls.primers[k], ones, &dc);
        for (uint32_t k = 0; k < ls.n_primers; k++) L[ls.primers[k]].fired = ones;
        for (uint32_t k = 0; k < ls.n_primers; k++) lapply(net, L, ls.primers[k], ones);
        for (;;) {
            lv batch_any = {0};
            for (uint32_t k = 0; k < ls.n_controls; k++) {
                uint32_t id = ls.controls[k];
                L[id].tmp = ~L[id].fired & (lv)(L[id].exc < BSN_EXC_LIMIT);
                batch_any |= L[id].tmp;
            }
            if (!any(batch_any)) break;
            for (uint32_t k = 0; k < ls.n_controls; k++) {
                uint32_t id = ls.controls[k];
                if (any(L[id].tmp)) lexec(net, L, id, L[id].tmp, &dc);
            }
            for (uint32_t k = 0; k < ls.n_controls; k++) L[ls.controls[k]].fired |= L[ls.controls[k]].tmp;
            for (uint32_t k = 0; k < ls.n_controls; k++) {
                uint32_t id = ls.controls[k];
                if (any(L[id].tmp)) lapply(net, L, id, L[id].tmp);
            }
        }
        for (uint32_t k = 0; k < ls.n_others; k++) {
            uint32_t id = ls.others[k];
            L[id].tmp = (lv)(L[id].exc < BSN_EXC_LIMIT);
        }
        for (;;) {
            lv fired_any = {0};
            for (uint32_t k = 0; k < ls.n_others; k++) {
                uint32_t id = ls.others[k];
                lv m = L[id].tmp & ~L[id].fired;
                L[id].pend = (lv){0};
                if (!any(m)) continue;
                m &= has_ff(net, L, id);
                if (!any(m)) continue;
                lexec(net, L, id, m, &dc);
                L[id].pend = m & (lv)(L[id].out >= BSN_FIRE_MIN);
                fired_any |= L[id].pend;
            }
            if (!any(fired_any)) break;
            for (uint32_t k = 0; k < ls.n_others; k++) L[ls.others[k]].fired |= L[ls.others[k]].pend;
        }
        uint32_t o = net->n_in;
        lv m = ~L[o].fired;
        if (any(m)) lexec(net, L, o, m, &dc);
        lv want; /* variable shifts on 32-bit lanes: AVX2 has them, not on 16-bit ones */
        if (env == BSN_ENV_MUX6) want = __builtin_convertvector((dc.t >> ((dc.t & 3) + 2)) & 1, lv);
        else if (env == BSN_ENV_MUX11) want = __builtin_convertvector((dc.t >> ((dc.t & 7) + 3)) & 1, lv);
        else want = popcnt(c) & 1;
        lv right = (lv)((L[o].out >> 15) == want) & valid;
        uint64_t q[LANES / 4];
        memcpy(q, &right, sizeof q);
        uint32_t bits = 0;
        for (int i = 0; i < LANES / 4; i++) bits += bsn_pc64(q[i]);
        correct += bits / 16;
    }
    return correct;
}
