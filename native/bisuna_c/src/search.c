/* search.c: the `es` search strategy, a (1 + lambda) evolution strategy with neutral drift
 * (as Cartesian GP uses), run as independent lineages with restarts.
 *
 * Every lineage keeps one parent and makes LAMBDA children a generation, each with a few
 * mutations drawn from operators that can add and remove connections and neurons, rewire a
 * connection, and set a weight to any word or clear or set some of its bits. The best child
 * replaces the parent when it scores at least as well (ties move the lineage: neutral drift),
 * and, once the parent is perfect, only when it is no larger, so a solved lineage keeps
 * shrinking its agent (the contract prefers the smaller agent on equal scores). A lineage that
 * has not improved for STALL generations restarts from a fresh agent, except the best one.
 * Agents are evaluated through bsn_evaluate, the function bsn_score uses. */
#include "search.h"

#ifndef LAMBDA
#define LAMBDA 4u
#endif
#ifndef STALL
#define STALL 4000u
#endif
#ifndef MAX_MUTATIONS
#define MAX_MUTATIONS 6u
#endif
#ifndef START_WIRES
#define START_WIRES 2u
#endif
#ifndef CONFIRM
#define CONFIRM 16u
#endif

static int boolean_env(const bsn_params *p) {
    return p->env == BSN_ENV_MUX6 || p->env == BSN_ENV_MUX11 || p->env == BSN_ENV_PARITY;
}

/* The training fitness a perfect agent reaches (none for mountain-car). */
static int64_t perfect(const bsn_params *p) {
    return p->env == BSN_ENV_MOUNTAIN_CAR ? INT64_MAX : 1000000;
}

static int has_random(const bsn_agent *a) {
    for (uint32_t k = 0; k < a->n_nets; k++)
        for (uint32_t i = a->nets[k]->n_in + a->nets[k]->n_out; i < a->nets[k]->n; i++)
            if (a->nets[k]->kind[i] == BSN_KIND_RANDOM) return 1;
    return 0;
}

static inline uint64_t key_of(const bsn_conn *c) {
    return ((uint64_t)c->to << 48) | ((uint64_t)c->from << 32) | ((uint64_t)c->mod << 16) |
           (uint64_t)c->weight;
}

static void sort_connections(bsn_net *net) {
    for (uint32_t i = 1; i < net->nc; i++) {
        bsn_conn c = net->c[i];
        uint64_t k = key_of(&c);
        uint32_t j = i;
        while (j > 0 && key_of(&net->c[j - 1]) > k) {
            net->c[j] = net->c[j - 1];
            j--;
        }
        net->c[j] = c;
    }
}

/* A weight: all ones, any word, one bit, or one byte. */
static uint16_t any_weight(bsn_rng *r) {
    switch (bsn_rng_below(r, 4)) {
    case 0: return 0xFFFFu;
    case 1: return bsn_rng_word(r);
    case 2: return (uint16_t)(1u << bsn_rng_below(r, 16));
    default: return (uint16_t)(0xFFu << (8 * bsn_rng_below(r, 2)));
    }
}

static void push_conn(bsn_net *net, uint32_t from, uint32_t to, uint32_t mod, uint16_t w) {
    if (net->nc >= net->cap_c) return;
    bsn_conn c = {(uint16_t)from, (uint16_t)to, (uint16_t)mod, mod == BSN_NONE ? w : 0};
    net->c[net->nc++] = c;
}

static void drop_conn(bsn_net *net, uint32_t i) {
    net->c[i] = net->c[net->nc - 1];
    net->nc--;
}

/* A target: any neuron but an input. */
static uint32_t any_target(const bsn_net *net, bsn_rng *r) {
    return net->n_in + bsn_rng_below(r, net->n - net->n_in);
}

static const uint8_t NEW_KINDS[8] = {BSN_KIND_THRESHOLD, BSN_KIND_THRESHOLD, BSN_KIND_RANDOM,
                                     BSN_KIND_IDENTITY,  BSN_KIND_IDENTITY,  BSN_KIND_ACTIVATION,
                                     BSN_KIND_ROLL,      BSN_KIND_CONTROL};

