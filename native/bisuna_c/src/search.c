/* search.c: the `es` search strategy, a (1 + lambda) evolution strategy with neutral drift
 * (as Cartesian GP uses), run as independent lineages with restarts.
 *
 * Every lineage keeps one parent and makes LAMBDA children a generation (LAMBDA_BOOLEAN on the
 * boolean tasks), each with a few
 * mutations drawn from operators that can add and remove connections and neurons, rewire a
 * connection, and set a weight to any word or clear or set some of its bits. The best child
 * replaces the parent when it scores at least as well (ties move the lineage: neutral drift),
 * and, once the parent is perfect, only when it is no larger, so a solved lineage keeps
 * shrinking its agent (the contract prefers the smaller agent on equal scores). A lineage that
 * has not improved for STALL generations restarts from a fresh agent, except the best one.
 * On the boolean tasks with many cases (multiplexer-11), a lineage's children come from a
 * parent chosen by lexicase selection over every lineage's per-case outcomes (its own parent
 * or another lineage's); the child still replaces the lineage's own parent only as above.
 * Agents are evaluated through bsn_evaluate, the function bsn_score uses (on mountain-car
 * with training starts stratified). Mountain-car lineages start from a policy template whose
 * two input shifts the search tunes (mc_template, shift_input). */
#include "search.h"

#ifndef LAMBDA
#define LAMBDA 4u
#endif
#ifndef LAMBDA_BOOLEAN
#define LAMBDA_BOOLEAN 9u /* boolean tasks: fewer, wider lineages (multiplexer-11 3/3 in a
                             median 26 CPU-s against 2/3 with LAMBDA, 45 s cap) */
#endif
#ifndef LAMBDA_PAIR
#define LAMBDA_PAIR 4u /* cipher: lineages of (1 + 4); few lineages solve fastest (payload 8, seeds 1-4, 60 CPU-s: population 24, 4 lineages, 4/4 in 28-46 s; population 100: 20 lineages 2/4, 10 of (1 + 9) 3/4, 5 of (1 + 19) 2/4) */
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
#ifndef MOTIFS
#define MOTIFS 30u /* boolean tasks: per cent of mutations that add or change a term */
#endif
#ifndef MIRROR
#define MIRROR 100u /* per cent of mutations applied alike to both networks of a pair: 100 keeps Alice and Bob one network (8 words: 2/2 seeds near 1.0 in 40 s, against 0/2 at 90 or 50) */
#endif
#ifndef WIDE_SAMPLES
#define WIDE_SAMPLES 16384u /* cipher: a perfect score is confirmed on this many samples */
#endif
#ifndef CONFIRM
#define CONFIRM 64u
#endif
#ifndef LEXICASE
#define LEXICASE 100u /* boolean tasks of LEXICASE_CASES cases or more: per cent of lineages a
                         generation whose children come from a parent chosen by lexicase
                         selection over every lineage's parent */
#endif
#ifndef LEXICASE_CASES
#define LEXICASE_CASES 128u /* multiplexer-11 (2,048 cases), seeds 1-10: 10/10 in a median
                               of 8.8 CPU-s, against 10/10 in 35.0 without; on parity-3 and
                               parity-4 (8, 16 cases) it was 4-7x slower, on multiplexer-6
                               (64) even */
#endif
#ifndef MC_TEMPLATE
#define MC_TEMPLATE 1 /* mountain-car: start from mc_template (0: as elsewhere; 10/10 seeds
                         solved in a median 0.8 CPU-s with it, winners 890-897 k on 1,024
                         held-out episodes; without it the search stalls near 890 k) */
#endif
#ifndef MC_SHIFT
#define MC_SHIFT 30u /* mountain-car: per cent of mutations that shift an input */
#endif
#ifndef MC_STEP_BITS
#define MC_STEP_BITS 4u /* a shift moves by 256 times 1, 2, 4 or 8 */
#endif
#ifndef MC_STRATIFIED
#define MC_STRATIFIED 1 /* mountain-car: training episodes start stratified (env.c) */
#endif

/* What a mutation must keep out (the `guard` argument below). */
enum { GUARD_NONE = 0, GUARD_BOOLEAN = 1, GUARD_PAIR = 2 };

static int boolean_env(const bsn_params *p) {
    return p->env == BSN_ENV_MUX6 || p->env == BSN_ENV_MUX11 || p->env == BSN_ENV_PARITY;
}

/* The training fitness a perfect agent reaches (none for mountain-car). */
static int64_t perfect(const bsn_params *p) {
    return p->env == BSN_ENV_MOUNTAIN_CAR ? INT64_MAX : 1000000;
}

static uint32_t cases_of(const bsn_params *p) {
    if (p->env == BSN_ENV_MUX6) return 64;
    if (p->env == BSN_ENV_MUX11) return 2048;
    return 1u << p->parity_bits;
}

