/* net.c: one BiSUNA network: storage, the step, structural and weight mutations. */
#include <stdlib.h>

#include "internal.h"

static void *default_alloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void default_free(void *ctx, void *p) { (void)ctx; free(p); }

void *bsn_alloc(const bsn_allocator *a, size_t n) {
    if (a == NULL || a->alloc == NULL) return default_alloc(NULL, n);
    return a->alloc(a->ctx, n);
}
void bsn_dealloc(const bsn_allocator *a, void *p) {
    if (p == NULL) return;
    if (a == NULL || a->free == NULL) default_free(NULL, p);
    else a->free(a->ctx, p);
}

static const uint16_t BETA[3] = {0xFFFFu, 0x07FFu, 0x003Fu};

static size_t align8(size_t x) { return (x + 7u) & ~(size_t)7u; }

/* One block: the struct, then every array, each 8-byte aligned. */
bsn_net *bsn_net_new(const bsn_allocator *a, uint32_t cap_n, uint32_t cap_c) {
    size_t n = cap_n, c = cap_c == 0 ? 1 : cap_c;
    size_t sz = align8(sizeof(bsn_net));
    size_t o_kind = sz; sz += align8(n);
    size_t o_rate = sz; sz += align8(n);
    size_t o_primer = sz; sz += align8(n);
    size_t o_fired = sz; sz += align8(n);
    size_t o_live = sz; sz += align8(n);
    size_t o_c = sz; sz += align8(c * sizeof(bsn_conn));
    size_t o_in = sz; sz += align8((n + 1) * 4);
    size_t o_cs = sz; sz += align8((n + 1) * 4);
    size_t o_ci = sz; sz += align8(c * 4);
    size_t o_pr = sz; sz += align8(n * 2);
    size_t o_ct = sz; sz += align8(n * 2);
    size_t o_ot = sz; sz += align8(n * 2);
    size_t o_wk = sz; sz += align8(n * 4);
    size_t o_st = sz; sz += align8(n * 2);
    size_t o_pv = sz; sz += align8(n * 2);
    size_t o_out = sz; sz += align8(n * 2);
    size_t o_exc = sz; sz += align8(n * 2);
    size_t o_ff = sz; sz += align8(c);
    size_t o_pff = sz; sz += align8(c);
    size_t o_ss = sz; sz += align8((n + 1) * 4);
    size_t o_si = sz; sz += align8(c * 4);
    size_t o_ms = sz; sz += align8((n + 1) * 4);
    size_t o_mi = sz; sz += align8(c * 4);
    size_t o_u16 = sz; sz += align8(n * 2 * 5); /* acc, cand, next, seen, fire */
    size_t o_u32 = sz; sz += align8(n * 4 * 3); /* stamp, first, fpass */
    size_t o_bits = sz; sz += align8(n * 2 * 16);
    size_t o_term = sz; sz += align8(c * 2);
    size_t o_flag = sz; sz += align8(n);
    uint8_t *m = bsn_alloc(a, sz);
    if (m == NULL) return NULL;
    memset(m, 0, sz);
    bsn_net *net = (bsn_net *)(void *)m;
    net->cap_n = cap_n;
    net->cap_c = cap_c;
    net->kind = m + o_kind;
    net->rate = m + o_rate;
    net->primer = m + o_primer;
    net->fired = m + o_fired;
    net->live = m + o_live;
    net->c = (bsn_conn *)(void *)(m + o_c);
    net->in_start = (uint32_t *)(void *)(m + o_in);
    net->ctl_start = (uint32_t *)(void *)(m + o_cs);
    net->ctl_idx = (uint32_t *)(void *)(m + o_ci);
    net->primers = (uint16_t *)(void *)(m + o_pr);
    net->controls = (uint16_t *)(void *)(m + o_ct);
    net->others = (uint16_t *)(void *)(m + o_ot);
    net->work = (uint16_t *)(void *)(m + o_wk);
    net->state = (uint16_t *)(void *)(m + o_st);
    net->prev = (uint16_t *)(void *)(m + o_pv);
    net->out = (uint16_t *)(void *)(m + o_out);
    net->exc = (uint16_t *)(void *)(m + o_exc);
    net->ff = m + o_ff;
    net->pff = m + o_pff;
    net->src_start = (uint32_t *)(void *)(m + o_ss);
    net->src_idx = (uint32_t *)(void *)(m + o_si);
    net->mod_start = (uint32_t *)(void *)(m + o_ms);
    net->mod_idx = (uint32_t *)(void *)(m + o_mi);
    uint16_t *u16 = (uint16_t *)(void *)(m + o_u16);
    net->acc = u16;
    net->cand = u16 + n;
    net->next = u16 + 2 * n;
    net->seen = u16 + 3 * n;
    net->fire = u16 + 4 * n;
    uint32_t *u32 = (uint32_t *)(void *)(m + o_u32);
    net->stamp = u32;
    net->first = u32 + n;
    net->fpass = u32 + 2 * n;
    net->bits = (uint16_t *)(void *)(m + o_bits);
    net->term = (uint16_t *)(void *)(m + o_term);
    net->flag = m + o_flag;
    return net;
}

