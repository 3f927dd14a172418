/* bisuna.h: public interface of the BiSUNA core (binary spectrum-diverse neuroevolution).
 *
 * Every value an agent computes is an unsigned 16-bit word. An agent is a bundle of 1..16
 * networks (for `cipher`: [Alice, Bob]) with one canonical little-endian binary encoding.
 * Scoring uses integer arithmetic only, so a score is bit-identical on every machine.
 *
 * Conventions: every fallible function returns an int error code, BSN_OK (0) on success
 * and one of BSN_E_* otherwise; on failure no output is written and nothing leaks. The core
 * never aborts, prints, exits or keeps global state. Memory is taken only in *_new /
 * *_decode / *_copy functions, through the caller's allocator (NULL: malloc/free), and
 * returned by the matching *_free.
 */
#ifndef BISUNA_H
#define BISUNA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes ---------------------------------------------------------------------- */
#define BSN_OK 0
#define BSN_E_NOMEM 1        /* the allocator returned NULL */
#define BSN_E_ARG 2          /* a NULL pointer or an argument out of its documented range */
#define BSN_E_TRUNCATED 3    /* agent bytes end before the structure they announce */
#define BSN_E_MAGIC 4        /* agent bytes do not start with "BSNA" */
#define BSN_E_VERSION 5      /* unknown agent format version */
#define BSN_E_TRAILING 6     /* bytes after the checksum */
#define BSN_E_CHECKSUM 7     /* CRC-32 mismatch */
#define BSN_E_RANGE 8        /* neuron kind, firing rate or neuron id out of range */
#define BSN_E_NONCANONICAL 9 /* valid meaning, but not the canonical encoding (order, zero fields) */
#define BSN_E_LIMIT 10       /* larger than the limits (neurons, connections, bytes) */
#define BSN_E_SPEC 11        /* malformed or out-of-range spec parameters */
#define BSN_E_SCORER 12      /* unknown scorer version */
#define BSN_E_SHAPE 13       /* the agent's networks do not fit the environment */
#define BSN_E_SPACE 14       /* the caller's output buffer is too small */
#define BSN_E_EMPTY 15       /* no evaluated agent yet (population) */

/* Text for an error code, e.g. "agent checksum mismatch". Never NULL. */
const char *bsn_strerror(int code);
/* Library version string, e.g. "1.0.0". Never NULL. */
const char *bsn_version(void);

/* ---- constants -------------------------------------------------------------------------- */
#define BSN_MAX_NETWORKS 16
#define BSN_NONE 0xFFFFu      /* "no modulator" */
#define BSN_FORMAT_VERSION 1u
#define BSN_SCORE_MAX 1000000u

/* Neuron kinds, as stored in the agent format (hidden neurons use 2..7). */
#define BSN_KIND_INPUT 0
#define BSN_KIND_OUTPUT 1
#define BSN_KIND_IDENTITY 2
#define BSN_KIND_ACTIVATION 3
#define BSN_KIND_THRESHOLD 4
#define BSN_KIND_RANDOM 5
#define BSN_KIND_CONTROL 6
#define BSN_KIND_ROLL 7
#define BSN_KIND_COUNT 8

/* Environments. */
#define BSN_ENV_CIPHER 1
#define BSN_ENV_MUX6 2
#define BSN_ENV_MUX11 3
#define BSN_ENV_PARITY 4
#define BSN_ENV_MOUNTAIN_CAR 5

#define BSN_MIX_XOR 0
#define BSN_MIX_NONE 1

/* ---- memory ----------------------------------------------------------------------------- */
typedef struct bsn_allocator {
    void *(*alloc)(void *ctx, size_t size); /* may return NULL: the core then fails cleanly */
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} bsn_allocator;

/* ---- spec parameters -------------------------------------------------------------------- */
typedef struct bsn_limits {
    uint32_t max_neurons;     /* per network, inputs and outputs included: 2..4096 */
    uint32_t max_connections; /* per network: 1..65535 */
    uint32_t max_agent_bytes; /* encoded size: 64..16777216 */
} bsn_limits;

typedef struct bsn_params {
    uint32_t env;           /* BSN_ENV_* */
    uint32_t mix;           /* cipher: BSN_MIX_XOR or BSN_MIX_NONE */
    uint32_t payload_words; /* cipher: 1..16 */
    uint32_t parity_bits;   /* parity-n: 2..16 */
    uint32_t max_steps;     /* mountain-car: 1..100000 */
    uint32_t samples;       /* cipher: 8..1048576 pairs; mountain-car: 1..4096 episodes */
    uint32_t population;    /* 2..10000 */
    bsn_limits limits;
} bsn_params;

