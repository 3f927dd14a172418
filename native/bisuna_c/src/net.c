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

static void execute(bsn_net *net, uint32_t id, uint32_t obs) {
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
    uint32_t out;
    switch (kind[id]) {
    case BSN_KIND_INPUT: out = (acc + obs) & 0xFFFFu; break;
    case BSN_KIND_ACTIVATION: out = popcount16(acc); break;
    case BSN_KIND_THRESHOLD:
    case BSN_KIND_CONTROL: out = popcount16(acc) >= 4 ? 255u : 0u; break;
    case BSN_KIND_RANDOM: out = bsn_random_word(net->seed, net->t, id); break;
    case BSN_KIND_ROLL: out = ((acc << 1) | (acc >> 15)) & 0xFFFFu; break;
    default: out = acc; break; /* output, identity */
    }
    net->out[id] = (uint16_t)out;
    net->state[id] = (uint16_t)(~out & BETA[net->rate[id]]);
}

static inline int has_ff_input(const bsn_net *net, uint32_t id) {
    uint32_t b = net->in_start[id], e = net->in_start[id + 1];
    for (uint32_t i = b; i < e; i++) {
        uint32_t s = net->c[i].from;
        if (net->c[i].mod == BSN_NONE && net->fired[s] && net->kind[s] != BSN_KIND_CONTROL)
            return 1;
    }
    return 0;
}

static void apply_control(bsn_net *net, uint32_t ctl) {
    uint16_t st = net->state[ctl];
    for (uint32_t k = net->ctl_start[ctl]; k < net->ctl_start[ctl + 1]; k++) {
        const bsn_conn *c = &net->c[net->ctl_idx[k]];
        uint16_t w = c->mod == BSN_NONE ? c->weight : mod_word(net, c->mod);
        net->exc[c->to] |= (uint16_t)(w & st);
    }
}

void bsn_net_step(bsn_net *net, const uint16_t *in, uint16_t *out) {
    uint32_t n_in = net->n_in;
    uint16_t *work = net->work, *pend = net->work + net->cap_n;
    /* 1. inputs */
    for (uint32_t i = 0; i < n_in; i++) execute(net, i, in[i]);
    for (uint32_t i = 0; i < n_in; i++) net->fired[i] = 1;
    /* 2. control primers */
    if (net->n_primers) {
        for (uint32_t k = 0; k < net->n_primers; k++) execute(net, net->primers[k], 0);
        for (uint32_t k = 0; k < net->n_primers; k++) net->fired[net->primers[k]] = 1;
        for (uint32_t k = 0; k < net->n_primers; k++) apply_control(net, net->primers[k]);
    }
    /* 3. control neurons in batches */
    while (net->n_controls) {
        uint32_t cnt = 0;
        for (uint32_t k = 0; k < net->n_controls; k++) {
            uint16_t id = net->controls[k];
            if (!net->fired[id] && net->exc[id] < BSN_EXC_LIMIT) work[cnt++] = id;
        }
        if (cnt == 0) break;
        for (uint32_t k = 0; k < cnt; k++) execute(net, work[k], 0);
        for (uint32_t k = 0; k < cnt; k++) net->fired[work[k]] = 1;
        for (uint32_t k = 0; k < cnt; k++) apply_control(net, work[k]);
    }
    /* 4. other hidden and output neurons, in passes */
    uint32_t cnt = 0;
    for (uint32_t k = 0; k < net->n_others; k++) {
        uint16_t id = net->others[k];
        if (net->exc[id] < BSN_EXC_LIMIT) work[cnt++] = id;
    }
    while (cnt) {
        uint32_t np = 0;
        for (uint32_t k = 0; k < cnt; k++) {
            uint16_t id = work[k];
            if (!has_ff_input(net, id)) continue;
            execute(net, id, 0);
            if (net->out[id] >= BSN_FIRE_MIN) pend[np++] = id;
        }
        if (np == 0) break;
        for (uint32_t k = 0; k < np; k++) net->fired[pend[k]] = 1;
        uint32_t keep = 0;
        for (uint32_t k = 0; k < cnt; k++)
            if (!net->fired[work[k]]) work[keep++] = work[k];
        cnt = keep;
    }
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