void bsn_net_init_io(bsn_net *net, uint32_t n_in, uint32_t n_out) {
    net->n_in = n_in;
    net->n_out = n_out;
    net->n = n_in + n_out;
    net->nc = 0;
    for (uint32_t i = 0; i < net->n; i++) {
        net->kind[i] = i < n_in ? BSN_KIND_INPUT : BSN_KIND_OUTPUT;
        net->rate[i] = 0;
    }
    bsn_net_prepare(net);
}

void bsn_net_copy(bsn_net *dst, const bsn_net *src) {
    dst->n_in = src->n_in;
    dst->n_out = src->n_out;
    dst->n = src->n;
    dst->nc = src->nc;
    memcpy(dst->kind, src->kind, src->n);
    memcpy(dst->rate, src->rate, src->n);
    if (src->nc) memcpy(dst->c, src->c, src->nc * sizeof(bsn_conn));
    bsn_net_prepare(dst);
}

static inline uint64_t conn_key(const bsn_conn *c) {
    return ((uint64_t)c->to << 48) | ((uint64_t)c->from << 32) | ((uint64_t)c->mod << 16) |
           (uint64_t)c->weight;
}

/* Rebuilds the schedule: incoming ranges, control primers, control fan-out, id lists. */
void bsn_net_prepare(bsn_net *net) {
    uint32_t n = net->n, nc = net->nc;
    uint32_t *in = net->in_start;
    memset(in, 0, (size_t)(n + 1) * 4);
    for (uint32_t i = 0; i < nc; i++) in[net->c[i].to + 1]++;
    for (uint32_t i = 0; i < n; i++) in[i + 1] += in[i];
    /* primers: control neurons with no incoming connection from a control neuron */
    for (uint32_t i = 0; i < n; i++) net->primer[i] = net->kind[i] == BSN_KIND_CONTROL;
    for (uint32_t i = 0; i < nc; i++)
        if (net->kind[net->c[i].from] == BSN_KIND_CONTROL) net->primer[net->c[i].to] = 0;
    /* outgoing connections of control neurons, grouped by source */
    uint32_t *cs = net->ctl_start;
    memset(cs, 0, (size_t)(n + 1) * 4);
    for (uint32_t i = 0; i < nc; i++)
        if (net->kind[net->c[i].from] == BSN_KIND_CONTROL) cs[net->c[i].from + 1]++;
    for (uint32_t i = 0; i < n; i++) cs[i + 1] += cs[i];
    uint32_t *fill = (uint32_t *)(void *)net->work; /* n entries of scratch */
    for (uint32_t i = 0; i < n; i++) fill[i] = cs[i];
    for (uint32_t i = 0; i < nc; i++) {
        uint32_t f = net->c[i].from;
        if (net->kind[f] == BSN_KIND_CONTROL) net->ctl_idx[fill[f]++] = i;
    }
    /* live: what an output depends on, backwards over sources, modulators and control
     * connections. A neuron outside it cannot change an output: skipping it only removes
     * passes in which live neurons would recompute what they hold (a random neuron's word
     * is fixed for the step). */
    uint16_t *stack = net->work;
    uint32_t top = 0;
    memset(net->live, 0, n);
    for (uint32_t o = net->n_in; o < net->n_in + net->n_out; o++) {
        net->live[o] = 1;
        stack[top++] = (uint16_t)o;
    }
#ifdef BSN_FULL_SCHEDULE /* test builds: run every neuron, to check the pruning changes nothing */
    memset(net->live, 1, n);
    top = 0;
#endif
    while (top) {
        uint32_t y = stack[--top];
        for (uint32_t i = in[y]; i < in[y + 1]; i++) {
            uint32_t src = net->c[i].from, m = net->c[i].mod;
            if (!net->live[src]) {
                net->live[src] = 1;
                stack[top++] = (uint16_t)src;
            }
            if (m != BSN_NONE && !net->live[m]) {
                net->live[m] = 1;
                stack[top++] = (uint16_t)m;
            }
        }
    }
    /* connections by non-control source and by modulator: whose terms a firing changes */
    uint32_t *ss = net->src_start, *ms = net->mod_start;
    memset(ss, 0, (size_t)(n + 1) * 4);
    memset(ms, 0, (size_t)(n + 1) * 4);
    for (uint32_t i = 0; i < nc; i++) {
        const bsn_conn *c = &net->c[i];
        if (net->kind[c->from] == BSN_KIND_CONTROL) continue;
        ss[c->from + 1]++;
        if (c->mod != BSN_NONE) ms[c->mod + 1]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        ss[i + 1] += ss[i];
        ms[i + 1] += ms[i];
    }
    for (uint32_t i = 0; i < n; i++) fill[i] = ss[i];
    for (uint32_t i = 0; i < nc; i++)
        if (net->kind[net->c[i].from] != BSN_KIND_CONTROL) net->src_idx[fill[net->c[i].from]++] = i;
    for (uint32_t i = 0; i < n; i++) fill[i] = ms[i];
    for (uint32_t i = 0; i < nc; i++) {
        const bsn_conn *c = &net->c[i];
        if (net->kind[c->from] != BSN_KIND_CONTROL && c->mod != BSN_NONE)
            net->mod_idx[fill[c->mod]++] = i;
    }
    memset(net->flag, 0, n);
    net->n_primers = net->n_controls = net->n_others = 0;
    for (uint32_t i = net->n_in; i < n; i++) {
        if (!net->live[i]) continue;
        if (net->kind[i] == BSN_KIND_CONTROL) {
            if (net->primer[i]) net->primers[net->n_primers++] = (uint16_t)i;
            else net->controls[net->n_controls++] = (uint16_t)i;
        } else {
            net->others[net->n_others++] = (uint16_t)i;
        }
    }
    net->fuel_fixed = 0;
    for (uint32_t i = 0; i < net->n_in; i++) net->fuel_fixed += 1u + in[i + 1] - in[i];
    for (uint32_t k = 0; k < net->n_primers; k++)
        net->fuel_fixed += 1u + in[net->primers[k] + 1] - in[net->primers[k]];
}

