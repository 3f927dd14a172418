/* pop.c: a population: evaluation, the spectrum novelty map, reproduction, migration. */
#include <stdlib.h>

#include "search.h"

#define MAP_SIZE BSN_MAP_SIZE
#define INITIAL_MUTATIONS 200u
#define CHILD_MUTATIONS 5u

static bsn_agent *new_member(bsn_pop *pop) {
    uint32_t cap_n[BSN_MAX_NETWORKS], cap_c[BSN_MAX_NETWORKS];
    for (uint32_t k = 0; k < pop->n_nets; k++) {
        cap_n[k] = pop->p.limits.max_neurons;
        cap_c[k] = pop->p.limits.max_connections;
    }
    return bsn_agent_alloc(&pop->alloc, pop->n_nets, cap_n, cap_c);
}

void bsn_pop_free(bsn_pop *pop) {
    if (pop == NULL) return;
    bsn_allocator al = pop->alloc;
    if (pop->cur)
        for (uint32_t i = 0; i < pop->size; i++) bsn_agent_free(pop->cur[i]);
    if (pop->next)
        for (uint32_t i = 0; i < pop->size; i++) bsn_agent_free(pop->next[i]);
    bsn_dealloc(&al, pop->cur);
    bsn_dealloc(&al, pop->next);
    bsn_dealloc(&al, pop->fit);
    bsn_dealloc(&al, pop->rank);
    bsn_dealloc(&al, pop->winners);
    bsn_dealloc(&al, pop->start);
    bsn_dealloc(&al, pop->improved);
    bsn_dealloc(&al, pop->fresh);
    bsn_dealloc(&al, pop->right);
    bsn_dealloc(&al, pop->known);
    bsn_scratch_free(&pop->sc, &al);
    bsn_scratch_free(&pop->wide_sc, &al);
    bsn_dealloc(&al, pop);
}

/* An initial agent: inputs and outputs only, then 200 structural mutations. */
static void initial_agent(bsn_pop *pop, bsn_agent *a, const uint32_t *in, const uint32_t *on) {
    for (uint32_t k = 0; k < pop->n_nets; k++) {
        bsn_net_init_io(a->nets[k], in[k], on[k]);
        for (uint32_t i = 0; i < INITIAL_MUTATIONS; i++) bsn_net_structural(a->nets[k], &pop->rng);
        bsn_net_remove_orphans(a->nets[k]);
        bsn_net_prepare(a->nets[k]);
    }
}

static int too_big(const bsn_pop *pop, const bsn_agent *a) {
    return bsn_agent_size(a) > pop->p.limits.max_agent_bytes;
}

static void copy_agent(bsn_agent *dst, const bsn_agent *src) {
    for (uint32_t k = 0; k < src->n_nets; k++) bsn_net_copy(dst->nets[k], src->nets[k]);
}

static const char *const STRATEGY_NAMES[BSN_STRATEGY_COUNT] = {"suna", "es"};

const char *bsn_strategy_name(uint32_t i) {
    return i < BSN_STRATEGY_COUNT ? STRATEGY_NAMES[i] : NULL;
}

int bsn_pop_new(const bsn_params *p, uint64_t seed, const bsn_allocator *alloc, bsn_pop **out) {
    return bsn_pop_new_with(p, seed, "suna", alloc, out);
}

