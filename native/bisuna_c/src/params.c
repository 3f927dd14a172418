/* params.c: the spec-parameter parser, environment shapes, error texts, version. */
#include "internal.h"

const char *bsn_version(void) { return "1.0.0"; }

const char *bsn_strerror(int code) {
    switch (code) {
    case BSN_OK: return "ok";
    case BSN_E_NOMEM: return "out of memory";
    case BSN_E_ARG: return "invalid argument";
    case BSN_E_TRUNCATED: return "agent bytes are truncated";
    case BSN_E_MAGIC: return "not an agent: bad magic (expected \"BSNA\")";
    case BSN_E_VERSION: return "unsupported agent format version";
    case BSN_E_TRAILING: return "agent bytes continue after the checksum";
    case BSN_E_CHECKSUM: return "agent checksum mismatch";
    case BSN_E_RANGE: return "agent field out of range (neuron kind, firing rate, neuron id or count)";
    case BSN_E_NONCANONICAL: return "agent encoding is not canonical (connection order or a non-zero modulated weight)";
    case BSN_E_LIMIT: return "agent or environment exceeds the limits";
    case BSN_E_SPEC: return "invalid spec parameters";
    case BSN_E_SCORER: return "unknown scorer";
    case BSN_E_SHAPE: return "agent does not fit the environment (networks, inputs or outputs)";
    case BSN_E_SPACE: return "output buffer too small";
    case BSN_E_EMPTY: return "population has not been evaluated yet";
    default: return "unknown error";
    }
}

static int word_eq(const char *s, size_t n, const char *lit) {
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, n) == 0;
}

/* Decimal, no sign, no leading zero (except "0"), at most 9 digits. */
static int parse_u32(const char *s, size_t n, uint32_t *v) {
    if (n == 0 || n > 9) return 0;
    if (n > 1 && s[0] == '0') return 0;
    uint32_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        x = x * 10u + (uint32_t)(s[i] - '0');
    }
    *v = x;
    return 1;
}

enum { K_ENV, K_MIX, K_WORDS, K_N, K_STEPS, K_SAMPLES, K_POP, K_MAXN, K_MAXC, K_MAXB, K_COUNT };
static const char *const KEYS[K_COUNT] = {"env", "mix", "payload_words", "n", "max_steps",
                                          "samples", "population", "max_neurons",
                                          "max_connections", "max_agent_bytes"};