/* Parses the spec-parameter text the binding builds from an edgemarket/task@1 spec:
 * `key=value` pairs separated by ';', no spaces, each key at most once, `env` required.
 * Keys: env (cipher | multiplexer-6 | multiplexer-11 | parity-n | mountain-car),
 * mix (xor | none), payload_words, n (parity bits), max_steps, samples, population,
 * max_neurons, max_connections, max_agent_bytes; values are decimal without sign or
 * leading zeros. A key that does not apply to the env is an error. Missing keys take the
 * defaults (cipher: xor, 3 words, 4096 samples; parity 3 bits; mountain-car 1000 steps and
 * 16 episodes; population 100; limits 256 / 2048 / 24576).
 * Returns BSN_OK, BSN_E_ARG (NULL), BSN_E_SPEC or BSN_E_LIMIT (the environment's inputs
 * and outputs do not fit max_neurons). */
int bsn_params_parse(const char *text, size_t len, bsn_params *out);

/* The bundle shape the environment needs: *n_networks networks, network i with inputs[i]
 * inputs and outputs[i] outputs (arrays of BSN_MAX_NETWORKS). BSN_E_ARG or BSN_E_SPEC. */
int bsn_env_shape(const bsn_params *p, uint32_t *n_networks, uint32_t *inputs,
                  uint32_t *outputs);

/* ---- agents ----------------------------------------------------------------------------- */
typedef struct bsn_agent bsn_agent;

/* Strictly decodes canonical agent bytes. limits may be NULL (no limits beyond the format's).
 * Returns BSN_OK and *out, or BSN_E_ARG, BSN_E_TRUNCATED, BSN_E_MAGIC, BSN_E_VERSION,
 * BSN_E_TRAILING, BSN_E_CHECKSUM, BSN_E_RANGE, BSN_E_NONCANONICAL, BSN_E_LIMIT, BSN_E_NOMEM;
 * never reads outside buf[0..len). */
int bsn_agent_decode(const uint8_t *buf, size_t len, const bsn_limits *limits,
                     const bsn_allocator *alloc, bsn_agent **out);
/* Frees an agent; NULL is a no-op. */
void bsn_agent_free(bsn_agent *a);
/* Encoded size in bytes (0 for NULL). */
size_t bsn_agent_size(const bsn_agent *a);
/* Writes the canonical bytes. BSN_E_ARG, BSN_E_SPACE (cap < bsn_agent_size). */
int bsn_agent_encode(const bsn_agent *a, uint8_t *buf, size_t cap);
/* Number of networks (0 for NULL). */
uint32_t bsn_agent_networks(const bsn_agent *a);
/* Sizes of network `net`: inputs, outputs, hidden neurons, connections, and the count of
 * each neuron kind (kind_counts[BSN_KIND_COUNT], control primers counted as control);
 * *primers: how many control neurons are primers. BSN_E_ARG on a bad index. */
int bsn_agent_network_info(const bsn_agent *a, uint32_t net, uint32_t *inputs,
                           uint32_t *outputs, uint32_t *hidden, uint32_t *connections,
                           uint32_t *kind_counts, uint32_t *primers);
/* Graphviz DOT text, NUL-terminated, into buf[cap]; *needed gets the size it needs
 * (terminator included) whatever cap is. BSN_E_SPACE when cap < *needed. */
int bsn_agent_dot(const bsn_agent *a, char *buf, size_t cap, size_t *needed);
/* The 64-bit spectrum of an agent (neuron-kind counts, summed over its networks). */
uint64_t bsn_agent_spectrum(const bsn_agent *a);

/* Runs network `net` for `steps` steps from a reset state: inputs holds steps × n_in words,
 * outputs receives steps × n_out words. A random neuron's word in step t is a hash of
 * (seed, t, its id), the same however often it runs within the step. BSN_E_ARG on a bad
 * index or NULL. */
int bsn_agent_run(bsn_agent *a, uint32_t net, const uint16_t *inputs, uint32_t steps,
                  uint16_t *outputs, uint64_t seed);