int bsn_pop_new_with(const bsn_params *p, uint64_t seed, const char *strategy,
                     const bsn_allocator *alloc, bsn_pop **out) {
    if (p == NULL || out == NULL || strategy == NULL) return BSN_E_ARG;
    uint32_t sid = BSN_STRATEGY_COUNT;
    for (uint32_t i = 0; i < BSN_STRATEGY_COUNT; i++)
        if (strcmp(strategy, STRATEGY_NAMES[i]) == 0) sid = i;
    if (sid == BSN_STRATEGY_COUNT) return BSN_E_ARG;
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    int rc = bsn_env_shape(p, &nn, in, on);
    if (rc != BSN_OK) return rc;
    if (p->population < 2 || p->population > 10000) return BSN_E_SPEC;
    for (uint32_t k = 0; k < nn; k++)
        if (in[k] + on[k] > p->limits.max_neurons) return BSN_E_LIMIT;
    bsn_pop *pop = bsn_alloc(alloc, sizeof(bsn_pop));
    if (pop == NULL) return BSN_E_NOMEM;
    memset(pop, 0, sizeof *pop);
    if (alloc) pop->alloc = *alloc;
    pop->p = *p;
    pop->size = p->population;
    pop->n_nets = nn;
    size_t n = pop->size;
    pop->cur = bsn_alloc(alloc, n * sizeof(bsn_agent *));
    pop->next = bsn_alloc(alloc, n * sizeof(bsn_agent *));
    pop->fit = bsn_alloc(alloc, n * sizeof(int64_t));
    pop->rank = bsn_alloc(alloc, n * sizeof(uint32_t));
    pop->winners = bsn_alloc(alloc, MAP_SIZE * sizeof(uint32_t));
    if (pop->cur == NULL || pop->next == NULL || pop->fit == NULL || pop->rank == NULL ||
        pop->winners == NULL) {
        pop->size = pop->cur == NULL || pop->next == NULL ? 0 : pop->size;
        if (pop->cur) memset(pop->cur, 0, n * sizeof(bsn_agent *));
        if (pop->next) memset(pop->next, 0, n * sizeof(bsn_agent *));
        bsn_pop_free(pop);
        return BSN_E_NOMEM;
    }
    memset(pop->cur, 0, n * sizeof(bsn_agent *));
    memset(pop->next, 0, n * sizeof(bsn_agent *));
    for (size_t i = 0; i < n; i++) {
        pop->cur[i] = new_member(pop);
        pop->next[i] = new_member(pop);
        if (pop->cur[i] == NULL || pop->next[i] == NULL) {
            bsn_pop_free(pop);
            return BSN_E_NOMEM;
        }
    }
    rc = bsn_scratch_new(&pop->sc, p, p->limits.max_neurons, alloc);
    if (rc != BSN_OK) {
        bsn_pop_free(pop);
        return rc;
    }
    bsn_rng_seed(&pop->rng, seed);
    pop->strategy = sid;
    if (sid == BSN_STRATEGY_SUNA) {
        for (size_t i = 0; i < n; i++) initial_agent(pop, pop->cur[i], in, on);
    } else {
        rc = bsn_es_init(pop);
        if (rc != BSN_OK) {
            bsn_pop_free(pop);
            return rc;
        }
    }
    *out = pop;
    return BSN_OK;
}

static void evaluate_one(bsn_pop *pop, uint32_t i) {
    /* es trains on the finer cipher signal (env.c, train 2); suna on the published one */
    int train = pop->strategy == BSN_STRATEGY_SUNA ? 1 : 2;
    pop->fit[i] = bsn_evaluate(pop->cur[i], &pop->p, pop->seeds, &pop->sc, train);
    pop->evaluations++;
}

void bsn_pop_evaluate_slot(bsn_pop *pop, uint32_t i) { evaluate_one(pop, i); }

static uint32_t dist(uint64_t a, uint64_t b) { return bsn_pc64(a ^ b); }

/* The novelty map: seeds itself on first use, places every agent, returns the distinct
 * winners in slot order. */