/* A constant source: a threshold neuron reading two random neurons (each fed by an input so
 * that it runs) fires in all but about one step in a million, so its state is a constant
 * 0xFF00. Nothing else is nonzero when every input is 1, and parity-3 and the multiplexers
 * must answer 1 there. */
static void add_bias(bsn_net *net, bsn_rng *r) {
    if (net->n + 3 > net->cap_n || net->nc + 5 > net->cap_c) return;
    uint32_t t = net->n + 2;
    for (uint32_t k = 0; k < 2; k++) {
        uint32_t id = net->n++;
        net->kind[id] = BSN_KIND_RANDOM;
        net->rate[id] = 0;
        push_conn(net, bsn_rng_below(r, net->n_in), id, BSN_NONE, 0xFFFFu);
        push_conn(net, id, t, BSN_NONE, 0xFFFFu);
    }
    net->n++;
    net->kind[t] = BSN_KIND_THRESHOLD;
    net->rate[t] = 0;
    push_conn(net, t, any_target(net, r), BSN_NONE, any_weight(r));
}

/* One mutation; connections are left unsorted (the caller sorts once). */
static void mutate_once(bsn_net *net, bsn_rng *r, int shrink) {
    uint32_t roll = bsn_rng_below(r, 100), io = net->n_in + net->n_out;
    if (shrink && roll < 25) roll = 30 + (roll & 1) * 55; /* solved: favour removals */
    if (roll < 3) { /* add a constant source */
        add_bias(net, r);
    } else if (roll < 25) { /* add a connection */
        uint32_t from = bsn_rng_below(r, net->n), to = any_target(net, r);
        if (bsn_rng_below(r, 10) < 3) push_conn(net, from, to, bsn_rng_below(r, net->n), 0);
        else push_conn(net, from, to, BSN_NONE, any_weight(r));
    } else if (roll < 40) { /* remove a connection */
        if (net->nc) drop_conn(net, bsn_rng_below(r, net->nc));
    } else if (roll < 62) { /* change a weight */
        if (net->nc == 0) return;
        bsn_conn *c = &net->c[bsn_rng_below(r, net->nc)];
        if (c->mod != BSN_NONE) { /* a new modulator, or a weight in its place */
            if (bsn_rng_below(r, 4)) c->mod = (uint16_t)bsn_rng_below(r, net->n);
            else {
                c->mod = BSN_NONE;
                c->weight = any_weight(r);
            }
            return;
        }
        if (bsn_rng_below(r, 6) == 0) { /* modulated from now on */
            c->mod = (uint16_t)bsn_rng_below(r, net->n);
            c->weight = 0;
            return;
        }
        switch (bsn_rng_below(r, 4)) {
        case 0: c->weight = any_weight(r); break;
        case 1: c->weight ^= (uint16_t)(1u << bsn_rng_below(r, 16)); break;
        case 2: c->weight &= bsn_rng_word(r); break;
        default: c->weight |= bsn_rng_word(r); break;
        }
    } else if (roll < 75) { /* rewire a connection */
        if (net->nc == 0) return;
        bsn_conn *c = &net->c[bsn_rng_below(r, net->nc)];
        if (bsn_rng_below(r, 2)) c->from = (uint16_t)bsn_rng_below(r, net->n);
        else c->to = (uint16_t)any_target(net, r);
    } else if (roll < 85) { /* add a neuron, on a connection or between two neurons */
        if (net->n >= net->cap_n || net->nc + 2 > net->cap_c) return;
        uint32_t id = net->n++;
        net->kind[id] = NEW_KINDS[bsn_rng_below(r, 8)];
        net->rate[id] = bsn_rng_below(r, 4) == 0 ? (uint8_t)(1 + bsn_rng_below(r, 2)) : 0;
        if (net->nc && bsn_rng_below(r, 2)) {
            uint32_t i = bsn_rng_below(r, net->nc);
            bsn_conn c = net->c[i];
            drop_conn(net, i);
            push_conn(net, c.from, id, BSN_NONE, any_weight(r));
            push_conn(net, id, c.to, c.mod, c.weight);
        } else {
            push_conn(net, bsn_rng_below(r, net->n), id, BSN_NONE, any_weight(r));
            push_conn(net, id, any_target(net, r), BSN_NONE, any_weight(r));
        }
    } else if (roll < 92) { /* remove a hidden neuron: cut its connections (orphan removal
                               drops it) */
        if (net->n <= io) return;
        uint32_t d = io + bsn_rng_below(r, net->n - io);
        for (uint32_t i = net->nc; i-- > 0;) {
            const bsn_conn *c = &net->c[i];
            if (c->from == d || c->to == d || c->mod == d) drop_conn(net, i);
        }
    } else { /* change a hidden neuron's kind or rate */
        if (net->n <= io) return;
        uint32_t h = io + bsn_rng_below(r, net->n - io);
        if (bsn_rng_below(r, 2)) net->kind[h] = NEW_KINDS[bsn_rng_below(r, 8)];
        else net->rate[h] = (uint8_t)bsn_rng_below(r, 3);
    }
}