/* Stepping one network from outside (what the scorer does inside, exposed so a caller can
 * drive an environment and record every output, e.g. for docs/scorer-vectors.json).
 * bsn_agent_reset: the state of a fresh network, random neurons seeded with `seed`, step
 * index `t` (the boolean tasks reset each case with t = the case index). bsn_agent_step: one
 * step from the current state; inputs n_in words, outputs n_out words; the step index then
 * advances by one. BSN_E_ARG on a bad index, NULL, or counts other than the network's. */
int bsn_agent_reset(bsn_agent *a, uint32_t net, uint64_t seed, uint32_t t);
int bsn_agent_step(bsn_agent *a, uint32_t net, const uint16_t *inputs, size_t n_inputs,
                   uint16_t *outputs, size_t n_outputs);

/* A random agent shaped for the environment, built like the initial population (inputs and
 * outputs, then `structural` structural mutations). BSN_E_ARG, BSN_E_SPEC, BSN_E_NOMEM. */
int bsn_agent_random(const bsn_params *p, uint64_t seed, uint32_t structural,
                     const bsn_allocator *alloc, bsn_agent **out);
/* A child of `parent`, as reproduction makes it: `structural` structural mutations, then the
 * weight mutation and orphan removal, within the limits. BSN_E_ARG, BSN_E_LIMIT (the parent
 * exceeds the limits), BSN_E_NOMEM. */
int bsn_agent_mutate(const bsn_agent *parent, const bsn_limits *limits, uint64_t seed,
                     uint32_t structural, const bsn_allocator *alloc, bsn_agent **out);

/* ---- scoring ---------------------------------------------------------------------------- */
#define BSN_SCORER_CORE_1 1u /* "bisuna-core/1" */

/* Scores an agent with scorer version `scorer` on the environment in p. seeds[0] seeds the
 * cases stream, seeds[1 + i] the random neurons of network i (n_seeds >= 1 + networks).
 * *score in 0..1000000. Returns BSN_E_ARG, BSN_E_SCORER, BSN_E_SPEC, BSN_E_SHAPE,
 * BSN_E_NOMEM. */
int bsn_score(bsn_agent *a, const bsn_params *p, uint32_t scorer, const uint64_t *seeds,
              size_t n_seeds, uint32_t *score);

/* Scores n agents with the same parameters and seeds in one call (scores[i] for agents[i]).
 * Stops at the first agent that fails and returns its error (*failed = its index). */
int bsn_score_batch(bsn_agent *const *agents, size_t n, const bsn_params *p, uint32_t scorer,
                    const uint64_t *seeds, size_t n_seeds, uint32_t *scores, size_t *failed);

/* Fuel ("bisuna-core/2"). A step of a network costs its neurons + connections, plus, for every
 * neuron execution the step's definition makes (phases 1-5 over the neurons an output depends
 * on, every pass of phase 4 included), 1 + that neuron's incoming connections. The same count
 * on every machine and every code path. Under /2 an evaluation whose fuel exceeds the ceiling
 * scores 0 (and stops early); /1 has no ceiling. */
#define BSN_SCORER_CORE_2 2u          /* "bisuna-core/2": /1 plus the fuel ceiling */
#define BSN_FUEL_PER_STEP 4ull        /* ceiling per network step, per neuron + connection allowed */
#define BSN_FUEL_BOUND (1ull << 32)   /* the largest ceiling a spec may have (4,294,967,296) */

/* The fuel ceiling of an evaluation: BSN_FUEL_PER_STEP x network steps x (max_neurons +
 * max_connections), where network steps are 2 x samples (cipher), 64 (multiplexer-6), 2048
 * (multiplexer-11), 2^n (parity-n), samples x max_steps (mountain-car). BSN_E_ARG, BSN_E_SPEC
 * (unknown env, or the ceiling exceeds BSN_FUEL_BOUND: /2 refuses such a spec). */
int bsn_fuel_ceiling(const bsn_params *p, uint64_t *ceiling);

/* bsn_score / bsn_score_batch, also telling the fuel each evaluation used (up to where it
 * stopped) and whether it ran out (then its score is 0). fuel, out_of_fuel may be NULL.
 * Under /2 also BSN_E_SPEC when the spec's ceiling exceeds BSN_FUEL_BOUND. */
int bsn_score_detail(bsn_agent *a, const bsn_params *p, uint32_t scorer, const uint64_t *seeds,
                     size_t n_seeds, uint32_t *score, uint64_t *fuel, uint32_t *out_of_fuel);