void bsn_net_reset(bsn_net *net, uint64_t seed) {
    uint32_t n = net->n, nc = net->nc;
    memset(net->state, 0, (size_t)n * 2);
    memset(net->prev, 0, (size_t)n * 2);
    memset(net->out, 0, (size_t)n * 2);
    memset(net->exc, 0, (size_t)n * 2);
    memset(net->fired, 0, n);
    if (nc) {
        memset(net->ff, 0, nc);
        memset(net->pff, 0, nc);
    }
    net->seed = seed;
    net->t = 0;
}

/* ---- the step ---------------------------------------------------------------------------- */

static inline uint16_t popcount16(uint32_t x) { return (uint16_t)bsn_pc16(x); }

/* The modulation word of a connection: the modulator's state if it fired, its previous
 * state if not, 0 if it is inhibited. */
static inline uint16_t mod_word(const bsn_net *net, uint32_t m) {
    if (net->exc[m] >= BSN_EXC_LIMIT) return 0;
    return net->fired[m] ? net->state[m] : net->prev[m];
}

/* The word connection i (from a non-control source) adds to its target's accumulator. */
static inline uint32_t term_of(const bsn_net *net, uint32_t i) {
    const bsn_conn *c = &net->c[i];
    uint32_t s = c->from, fs = net->fired[s], w;
    if (c->mod == BSN_NONE) {
        if (!fs && net->pff[i]) return 0; /* its source will fire: do not count it twice */
        w = c->weight;
    } else {
        w = mod_word(net, c->mod);
    }
    return w & (fs ? net->state[s] : net->prev[s]);
}