static uint32_t want_of(const bsn_params *p, uint32_t c) {
    if (p->env == BSN_ENV_MUX6) return (c >> (2 + (c & 3u))) & 1u;
    if (p->env == BSN_ENV_MUX11) return (c >> (3 + (c & 7u))) & 1u;
    return bsn_pc16((uint16_t)c) & 1u;
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

/* A target. On the boolean tasks any neuron but an input: every case is one step after a
 * reset, so a connection into an input only ever reads 0. Elsewhere any neuron, inputs
 * included (as BiSUNA adds connections): an input adds its observation to what its incoming
 * connections carry, and those read the previous step's states (inputs run first), so a wire
 * into an input is the model's one arithmetic and its memory of the last step. */
static uint32_t any_target(const bsn_net *net, bsn_rng *r, int guard) {
    if (guard != GUARD_BOOLEAN) return bsn_rng_below(r, net->n);
    return net->n_in + bsn_rng_below(r, net->n - net->n_in);
}

static const uint8_t NEW_KINDS[8] = {BSN_KIND_THRESHOLD, BSN_KIND_THRESHOLD, BSN_KIND_RANDOM,
                                     BSN_KIND_IDENTITY,  BSN_KIND_IDENTITY,  BSN_KIND_ACTIVATION,
                                     BSN_KIND_ROLL,      BSN_KIND_CONTROL};

/* A new neuron's kind. On the boolean tasks random neurons only make answers luck (the
 * constant source is made by its own mutation), and in a pair (Alice and Bob) each network's
 * random neurons draw from its own stream, so they are never a secret the two share: none are
 * drawn there. */
static uint8_t new_kind(bsn_rng *r, int boolean) {
    uint8_t k;
    do k = NEW_KINDS[bsn_rng_below(r, 8)];
    while (boolean && k == BSN_KIND_RANDOM);
    return k;
}

/* A constant source: a threshold neuron reading two random neurons (each fed by an input so
 * that it runs) fires in all but about one step in a million, so its state is a constant
 * 0xFF00. Nothing else is nonzero when every input is 1, and parity-3 and the multiplexers
 * must answer 1 there. */
/* Adds a constant source (see add_bias) and returns its threshold neuron; the caller has
 * checked there is room for 3 neurons and 4 connections. */
static uint32_t new_const(bsn_net *net, bsn_rng *r) {
    uint32_t k = net->n + 2;
    for (uint32_t j = 0; j < 2; j++) {
        uint32_t id = net->n++;
        net->kind[id] = BSN_KIND_RANDOM;
        net->rate[id] = 0;
        push_conn(net, bsn_rng_below(r, net->n_in), id, BSN_NONE, 0xFFFFu);
        push_conn(net, id, k, BSN_NONE, 0xFFFFu);
    }
    net->n++;
    net->kind[k] = BSN_KIND_THRESHOLD;
    net->rate[k] = 0;
    return k;
}

static void add_bias(bsn_net *net, bsn_rng *r) {
    if (net->n + 3 > net->cap_n || net->nc + 5 > net->cap_c) return;
    uint32_t t = new_const(net, r);
    push_conn(net, t, any_target(net, r, GUARD_BOOLEAN), BSN_NONE, any_weight(r));
}

/* ---- boolean motifs ------------------------------------------------------------------------
 * In this model a neuron sees its sources' states, and an input's state is the complement of
 * its observation; a neuron that does not fire passes on 0. So with threshold neurons alone a
 * circuit computes monotone functions of the complemented inputs: "x = 0" literals. The other
 * literal, "x = 1", needs a neuron that fires in both cases: an identity neuron N reading a
 * constant source K (weight 0xFF00) and the input (weight 0x00FF) holds 0xFF00 when x = 0 (it
 * fires on the input) and 0x00FF when x = 1 (it fires on K), so its low byte is x. A threshold
 * neuron T reading k literals through disjoint groups of low bits that add up to 4 fires
 * exactly when all of them hold: a conjunction, whose state 0xFF00 the output reads as 1. The
 * output ORs them: any boolean function is a set of such terms (a hand-built parity-4 agent
 * in tests/unit/test_bisuna_search.py scores 1,000,000). Every such circuit is monotone in its
 * sources' firing, so it settles to the same answer whatever order the passes run in. */

/* A constant source: a threshold neuron whose inputs all come from random neurons. */
static uint32_t find_const(const bsn_net *net) {
    uint32_t io = net->n_in + net->n_out;
    for (uint32_t h = io; h < net->n; h++) {
        if (net->kind[h] != BSN_KIND_THRESHOLD) continue;
        uint32_t n = 0, ok = 1;
        for (uint32_t i = 0; i < net->nc && ok; i++) {
            const bsn_conn *c = &net->c[i];
            if (c->to != h) continue;
            n++;
            ok = c->mod == BSN_NONE && net->kind[c->from] == BSN_KIND_RANDOM;
        }
        if (ok && n >= 2) return h;
    }
    return BSN_NONE;
}

/* The neuron whose low byte is input v (created, with a constant, if needed); BSN_NONE if the
 * network is full. */
static uint32_t positive_literal(bsn_net *net, bsn_rng *r, uint32_t v) {
    for (uint32_t i = 0; i < net->nc; i++) {
        const bsn_conn *c = &net->c[i];
        if (c->from == v && c->weight == 0x00FFu && c->mod == BSN_NONE &&
            net->kind[c->to] == BSN_KIND_IDENTITY && net->rate[c->to] == 0)
            return c->to;
    }
    uint32_t k = find_const(net);
    if (k == BSN_NONE) {
        if (net->n + 4 > net->cap_n || net->nc + 6 > net->cap_c) return BSN_NONE;
        k = new_const(net, r);
    }
    if (net->n + 1 > net->cap_n || net->nc + 2 > net->cap_c) return BSN_NONE;
    uint32_t id = net->n++;
    net->kind[id] = BSN_KIND_IDENTITY;
    net->rate[id] = 0;
    push_conn(net, k, id, BSN_NONE, 0xFF00u);
    push_conn(net, v, id, BSN_NONE, 0x00FFu);
    return id;
}

/* The input a literal source stands for, and its polarity (1: "x = 1"), or BSN_NONE. */
static uint32_t literal_of(const bsn_net *net, uint32_t src, uint32_t *positive) {
    if (src < net->n_in) {
        *positive = 0;
        return src;
    }
    if (net->kind[src] != BSN_KIND_IDENTITY) return BSN_NONE;
    for (uint32_t i = 0; i < net->nc; i++) {
        const bsn_conn *c = &net->c[i];
        if (c->to == src && c->from < net->n_in && c->weight == 0x00FFu) {
            *positive = 1;
            return c->from;
        }
    }
    return BSN_NONE;
}

/* A source for literal (v, positive), or BSN_NONE. */
static uint32_t literal_source(bsn_net *net, bsn_rng *r, uint32_t v, uint32_t positive) {
    return positive ? positive_literal(net, r, v) : v;
}

/* Bits per literal of a conjunction of 1-4 literals: they add up to 4. */
static const uint8_t WIDTHS[4][4] = {{4}, {2, 2}, {2, 1, 1}, {1, 1, 1, 1}};

/* What a mutation may ask about the lineage it works for (NULL: nothing). */
typedef struct motif_ctx {
    bsn_pop *pop;
    uint32_t lineage;
} motif_ctx;

/* The parent's per-case outcomes, computed once per parent. */
static const uint64_t *lineage_right(const motif_ctx *m) {
    bsn_pop *pop = m->pop;
    uint64_t *right = pop->right + (size_t)m->lineage * pop->words;
    if (!pop->known[m->lineage]) {
        bsn_agent *a = pop->cur[pop->start[m->lineage]];
        const bsn_net *net = a->nets[0];
        uint64_t fuel = 0;
        if (pop->sc.lanes != NULL && net->n <= pop->sc.lanes_neurons && bsn_lanes_supported(net))
            (void)bsn_lanes_boolean(net, pop->p.env, pop->seeds[1], pop->sc.lanes,
                                    pop->sc.lanes_aux, UINT64_MAX, NULL, right);
        else
            (void)bsn_boolean_scalar(a, &pop->p, pop->seeds[1], UINT64_MAX, &fuel, right);
        pop->known[m->lineage] = 1;
    }
    return right;
}

/* A case the parent gets wrong that answers 1 (a term can cover it), or BSN_NONE. */
static uint32_t missed_one(const motif_ctx *m, bsn_rng *r) {
    const uint64_t *right = lineage_right(m);
    uint32_t cases = cases_of(&m->pop->p), n = 0, pick = BSN_NONE;
    for (uint32_t c = 0; c < cases; c++) {
        if ((right[c / 64] >> (c % 64)) & 1u) continue;
        if (!want_of(&m->pop->p, c)) continue;
        if (bsn_rng_below(r, ++n) == 0) pick = c; /* reservoir: uniform over the misses */
    }
    return pick;
}

/* Lexicase selection over the lineages' parents (boolean tasks): cases drawn at random, each
 * keeping the candidates that get it right (all of them when none does), until one is left or
 * as many cases as the task has were drawn; then any of those left. */
static uint32_t lexicase_parent(bsn_pop *pop) {
    uint32_t cand[256], n = pop->lineages < 256 ? pop->lineages : 256;
    for (uint32_t l = 0; l < n; l++) {
        motif_ctx m = {pop, l};
        (void)lineage_right(&m);
        cand[l] = l;
    }
    uint32_t cases = cases_of(&pop->p);
    for (uint32_t draw = 0; draw < cases && n > 1; draw++) {
        uint32_t c = bsn_rng_below(&pop->rng, cases), kept = 0;
        for (uint32_t j = 0; j < n; j++) {
            const uint64_t *right = pop->right + (size_t)cand[j] * pop->words;
            if ((right[c / 64] >> (c % 64)) & 1u) cand[kept++] = cand[j];
        }
        if (kept > 0) n = kept; /* else nobody is right on c: it does not discriminate */
    }
    return cand[bsn_rng_below(&pop->rng, n)];
}

/* Adds a conjunction of 1-4 literals feeding the output (or another term): literals of a case
 * the parent misses (when the lineage can say), so that the term covers it, else random. */
static void add_term(bsn_net *net, bsn_rng *r, const motif_ctx *m) {
    uint32_t most = net->n_in < 4 ? net->n_in : 4;
    uint32_t k = bsn_rng_below(r, 2) ? most : 1 + bsn_rng_below(r, most), vars[4], pos[4], nv = 0;
    uint32_t c = m ? missed_one(m, r) : BSN_NONE;
    while (nv < k) { /* k distinct variables */
        uint32_t v = bsn_rng_below(r, net->n_in), dup = 0;
        for (uint32_t j = 0; j < nv; j++) dup |= vars[j] == v;
        if (!dup) {
            pos[nv] = c == BSN_NONE ? bsn_rng_below(r, 2) : (c >> v) & 1u;
            vars[nv++] = v;
        }
    }
    uint32_t src[4];
    for (uint32_t j = 0; j < k; j++) {
        src[j] = literal_source(net, r, vars[j], pos[j]);
        if (src[j] == BSN_NONE) return;
    }
    if (net->n + 1 > net->cap_n || net->nc + k + 1 > net->cap_c) return;
    uint32_t t = net->n++;
    net->kind[t] = BSN_KIND_THRESHOLD;
    net->rate[t] = 0;
    uint32_t bit = 0;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t w = WIDTHS[k - 1][j];
        push_conn(net, src[j], t, BSN_NONE, (uint16_t)(((1u << w) - 1u) << bit));
        bit += w;
    }
    uint32_t to = net->n_in + bsn_rng_below(r, net->n_out);
    push_conn(net, t, to, BSN_NONE, 0xFF00u);
}