int bsn_score_batch_detail(bsn_agent *const *agents, size_t n, const bsn_params *p,
                           uint32_t scorer, const uint64_t *seeds, size_t n_seeds,
                           uint32_t *scores, uint64_t *fuel, uint8_t *out_of_fuel,
                           size_t *failed);

/* Cipher preview: splits words[n] into payloads of N words (the last one zero-padded),
 * draws a key per payload from `seed`, and writes Alice's ciphertext and Bob's decryption
 * (each n words). The agent must be a cipher bundle. BSN_E_ARG, BSN_E_SHAPE. */
int bsn_cipher_preview(bsn_agent *a, const uint16_t *words, size_t n, uint64_t seed,
                       uint16_t *enc, uint16_t *dec);

/* ---- populations ------------------------------------------------------------------------ */
typedef struct bsn_pop bsn_pop;

/* A population for the environment, seeded with `seed`. BSN_E_ARG, BSN_E_SPEC, BSN_E_NOMEM. */
int bsn_pop_new(const bsn_params *p, uint64_t seed, const bsn_allocator *alloc, bsn_pop **out);
/* Frees a population; NULL is a no-op. */
void bsn_pop_free(bsn_pop *pop);
/* Runs `generations` generations (evaluate, select through the novelty map, reproduce).
 * best[g], mean[g] (may be NULL) receive each generation's best and mean training fitness.
 * BSN_E_ARG. */
int bsn_pop_evolve(bsn_pop *pop, uint32_t generations, int64_t *best, int64_t *mean);
/* Generations run so far. */
uint64_t bsn_pop_generation(const bsn_pop *pop);
/* Population size. */
uint32_t bsn_pop_size(const bsn_pop *pop);
/* The agent of rank `rank` (0 = best) of the last evaluated generation, by training fitness,
 * then fewer neurons, then lower slot: its encoded size, its bytes, its fitness.
 * BSN_E_ARG, BSN_E_EMPTY (nothing evaluated yet), BSN_E_SPACE. */
int bsn_pop_ranked_size(const bsn_pop *pop, uint32_t rank, size_t *size);
int bsn_pop_ranked_encode(const bsn_pop *pop, uint32_t rank, uint8_t *buf, size_t cap,
                          int64_t *fitness);
/* Replaces the lowest-ranked agents with copies of migrants (evaluated next generation).
 * At most size - 1 migrants. BSN_E_ARG, BSN_E_SHAPE, BSN_E_LIMIT. */
int bsn_pop_import(bsn_pop *pop, const bsn_agent *const *migrants, uint32_t n);

/* ---- search strategies ------------------------------------------------------------------ */
/* Strategy names by index (NULL past the last): "suna" (the published BiSUNA generation:
 * novelty map, 5 structural mutations per child; bsn_pop_new's), "es" (lineages of a
 * (1 + 4) evolution strategy with neutral drift, operators that set or clear any weight
 * bits, restarts of stalled lineages; a solved lineage only accepts smaller agents). */
const char *bsn_strategy_name(uint32_t i);
/* bsn_pop_new with a strategy by name. BSN_E_ARG (unknown name), as bsn_pop_new otherwise.
 * With es, bsn_pop_import makes each migrant the parent of one of the weakest lineages. */
int bsn_pop_new_with(const bsn_params *p, uint64_t seed, const char *strategy,
                     const bsn_allocator *alloc, bsn_pop **out);
/* Agents evaluated so far, by every generation and import. */
uint64_t bsn_pop_evaluations(const bsn_pop *pop);
/* The members that carry a population's state across epochs: suna every agent, es each
 * lineage's parent. Export them with bsn_pop_member_size / _encode (BSN_E_ARG on a bad index,
 * BSN_E_SPACE) and put them back with bsn_pop_load: member i becomes agents[i] (n <= members;
 * BSN_E_ARG, BSN_E_SHAPE, BSN_E_LIMIT), evaluated before the next generation's selection. */
uint32_t bsn_pop_members(const bsn_pop *pop);
int bsn_pop_member_size(const bsn_pop *pop, uint32_t i, size_t *size);
int bsn_pop_member_encode(const bsn_pop *pop, uint32_t i, uint8_t *buf, size_t cap);
int bsn_pop_load(bsn_pop *pop, const bsn_agent *const *agents, uint32_t n);

#ifdef __cplusplus
}
#endif
#endif
