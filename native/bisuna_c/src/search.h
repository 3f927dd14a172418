/* search.h: the population's private layout, shared by pop.c and the search strategies
 * (search.c). Not installed, not part of the API. */
#ifndef BSN_SEARCH_H
#define BSN_SEARCH_H

#include "internal.h"

#define BSN_MAP_SIZE 20u

/* Strategies (bsn_strategy_name lists them by these ids). */
#define BSN_STRATEGY_SUNA 0u
#define BSN_STRATEGY_ES 1u
#define BSN_STRATEGY_COUNT 2u

struct bsn_pop {
    bsn_allocator alloc;
    bsn_params p;
    uint32_t size, n_nets;
    bsn_agent **cur, **next;
    int64_t *fit;
    uint32_t *rank, *winners;
    uint64_t map[BSN_MAP_SIZE];
    int32_t occ[BSN_MAP_SIZE];
    int map_ready, evaluated, ranked;
    uint64_t generation;
    uint64_t seeds[1 + BSN_MAX_NETWORKS]; /* the last generation's evaluation seeds */
    bsn_rng rng;
    bsn_scratch sc;
    /* search strategies other than suna */
    uint32_t strategy;
    uint64_t evaluations;  /* agents evaluated so far (every strategy) */
    uint32_t lineages;     /* es: independent (1 + lambda) lineages; lineage l owns slots
                              [start[l], start[l + 1]), its parent in the first */
    uint32_t *start;       /* lineages + 1 entries */
    uint64_t *improved;    /* es: per lineage, the generation of its last improvement */
    uint8_t *fresh;        /* es: per lineage, the parent's fitness is current */
    uint64_t *right;       /* es, boolean tasks: per lineage, `words` words: bit c set when
                              the parent gets case c right (computed when a mutation asks) */
    uint8_t *known;        /* es: per lineage, `right` holds the current parent's cases */
    uint32_t words;
    bsn_params wide_p;     /* es, cipher: the task with WIDE_SAMPLES samples, on which a */
    bsn_scratch wide_sc;   /* perfect training score is confirmed (wide_p.samples 0: none) */
};

BSN_INTERNAL void bsn_pop_evaluate_slot(bsn_pop *pop, uint32_t i);
BSN_INTERNAL int bsn_es_init(bsn_pop *pop);
BSN_INTERNAL void bsn_es_generation(bsn_pop *pop);
BSN_INTERNAL void bsn_es_agent(bsn_pop *pop, bsn_agent *a);
BSN_INTERNAL int bsn_es_better(const bsn_pop *pop, uint32_t x, uint32_t y);

#endif