static inline uint32_t activation(const bsn_net *net, uint32_t id, uint32_t acc, uint32_t obs) {
    switch (net->kind[id]) {
    case BSN_KIND_INPUT: return (acc + obs) & 0xFFFFu;
    case BSN_KIND_ACTIVATION: return popcount16(acc);
    case BSN_KIND_THRESHOLD:
    case BSN_KIND_CONTROL: return popcount16(acc) >= 4 ? 255u : 0u;
    case BSN_KIND_RANDOM: return bsn_random_word(net->seed, net->t, id);
    case BSN_KIND_ROLL: return ((acc << 1) | (acc >> 15)) & 0xFFFFu;
    default: return acc; /* output, identity */
    }
}

/* Sets the feed-forward flags of id's incoming connections from the current fired marks. */
static inline void set_ff(bsn_net *net, uint32_t id) {
    for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
        uint32_t s = net->c[i].from;
        net->ff[i] = (uint8_t)(net->c[i].mod == BSN_NONE && net->kind[s] != BSN_KIND_CONTROL &&
                               net->fired[s]);
    }
}

static inline void write_out(bsn_net *net, uint32_t id, uint32_t out) {
    net->out[id] = (uint16_t)out;
    net->state[id] = (uint16_t)(~out & BETA[net->rate[id]]);
}

/* One execution: the accumulator over the incoming connections, the feed-forward flags, the
 * out and state. Returns the out. */
static uint32_t execute(bsn_net *net, uint32_t id, uint32_t obs) {
    uint32_t b = net->in_start[id], e = net->in_start[id + 1];
    uint32_t acc = 0;
    const bsn_conn *cs = net->c;
    const uint8_t *fired = net->fired, *kind = net->kind;
    for (uint32_t i = b; i < e; i++) {
        uint32_t s = cs[i].from;
        uint8_t fs = fired[s];
        uint32_t w;
        net->ff[i] = 0;
        if (kind[s] == BSN_KIND_CONTROL) continue;
        if (cs[i].mod == BSN_NONE) {
            if (!fs && net->pff[i]) continue;
            w = cs[i].weight;
            net->ff[i] = fs;
        } else {
            w = mod_word(net, cs[i].mod);
        }
        acc |= w & (fs ? net->state[s] : net->prev[s]);
    }
    net->acc[id] = (uint16_t)acc;
    uint32_t out = activation(net, id, acc, obs);
    write_out(net, id, out);
    net->step_fuel += 1u + e - b;
    return out;
}

static void apply_control(bsn_net *net, uint32_t ctl) {
    uint16_t st = net->state[ctl];
    for (uint32_t k = net->ctl_start[ctl]; k < net->ctl_start[ctl + 1]; k++) {
        const bsn_conn *c = &net->c[net->ctl_idx[k]];
        uint16_t w = c->mod == BSN_NONE ? c->weight : mod_word(net, c->mod);
        net->exc[c->to] |= (uint16_t)(w & st);
    }
}

/* Phase 4 bookkeeping (flag bits). A neuron with more incoming connections than WIDE keeps
 * one counter per accumulator bit, so a change of one term costs O(16), not a rescan. */
#define F_WORK 1u  /* in the pass list: live, excited, not control */
#define F_READY 2u /* has a feed-forward input (stays so: fired marks only grow) */
#define F_RAN 4u   /* executed at least once this step */
#define F_WIDE 8u  /* more incoming connections than WIDE: keeps bit counters */
#define F_FIRED 16u
#define WIDE 16u

static inline int is_wide(const bsn_net *net, uint32_t id) { return net->flag[id] & F_WIDE; }