static void finish(bsn_net *net) {
    sort_connections(net);
    bsn_net_remove_orphans(net);
    bsn_net_prepare(net);
}

static void mutate_child(bsn_pop *pop, bsn_agent *a, int shrink) {
    uint32_t m = 1;
    while (m < MAX_MUTATIONS && bsn_rng_below(&pop->rng, 2)) m++;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t k = a->n_nets == 1 ? 0 : bsn_rng_below(&pop->rng, a->n_nets);
        mutate_once(a->nets[k], &pop->rng, shrink);
    }
    for (uint32_t k = 0; k < a->n_nets; k++) finish(a->nets[k]);
}

/* A starting agent: inputs and outputs, each output wired from a random neuron, then a few
 * more connections. */
void bsn_es_agent(bsn_pop *pop, bsn_agent *a) {
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    (void)bsn_env_shape(&pop->p, &nn, in, on);
    for (uint32_t k = 0; k < nn; k++) {
        bsn_net *net = a->nets[k];
        bsn_net_init_io(net, in[k], on[k]);
        for (uint32_t o = 0; o < on[k]; o++)
            push_conn(net, bsn_rng_below(&pop->rng, in[k]), in[k] + o, BSN_NONE, 0xFFFFu);
        for (uint32_t i = 0; i < START_WIRES; i++) mutate_once(net, &pop->rng, 0);
        finish(net);
    }
}

int bsn_es_init(bsn_pop *pop) {
    uint32_t L = pop->size / (1 + LAMBDA);
    if (L == 0) L = 1;
    pop->lineages = L;
    pop->start = bsn_alloc(&pop->alloc, (L + 1) * sizeof(uint32_t));
    pop->improved = bsn_alloc(&pop->alloc, L * sizeof(uint64_t));
    pop->fresh = bsn_alloc(&pop->alloc, L);
    if (pop->start == NULL || pop->improved == NULL || pop->fresh == NULL) return BSN_E_NOMEM;
    for (uint32_t l = 0; l <= L; l++) pop->start[l] = (uint32_t)((uint64_t)l * pop->size / L);
    for (uint32_t l = 0; l < L; l++) {
        pop->improved[l] = 0;
        pop->fresh[l] = 0;
        bsn_es_agent(pop, pop->cur[pop->start[l]]);
        for (uint32_t i = pop->start[l] + 1; i < pop->start[l + 1]; i++)
            for (uint32_t k = 0; k < pop->n_nets; k++)
                bsn_net_copy(pop->cur[i]->nets[k], pop->cur[pop->start[l]]->nets[k]);
    }
    return BSN_OK;
}