static uint32_t select_winners(bsn_pop *pop) {
    if (!pop->map_ready) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < pop->size && m < MAP_SIZE; i++) {
            uint64_t s = bsn_spectrum_of(pop->cur[i]);
            int dup = 0;
            for (uint32_t j = 0; j < m; j++) dup |= pop->map[j] == s;
            if (!dup) pop->map[m++] = s;
        }
        if (m < MAP_SIZE) {
            uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
            (void)bsn_env_shape(&pop->p, &nn, in, on);
            bsn_agent *tmp = pop->next[0];
            while (m < MAP_SIZE) {
                initial_agent(pop, tmp, in, on);
                pop->map[m++] = bsn_spectrum_of(tmp);
            }
        }
        pop->map_ready = 1;
    }
    for (uint32_t j = 0; j < MAP_SIZE; j++) pop->occ[j] = -1;
    for (uint32_t i = 0; i < pop->size; i++) {
        const bsn_agent *a = pop->cur[i];
        uint64_t s = bsn_spectrum_of(a);
        uint32_t best_d = 65, best_j = 0;
        for (uint32_t j = 0; j < MAP_SIZE; j++) {
            uint32_t d = dist(s, pop->map[j]);
            if (d < best_d) {
                best_d = d;
                best_j = j;
            }
        }
        uint32_t min_pair = 65, worst = 0;
        for (uint32_t j = 0; j < MAP_SIZE; j++) {
            uint32_t nn = 65;
            for (uint32_t k = 0; k < MAP_SIZE; k++) {
                if (k == j) continue;
                uint32_t d = dist(pop->map[j], pop->map[k]);
                if (d < nn) nn = d;
            }
            if (nn < min_pair) {
                min_pair = nn;
                worst = j;
            }
        }
        uint32_t slot = best_j;
        if (best_d > min_pair) {
            pop->map[worst] = s;
            slot = worst;
        }
        int32_t o = pop->occ[slot];
        if (o < 0 || pop->fit[i] > pop->fit[o] ||
            (pop->fit[i] == pop->fit[o] && bsn_agent_neurons(a) <= bsn_agent_neurons(pop->cur[o])))
            pop->occ[slot] = (int32_t)i;
    }
    int32_t occupied[MAP_SIZE];
    uint32_t n_occ = 0;
    for (uint32_t j = 0; j < MAP_SIZE; j++)
        if (pop->occ[j] >= 0) occupied[n_occ++] = pop->occ[j];
    for (uint32_t j = 0; j < MAP_SIZE; j++)
        if (pop->occ[j] < 0) pop->occ[j] = occupied[bsn_rng_below(&pop->rng, n_occ)];
    uint32_t w = 0;
    for (uint32_t j = 0; j < MAP_SIZE && w < pop->size; j++) {
        int dup = 0;
        for (uint32_t k = 0; k < w; k++) dup |= pop->winners[k] == (uint32_t)pop->occ[j];
        if (!dup) pop->winners[w++] = (uint32_t)pop->occ[j];
    }
    return w;
}

static void reproduce(bsn_pop *pop) {
    uint32_t w = select_winners(pop);
    for (uint32_t k = 0; k < w; k++) copy_agent(pop->next[k], pop->cur[pop->winners[k]]);
    for (uint32_t k = w; k < pop->size; k++) {
        const bsn_agent *parent = pop->cur[pop->winners[bsn_rng_below(&pop->rng, w)]];
        bsn_agent *child = pop->next[k];
        copy_agent(child, parent);
        bsn_agent_reproduce(child, &pop->rng, CHILD_MUTATIONS);
        if (too_big(pop, child)) copy_agent(child, parent);
    }
    bsn_agent **t = pop->cur;
    pop->cur = pop->next;
    pop->next = t;
}

int bsn_pop_evolve(bsn_pop *pop, uint32_t generations, int64_t *best, int64_t *mean) {
    if (pop == NULL) return BSN_E_ARG;
    for (uint32_t g = 0; g < generations; g++) {
        if (pop->strategy == BSN_STRATEGY_SUNA) {
            if (pop->evaluated) reproduce(pop);
            for (uint32_t k = 0; k <= pop->n_nets; k++) pop->seeds[k] = bsn_rng_next(&pop->rng);
            for (uint32_t i = 0; i < pop->size; i++) evaluate_one(pop, i);
        } else {
            bsn_es_generation(pop);
        }
        int64_t hi = INT64_MIN, sum = 0;
        for (uint32_t i = 0; i < pop->size; i++) {
            if (pop->fit[i] > hi) hi = pop->fit[i];
            sum += pop->fit[i];
        }
        pop->evaluated = 1;
        pop->ranked = 0;
        pop->generation++;
        if (best) best[g] = hi;
        if (mean) mean[g] = sum / (int64_t)pop->size;
    }
    return BSN_OK;
}