/* A term's literal connections (at most 8), or 0 when t is not a term. */
static uint32_t term_literals(const bsn_net *net, uint32_t t, uint32_t *idx) {
    if (t < net->n_in + net->n_out || net->kind[t] != BSN_KIND_THRESHOLD) return 0;
    uint32_t n = 0, p;
    for (uint32_t i = 0; i < net->nc; i++) {
        const bsn_conn *c = &net->c[i];
        if (c->to != t || c->mod != BSN_NONE) continue;
        if (literal_of(net, c->from, &p) == BSN_NONE) return 0;
        if (n == 8) return 0;
        idx[n++] = i;
    }
    return n;
}

/* Sets a term's weights so that it is the conjunction of its (at most 4) literals. */
static void reweigh(bsn_net *net, const uint32_t *idx, uint32_t n) {
    if (n == 0 || n > 4) return;
    uint32_t bit = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t w = WIDTHS[n - 1][j];
        net->c[idx[j]].weight = (uint16_t)(((1u << w) - 1u) << bit);
        bit += w;
    }
}

/* Drops a literal from a term, or adds one (a variable it does not read, either polarity):
 * a term covers more cases or fewer. */
static void resize_term(bsn_net *net, bsn_rng *r) {
    uint32_t terms[64], nt = 0, idx[8];
    for (uint32_t h = net->n_in + net->n_out; h < net->n && nt < 64; h++)
        if (term_literals(net, h, idx)) terms[nt++] = h;
    if (nt == 0) return;
    uint32_t t = terms[bsn_rng_below(r, nt)], n = term_literals(net, t, idx);
    if (n > 1 && (n >= 4 || n >= net->n_in || bsn_rng_below(r, 2))) {
        drop_conn(net, idx[bsn_rng_below(r, n)]);
        n = term_literals(net, t, idx);
        reweigh(net, idx, n);
        return;
    }
    if (n >= 4 || n >= net->n_in) return;
    uint32_t v, p, used;
    do { /* a variable the term does not read yet */
        v = bsn_rng_below(r, net->n_in);
        used = 0;
        for (uint32_t j = 0; j < n; j++) used |= literal_of(net, net->c[idx[j]].from, &p) == v;
    } while (used);
    uint32_t s = literal_source(net, r, v, bsn_rng_below(r, 2));
    if (s == BSN_NONE || net->nc >= net->cap_c) return;
    push_conn(net, s, t, BSN_NONE, 0);
    n = term_literals(net, t, idx);
    reweigh(net, idx, n);
}