/* x ranks before y: higher fitness, then fewer bytes, then lower slot. */
int bsn_es_better(const bsn_pop *pop, uint32_t x, uint32_t y) {
    if (pop->fit[x] != pop->fit[y]) return pop->fit[x] > pop->fit[y];
    size_t sx = bsn_agent_size(pop->cur[x]), sy = bsn_agent_size(pop->cur[y]);
    return sx != sy ? sx < sy : x < y;
}

static void copy_into(bsn_agent *dst, const bsn_agent *src) {
    for (uint32_t k = 0; k < src->n_nets; k++) bsn_net_copy(dst->nets[k], src->nets[k]);
}

static void swap_slots(bsn_pop *pop, uint32_t a, uint32_t b) {
    bsn_agent *t = pop->cur[a];
    pop->cur[a] = pop->cur[b];
    pop->cur[b] = t;
    int64_t f = pop->fit[a];
    pop->fit[a] = pop->fit[b];
    pop->fit[b] = f;
}

/* A perfect score that may be luck (the agent reads random neurons): the fitness becomes the
 * lowest over CONFIRM more evaluations with fresh seeds. */
static void confirm(bsn_pop *pop, uint32_t i) {
    uint64_t seeds[1 + BSN_MAX_NETWORKS];
    for (uint32_t c = 0; c < CONFIRM; c++) {
        for (uint32_t k = 0; k <= pop->n_nets; k++) seeds[k] = bsn_rng_next(&pop->rng);
        int64_t f = bsn_evaluate(pop->cur[i], &pop->p, seeds, &pop->sc, 1);
        pop->evaluations++;
        if (f < pop->fit[i]) pop->fit[i] = f;
    }
}

void bsn_es_generation(bsn_pop *pop) {
    for (uint32_t k = 0; k <= pop->n_nets; k++) pop->seeds[k] = bsn_rng_next(&pop->rng);
    int det = boolean_env(&pop->p);
    int64_t top = perfect(&pop->p);
    uint32_t best_l = 0;
    for (uint32_t l = 0; l < pop->lineages; l++) {
        uint32_t P = pop->start[l], end = pop->start[l + 1];
        if (!pop->fresh[l] || !det || has_random(pop->cur[P])) {
            bsn_pop_evaluate_slot(pop, P);
            if (pop->fit[P] >= top && has_random(pop->cur[P])) confirm(pop, P);
        }
        pop->fresh[l] = 1;
        int64_t pf = pop->fit[P];
        size_t psize = bsn_agent_size(pop->cur[P]);
        int solved = pf >= top;
        uint32_t pick = P;
        size_t pick_size = psize;
        for (uint32_t i = P + 1; i < end; i++) {
            bsn_agent *child = pop->cur[i];
            copy_into(child, pop->cur[P]);
            mutate_child(pop, child, solved);
            size_t cs = bsn_agent_size(child);
            if (cs > pop->p.limits.max_agent_bytes) {
                copy_into(child, pop->cur[P]);
                pop->fit[i] = pf;
                continue;
            }
            bsn_pop_evaluate_slot(pop, i);
            if (pop->fit[i] >= top && has_random(child)) confirm(pop, i);
            int64_t cf = pop->fit[i];
            int take;
            if (pick == P) take = cf > pf || (cf == pf && (!solved || cs <= psize));
            else take = cf > pop->fit[pick] || (cf == pop->fit[pick] && cs < pick_size);
            if (take) {
                pick = i;
                pick_size = cs;
            }
        }
        if (pick != P) swap_slots(pop, P, pick);
        if (pop->fit[P] > pf) pop->improved[l] = pop->generation;
        uint32_t B = pop->start[best_l];
        if (l > 0 && bsn_es_better(pop, P, B)) best_l = l;
    }
    /* restarts: stalled lineages other than the best start over */
    for (uint32_t l = 0; l < pop->lineages; l++) {
        uint32_t P = pop->start[l];
        if (l == best_l || pop->fit[P] >= top) continue;
        if (pop->generation - pop->improved[l] < STALL) continue;
        bsn_es_agent(pop, pop->cur[P]);
        bsn_pop_evaluate_slot(pop, P);
        pop->improved[l] = pop->generation;
    }
}