/* Builds a wide neuron's counters and terms from scratch; returns its accumulator. */
static uint32_t count_terms(bsn_net *net, uint32_t id) {
    uint16_t *cnt = net->bits + (size_t)id * 16;
    uint32_t acc = 0;
    memset(cnt, 0, 16 * sizeof *cnt);
    for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
        uint32_t v = net->kind[net->c[i].from] == BSN_KIND_CONTROL ? 0 : term_of(net, i);
        net->term[i] = (uint16_t)v;
        acc |= v;
        for (uint32_t b = 0; v; b++, v >>= 1) cnt[b] += (uint16_t)(v & 1u);
    }
    return acc;
}

/* Connection i's term changed (a wide target): moves its counts, keeps the accumulator. */
static void recount(bsn_net *net, uint32_t i, uint32_t to) {
    uint32_t v = term_of(net, i), old = net->term[i];
    if (v == old) return;
    net->term[i] = (uint16_t)v;
    uint16_t *cnt = net->bits + (size_t)to * 16;
    uint32_t acc = net->acc[to];
    for (uint32_t b = 0, x = old & ~v; x; b++, x >>= 1)
        if ((x & 1u) && --cnt[b] == 0) acc &= ~(1u << b);
    for (uint32_t b = 0, x = v & ~old; x; b++, x >>= 1)
        if ((x & 1u) && cnt[b]++ == 0) acc |= 1u << b;
    net->acc[to] = (uint16_t)acc;
}

/* After a firing: the targets of connection i that must be looked at in the next pass. */
static inline void touch(bsn_net *net, uint32_t i, uint32_t pass, uint16_t *next,
                         uint32_t *n_next) {
    uint32_t to = net->c[i].to;
    uint8_t f = net->flag[to];
    if ((f & (F_WORK | F_FIRED)) != F_WORK) return;
    if (net->c[i].mod == BSN_NONE) f |= F_READY; /* (i comes from a source that fired) */
    net->flag[to] = f;
    if (!(f & F_READY)) return; /* without a feed-forward input it is not executed */
    if ((f & F_RAN) && is_wide(net, to)) recount(net, i, to);
    if (net->stamp[to] != pass) {
        net->stamp[to] = pass;
        next[(*n_next)++] = (uint16_t)to;
    }
}

/* Phase 4, event-driven. The definition runs passes over the whole list; in pass k a neuron
 * computes the same thing as in pass k-1 unless one of its sources or modulators fired in
 * pass k-1 (fired marks, states of fired neurons, previous states and excitations are
 * otherwise fixed), so only those are looked at, and a neuron that did not fire in k-1 does
 * not fire in k either. Its last execution is the one that counts (state, out, flags); for a
 * neuron that never fires that is the last pass, with the final fired marks. Cost: each
 * firing visits the connections it changes once; a narrow neuron rescans its inputs at most
 * once per change of one of them, a wide one updates its counters. */
