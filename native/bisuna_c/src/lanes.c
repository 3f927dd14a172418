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
    lv acc, ffv;    /* phase 4: the accumulator and "has a feed-forward input", kept current */
    lv ex, p0, pf;  /* fuel: executed in phase 4, first pass, firing pass */
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__gnu_linux__) && \
    !defined(BSN_NO_CLONES)
#define BSN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BSN_CLONES
#endif
#define BSN_INLINE static inline __attribute__((always_inline))

/* No vector comparisons: GCC lowers them lane by lane on vectors wider than the hardware's,
 * while shifts, adds and logic split into AVX2 instructions. So masks come from arithmetic. */
BSN_INLINE lv nonzero(lv x) { return (lv){0} - ((x | ((lv){0} - x)) >> 15); } /* 0xFFFF: x != 0 */
BSN_INLINE lv excited(lv exc) { return ~nonzero(exc >> 8); }                   /* exc < 256 */
BSN_INLINE lv fires(lv out) { return nonzero((out >> 4) | ((out + 1) >> 4)); } /* out >= 15 */

size_t bsn_lanes_bytes(uint32_t neurons) { return (size_t)neurons * sizeof(bsn_lane_neuron); }
size_t bsn_lanes_align(void) { return sizeof(lv); }

int bsn_lanes_supported(const bsn_net *net) { return net->n_in <= 16 && net->n_out == 1; }

typedef uint64_t lq __attribute__((vector_size(32)));