/* Changes one literal of a term: its polarity, or its variable. */
static void change_literal(bsn_net *net, bsn_rng *r) {
    uint32_t cand[64], n = 0;
    for (uint32_t i = 0; i < net->nc && n < 64; i++) {
        uint32_t p;
        const bsn_conn *c = &net->c[i];
        if (c->to >= net->n_in + net->n_out && net->kind[c->to] == BSN_KIND_THRESHOLD &&
            c->mod == BSN_NONE && literal_of(net, c->from, &p) != BSN_NONE)
            cand[n++] = i;
    }
    if (n == 0) return;
    uint32_t i = cand[bsn_rng_below(r, n)], p;
    uint32_t v = literal_of(net, net->c[i].from, &p);
    if (bsn_rng_below(r, 2)) p ^= 1u;
    else v = bsn_rng_below(r, net->n_in);
    uint32_t s = literal_source(net, r, v, p);
    if (s != BSN_NONE) net->c[i].from = (uint16_t)s;
}

/* ---- mountain-car -------------------------------------------------------------------------
 * An input adds to its observation what its incoming connections carry (the previous step's
 * states), and the action is the output's top bit: so a constant added to an input moves the
 * point where a bit of it flips, e.g. the velocity at which the car pushes right, and a second
 * constant on the position input makes a bit that says which side of a point the car is on.
 * A good policy (see tests/unit/test_bisuna_search.py) is little more than two such shifts.
 * This mutation adds a constant source's connection into an input, or changes the shift of
 * one: a high-byte weight (the constant's state is 0xFF00, so shifts are multiples of 256). */