uint64_t bsn_pop_generation(const bsn_pop *pop) { return pop == NULL ? 0 : pop->generation; }
uint32_t bsn_pop_size(const bsn_pop *pop) { return pop == NULL ? 0 : pop->size; }
uint64_t bsn_pop_evaluations(const bsn_pop *pop) { return pop == NULL ? 0 : pop->evaluations; }

/* Ranks by fitness, then fewer neurons, then lower slot (insertion sort: deterministic and
 * free of shared state). */
static void rank_all(bsn_pop *pop) {
    if (pop->ranked) return;
    for (uint32_t i = 0; i < pop->size; i++) {
        uint32_t x = i, j = i;
        while (j > 0) {
            uint32_t y = pop->rank[j - 1];
            int before;
            if (pop->strategy != BSN_STRATEGY_SUNA) before = bsn_es_better(pop, x, y);
            else if (pop->fit[x] != pop->fit[y]) before = pop->fit[x] > pop->fit[y];
            else {
                uint32_t nx = bsn_agent_neurons(pop->cur[x]), ny = bsn_agent_neurons(pop->cur[y]);
                before = nx != ny ? nx < ny : x < y;
            }
            if (!before) break;
            pop->rank[j] = y;
            j--;
        }
        pop->rank[j] = x;
    }
    pop->ranked = 1;
}

int bsn_pop_ranked_size(const bsn_pop *pop, uint32_t rank, size_t *size) {
    if (pop == NULL || size == NULL || rank >= pop->size) return BSN_E_ARG;
    if (!pop->evaluated) return BSN_E_EMPTY;
    rank_all((bsn_pop *)pop);
    *size = bsn_agent_size(pop->cur[pop->rank[rank]]);
    return BSN_OK;
}

int bsn_pop_ranked_encode(const bsn_pop *pop, uint32_t rank, uint8_t *buf, size_t cap,
                          int64_t *fitness) {
    if (pop == NULL || buf == NULL || rank >= pop->size) return BSN_E_ARG;
    if (!pop->evaluated) return BSN_E_EMPTY;
    rank_all((bsn_pop *)pop);
    uint32_t i = pop->rank[rank];
    int rc = bsn_agent_encode(pop->cur[i], buf, cap);
    if (rc == BSN_OK && fitness) *fitness = pop->fit[i];
    return rc;
}

int bsn_pop_import(bsn_pop *pop, const bsn_agent *const *migrants, uint32_t n) {
    if (pop == NULL || (n && migrants == NULL) || n >= pop->size) return BSN_E_ARG;
    for (uint32_t m = 0; m < n; m++) {
        const bsn_agent *a = migrants[m];
        if (a == NULL) return BSN_E_ARG;
        int rc = bsn_agent_fits(a, &pop->p);
        if (rc != BSN_OK) return rc;
        for (uint32_t k = 0; k < a->n_nets; k++)
            if (a->nets[k]->n > pop->p.limits.max_neurons ||
                a->nets[k]->nc > pop->p.limits.max_connections)
                return BSN_E_LIMIT;
        if (too_big(pop, a)) return BSN_E_LIMIT;
    }
    if (n == 0) return BSN_OK;
    if (pop->strategy != BSN_STRATEGY_SUNA) {
        /* es: each migrant becomes the parent of one of the weakest lineages */
        uint32_t L = pop->lineages;
        for (uint32_t m = 0; m < n && m < L; m++) {
            uint32_t worst = 0;
            for (uint32_t l = 1; l < L; l++)
                if (bsn_es_better(pop, pop->start[worst], pop->start[l])) worst = l;
            uint32_t P = pop->start[worst];
            copy_agent(pop->cur[P], migrants[m]);
            pop->improved[worst] = pop->generation;
            pop->fresh[worst] = 0;
            if (pop->evaluated) {
                evaluate_one(pop, P);
                pop->fresh[worst] = 1;
            }
        }
        pop->ranked = 0;
        return BSN_OK;
    }
    if (!pop->evaluated) {
        for (uint32_t m = 0; m < n; m++) copy_agent(pop->cur[pop->size - 1 - m], migrants[m]);
        return BSN_OK;
    }
    rank_all(pop);
    for (uint32_t m = 0; m < n; m++) {
        uint32_t i = pop->rank[pop->size - 1 - m];
        copy_agent(pop->cur[i], migrants[m]);
        evaluate_one(pop, i);
    }
    pop->ranked = 0;
    return BSN_OK;
}

