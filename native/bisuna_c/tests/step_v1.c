/* step_v1.c: the step as it was before the linear rewrite (passes that rescan the work list),
 * frozen for the differential test only. It also counts fuel the way the scorer defines it:
 * 1 + the number of incoming connections for every execution. Not part of the library. */
#include "../src/internal.h"

static const uint16_t BETA[3] = {0xFFFFu, 0x07FFu, 0x003Fu};

void bsn_net_step_v1(bsn_net *net, const uint16_t *in, uint16_t *out, uint64_t *fuel);

/* ---- the step ---------------------------------------------------------------------------- */

static inline uint16_t popcount16(uint32_t x) { return (uint16_t)bsn_pc16(x); }

/* The modulation word of a connection: the modulator's state if it fired, its previous
 * state if not, 0 if it is inhibited. */
static inline uint16_t mod_word(const bsn_net *net, uint32_t m) {
    if (net->exc[m] >= BSN_EXC_LIMIT) return 0;
    return net->fired[m] ? net->state[m] : net->prev[m];
}

static uint64_t v1_fuel;

static void execute(bsn_net *net, uint32_t id, uint32_t obs) {
    uint32_t b = net->in_start[id], e = net->in_start[id + 1];
    v1_fuel += 1u + (e - b);
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

void bsn_net_step_v1(bsn_net *net, const uint16_t *in, uint16_t *out, uint64_t *fuel) {
    uint32_t n_in = net->n_in;
    uint16_t *work = net->work, *pend = net->work + net->cap_n;
    v1_fuel = 0;
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
    *fuel = v1_fuel + net->n + net->nc;
}