static void passes(bsn_net *net) {
    uint32_t n_in = net->n_in, n_cand = 0, n_ran = 0, pass = 1;
    uint16_t *ran = net->seen, *cand = net->cand, *next = net->next;
    /* pass 1: the list, and those with a feed-forward input (from an input neuron: the only
     * fired non-control sources so far) */
    for (uint32_t k = 0; k < net->n_others; k++) {
        uint16_t id = net->others[k];
        net->stamp[id] = 0;
        if (net->exc[id] >= BSN_EXC_LIMIT) {
            net->flag[id] = 0;
            continue;
        }
        uint8_t f = F_WORK;
        if (net->in_start[id + 1] - net->in_start[id] > WIDE) f |= F_WIDE;
        for (uint32_t i = net->in_start[id]; i < net->in_start[id + 1]; i++) {
            if (net->c[i].from < n_in && net->c[i].mod == BSN_NONE) {
                f |= F_READY;
                net->stamp[id] = pass;
                cand[n_cand++] = id;
                break;
            }
        }
        net->flag[id] = f;
    }
    for (;;) {
        uint32_t nd = 0;
        for (uint32_t k = 0; k < n_cand; k++) {
            uint32_t id = cand[k];
            uint32_t out;
            int wide = is_wide(net, id);
            if (!(net->flag[id] & F_RAN)) {
                net->flag[id] |= F_RAN;
                net->first[id] = pass;
                ran[n_ran++] = (uint16_t)id;
                if (wide) net->acc[id] = (uint16_t)count_terms(net, id);
            }
            if (wide) {
                out = activation(net, id, net->acc[id], 0);
                if (out >= BSN_FIRE_MIN) {
                    set_ff(net, id); /* its last execution: fired marks as of this pass */
                    write_out(net, id, out);
                }
            } else {
                /* a narrow neuron executes in full (its last execution's writes stand) */
                out = execute(net, id, 0);
                net->step_fuel -= 1u + net->in_start[id + 1] - net->in_start[id];
            }
            if (out >= BSN_FIRE_MIN) {
                net->fpass[id] = pass;
                net->fire[nd++] = (uint16_t)id;
            }
        }
        if (nd == 0) break;
        for (uint32_t k = 0; k < nd; k++) {
            net->fired[net->fire[k]] = 1;
            net->flag[net->fire[k]] |= F_FIRED;
        }
        pass++;
        uint32_t n_next = 0;
        for (uint32_t k = 0; k < nd; k++) {
            uint32_t x = net->fire[k];
            for (uint32_t q = net->src_start[x]; q < net->src_start[x + 1]; q++)
                touch(net, net->src_idx[q], pass, next, &n_next);
            for (uint32_t q = net->mod_start[x]; q < net->mod_start[x + 1]; q++)
                touch(net, net->mod_idx[q], pass, next, &n_next);
        }
        uint16_t *t = cand;
        cand = next;
        next = t;
        n_cand = n_next;
    }
    /* the last pass is `pass`; neurons that never fired end with the final marks */
    for (uint32_t k = 0; k < n_ran; k++) {
        uint32_t id = ran[k], last = pass;
        if (net->fired[id]) {
            last = net->fpass[id];
        } else if (is_wide(net, id)) {
            set_ff(net, id);
            write_out(net, id, activation(net, id, net->acc[id], 0));
        }
        net->step_fuel += (uint64_t)(last - net->first[id] + 1) *
                          (1u + net->in_start[id + 1] - net->in_start[id]);
    }
}

void bsn_net_step(bsn_net *net, const uint16_t *in, uint16_t *out) {
    uint32_t n_in = net->n_in;
    net->step_fuel = (uint64_t)net->n + net->nc; /* the clean-up; execute() and passes() add */
    /* 1. inputs */
    for (uint32_t i = 0; i < n_in; i++) execute(net, i, in[i]);
    for (uint32_t i = 0; i < n_in; i++) net->fired[i] = 1;
    /* 2. control primers */
    if (net->n_primers) {
        for (uint32_t k = 0; k < net->n_primers; k++) execute(net, net->primers[k], 0);
        for (uint32_t k = 0; k < net->n_primers; k++) net->fired[net->primers[k]] = 1;
        for (uint32_t k = 0; k < net->n_primers; k++) apply_control(net, net->primers[k]);
    }
    /* 3. control neurons: one batch holds every excited one (excitation only grows, and the
     * batch fires all it executes), so a second batch would be empty */
    if (net->n_controls) {
        uint16_t *work = net->work;
        uint32_t cnt = 0;
        for (uint32_t k = 0; k < net->n_controls; k++) {
            uint16_t id = net->controls[k];
            if (!net->fired[id] && net->exc[id] < BSN_EXC_LIMIT) work[cnt++] = id;
        }
        for (uint32_t k = 0; k < cnt; k++) execute(net, work[k], 0);
        for (uint32_t k = 0; k < cnt; k++) net->fired[work[k]] = 1;
        for (uint32_t k = 0; k < cnt; k++) apply_control(net, work[k]);
    }
    /* 4. other hidden and output neurons, in passes */
    passes(net);
    /* 5. outputs that have not fired */
    for (uint32_t k = 0; k < net->n_out; k++) {
        uint32_t id = n_in + k;
        if (!net->fired[id]) execute(net, id, 0);
        out[k] = net->out[id];
    }
    /* 6. clean-up (plain loops: the arrays are short, a library call each would cost more) */
    uint32_t n = net->n, nc = net->nc;
    uint16_t *state = net->state, *prev = net->prev, *exc = net->exc;
    uint8_t *fired = net->fired, *ff = net->ff, *pff = net->pff;
    for (uint32_t i = 0; i < n; i++) {
        prev[i] = state[i];
        state[i] = 0;
        exc[i] = 0;
        fired[i] = 0;
    }
    for (uint32_t i = 0; i < nc; i++) {
        pff[i] = ff[i];
        ff[i] = 0;
    }
    net->t++;
}