static void shift_input(bsn_net *net, bsn_rng *r) {
    uint32_t in = bsn_rng_below(r, net->n_in), k = find_const(net);
    if (k != BSN_NONE) {
        for (uint32_t i = 0; i < net->nc; i++) {
            bsn_conn *c = &net->c[i];
            if (c->from != k || c->to != in || c->mod != BSN_NONE) continue;
            uint32_t step = 0x100u << bsn_rng_below(r, MC_STEP_BITS);
            if (bsn_rng_below(r, 4) == 0) c->weight = (uint16_t)(bsn_rng_word(r) & 0xFF00u);
            else if (bsn_rng_below(r, 2)) c->weight = (uint16_t)((c->weight & 0xFF00u) + step);
            else c->weight = (uint16_t)((c->weight & 0xFF00u) - step);
            return;
        }
    } else {
        if (net->n + 3 > net->cap_n || net->nc + 5 > net->cap_c) return;
        k = new_const(net, r);
    }
    push_conn(net, k, in, BSN_NONE, (uint16_t)(0x100u << bsn_rng_below(r, 8)));
}

/* On the boolean tasks (guard): random neurons matter only inside constant sources, so no
 * mutation reads a random neuron anew, touches a connection into or out of one, or removes one;
 * any other use makes an answer luck, and a winner that holds on 65 seeds by luck still loses
 * the scorer's points on other seeds. */
static int lucky(const bsn_net *net, const bsn_conn *c) {
    return net->kind[c->from] == BSN_KIND_RANDOM || net->kind[c->to] == BSN_KIND_RANDOM ||
           (c->mod != BSN_NONE && net->kind[c->mod] == BSN_KIND_RANDOM);
}

static int reads_random(const bsn_net *net, uint32_t h) {
    for (uint32_t i = 0; i < net->nc; i++)
        if (net->c[i].to == h && net->kind[net->c[i].from] == BSN_KIND_RANDOM) return 1;
    return 0;
}

/* A source (or modulator) for a new or rewired connection: any neuron, not a random one when
 * guarded (BSN_NONE: none found). */
static uint32_t any_source(const bsn_net *net, bsn_rng *r, int guard) {
    for (int tries = 0; tries < 8; tries++) {
        uint32_t s = bsn_rng_below(r, net->n);
        if (!guard || net->kind[s] != BSN_KIND_RANDOM) return s;
    }
    return BSN_NONE;
}

/* One mutation; connections are left unsorted (the caller sorts once). guard: a boolean task
 * (see lucky); m: the lineage, for the motif mutations (NULL: none). */
