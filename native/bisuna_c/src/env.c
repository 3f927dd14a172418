/* env.c: the environments and the versioned scorer (integer arithmetic only). */
#include "internal.h"

#define MILLION 1000000

static uint32_t popcount16(uint32_t x) { return bsn_pc16(x); }
static uint32_t popcount64(uint64_t x) { return bsn_pc64(x); }

/* SPREAD[v]: byte k = bit k of v, so adding SPREAD[byte] counts 8 bit positions at once. */
static uint64_t spread(uint32_t v) {
    uint64_t r = 0;
    for (int k = 0; k < 8; k++) r |= (uint64_t)((v >> k) & 1u) << (8 * k);
    return r;
}

static uint64_t isqrt64(uint64_t x) {
    uint64_t r = 0, bit = (uint64_t)1 << 62;
    while (bit > x) bit >>= 2;
    while (bit) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

/* Words of attacker 3's rows: the C bits plus the constant bit, and the P bits. */
static uint32_t vec_words(uint32_t n) { return (16 * n + 1 + 63) / 64; }
static uint32_t rhs_words(uint32_t n) { return (16 * n + 63) / 64; }

int bsn_scratch_new(bsn_scratch *s, const bsn_params *p, uint32_t neurons, const bsn_allocator *a) {
    memset(s, 0, sizeof *s);
    s->fuel_limit = UINT64_MAX;
    if (p->env == BSN_ENV_MUX6 || p->env == BSN_ENV_MUX11 || p->env == BSN_ENV_PARITY) {
        size_t align = bsn_lanes_align();
        s->lanes_raw = bsn_alloc(a, bsn_lanes_bytes(neurons) + align);
        s->lanes_aux = bsn_alloc(a, (size_t)neurons * 10 * sizeof(uint16_t));
        if (s->lanes_raw == NULL || s->lanes_aux == NULL) {
            bsn_scratch_free(s, a);
            return BSN_E_NOMEM;
        }
        uintptr_t at = ((uintptr_t)s->lanes_raw + align - 1) & ~(uintptr_t)(align - 1);
        s->lanes = (bsn_lane_neuron *)(void *)at;
        s->lanes_neurons = neurons;
        return BSN_OK;
    }
    if (p->env != BSN_ENV_CIPHER) return BSN_OK;
    uint32_t n = p->payload_words, rows = 16 * n + 1;
    s->words = bsn_alloc(a, (size_t)4 * p->samples * n * sizeof(uint16_t));
    s->gf = bsn_alloc(a, (size_t)rows * (vec_words(n) + rhs_words(n) + 1) * sizeof(uint64_t));
    s->counts = bsn_alloc(a, (size_t)16 * n * 3 * sizeof(uint32_t));
    if (s->words == NULL || s->gf == NULL || s->counts == NULL) {
        bsn_scratch_free(s, a);
        return BSN_E_NOMEM;
    }
    return BSN_OK;
}

void bsn_scratch_free(bsn_scratch *s, const bsn_allocator *a) {
    bsn_dealloc(a, s->words);
    bsn_dealloc(a, s->gf);
    bsn_dealloc(a, s->counts);
    bsn_dealloc(a, s->lanes_raw);
    bsn_dealloc(a, s->lanes_aux);
    memset(s, 0, sizeof *s);
}

static void pack(const uint16_t *w, uint32_t n, uint64_t *v, uint32_t nv) {
    for (uint32_t i = 0; i < nv; i++) v[i] = 0;
    for (uint32_t i = 0; i < n; i++) v[i >> 2] |= (uint64_t)w[i] << (16 * (i & 3));
}

/* The attackers' advantage in 0..1e6: each fitted on the first half of (C, P), measured on
 * the second half, pooled over all bit positions, less 4 standard deviations of chance; *raw
 * (if not NULL) gets it without that allowance. */
static int64_t advantage(const uint16_t *P, const uint16_t *C, uint32_t S, uint32_t N,
                         bsn_scratch *sc, int64_t *raw) {
    uint32_t half = S / 2, bits = 16 * N;
    uint64_t T = (uint64_t)(S - half) * bits;
    uint64_t h[3] = {0, 0, 0};
    /* (1) P = C */
    for (uint32_t s = half; s < S; s++)
        for (uint32_t i = 0; i < N; i++) h[0] += popcount16(~(C[s * N + i] ^ P[s * N + i]));
    /* (2) per bit position, majority of P's bit given C's bit (ties predict 0). Counted per
     * position: c1 = #(C bit 1), p1 = #(P bit 1), cp = #(both), 8 positions per 64-bit add
     * (bytes flushed before they can overflow). */
    uint32_t *cnt = sc->counts; /* 3 × bits counters: c1, p1, cp */
    memset(cnt, 0, (size_t)bits * 3 * sizeof(uint32_t));
    uint64_t table[256];
    for (uint32_t v = 0; v < 256; v++) table[v] = spread(v);
    for (uint32_t i = 0; i < N; i++) {
        for (uint32_t s0 = 0; s0 < half; s0 += 255) {
            uint64_t acc[3][2] = {{0, 0}, {0, 0}, {0, 0}};
            uint32_t s1 = s0 + 255 < half ? s0 + 255 : half;
            for (uint32_t s = s0; s < s1; s++) {
                uint32_t c = C[s * N + i], p = P[s * N + i], cp = c & p;
                acc[0][0] += table[c & 0xFF];
                acc[0][1] += table[c >> 8];
                acc[1][0] += table[p & 0xFF];
                acc[1][1] += table[p >> 8];
                acc[2][0] += table[cp & 0xFF];
                acc[2][1] += table[cp >> 8];
            }
            for (uint32_t k = 0; k < 3; k++)
                for (uint32_t b = 0; b < 16; b++)
                    cnt[k * bits + i * 16 + b] += (uint32_t)((acc[k][b >> 3] >> (8 * (b & 7))) & 0xFF);
        }
    }
    uint16_t pred1[16], pred0[16]; /* per word: predicted P bits where C's bit is 1 / 0 */
    for (uint32_t i = 0; i < N; i++) {
        pred1[i] = pred0[i] = 0;
        for (uint32_t b = 0; b < 16; b++) {
            uint32_t j = i * 16 + b;
            uint32_t c1 = cnt[j], p1 = cnt[bits + j], cp = cnt[2 * bits + j];
            uint32_t n11 = cp, n10 = c1 - cp;          /* C bit 1: P 1 / P 0 */
            uint32_t n01 = p1 - cp, n00 = half - c1 - n01; /* C bit 0: P 1 / P 0 */
            if (n11 > n10) pred1[i] |= (uint16_t)(1u << b);
            if (n01 > n00) pred0[i] |= (uint16_t)(1u << b);
        }
    }
    for (uint32_t s = half; s < S; s++)
        for (uint32_t i = 0; i < N; i++) {
            uint32_t c = C[s * N + i];
            uint32_t pred = (c & pred1[i]) | (~c & pred0[i]);
            h[1] += popcount16(~(pred ^ P[s * N + i]));
        }
    /* (3) affine GF(2) map per P bit, by Gauss-Jordan elimination over the training rows in
     * order (reduced row echelon form kept incrementally; a row that reduces to zero is
     * dependent, and dropped whether or not it is consistent); free variables 0. */
    uint32_t W = vec_words(N), R = rhs_words(N), stride = W + R, rows = 0;
    uint64_t *gf = sc->gf, *piv = gf + (size_t)(bits + 1) * stride;
    uint64_t v[5], b[4];
    for (uint32_t s = 0; s < half; s++) {
        pack(C + (size_t)s * N, N, v, W);
        v[bits >> 6] |= (uint64_t)1 << (bits & 63);
        pack(P + (size_t)s * N, N, b, R);
        /* Reduce (branch-free: the pivot bits are random). In reduced row echelon form no
         * row holds another row's pivot, so the test bits are v's own. */
        if (W == 1 && R == 1) {
            uint64_t v0 = v[0], b0 = b[0];
            for (uint32_t r = 0; r < rows; r++) {
                const uint64_t *row = gf + (size_t)r * 2;
                uint64_t m = 0 - ((v[0] >> piv[r]) & 1u);
                v0 ^= row[0] & m;
                b0 ^= row[1] & m;
            }
            v[0] = v0;
            b[0] = b0;
        } else {
            uint64_t vin[5];
            for (uint32_t q = 0; q < W; q++) vin[q] = v[q];
            for (uint32_t r = 0; r < rows; r++) {
                uint64_t pv = piv[r];
                uint64_t m = 0 - ((vin[pv >> 6] >> (pv & 63)) & 1u);
                const uint64_t *row = gf + (size_t)r * stride;
                for (uint32_t q = 0; q < W; q++) v[q] ^= row[q] & m;
                for (uint32_t q = 0; q < R; q++) b[q] ^= row[W + q] & m;
            }
        }
        uint32_t q0 = 0;
        while (q0 < W && v[q0] == 0) q0++;
        if (q0 == W) continue;
        uint64_t pv = (uint64_t)q0 * 64 + (uint64_t)bsn_pc64((v[q0] & (0 - v[q0])) - 1); /* lowest set bit */
        for (uint32_t r = 0; r < rows; r++) {
            uint64_t *row = gf + (size_t)r * stride;
            uint64_t m = 0 - ((row[pv >> 6] >> (pv & 63)) & 1u);
            for (uint32_t q = 0; q < W; q++) row[q] ^= v[q] & m;
            for (uint32_t q = 0; q < R; q++) row[W + q] ^= b[q] & m;
        }
        uint64_t *row = gf + (size_t)rows * stride;
        for (uint32_t q = 0; q < W; q++) row[q] = v[q];
        for (uint32_t q = 0; q < R; q++) row[W + q] = b[q];
        piv[rows++] = pv;
        if (rows == bits + 1) break; /* full rank: every later row reduces to zero */
    }
    for (uint32_t s = half; s < S; s++) {
        pack(C + (size_t)s * N, N, v, W);
        v[bits >> 6] |= (uint64_t)1 << (bits & 63);
        pack(P + (size_t)s * N, N, b, R);
        uint64_t pred[4] = {0, 0, 0, 0};
        for (uint32_t r = 0; r < rows; r++) {
            uint64_t pv = piv[r];
            uint64_t m = 0 - ((v[pv >> 6] >> (pv & 63)) & 1u);
            const uint64_t *row = gf + (size_t)r * stride;
            for (uint32_t q = 0; q < R; q++) pred[q] ^= row[W + q] & m;
        }
        uint32_t wrong = 0;
        for (uint32_t q = 0; q < R; q++) wrong += popcount64(pred[q] ^ b[q]);
        h[2] += bits - wrong;
    }
    int64_t s4 = 4 * (int64_t)isqrt64(T), den = (int64_t)T - s4, adv = 0;
    if (raw != NULL) *raw = 0;
    for (int k = 0; k < 3; k++) {
        int64_t d = 2 * (int64_t)h[k] - (int64_t)T;
        if (d < 0) d = -d;
        int64_t r = d * MILLION / (int64_t)T;
        if (raw != NULL && r > *raw) *raw = r;
        d -= s4;
        if (d <= 0) continue;
        int64_t x = d * MILLION / den;
        if (x > adv) adv = x;
    }
    return adv > MILLION ? MILLION : adv;
}

/* Steps Alice then Bob once per sample; fills C (Alice's words) and Q (Bob's words). Adds the
 * fuel to *fuel and stops after the sample where it exceeds `limit`. */
static void cipher_run(bsn_agent *a, uint32_t N, uint32_t mix, const uint16_t *P,
                       const uint16_t *K, uint16_t *C, uint16_t *Q, uint32_t S, uint64_t limit,
                       uint64_t *fuel) {
    bsn_net *alice = a->nets[0], *bob = a->nets[1];
    uint16_t in[32];
    for (uint32_t s = 0; s < S; s++) {
        const uint16_t *p = P + (size_t)s * N, *k = K + (size_t)s * N;
        uint16_t *c = C + (size_t)s * N, *q = Q + (size_t)s * N;
        if (mix == BSN_MIX_XOR) {
            for (uint32_t i = 0; i < N; i++) in[i] = (uint16_t)(k[i] ^ p[i]);
        } else {
            for (uint32_t i = 0; i < N; i++) {
                in[i] = p[i];
                in[N + i] = k[i];
            }
        }
        bsn_net_step(alice, in, c);
        if (mix == BSN_MIX_XOR) {
            for (uint32_t i = 0; i < N; i++) in[i] = (uint16_t)(k[i] ^ c[i]);
        } else {
            for (uint32_t i = 0; i < N; i++) {
                in[i] = c[i];
                in[N + i] = k[i];
            }
        }
        bsn_net_step(bob, in, q);
        *fuel += alice->step_fuel + bob->step_fuel;
        if (*fuel > limit) return;
    }
}

static int64_t cipher_eval(bsn_agent *a, const bsn_params *p, const uint64_t *seeds,
                           bsn_scratch *sc, int train) {
    uint32_t S = p->samples, N = p->payload_words;
    uint16_t *P = sc->words, *K = P + (size_t)S * N, *C = K + (size_t)S * N, *Q = C + (size_t)S * N;
    bsn_rng r;
    bsn_rng_seed(&r, seeds[0]);
    for (uint32_t s = 0; s < S; s++) {
        for (uint32_t i = 0; i < N; i++) P[s * N + i] = bsn_rng_word(&r);
        for (uint32_t i = 0; i < N; i++) K[s * N + i] = bsn_rng_word(&r);
    }
    bsn_net_reset(a->nets[0], seeds[1]);
    bsn_net_reset(a->nets[1], seeds[2]);
    cipher_run(a, N, p->mix, P, K, C, Q, S, sc->fuel_limit, &sc->fuel_used);
    if (sc->fuel_used > sc->fuel_limit) return 0;
    int64_t B = (int64_t)S * 16 * N, c = 0;
    for (size_t i = 0; i < (size_t)S * N; i++) c += popcount16(~(Q[i] ^ P[i]));
    int64_t corr = (2 * c - B) * MILLION / B;
    if (!train && corr < 0) corr = 0;
    int64_t raw, adv = advantage(P, C, S, N, sc, &raw);
    /* train == 2 (the es search): below a perfect score, the advantage without the allowance
     * for chance, so that a leak of a bit or two, hidden in that allowance, still costs */
    if (train == 2 && !(corr == MILLION && adv == 0)) adv = raw > MILLION ? MILLION : raw;
    return corr * (MILLION - adv) / MILLION;
}

/* Every case: reset, one step. The definition; bsn_lanes_boolean computes the same count
 * 64 cases at a time. */
uint32_t bsn_boolean_scalar(bsn_agent *a, const bsn_params *p, uint64_t seed, uint64_t limit,
                            uint64_t *fuel, uint64_t *right) {
    bsn_net *net = a->nets[0];
    uint32_t nb = net->n_in, cases = 1u << nb, correct = 0;
    uint16_t in[16], out[1];
    if (right) memset(right, 0, ((cases + 63) / 64) * sizeof *right);
    for (uint32_t c = 0; c < cases; c++) {
        bsn_net_reset(net, seed);
        net->t = c; /* random neurons: the step index is the case index */
        for (uint32_t j = 0; j < nb; j++) in[j] = ((c >> j) & 1u) ? 0xFFFFu : 0u;
        bsn_net_step(net, in, out);
        uint32_t want;
        if (p->env == BSN_ENV_MUX6) want = (c >> (2 + (c & 3u))) & 1u;
        else if (p->env == BSN_ENV_MUX11) want = (c >> (3 + (c & 7u))) & 1u;
        else want = bsn_pc16(c) & 1u;
        correct += (uint32_t)(out[0] >> 15) == want;
        if (right && (uint32_t)(out[0] >> 15) == want) right[c / 64] |= 1ull << (c % 64);
        *fuel += net->step_fuel;
        if (*fuel > limit) break;
    }
    return correct;
}

static int64_t boolean_eval(bsn_agent *a, const bsn_params *p, const uint64_t *seeds,
                            bsn_scratch *s) {
    const bsn_net *net = a->nets[0];
    uint32_t cases = 1u << net->n_in, correct;
    if (s->lanes != NULL && net->n <= s->lanes_neurons && bsn_lanes_supported(net)) {
        uint64_t fuel = 0;
        correct = bsn_lanes_boolean(net, p->env, seeds[1], s->lanes, s->lanes_aux, s->fuel_limit,
                                    s->count_fuel ? &fuel : NULL, NULL);
        s->fuel_used += fuel;
    } else {
        correct = bsn_boolean_scalar(a, p, seeds[1], s->fuel_limit, &s->fuel_used, NULL);
    }
    if (s->fuel_used > s->fuel_limit) return 0;
    return (int64_t)correct * MILLION / cases;
}

/* ---- mountain car, fixed point (micro-units) -------------------------------------------- */
#define MC_XMIN (-1200000)
#define MC_XMAX 600000
#define MC_VMAX 70000
#define MC_GOAL 500000
#define PI_U 3141593
#define TWO_PI_U 6283185

/* cos of t in [0, pi/2] (micro-radians), Taylor series to t^10, scale 1e6. */
static int64_t cos_quarter(int64_t t) {
    int64_t t2 = t * t / MILLION, term = MILLION, sum = MILLION;
    for (int k = 1; k <= 5; k++) {
        term = -term * t2 / MILLION / ((2 * k - 1) * (2 * k));
        sum += term;
    }
    return sum;
}
static int64_t icos(int64_t t) {
    if (t < 0) t = -t;
    t %= TWO_PI_U;
    if (t > PI_U) t = TWO_PI_U - t;
    if (t > PI_U / 2) return -cos_quarter(PI_U - t);
    return cos_quarter(t);
}
static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
/* round(32767 + 32767 * v / range), clamped to 0..65535 */
static uint16_t obs_word(int64_t v, int64_t range) {
    int64_t x = floor_div(2 * (32767 * range + 32767 * v) + range, 2 * range);
    if (x < 0) x = 0;
    if (x > 65535) x = 65535;
    return (uint16_t)x;
}

static int64_t mountain_car_eval(bsn_agent *a, const bsn_params *p, const uint64_t *seeds,
                                 bsn_scratch *sc) {
    bsn_net *net = a->nets[0];
    bsn_rng r;
    bsn_rng_seed(&r, seeds[0]);
    int64_t total = 0;
    uint16_t in[2], out[1];
    for (uint32_t e = 0; e < p->samples; e++) {
        int64_t x = (int64_t)bsn_rng_below(&r, 200001), v = 0;
        if (sc->mc_stratified) x = ((int64_t)e * 200001 + x) / p->samples; /* training only */
        x -= 600000;
        bsn_net_reset(net, seeds[1] + e);
        uint32_t t = 0;
        int reached = 0;
        while (t < p->max_steps) {
            in[0] = obs_word(x + 300000, 900000);
            in[1] = obs_word(v, MC_VMAX);
            bsn_net_step(net, in, out);
            sc->fuel_used += net->step_fuel;
            if (sc->fuel_used > sc->fuel_limit) return 0;
            int64_t action = (out[0] >> 15) ? 2 : 0; /* top bit: push right, else left */
            v += (action - 1) * 1000 - 2500 * icos(3 * x) / MILLION;
            if (v > MC_VMAX) v = MC_VMAX;
            if (v < -MC_VMAX) v = -MC_VMAX;
            x += v;
            if (x > MC_XMAX) x = MC_XMAX;
            if (x < MC_XMIN) x = MC_XMIN;
            if (x == MC_XMIN && v < 0) v = 0;
            t++;
            if (x >= MC_GOAL) {
                reached = 1;
                break;
            }
        }
        if (reached) total += (int64_t)MILLION * (p->max_steps - t) / p->max_steps;
    }
    return total / p->samples;
}

int64_t bsn_evaluate(bsn_agent *a, const bsn_params *p, const uint64_t *seeds, bsn_scratch *s,
                     int train) {
    int64_t v;
    s->fuel_used = 0;
    switch (p->env) {
    case BSN_ENV_CIPHER: v = cipher_eval(a, p, seeds, s, train); break;
    case BSN_ENV_MOUNTAIN_CAR: v = mountain_car_eval(a, p, seeds, s); break;
    default: v = boolean_eval(a, p, seeds, s); break;
    }
    s->out_of_fuel = s->fuel_used > s->fuel_limit;
    return s->out_of_fuel ? 0 : v;
}

/* ---- fuel -------------------------------------------------------------------------------- */

/* Network steps of one evaluation at most: cipher 2 per sample (Alice, Bob), the boolean
 * tasks one per case, mountain-car samples x max_steps. */
static uint64_t network_steps(const bsn_params *p) {
    switch (p->env) {
    case BSN_ENV_CIPHER: return 2ull * p->samples;
    case BSN_ENV_MUX6: return 64;
    case BSN_ENV_MUX11: return 2048;
    case BSN_ENV_PARITY: return 1ull << p->parity_bits;
    default: return (uint64_t)p->samples * p->max_steps;
    }
}

int bsn_fuel_ceiling(const bsn_params *p, uint64_t *ceiling) {
    if (p == NULL || ceiling == NULL) return BSN_E_ARG;
    if (p->env < BSN_ENV_CIPHER || p->env > BSN_ENV_MOUNTAIN_CAR) return BSN_E_SPEC;
    uint64_t c = BSN_FUEL_PER_STEP * network_steps(p) *
                 ((uint64_t)p->limits.max_neurons + p->limits.max_connections);
    if (c > BSN_FUEL_BOUND) return BSN_E_SPEC;
    *ceiling = c;
    return BSN_OK;
}

int bsn_fuel_setup(bsn_scratch *s, const bsn_params *p, uint32_t scorer) {
    if (scorer == BSN_SCORER_CORE_1) {
        s->fuel_limit = UINT64_MAX;
        return BSN_OK;
    }
    if (scorer != BSN_SCORER_CORE_2) return BSN_E_SCORER;
    s->count_fuel = 1;
    return bsn_fuel_ceiling(p, &s->fuel_limit);
}

int bsn_score_detail(bsn_agent *a, const bsn_params *p, uint32_t scorer, const uint64_t *seeds,
                     size_t n_seeds, uint32_t *score, uint64_t *fuel, uint32_t *out_of_fuel) {
    size_t failed;
    uint8_t oof = 0;
    if (a == NULL || score == NULL) return BSN_E_ARG;
    int rc = bsn_score_batch_detail(&a, 1, p, scorer, seeds, n_seeds, score, fuel, &oof, &failed);
    if (rc == BSN_OK && out_of_fuel != NULL) *out_of_fuel = oof;
    return rc;
}

int bsn_score(bsn_agent *a, const bsn_params *p, uint32_t scorer, const uint64_t *seeds,
              size_t n_seeds, uint32_t *score) {
    return bsn_score_detail(a, p, scorer, seeds, n_seeds, score, NULL, NULL);
}

int bsn_score_batch_detail(bsn_agent *const *agents, size_t n, const bsn_params *p,
                           uint32_t scorer, const uint64_t *seeds, size_t n_seeds,
                           uint32_t *scores, uint64_t *fuel, uint8_t *out_of_fuel,
                           size_t *failed) {
    if ((n && (agents == NULL || scores == NULL)) || p == NULL || seeds == NULL || failed == NULL)
        return BSN_E_ARG;
    if (scorer != BSN_SCORER_CORE_1 && scorer != BSN_SCORER_CORE_2) return BSN_E_SCORER;
    uint64_t ceiling;
    if (scorer == BSN_SCORER_CORE_2 && bsn_fuel_ceiling(p, &ceiling) != BSN_OK) return BSN_E_SPEC;
    uint32_t neurons = 0;
    for (size_t i = 0; i < n; i++) {
        *failed = i;
        if (agents[i] == NULL) return BSN_E_ARG;
        int rc = bsn_agent_fits(agents[i], p);
        if (rc != BSN_OK) return rc;
        if (n_seeds < 1 + (size_t)agents[i]->n_nets) return BSN_E_ARG;
        for (uint32_t k = 0; k < agents[i]->n_nets; k++)
            if (agents[i]->nets[k]->n > neurons) neurons = agents[i]->nets[k]->n;
    }
    if (n == 0) return BSN_OK;
    *failed = 0;
    bsn_scratch sc;
    int rc = bsn_scratch_new(&sc, p, neurons, &agents[0]->alloc);
    if (rc != BSN_OK) return rc;
    rc = bsn_fuel_setup(&sc, p, scorer);
    if (rc != BSN_OK) {
        bsn_scratch_free(&sc, &agents[0]->alloc);
        return rc;
    }
    if (fuel != NULL) sc.count_fuel = 1;
    for (size_t i = 0; i < n; i++) {
        int64_t v = bsn_evaluate(agents[i], p, seeds, &sc, 0);
        scores[i] = (uint32_t)(v < 0 ? 0 : v > MILLION ? MILLION : v);
        if (fuel != NULL) fuel[i] = sc.fuel_used;
        if (out_of_fuel != NULL) out_of_fuel[i] = (uint8_t)sc.out_of_fuel;
    }
    bsn_scratch_free(&sc, &agents[0]->alloc);
    return BSN_OK;
}

int bsn_score_batch(bsn_agent *const *agents, size_t n, const bsn_params *p, uint32_t scorer,
                    const uint64_t *seeds, size_t n_seeds, uint32_t *scores, size_t *failed) {
    return bsn_score_batch_detail(agents, n, p, scorer, seeds, n_seeds, scores, NULL, NULL,
                                  failed);
}

int bsn_cipher_preview(bsn_agent *a, const uint16_t *words, size_t n, uint64_t seed,
                       uint16_t *enc, uint16_t *dec) {
    if (a == NULL || (n && (words == NULL || enc == NULL || dec == NULL))) return BSN_E_ARG;
    if (a->n_nets != 2) return BSN_E_SHAPE;
    uint32_t N = a->nets[0]->n_out, in = a->nets[0]->n_in;
    if (N < 1 || N > 16 || a->nets[1]->n_out != N || a->nets[1]->n_in != in ||
        (in != N && in != 2 * N))
        return BSN_E_SHAPE;
    uint32_t mix = in == N ? BSN_MIX_XOR : BSN_MIX_NONE;
    bsn_rng r;
    bsn_rng_seed(&r, seed);
    uint64_t sa = bsn_rng_next(&r), sb = bsn_rng_next(&r);
    bsn_net_reset(a->nets[0], sa);
    bsn_net_reset(a->nets[1], sb);
    uint16_t P[16], K[16], C[16], Q[16];
    for (size_t base = 0; base < n; base += N) {
        for (uint32_t i = 0; i < N; i++) {
            P[i] = base + i < n ? words[base + i] : 0;
            K[i] = bsn_rng_word(&r);
        }
        uint64_t fuel = 0;
        cipher_run(a, N, mix, P, K, C, Q, 1, UINT64_MAX, &fuel);
        for (uint32_t i = 0; i < N && base + i < n; i++) {
            enc[base + i] = C[i];
            dec[base + i] = Q[i];
        }
    }
    return BSN_OK;
}