/* ---- mutations --------------------------------------------------------------------------- */

static void insert_conn(bsn_net *net, uint16_t from, uint16_t to, uint16_t mod, uint16_t w) {
    if (net->nc >= net->cap_c) return;
    bsn_conn c = {from, to, mod, w};
    uint64_t k = conn_key(&c);
    uint32_t pos = net->nc;
    while (pos > 0 && conn_key(&net->c[pos - 1]) > k) pos--;
    memmove(&net->c[pos + 1], &net->c[pos], (size_t)(net->nc - pos) * sizeof(bsn_conn));
    net->c[pos] = c;
    net->nc++;
}

/* A new connection from -> to: modulated by a random neuron with p 0.1, else weight 0xFFFF
 * or 0x0001 at 50/50. Every draw is its own statement so the order is fixed. */
static void add_conn(bsn_net *net, bsn_rng *r, uint32_t from, uint32_t to) {
    uint32_t modulated = bsn_rng_below(r, 10) == 0;
    if (modulated) {
        uint32_t m = bsn_rng_below(r, net->n);
        insert_conn(net, (uint16_t)from, (uint16_t)to, (uint16_t)m, 0);
    } else {
        uint32_t heavy = bsn_rng_below(r, 2);
        insert_conn(net, (uint16_t)from, (uint16_t)to, BSN_NONE, heavy ? 0xFFFFu : 0x0001u);
    }
}

/* Keeps the neurons with keep[id] != 0 (inputs and outputs always kept), drops every
 * connection touching a dropped neuron (as source, target or modulator) and renumbers. */
static void compact(bsn_net *net, const uint8_t *keep) {
    uint16_t *map = net->work;
    uint32_t n = net->n, nn = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (keep[i]) {
            map[i] = (uint16_t)nn;
            net->kind[nn] = net->kind[i];
            net->rate[nn] = net->rate[i];
            nn++;
        } else {
            map[i] = BSN_NONE;
        }
    }
    uint32_t nc = 0;
    for (uint32_t i = 0; i < net->nc; i++) {
        bsn_conn c = net->c[i];
        if (map[c.from] == BSN_NONE || map[c.to] == BSN_NONE) continue;
        if (c.mod != BSN_NONE && map[c.mod] == BSN_NONE) continue;
        c.from = map[c.from];
        c.to = map[c.to];
        if (c.mod != BSN_NONE) c.mod = map[c.mod];
        net->c[nc++] = c; /* a monotone renumbering keeps the order */
    }
    net->n = nn;
    net->nc = nc;
}

static void sort_conns(bsn_net *net) {
    for (uint32_t i = 1; i < net->nc; i++) {
        bsn_conn c = net->c[i];
        uint64_t k = conn_key(&c);
        uint32_t j = i;
        while (j > 0 && conn_key(&net->c[j - 1]) > k) {
            net->c[j] = net->c[j - 1];
            j--;
        }
        net->c[j] = c;
    }
}

static const uint8_t ADD_KINDS[6] = {BSN_KIND_IDENTITY, BSN_KIND_ACTIVATION, BSN_KIND_THRESHOLD,
                                     BSN_KIND_RANDOM,   BSN_KIND_CONTROL,    BSN_KIND_ROLL};

/* One structural mutation (roulette: add neuron 1%, delete neuron 1%, add connection 49%,
 * delete connection 49%). Leaves the schedule stale: call bsn_net_prepare afterwards. */
