/* trace.c: one network stepped from outside, so a caller can drive an environment step by
 * step and record every output word (docs/scorer.md, output hashes). Additive: the scorer
 * itself never calls these. */
#include "internal.h"

int bsn_agent_reset(bsn_agent *a, uint32_t net, uint64_t seed, uint32_t t) {
    if (a == NULL || net >= a->n_nets) return BSN_E_ARG;
    bsn_net_reset(a->nets[net], seed);
    a->nets[net]->t = t;
    return BSN_OK;
}

int bsn_agent_step(bsn_agent *a, uint32_t net, const uint16_t *inputs, size_t n_inputs,
                   uint16_t *outputs, size_t n_outputs) {
    if (a == NULL || net >= a->n_nets || inputs == NULL || outputs == NULL) return BSN_E_ARG;
    if (n_inputs != a->nets[net]->n_in || n_outputs != a->nets[net]->n_out) return BSN_E_ARG;
    bsn_net_step(a->nets[net], inputs, outputs);
    return BSN_OK;
}