int bsn_params_parse(const char *text, size_t len, bsn_params *out) {
    if (out == NULL || (text == NULL && len != 0)) return BSN_E_ARG;
    const char *val[K_COUNT] = {0};
    size_t vlen[K_COUNT] = {0};
    size_t pos = 0;
    if (len == 0) return BSN_E_SPEC;
    while (pos <= len) {
        size_t end = pos;
        while (end < len && text[end] != ';') end++;
        size_t eq = pos;
        while (eq < end && text[eq] != '=') eq++;
        if (eq == end) return BSN_E_SPEC; /* no '=' (also an empty item) */
        int key = -1;
        for (int k = 0; k < K_COUNT; k++)
            if (word_eq(text + pos, eq - pos, KEYS[k])) key = k;
        if (key < 0 || val[key] != NULL) return BSN_E_SPEC;
        val[key] = text + eq + 1;
        vlen[key] = end - eq - 1;
        if (end == len) break;
        pos = end + 1;
        if (pos == len) return BSN_E_SPEC; /* trailing ';' */
    }
    bsn_params p;
    memset(&p, 0, sizeof p);
    if (val[K_ENV] == NULL) return BSN_E_SPEC;
    const char *e = val[K_ENV];
    size_t el = vlen[K_ENV];
    if (word_eq(e, el, "cipher")) p.env = BSN_ENV_CIPHER;
    else if (word_eq(e, el, "multiplexer-6")) p.env = BSN_ENV_MUX6;
    else if (word_eq(e, el, "multiplexer-11")) p.env = BSN_ENV_MUX11;
    else if (word_eq(e, el, "parity-n")) p.env = BSN_ENV_PARITY;
    else if (word_eq(e, el, "mountain-car")) p.env = BSN_ENV_MOUNTAIN_CAR;
    else return BSN_E_SPEC;
    /* keys that belong to other environments */
    if (p.env != BSN_ENV_CIPHER && (val[K_MIX] || val[K_WORDS])) return BSN_E_SPEC;
    if (p.env != BSN_ENV_PARITY && val[K_N]) return BSN_E_SPEC;
    if (p.env != BSN_ENV_MOUNTAIN_CAR && val[K_STEPS]) return BSN_E_SPEC;
    p.mix = BSN_MIX_XOR;
    if (val[K_MIX]) {
        if (word_eq(val[K_MIX], vlen[K_MIX], "xor")) p.mix = BSN_MIX_XOR;
        else if (word_eq(val[K_MIX], vlen[K_MIX], "none")) p.mix = BSN_MIX_NONE;
        else return BSN_E_SPEC;
    }
    struct { int key; uint32_t *dst, def, lo, hi; } nums[] = {
        {K_WORDS, &p.payload_words, 3, 1, 16},
        {K_N, &p.parity_bits, 3, 2, 16},
        {K_STEPS, &p.max_steps, 1000, 1, 100000},
        {K_SAMPLES, &p.samples, p.env == BSN_ENV_MOUNTAIN_CAR ? 16u : 4096u,
         p.env == BSN_ENV_MOUNTAIN_CAR ? 1u : 8u, p.env == BSN_ENV_MOUNTAIN_CAR ? 4096u : 1048576u},
        {K_POP, &p.population, 100, 2, 10000},
        {K_MAXN, &p.limits.max_neurons, 256, 2, 4096},
        {K_MAXC, &p.limits.max_connections, 2048, 1, 65535},
        {K_MAXB, &p.limits.max_agent_bytes, 24576, 64, 16777216},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        uint32_t v = nums[i].def;
        if (val[nums[i].key] && !parse_u32(val[nums[i].key], vlen[nums[i].key], &v)) return BSN_E_SPEC;
        if (v < nums[i].lo || v > nums[i].hi) return BSN_E_SPEC;
        *nums[i].dst = v;
    }
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    int rc = bsn_env_shape(&p, &nn, in, on);
    if (rc != BSN_OK) return rc;
    for (uint32_t k = 0; k < nn; k++)
        if (in[k] + on[k] > p.limits.max_neurons) return BSN_E_LIMIT;
    *out = p;
    return BSN_OK;
}

int bsn_env_shape(const bsn_params *p, uint32_t *n_networks, uint32_t *inputs, uint32_t *outputs) {
    if (p == NULL || n_networks == NULL || inputs == NULL || outputs == NULL) return BSN_E_ARG;
    switch (p->env) {
    case BSN_ENV_CIPHER: {
        if (p->payload_words < 1 || p->payload_words > 16 || p->mix > BSN_MIX_NONE) return BSN_E_SPEC;
        uint32_t n = p->payload_words, in = p->mix == BSN_MIX_XOR ? n : 2 * n;
        *n_networks = 2;
        inputs[0] = inputs[1] = in;
        outputs[0] = outputs[1] = n;
        return BSN_OK;
    }
    case BSN_ENV_MUX6: *n_networks = 1; inputs[0] = 6; outputs[0] = 1; return BSN_OK;
    case BSN_ENV_MUX11: *n_networks = 1; inputs[0] = 11; outputs[0] = 1; return BSN_OK;
    case BSN_ENV_PARITY:
        if (p->parity_bits < 2 || p->parity_bits > 16) return BSN_E_SPEC;
        *n_networks = 1;
        inputs[0] = p->parity_bits;
        outputs[0] = 1;
        return BSN_OK;
    case BSN_ENV_MOUNTAIN_CAR: *n_networks = 1; inputs[0] = 2; outputs[0] = 1; return BSN_OK;
    default: return BSN_E_SPEC;
    }
}