/* Any lane set: OR the four 256-bit quarters, then the four words. */
BSN_INLINE int any(lv v) {
    lq q[LANES / 16];
    memcpy(q, &v, sizeof q);
    lq r = q[0];
    for (int i = 1; i < LANES / 16; i++) r |= q[i];
    return (r[0] | r[1] | r[2] | r[3]) != 0;
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
    return excited(L[m].exc) & L[m].fired & L[m].state;
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

/* Writes out and state of `id` in the lanes of m from its accumulator. */
BSN_INLINE void lout(const bsn_net *net, bsn_lane_neuron *L, uint32_t id, lv acc, lv m,
                     const draw_ctx *dc) {
    static const uint16_t BETA[3] = {0xFFFFu, 0x07FFu, 0x003Fu};
    lv out;
    switch (net->kind[id]) {
    case BSN_KIND_ACTIVATION: out = popcnt(acc); break;
    case BSN_KIND_THRESHOLD:
    case BSN_KIND_CONTROL: out = ((lv){0} - ((popcnt(acc) + 12) >> 4)) & 255; break; /* >= 4 bits */
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

BSN_INLINE void lexec(const bsn_net *net, bsn_lane_neuron *L, uint32_t id, lv m,
                      const draw_ctx *dc) {
    lv acc = {0};
    for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
        const bsn_conn *c = &net->c[i];
        uint32_t s = c->from;
        if (net->kind[s] == BSN_KIND_CONTROL) continue;
        lv v = L[s].fired & L[s].state;
        if (c->mod == BSN_NONE) acc |= v & c->weight;
        else acc |= v & mod_word(L, c->mod);
    }
    lout(net, L, id, acc, m, dc);
}

BSN_INLINE void lapply(const bsn_net *net, bsn_lane_neuron *L, uint32_t ctl, lv m) {
    lv st = L[ctl].state & m;
    for (uint32_t k = net->ctl_start[ctl]; k < net->ctl_start[ctl + 1]; k++) {
        const bsn_conn *c = &net->c[net->ctl_idx[k]];
        if (c->mod == BSN_NONE) L[c->to].exc |= st & c->weight;
        else L[c->to].exc |= st & mod_word(L, c->mod);
    }
}

/* Lanes in which m is set (m: 0xFFFF or 0 per lane). */
BSN_INLINE uint32_t lanes_set(lv m) {
    uint64_t q[LANES / 4];
    lv one = m & 1;
    memcpy(q, &one, sizeof q);
    uint32_t r = 0;
    for (int i = 0; i < LANES / 4; i++) r += bsn_pc64(q[i]);
    return r;
}

/* Sum of the lanes of v. */
BSN_INLINE uint32_t lanes_sum(lv v) {
    uint16_t w[LANES];
    memcpy(w, &v, sizeof w);
    uint32_t r = 0;
    for (int i = 0; i < LANES; i++) r += w[i];
    return r;
}

/* The word connection c adds to its target where its source fired (previous states are 0). */
BSN_INLINE lv lterm(const bsn_lane_neuron *L, const bsn_conn *c) {
    lv v = L[c->from].fired & L[c->from].state;
    return c->mod == BSN_NONE ? v & c->weight : v & mod_word(L, c->mod);
}

/* Marks the neurons the output depends on (backwards over sources, modulators and control
 * connections, through inputs too: a control connection into an input matters when that
 * input modulates) and lists the live primers, controls and others in id order.
 * A neuron outside this set cannot change the output; dropping it only removes passes in
 * which live neurons would recompute what they already hold. */
typedef struct {
    uint16_t *primers, *controls, *others, *all, *inputs, *targets, *cand, *next, *stamp;
    uint8_t *flags; /* per neuron: OTHER (in the pass list), VALID (acc and ffv are current) */
    uint32_t n_primers, n_controls, n_others, n_all, n_inputs, n_targets;
} live_lists;

#define OTHER 1u
#define VALID 2u

static void live_schedule(const bsn_net *net, uint16_t *aux, live_lists *ls) {
    uint32_t n = net->n;
    uint16_t *stack = aux;
    uint8_t *live = (uint8_t *)(void *)(aux + 6 * (size_t)n);
    ls->primers = aux + n;
    ls->controls = aux + 2 * (size_t)n;
    ls->others = aux + 3 * (size_t)n;
    ls->all = aux + 4 * (size_t)n;
    ls->inputs = aux + 5 * (size_t)n;
    ls->cand = aux + 7 * (size_t)n;
    ls->next = aux + 8 * (size_t)n;
    ls->stamp = aux + 9 * (size_t)n;
    ls->targets = stack; /* filled after the walk, when the stack is free */
    ls->flags = live + n;
    memset(ls->flags, 0, n);
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
        if (live[net->others[k]]) {
            ls->others[ls->n_others++] = net->others[k];
            ls->flags[net->others[k]] = OTHER;
        }
    for (uint32_t i = 0; i < n; i++)
        if (live[i]) ls->all[ls->n_all++] = (uint16_t)i;
    /* neurons whose excitation a live control neuron can change (the only ones to clear) */
    ls->n_targets = 0;
    uint8_t *seen = live; /* the walk is over: reuse its marks, cleared first */
    memset(seen, 0, n);
    for (uint32_t k = 0; k < ls->n_all; k++) {
        uint32_t ctl = ls->all[k];
        if (net->kind[ctl] != BSN_KIND_CONTROL) continue;
        for (uint32_t q = net->ctl_start[ctl]; q < net->ctl_start[ctl + 1]; q++) {
            uint32_t to = net->c[net->ctl_idx[q]].to;
            if (!seen[to]) {
                seen[to] = 1;
                ls->targets[ls->n_targets++] = (uint16_t)to;
            }
        }
    }
}

/* A connection whose source or modulator fired: its target is looked at in the next pass,
 * and if its accumulator is current, it takes the term (terms only grow: previous states
 * are 0, fired marks only grow, and a fired neuron's state is final). */
BSN_INLINE void ltouch(const bsn_net *net, bsn_lane_neuron *L, live_lists *ls, uint32_t i,
                       uint32_t pass, uint32_t *n_next) {
    const bsn_conn *c = &net->c[i];
    uint32_t to = c->to;
    if (!(ls->flags[to] & OTHER)) return;
    if (ls->flags[to] & VALID) {
        L[to].acc |= lterm(L, c);
        if (c->mod == BSN_NONE) L[to].ffv |= L[c->from].fired;
    }
    if (ls->stamp[to] != pass) {
        ls->stamp[to] = (uint16_t)pass;
        ls->next[(*n_next)++] = (uint16_t)to;
    }
}

/* Correct cases of a boolean task (env: BSN_ENV_MUX6, MUX11 or PARITY); random neurons draw
 * from `seed`. aux: 10 × neurons 16-bit words of scratch. fuel (may be NULL) gets the fuel of
 * the cases, as bsn_net_step counts it, summed; once it exceeds `limit` (after a batch of 64
 * cases), the rest are skipped. right (may be NULL): bit c set when case c is right
 * (cases / 64 words, cleared first; the scorer passes NULL). */
BSN_CLONES uint32_t bsn_lanes_boolean(const bsn_net *net, uint32_t env, uint64_t seed,
                                      bsn_lane_neuron *L, uint16_t *aux, uint64_t limit,
                                      uint64_t *fuel, uint64_t *right) {
    uint32_t nb = net->n_in, cases = 1u << nb, correct = 0;
    lv ones = ~(lv){0}, idx;
    live_lists ls;
    live_schedule(net, aux, &ls);
    draw_ctx dc;
    dc.seed = seed;
    uint64_t used = 0;
    for (int i = 0; i < LANES; i++) idx[i] = (uint16_t)i;
    /* once per agent: every live neuron unexcited, inputs fired (they never change) */
    for (uint32_t k = 0; k < ls.n_all; k++) L[ls.all[k]].exc = (lv){0};
    for (uint32_t k = 0; k < ls.n_inputs; k++) L[ls.inputs[k]].fired = ones;
    lv valid; /* 0xFFFF in the lanes that are cases */
    for (int i = 0; i < LANES; i++) valid[i] = (uint16_t)((uint32_t)i < cases ? 0xFFFFu : 0u);
    for (uint32_t base = 0; base < cases && used <= limit; base += LANES) {
        for (uint32_t k = 0; k < ls.n_primers; k++) L[ls.primers[k]].fired = (lv){0};
        for (uint32_t k = 0; k < ls.n_controls; k++) L[ls.controls[k]].fired = (lv){0};
        for (uint32_t k = 0; k < ls.n_others; k++) L[ls.others[k]].fired = (lv){0};
        for (uint32_t k = 0; k < ls.n_targets; k++) L[ls.targets[k]].exc = (lv){0};
        lv c = idx + (uint16_t)base;
        dc.t = __builtin_convertvector(idx, lw) + base;
        for (uint32_t k = 0; k < ls.n_inputs; k++) {
            uint32_t j = ls.inputs[k];
            lv obs = (lv){0} - ((c >> j) & 1); /* 0xFFFF where the case's bit j is 1 */
            L[j].state = ~obs;
        }
        if (fuel) /* the clean-up, the inputs and the primers */
            used += ((uint64_t)net->n + net->nc + net->fuel_fixed) * lanes_set(valid);
        for (uint32_t k = 0; k < ls.n_primers; k++) lexec(net, L, ls.primers[k], ones, &dc);
        for (uint32_t k = 0; k < ls.n_primers; k++) L[ls.primers[k]].fired = ones;
        for (uint32_t k = 0; k < ls.n_primers; k++) lapply(net, L, ls.primers[k], ones);
        for (;;) {
            lv batch_any = {0};
            for (uint32_t k = 0; k < ls.n_controls; k++) {
                uint32_t id = ls.controls[k];
                L[id].tmp = ~L[id].fired & excited(L[id].exc);
                batch_any |= L[id].tmp;
            }
            if (!any(batch_any)) break;
            for (uint32_t k = 0; k < ls.n_controls; k++) {
                uint32_t id = ls.controls[k];
                if (!any(L[id].tmp)) continue;
                lexec(net, L, id, L[id].tmp, &dc);
                if (fuel)
                    used += (uint64_t)lanes_set(L[id].tmp & valid) *
                            (1u + net->in_start[id + 1] - net->in_start[id]);
            }
            for (uint32_t k = 0; k < ls.n_controls; k++) L[ls.controls[k]].fired |= L[ls.controls[k]].tmp;
            for (uint32_t k = 0; k < ls.n_controls; k++) {
                uint32_t id = ls.controls[k];
                if (any(L[id].tmp)) lapply(net, L, id, L[id].tmp);
            }
        }
        /* Phase 4, event-driven as in bsn_net_step: after the first pass only neurons whose
         * sources or modulators fired in the previous pass (in some lane) are looked at. */
        uint32_t n_cand = 0;
        for (uint32_t k = 0; k < ls.n_others; k++) {
            uint32_t id = ls.others[k];
            L[id].tmp = excited(L[id].exc);
            L[id].ex = (lv){0};
            ls.flags[id] = OTHER;
            ls.stamp[id] = 0;
            ls.cand[n_cand++] = (uint16_t)id;
        }
        lv done = {0}, last = {0}; /* per lane: its passes are over, and the last one */
        uint32_t pass = 0;
        for (;;) {
            lv fired_any = {0};
            uint32_t nd = 0;
            uint32_t n_next = 0;
            for (uint32_t k = 0; k < n_cand; k++) {
                uint32_t id = ls.cand[k];
                if (!(ls.flags[id] & VALID)) {
                    lv acc = {0}, ffv = {0};
                    for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
                        const bsn_conn *cn = &net->c[i];
                        if (net->kind[cn->from] == BSN_KIND_CONTROL) continue;
                        acc |= lterm(L, cn);
                        if (cn->mod == BSN_NONE) ffv |= L[cn->from].fired;
                    }
                    L[id].acc = acc;
                    L[id].ffv = ffv;
                    ls.flags[id] |= VALID;
                }
                lv m = L[id].tmp & ~L[id].fired & L[id].ffv;
                L[id].pend = (lv){0};
                if (!any(m)) continue;
                if (fuel) {
                    lv first = m & ~L[id].ex;
                    L[id].p0 = (L[id].p0 & ~first) | (first & (uint16_t)pass);
                    L[id].ex |= m;
                }
                lout(net, L, id, L[id].acc, m, &dc);
                L[id].pend = m & fires(L[id].out);
                if (any(L[id].pend)) {
                    fired_any |= L[id].pend;
                    ls.next[n_next++] = (uint16_t)id; /* the firing ones, for now */
                }
            }
            lv newly = ~done & ~fired_any;
            last |= newly & (uint16_t)pass;
            done |= newly;
            if (n_next == 0) break;
            /* mark the firing, then hand their changes to the connections they feed */
            nd = n_next;
            for (uint32_t k = 0; k < nd; k++) {
                uint32_t id = ls.next[k];
                L[id].fired |= L[id].pend;
                if (fuel) L[id].pf = (L[id].pf & ~L[id].pend) | (L[id].pend & (uint16_t)pass);
            }
            memcpy(ls.cand, ls.next, (size_t)nd * sizeof *ls.cand); /* cand: this pass's firing */
            pass++;
            n_next = 0;
            for (uint32_t k = 0; k < nd; k++) {
                uint32_t x = ls.cand[k];
                for (uint32_t q = net->src_start[x]; q < net->src_start[x + 1]; q++)
                    ltouch(net, L, &ls, net->src_idx[q], pass, &n_next);
                for (uint32_t q = net->mod_start[x]; q < net->mod_start[x + 1]; q++)
                    ltouch(net, L, &ls, net->mod_idx[q], pass, &n_next);
            }
            memcpy(ls.cand, ls.next, (size_t)n_next * sizeof *ls.cand);
            n_cand = n_next;
        }
        if (fuel) {
            for (uint32_t k = 0; k < ls.n_others; k++) {
                uint32_t id = ls.others[k];
                lv ex = L[id].ex & valid;
                if (!any(ex)) continue;
                lv end = (L[id].fired & L[id].pf) | (~L[id].fired & last);
                used += (uint64_t)lanes_sum(ex & (end - L[id].p0 + 1)) *
                        (1u + net->in_start[id + 1] - net->in_start[id]);
            }
        }
        uint32_t o = net->n_in;
        lv m = ~L[o].fired;
        if (any(m)) lexec(net, L, o, m, &dc);
        if (fuel) used += (uint64_t)lanes_set(m & valid) * (1u + net->in_start[o + 1] - net->in_start[o]);
        lv want; /* variable shifts on 32-bit lanes: AVX2 has them, not on 16-bit ones */
        if (env == BSN_ENV_MUX6) want = __builtin_convertvector((dc.t >> ((dc.t & 3) + 2)) & 1, lv);
        else if (env == BSN_ENV_MUX11) want = __builtin_convertvector((dc.t >> ((dc.t & 7) + 3)) & 1, lv);
        else want = popcnt(c) & 1;
        lv ok = ((L[o].out >> 15) ^ want ^ 1) & valid & 1; /* 1 in each lane that is right */
        uint64_t q[LANES / 4];
        uint16_t r16[LANES];
        memcpy(q, &ok, sizeof q);
        memcpy(r16, &ok, sizeof r16);
        for (int i = 0; i < LANES / 4; i++) correct += bsn_pc64(q[i]);
        if (right) {
            uint64_t bits = 0;
            for (int i = 0; i < LANES; i++) bits |= (uint64_t)(r16[i] & 1u) << i;
            right[base / LANES] = bits;
        }
    }
    if (fuel) *fuel = used;
    return correct;
}