void bsn_net_structural(bsn_net *net, bsn_rng *r) {
    uint32_t roll = bsn_rng_below(r, 100);
    if (roll == 0) {
        uint32_t ctl = bsn_rng_below(r, 5) == 0;
        uint32_t kind = ctl ? BSN_KIND_CONTROL : ADD_KINDS[bsn_rng_below(r, 6)];
        uint32_t rate = bsn_rng_below(r, 3);
        if (net->n >= net->cap_n) return;
        uint32_t id = net->n++;
        net->kind[id] = (uint8_t)kind;
        net->rate[id] = (uint8_t)rate;
        uint32_t to = bsn_rng_below(r, net->n);
        add_conn(net, r, id, to);
        uint32_t from = bsn_rng_below(r, net->n);
        add_conn(net, r, from, id);
    } else if (roll == 1) {
        uint32_t io = net->n_in + net->n_out;
        if (net->n <= io) return;
        uint32_t d = io + bsn_rng_below(r, net->n - io);
        uint8_t *keep = net->fired; /* scratch; run-time state is reset before use */
        for (uint32_t i = 0; i < net->n; i++) keep[i] = i != d;
        compact(net, keep);
        memset(keep, 0, net->cap_n);
    } else if (roll < 51) {
        uint32_t from = bsn_rng_below(r, net->n);
        uint32_t to = bsn_rng_below(r, net->n);
        add_conn(net, r, from, to);
    } else {
        if (net->nc == 0) return;
        uint32_t i = bsn_rng_below(r, net->nc);
        memmove(&net->c[i], &net->c[i + 1], (size_t)(net->nc - i - 1) * sizeof(bsn_conn));
        net->nc--;
    }
}

/* Weight mutation: each non-modulated connection with p 0.5 gets
 * w |= uniform(w >> 1, min(2w, 0xFFFF)). */
void bsn_net_weights(bsn_net *net, bsn_rng *r) {
    int changed = 0;
    for (uint32_t i = 0; i < net->nc; i++) {
        if (net->c[i].mod != BSN_NONE) continue;
        if (bsn_rng_below(r, 2) == 0) continue;
        uint32_t w = net->c[i].weight;
        uint32_t lo = w >> 1, hi = 2 * w > 0xFFFFu ? 0xFFFFu : 2 * w;
        uint32_t v = lo + bsn_rng_below(r, hi - lo + 1);
        net->c[i].weight = (uint16_t)(w | v);
        changed = 1;
    }
    if (changed) sort_conns(net);
}

/* Removes hidden neurons whose only connections are self-loops (and that modulate nothing). */
void bsn_net_remove_orphans(bsn_net *net) {
    uint32_t io = net->n_in + net->n_out;
    if (net->n <= io) return;
    uint8_t *keep = net->fired;
    for (uint32_t i = 0; i < net->n; i++) keep[i] = i < io;
    for (uint32_t i = 0; i < net->nc; i++) {
        const bsn_conn *c = &net->c[i];
        if (c->from != c->to) {
            keep[c->from] = 1;
            keep[c->to] = 1;
        }
        if (c->mod != BSN_NONE) keep[c->mod] = 1;
    }
    uint32_t drop = 0;
    for (uint32_t i = io; i < net->n; i++) drop += !keep[i];
    if (drop) compact(net, keep);
    memset(keep, 0, net->cap_n);
}

/* Counts for the spectrum: identity, threshold, random, control (not primers), activation,
 * rate != 1, primers + roll. Needs a prepared network. */
uint64_t bsn_net_spectrum_counts(const bsn_net *net, uint32_t counts[7]) {
    for (uint32_t i = net->n_in + net->n_out; i < net->n; i++) {
        switch (net->kind[i]) {
        case BSN_KIND_IDENTITY: counts[0]++; break;
        case BSN_KIND_THRESHOLD: counts[1]++; break;
        case BSN_KIND_RANDOM: counts[2]++; break;
        case BSN_KIND_CONTROL:
            if (net->primer[i]) counts[6]++;
            else counts[3]++;
            break;
        case BSN_KIND_ACTIVATION: counts[4]++; break;
        case BSN_KIND_ROLL: counts[6]++; break;
        default: break;
        }
        if (net->rate[i] != 0) counts[5]++;
    }
    return 0;
}