/* The agents that carry the population's state: suna every member, es each lineage's
 * parent. */
uint32_t bsn_pop_members(const bsn_pop *pop) {
    if (pop == NULL) return 0;
    return pop->strategy == BSN_STRATEGY_SUNA ? pop->size : pop->lineages;
}

static uint32_t member_slot(const bsn_pop *pop, uint32_t i) {
    return pop->strategy == BSN_STRATEGY_SUNA ? i : pop->start[i];
}

int bsn_pop_member_size(const bsn_pop *pop, uint32_t i, size_t *size) {
    if (pop == NULL || size == NULL || i >= bsn_pop_members(pop)) return BSN_E_ARG;
    *size = bsn_agent_size(pop->cur[member_slot(pop, i)]);
    return BSN_OK;
}

int bsn_pop_member_encode(const bsn_pop *pop, uint32_t i, uint8_t *buf, size_t cap) {
    if (pop == NULL || buf == NULL || i >= bsn_pop_members(pop)) return BSN_E_ARG;
    return bsn_agent_encode(pop->cur[member_slot(pop, i)], buf, cap);
}

int bsn_pop_load(bsn_pop *pop, const bsn_agent *const *agents, uint32_t n) {
    if (pop == NULL || (n && agents == NULL) || n > bsn_pop_members(pop)) return BSN_E_ARG;
    for (uint32_t m = 0; m < n; m++) {
        const bsn_agent *a = agents[m];
        if (a == NULL) return BSN_E_ARG;
        int rc = bsn_agent_fits(a, &pop->p);
        if (rc != BSN_OK) return rc;
        for (uint32_t k = 0; k < a->n_nets; k++)
            if (a->nets[k]->n > pop->p.limits.max_neurons ||
                a->nets[k]->nc > pop->p.limits.max_connections)
                return BSN_E_LIMIT;
        if (too_big(pop, a)) return BSN_E_LIMIT;
    }
    for (uint32_t m = 0; m < n; m++) {
        uint32_t i = member_slot(pop, m);
        copy_agent(pop->cur[i], agents[m]);
        if (pop->strategy != BSN_STRATEGY_SUNA) {
            pop->fresh[m] = 0;
            pop->improved[m] = pop->generation;
            for (uint32_t j = i + 1; j < pop->start[m + 1]; j++) copy_agent(pop->cur[j], agents[m]);
        }
    }
    if (n == 0) return BSN_OK;
    if (pop->strategy == BSN_STRATEGY_SUNA) {
        pop->evaluated = 0; /* the next generation evaluates every member first */
    } else if (pop->evaluated) {
        for (uint32_t m = 0; m < n; m++) {
            uint32_t i = member_slot(pop, m);
            evaluate_one(pop, i);
            pop->fresh[m] = 1;
            for (uint32_t j = i + 1; j < pop->start[m + 1]; j++) pop->fit[j] = pop->fit[i];
        }
    }
    pop->ranked = 0;
    return BSN_OK;
}
