"""Builds bisuna._bisuna, the cffi extension over the C core (run by setuptools at install)."""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

CDEF = """
#define BSN_OK 0
#define BSN_E_NOMEM 1
#define BSN_E_ARG 2
#define BSN_E_TRUNCATED 3
#define BSN_E_MAGIC 4
#define BSN_E_VERSION 5
#define BSN_E_TRAILING 6
#define BSN_E_CHECKSUM 7
#define BSN_E_RANGE 8
#define BSN_E_NONCANONICAL 9
#define BSN_E_LIMIT 10
#define BSN_E_SPEC 11
#define BSN_E_SCORER 12
#define BSN_E_SHAPE 13
#define BSN_E_SPACE 14
#define BSN_E_EMPTY 15
#define BSN_MAX_NETWORKS 16
#define BSN_KIND_COUNT 8
#define BSN_SCORER_CORE_1 1
#define BSN_SCORER_CORE_2 2
#define BSN_FUEL_PER_STEP ...
#define BSN_FUEL_BOUND ...
#define BSN_SCORE_MAX 1000000
#define BSN_FORMAT_VERSION 1

typedef struct bsn_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} bsn_allocator;
typedef struct bsn_limits {
    uint32_t max_neurons; uint32_t max_connections; uint32_t max_agent_bytes;
} bsn_limits;
typedef struct bsn_params {
    uint32_t env; uint32_t mix; uint32_t payload_words; uint32_t parity_bits;
    uint32_t max_steps; uint32_t samples; uint32_t population; bsn_limits limits;
} bsn_params;
typedef struct bsn_agent bsn_agent;
typedef struct bsn_pop bsn_pop;

const char *bsn_strerror(int code);
const char *bsn_version(void);
int bsn_params_parse(const char *text, size_t len, bsn_params *out);
int bsn_env_shape(const bsn_params *p, uint32_t *n_networks, uint32_t *inputs, uint32_t *outputs);

int bsn_agent_decode(const uint8_t *buf, size_t len, const bsn_limits *limits,
                     const bsn_allocator *alloc, bsn_agent **out);
void bsn_agent_free(bsn_agent *a);
size_t bsn_agent_size(const bsn_agent *a);
int bsn_agent_encode(const bsn_agent *a, uint8_t *buf, size_t cap);
uint32_t bsn_agent_networks(const bsn_agent *a);
int bsn_agent_network_info(const bsn_agent *a, uint32_t net, uint32_t *inputs,
                           uint32_t *outputs, uint32_t *hidden, uint32_t *connections,
                           uint32_t *kind_counts, uint32_t *primers);
int bsn_agent_dot(const bsn_agent *a, char *buf, size_t cap, size_t *needed);
uint64_t bsn_agent_spectrum(const bsn_agent *a);
int bsn_agent_run(bsn_agent *a, uint32_t net, const uint16_t *inputs, uint32_t steps,
                  uint16_t *outputs, uint64_t seed);
int bsn_agent_reset(bsn_agent *a, uint32_t net, uint64_t seed, uint32_t t);
int bsn_agent_step(bsn_agent *a, uint32_t net, const uint16_t *inputs, size_t n_inputs,
                   uint16_t *outputs, size_t n_outputs);
int bsn_agent_random(const bsn_params *p, uint64_t seed, uint32_t structural,
                     const bsn_allocator *alloc, bsn_agent **out);
int bsn_agent_mutate(const bsn_agent *parent, const bsn_limits *limits, uint64_t seed,
                     uint32_t structural, const bsn_allocator *alloc, bsn_agent **out);

int bsn_score(bsn_agent *a, const bsn_params *p, uint32_t scorer, const uint64_t *seeds,
              size_t n_seeds, uint32_t *score);
int bsn_score_batch(bsn_agent *const *agents, size_t n, const bsn_params *p, uint32_t scorer,
                    const uint64_t *seeds, size_t n_seeds, uint32_t *scores, size_t *failed);
int bsn_fuel_ceiling(const bsn_params *p, uint64_t *ceiling);
int bsn_score_detail(bsn_agent *a, const bsn_params *p, uint32_t scorer, const uint64_t *seeds,
                     size_t n_seeds, uint32_t *score, uint64_t *fuel, uint32_t *out_of_fuel);
int bsn_score_batch_detail(bsn_agent *const *agents, size_t n, const bsn_params *p,
                           uint32_t scorer, const uint64_t *seeds, size_t n_seeds,
                           uint32_t *scores, uint64_t *fuel, uint8_t *out_of_fuel,
                           size_t *failed);
int bsn_cipher_preview(bsn_agent *a, const uint16_t *words, size_t n, uint64_t seed,
                       uint16_t *enc, uint16_t *dec);

int bsn_pop_new(const bsn_params *p, uint64_t seed, const bsn_allocator *alloc, bsn_pop **out);
void bsn_pop_free(bsn_pop *pop);
int bsn_pop_evolve(bsn_pop *pop, uint32_t generations, int64_t *best, int64_t *mean);
uint64_t bsn_pop_generation(const bsn_pop *pop);
uint32_t bsn_pop_size(const bsn_pop *pop);
int bsn_pop_ranked_size(const bsn_pop *pop, uint32_t rank, size_t *size);
int bsn_pop_ranked_encode(const bsn_pop *pop, uint32_t rank, uint8_t *buf, size_t cap,
                          int64_t *fitness);
int bsn_pop_import(bsn_pop *pop, const bsn_agent *const *migrants, uint32_t n);
const char *bsn_strategy_name(uint32_t i);
int bsn_pop_new_with(const bsn_params *p, uint64_t seed, const char *strategy,
                     const bsn_allocator *alloc, bsn_pop **out);
uint64_t bsn_pop_evaluations(const bsn_pop *pop);
uint32_t bsn_pop_members(const bsn_pop *pop);
int bsn_pop_member_size(const bsn_pop *pop, uint32_t i, size_t *size);
int bsn_pop_member_encode(const bsn_pop *pop, uint32_t i, uint8_t *buf, size_t cap);
int bsn_pop_load(bsn_pop *pop, const bsn_agent *const *agents, uint32_t n);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "bisuna._bisuna",
    '#include "bisuna.h"',
    sources=[str(p.relative_to(ROOT)) for p in sorted((HERE / "src").glob("*.c"))],
    include_dirs=[str((HERE / "include").relative_to(ROOT))],
    extra_compile_args=["-std=c11", "-O3", "-fvisibility=hidden"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