static void mutate_once(bsn_net *net, bsn_rng *r, int shrink, int guard, const motif_ctx *m) {
    if (m && bsn_rng_below(r, 100) < MOTIFS) {
        uint32_t op = bsn_rng_below(r, 3);
        if (op == 0 && !shrink) add_term(net, r, m);
        else if (op == 1) resize_term(net, r);
        else change_literal(net, r);
        return;
    }
    uint32_t roll = bsn_rng_below(r, 100), io = net->n_in + net->n_out;
    if (shrink && roll < 25) roll = 30 + (roll & 1) * 55; /* solved: favour removals */
    if (roll < 3) { /* add a constant source (not in a pair: see new_kind) */
        if (guard != GUARD_PAIR) add_bias(net, r);
    } else if (roll < 25) { /* add a connection */
        uint32_t from = any_source(net, r, guard), to = any_target(net, r, guard);
        if (from == BSN_NONE) return;
        if (bsn_rng_below(r, 10) < 3) {
            uint32_t mod = any_source(net, r, guard);
            if (mod != BSN_NONE) push_conn(net, from, to, mod, 0);
        } else {
            push_conn(net, from, to, BSN_NONE, any_weight(r));
        }
    } else if (roll < 40) { /* remove a connection */
        if (net->nc == 0) return;
        uint32_t i = bsn_rng_below(r, net->nc);
        if (!guard || !lucky(net, &net->c[i])) drop_conn(net, i);
    } else if (roll < 62) { /* change a weight */
        if (net->nc == 0) return;
        bsn_conn *c = &net->c[bsn_rng_below(r, net->nc)];
        if (guard && lucky(net, c)) return;
        if (c->mod != BSN_NONE) { /* a new modulator, or a weight in its place */
            if (bsn_rng_below(r, 4)) {
                uint32_t mod = any_source(net, r, guard);
                if (mod != BSN_NONE) c->mod = (uint16_t)mod;
            } else {
                c->mod = BSN_NONE;
                c->weight = any_weight(r);
            }
            return;
        }
        if (bsn_rng_below(r, 6) == 0) { /* modulated from now on */
            uint32_t mod = any_source(net, r, guard);
            if (mod == BSN_NONE) return;
            c->mod = (uint16_t)mod;
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
        if (guard && lucky(net, c)) return;
        if (bsn_rng_below(r, 2)) {
            uint32_t from = any_source(net, r, guard);
            if (from != BSN_NONE) c->from = (uint16_t)from;
        } else {
            c->to = (uint16_t)any_target(net, r, guard);
        }
    } else if (roll < 85) { /* add a neuron, on a connection or between two neurons */
        if (net->n >= net->cap_n || net->nc + 2 > net->cap_c) return;
        uint32_t on = net->nc && bsn_rng_below(r, 2), i = on ? bsn_rng_below(r, net->nc) : 0;
        uint32_t from = on ? net->c[i].from : any_source(net, r, guard);
        if (from == BSN_NONE || (guard && on && lucky(net, &net->c[i]))) return;
        uint32_t id = net->n++;
        net->kind[id] = new_kind(r, guard);
        net->rate[id] = bsn_rng_below(r, 4) == 0 ? (uint8_t)(1 + bsn_rng_below(r, 2)) : 0;
        if (on) {
            bsn_conn c = net->c[i];
            drop_conn(net, i);
            push_conn(net, c.from, id, BSN_NONE, any_weight(r));
            push_conn(net, id, c.to, c.mod, c.weight);
        } else {
            push_conn(net, from, id, BSN_NONE, any_weight(r));
            push_conn(net, id, any_target(net, r, guard), BSN_NONE, any_weight(r));
        }
    } else if (roll < 92) { /* remove a hidden neuron: cut its connections (orphan removal
                               drops it) */
        if (net->n <= io) return;
        uint32_t d = io + bsn_rng_below(r, net->n - io);
        if (guard && net->kind[d] == BSN_KIND_RANDOM) return;
        for (uint32_t i = net->nc; i-- > 0;) {
            const bsn_conn *c = &net->c[i];
            if (c->from == d || c->to == d || c->mod == d) drop_conn(net, i);
        }
    } else { /* change a hidden neuron's kind or rate */
        if (net->n <= io) return;
        uint32_t h = io + bsn_rng_below(r, net->n - io);
        if (guard && (net->kind[h] == BSN_KIND_RANDOM || reads_random(net, h))) return;
        if (bsn_rng_below(r, 2)) net->kind[h] = new_kind(r, guard);
        else net->rate[h] = (uint8_t)bsn_rng_below(r, 3);
    }
}

static void finish(bsn_net *net) {
    sort_connections(net);
    bsn_net_remove_orphans(net);
    bsn_net_prepare(net);
}

/* The task's agents are a pair of networks of one shape (the cipher's Alice and Bob). */
static int pair_env(const bsn_params *p) {
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    (void)bsn_env_shape(p, &nn, in, on);
    return nn == 2 && in[0] == in[1] && on[0] == on[1];
}

static int guard_of(const bsn_params *p) {
    return boolean_env(p) ? GUARD_BOOLEAN : pair_env(p) ? GUARD_PAIR : GUARD_NONE;
}

static void mutate_child(bsn_pop *pop, bsn_agent *a, int shrink, uint32_t lineage) {
    motif_ctx ctx = {pop, lineage};
    uint32_t m = 1;
    while (m < MAX_MUTATIONS && bsn_rng_below(&pop->rng, 2)) m++;
    int guard = guard_of(&pop->p), pair = guard == GUARD_PAIR;
    for (uint32_t i = 0; i < m; i++) {
        if (pop->p.env == BSN_ENV_MOUNTAIN_CAR && bsn_rng_below(&pop->rng, 100) < MC_SHIFT) {
            shift_input(a->nets[0], &pop->rng);
            continue;
        }
        if (pair && bsn_rng_below(&pop->rng, 100) < MIRROR) {
            /* the same mutation in both networks (the same draws on the same shapes) */
            bsn_rng at = pop->rng;
            mutate_once(a->nets[0], &pop->rng, shrink, guard, NULL);
            bsn_rng after = pop->rng;
            pop->rng = at;
            mutate_once(a->nets[1], &pop->rng, shrink, guard, NULL);
            pop->rng = after;
            continue;
        }
        uint32_t k = a->n_nets == 1 ? 0 : bsn_rng_below(&pop->rng, a->n_nets);
        mutate_once(a->nets[k], &pop->rng, shrink, guard, guard == GUARD_BOOLEAN ? &ctx : NULL);
    }
    for (uint32_t k = 0; k < a->n_nets; k++) finish(a->nets[k]);
}

/* The mountain-car start (0 when the limits leave no room for it): push right when the
 * velocity input's sum (the velocity plus a shift b) has its top bit and either its second or
 * its third bit (a velocity well above -b) or the position input's top bit clear (the
 * position plus a shift c is left of a point): right iff v > θ(x), θ one level left of the
 * point and another right of it. An identity neuron holds the velocity sum (the complement of
 * the input's state), two rolls and an identity bring bits 14 and 13 to the top, and the
 * output ANDs through modulated connections. Both shifts start at 0 (the push-with-the-
 * velocity policy from the second step on, about 135 steps); shift_input tunes them, and the
 * other mutations may change anything. By hand, c = 0x1600 and b = 0x300 average about 102.6
 * steps (a score of about 897,400; tests/unit/test_bisuna_search.py). */
static int mc_template(bsn_net *net) {
    enum { X, V, O, HV, R1, R2, I, A, B, K };
    static const uint8_t kinds[] = {BSN_KIND_IDENTITY, BSN_KIND_ROLL,   BSN_KIND_ROLL,
                                    BSN_KIND_IDENTITY, BSN_KIND_RANDOM, BSN_KIND_RANDOM,
                                    BSN_KIND_THRESHOLD};
    if (net->n != HV || net->cap_n < K + 1 || net->cap_c < 13) return 0;
    for (uint32_t h = 0; h < sizeof kinds; h++) {
        net->kind[HV + h] = kinds[h];
        net->rate[HV + h] = 0;
    }
    net->n = K + 1;
    push_conn(net, V, HV, BSN_NONE, 0xFFFFu);
    push_conn(net, V, R1, BSN_NONE, 0xFFFFu);
    push_conn(net, R1, R2, BSN_NONE, 0xFFFFu);
    push_conn(net, R2, I, BSN_NONE, 0xFFFFu);
    push_conn(net, X, A, BSN_NONE, 0xFFFFu); /* A, B, K: a constant source (add_bias) */
    push_conn(net, X, B, BSN_NONE, 0xFFFFu);
    push_conn(net, A, K, BSN_NONE, 0xFFFFu);
    push_conn(net, B, K, BSN_NONE, 0xFFFFu);
    push_conn(net, K, X, BSN_NONE, 0); /* the shifts c and b */
    push_conn(net, K, V, BSN_NONE, 0);
    push_conn(net, HV, O, R1, 0);
    push_conn(net, HV, O, I, 0);
    push_conn(net, HV, O, X, 0);
    return 1;
}

/* A starting agent: inputs and outputs, each output wired from a random neuron, then a few
 * more connections (mountain-car: mc_template). */
void bsn_es_agent(bsn_pop *pop, bsn_agent *a) {
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    (void)bsn_env_shape(&pop->p, &nn, in, on);
    int guard = guard_of(&pop->p), pair = guard == GUARD_PAIR;
    for (uint32_t k = 0; k < (pair ? 1u : nn); k++) {
        bsn_net *net = a->nets[k];
        bsn_net_init_io(net, in[k], on[k]);
        if (MC_TEMPLATE && pop->p.env == BSN_ENV_MOUNTAIN_CAR && mc_template(net)) {
            finish(net);
            if (bsn_agent_size(a) <= pop->p.limits.max_agent_bytes) continue;
            bsn_net_init_io(net, in[k], on[k]); /* no room for it: as elsewhere */
        }
        for (uint32_t o = 0; o < on[k]; o++)
            push_conn(net, bsn_rng_below(&pop->rng, in[k]), in[k] + o, BSN_NONE, 0xFFFFu);
        for (uint32_t i = 0; i < START_WIRES; i++) mutate_once(net, &pop->rng, 0, guard, NULL);
        finish(net);
    }
    if (pair) bsn_net_copy(a->nets[1], a->nets[0]); /* a pair starts alike */
}

int bsn_es_init(bsn_pop *pop) {
    uint32_t lambda = boolean_env(&pop->p) ? LAMBDA_BOOLEAN
                      : pop->p.env == BSN_ENV_CIPHER ? LAMBDA_PAIR : LAMBDA;
    uint32_t L = pop->size / (1 + lambda);
    if (L == 0) L = 1;
    pop->lineages = L;
    pop->start = bsn_alloc(&pop->alloc, (L + 1) * sizeof(uint32_t));
    pop->improved = bsn_alloc(&pop->alloc, L * sizeof(uint64_t));
    pop->fresh = bsn_alloc(&pop->alloc, L);
    pop->known = bsn_alloc(&pop->alloc, L);
    pop->words = boolean_env(&pop->p) ? (cases_of(&pop->p) + 63) / 64 : 0;
    pop->right = bsn_alloc(&pop->alloc, (size_t)L * (pop->words ? pop->words : 1) * 8);
    if (pop->start == NULL || pop->improved == NULL || pop->fresh == NULL ||
        pop->known == NULL || pop->right == NULL)
        return BSN_E_NOMEM;
    memset(pop->known, 0, L);
    if (pop->p.env == BSN_ENV_MOUNTAIN_CAR) pop->sc.mc_stratified = MC_STRATIFIED;
    pop->wide_p.samples = 0;
    if (pop->p.env == BSN_ENV_CIPHER && pop->p.samples < WIDE_SAMPLES) {
        pop->wide_p = pop->p;
        pop->wide_p.samples = WIDE_SAMPLES;
        int rc = bsn_scratch_new(&pop->wide_sc, &pop->wide_p, pop->p.limits.max_neurons,
                                 &pop->alloc);
        if (rc != BSN_OK) return rc;
    }
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

/* A perfect cipher score on the task's samples, which may hide a leak of a few bits within
 * the attackers' allowance for chance (4 standard deviations: 5 % of the bits at 256
 * samples): the fitness becomes the score on WIDE_SAMPLES fresh samples (0.65 % there, below
 * one bit in 128: a one-bit leak of an 8-word payload). */
static void confirm_wide(bsn_pop *pop, uint32_t i) {
    uint64_t seeds[1 + BSN_MAX_NETWORKS];
    for (uint32_t k = 0; k <= pop->n_nets; k++) seeds[k] = bsn_rng_next(&pop->rng);
    int64_t f = bsn_evaluate(pop->cur[i], &pop->wide_p, seeds, &pop->wide_sc, 2);
    pop->evaluations++;
    if (f < pop->fit[i]) pop->fit[i] = f;
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

/* A perfect training score is checked before the search believes it. */
static void check(bsn_pop *pop, uint32_t i, int64_t top) {
    if (pop->fit[i] < top) return;
    if (has_random(pop->cur[i])) confirm(pop, i);
    if (pop->fit[i] >= top && pop->wide_p.samples) confirm_wide(pop, i);
}

void bsn_es_generation(bsn_pop *pop) {
    for (uint32_t k = 0; k <= pop->n_nets; k++) pop->seeds[k] = bsn_rng_next(&pop->rng);
    int det = boolean_env(&pop->p);
    int pair = pair_env(&pop->p); /* a pair takes ties only when no larger: it bloated */
    int64_t top = perfect(&pop->p);
    uint32_t best_l = 0;
    for (uint32_t l = 0; l < pop->lineages; l++) {
        uint32_t P = pop->start[l], end = pop->start[l + 1];
        if (!pop->fresh[l]) pop->known[l] = 0; /* a new parent (loaded, migrant) */
        if (!pop->fresh[l] || !det || has_random(pop->cur[P])) {
            bsn_pop_evaluate_slot(pop, P);
            check(pop, P, top);
        }
        pop->fresh[l] = 1;
        int64_t pf = pop->fit[P];
        size_t psize = bsn_agent_size(pop->cur[P]);
        int solved = pf >= top;
        uint32_t pick = P, src = l;
        if (LEXICASE && det && !solved && cases_of(&pop->p) >= LEXICASE_CASES &&
            bsn_rng_below(&pop->rng, 100) < LEXICASE)
            src = lexicase_parent(pop);
        size_t pick_size = psize;
        for (uint32_t i = P + 1; i < end; i++) {
            bsn_agent *child = pop->cur[i];
            copy_into(child, pop->cur[pop->start[src]]);
            mutate_child(pop, child, solved, src);
            size_t cs = bsn_agent_size(child);
            if (cs > pop->p.limits.max_agent_bytes) {
                copy_into(child, pop->cur[P]);
                pop->fit[i] = pf;
                continue;
            }
            bsn_pop_evaluate_slot(pop, i);
            check(pop, i, top);
            int64_t cf = pop->fit[i];
            int take;
            if (pick == P)
                take = cf > pf || (cf == pf && (!(solved || det || pair) || cs <= psize));
            else take = cf > pop->fit[pick] || (cf == pop->fit[pick] && cs < pick_size);
            if (take) {
                pick = i;
                pick_size = cs;
            }
        }
        if (pick != P) {
            swap_slots(pop, P, pick);
            pop->known[l] = 0;
        }
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
        pop->known[l] = 0;
    }
}
