/* agent.c: agents (bundles of networks), their canonical binary format and DOT dump.
 *
 * Format v1, little-endian, no slack:
 *   "BSNA" | u16 version (1) | u16 networks (1..16)
 *   per network: u16 inputs (>= 1) | u16 outputs (>= 1) | u16 hidden | u16 connections
 *                hidden × u8 (kind 2..7 | rate code 0..2 << 4)
 *                connections × (u16 from, u16 to, u16 modulator or 0xFFFF, u16 weight),
 *                sorted by (to, from, modulator, weight); a modulated connection has weight 0
 *   u32 CRC-32 (IEEE) of everything before it.
 */
#include <stdio.h>

#include "internal.h"

#define HEADER_BYTES 8u
#define NET_HEADER_BYTES 8u
#define CONN_BYTES 8u
#define CRC_BYTES 4u

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void wr16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
    wr16(p, v & 0xFFFFu);
    wr16(p + 2, v >> 16);
}

void bsn_agent_free(bsn_agent *a) {
    if (a == NULL) return;
    bsn_allocator al = a->alloc;
    for (uint32_t i = 0; i < a->n_nets; i++) bsn_dealloc(&al, a->nets[i]);
    bsn_dealloc(&al, a);
}

bsn_agent *bsn_agent_alloc(const bsn_allocator *al, uint32_t n_nets, const uint32_t *cap_n,
                           const uint32_t *cap_c) {
    bsn_agent *a = bsn_alloc(al, sizeof(bsn_agent));
    if (a == NULL) return NULL;
    memset(a, 0, sizeof(*a));
    if (al != NULL) a->alloc = *al;
    for (uint32_t i = 0; i < n_nets; i++) {
        a->nets[i] = bsn_net_new(al, cap_n[i], cap_c[i]);
        if (a->nets[i] == NULL) {
            bsn_agent_free(a);
            return NULL;
        }
        a->n_nets = i + 1;
    }
    return a;
}

int bsn_agent_decode(const uint8_t *buf, size_t len, const bsn_limits *limits,
                     const bsn_allocator *alloc, bsn_agent **out) {
    if (buf == NULL || out == NULL) return BSN_E_ARG;
    if (len < 4) return BSN_E_TRUNCATED;
    if (memcmp(buf, "BSNA", 4) != 0) return BSN_E_MAGIC;
    if (len < HEADER_BYTES) return BSN_E_TRUNCATED;
    if (rd16(buf + 4) != BSN_FORMAT_VERSION) return BSN_E_VERSION;
    uint32_t nets = rd16(buf + 6);
    if (nets < 1 || nets > BSN_MAX_NETWORKS) return BSN_E_RANGE;
    /* walk the sizes to find the exact length */
    uint32_t n_in[BSN_MAX_NETWORKS], n_out[BSN_MAX_NETWORKS], n_hid[BSN_MAX_NETWORKS],
        n_c[BSN_MAX_NETWORKS];
    size_t off[BSN_MAX_NETWORKS];
    size_t pos = HEADER_BYTES;
    for (uint32_t k = 0; k < nets; k++) {
        if (len - pos < NET_HEADER_BYTES) return BSN_E_TRUNCATED;
        n_in[k] = rd16(buf + pos);
        n_out[k] = rd16(buf + pos + 2);
        n_hid[k] = rd16(buf + pos + 4);
        n_c[k] = rd16(buf + pos + 6);
        pos += NET_HEADER_BYTES;
        off[k] = pos;
        size_t body = (size_t)n_hid[k] + (size_t)n_c[k] * CONN_BYTES;
        if (len - pos < body) return BSN_E_TRUNCATED;
        pos += body;
    }
    if (len - pos < CRC_BYTES) return BSN_E_TRUNCATED;
    if (len - pos > CRC_BYTES) return BSN_E_TRAILING;
    if (crc32_ieee(buf, pos) != rd32(buf + pos)) return BSN_E_CHECKSUM;
    /* meaning and canonical form */
    for (uint32_t k = 0; k < nets; k++) {
        uint32_t n = n_in[k] + n_out[k] + n_hid[k];
        if (n_in[k] == 0 || n_out[k] == 0 || n >= BSN_NONE) return BSN_E_RANGE;
        const uint8_t *h = buf + off[k];
        for (uint32_t i = 0; i < n_hid[k]; i++) {
            uint32_t kind = h[i] & 0x0Fu, rate = h[i] >> 4;
            if (kind < BSN_KIND_IDENTITY || kind > BSN_KIND_ROLL || rate > 2) return BSN_E_RANGE;
        }
        const uint8_t *c = h + n_hid[k];
        uint64_t last = 0;
        for (uint32_t i = 0; i < n_c[k]; i++, c += CONN_BYTES) {
            uint32_t from = rd16(c), to = rd16(c + 2), mod = rd16(c + 4), w = rd16(c + 6);
            if (from >= n || to >= n || (mod != BSN_NONE && mod >= n)) return BSN_E_RANGE;
            if (mod != BSN_NONE && w != 0) return BSN_E_NONCANONICAL;
            uint64_t key = ((uint64_t)to << 48) | ((uint64_t)from << 32) | ((uint64_t)mod << 16) | w;
            if (i > 0 && key < last) return BSN_E_NONCANONICAL;
            last = key;
        }
    }
    if (limits != NULL) {
        if (len > limits->max_agent_bytes) return BSN_E_LIMIT;
        for (uint32_t k = 0; k < nets; k++)
            if (n_in[k] + n_out[k] + n_hid[k] > limits->max_neurons ||
                n_c[k] > limits->max_connections)
                return BSN_E_LIMIT;
    }
    uint32_t cap_n[BSN_MAX_NETWORKS], cap_c[BSN_MAX_NETWORKS];
    for (uint32_t k = 0; k < nets; k++) {
        cap_n[k] = n_in[k] + n_out[k] + n_hid[k];
        cap_c[k] = n_c[k];
    }
    bsn_agent *a = bsn_agent_alloc(alloc, nets, cap_n, cap_c);
    if (a == NULL) return BSN_E_NOMEM;
    for (uint32_t k = 0; k < nets; k++) {
        bsn_net *net = a->nets[k];
        net->n_in = n_in[k];
        net->n_out = n_out[k];
        net->n = cap_n[k];
        net->nc = n_c[k];
        for (uint32_t i = 0; i < net->n; i++) {
            net->kind[i] = i < n_in[k] ? BSN_KIND_INPUT : BSN_KIND_OUTPUT;
            net->rate[i] = 0;
        }
        const uint8_t *h = buf + off[k];
        for (uint32_t i = 0; i < n_hid[k]; i++) {
            net->kind[n_in[k] + n_out[k] + i] = h[i] & 0x0Fu;
            net->rate[n_in[k] + n_out[k] + i] = h[i] >> 4;
        }
        const uint8_t *c = h + n_hid[k];
        for (uint32_t i = 0; i < n_c[k]; i++, c += CONN_BYTES) {
            net->c[i].from = rd16(c);
            net->c[i].to = rd16(c + 2);
            net->c[i].mod = rd16(c + 4);
            net->c[i].weight = rd16(c + 6);
        }
        bsn_net_prepare(net);
    }
    *out = a;
    return BSN_OK;
}

size_t bsn_agent_size(const bsn_agent *a) {
    if (a == NULL) return 0;
    size_t s = HEADER_BYTES + CRC_BYTES;
    for (uint32_t k = 0; k < a->n_nets; k++) {
        const bsn_net *net = a->nets[k];
        s += NET_HEADER_BYTES + (net->n - net->n_in - net->n_out) + (size_t)net->nc * CONN_BYTES;
    }
    return s;
}

int bsn_agent_encode(const bsn_agent *a, uint8_t *buf, size_t cap) {
    if (a == NULL || buf == NULL) return BSN_E_ARG;
    size_t need = bsn_agent_size(a);
    if (cap < need) return BSN_E_SPACE;
    memcpy(buf, "BSNA", 4);
    wr16(buf + 4, BSN_FORMAT_VERSION);
    wr16(buf + 6, a->n_nets);
    size_t pos = HEADER_BYTES;
    for (uint32_t k = 0; k < a->n_nets; k++) {
        const bsn_net *net = a->nets[k];
        uint32_t io = net->n_in + net->n_out;
        wr16(buf + pos, net->n_in);
        wr16(buf + pos + 2, net->n_out);
        wr16(buf + pos + 4, net->n - io);
        wr16(buf + pos + 6, net->nc);
        pos += NET_HEADER_BYTES;
        for (uint32_t i = io; i < net->n; i++)
            buf[pos++] = (uint8_t)(net->kind[i] | (net->rate[i] << 4));
        for (uint32_t i = 0; i < net->nc; i++) {
            wr16(buf + pos, net->c[i].from);
            wr16(buf + pos + 2, net->c[i].to);
            wr16(buf + pos + 4, net->c[i].mod);
            wr16(buf + pos + 6, net->c[i].weight);
            pos += CONN_BYTES;
        }
    }
    wr32(buf + pos, crc32_ieee(buf, pos));
    return BSN_OK;
}

uint32_t bsn_agent_networks(const bsn_agent *a) { return a == NULL ? 0 : a->n_nets; }

int bsn_agent_network_info(const bsn_agent *a, uint32_t k, uint32_t *inputs, uint32_t *outputs,
                           uint32_t *hidden, uint32_t *connections, uint32_t *kind_counts,
                           uint32_t *primers) {
    if (a == NULL || k >= a->n_nets) return BSN_E_ARG;
    const bsn_net *net = a->nets[k];
    if (inputs) *inputs = net->n_in;
    if (outputs) *outputs = net->n_out;
    if (hidden) *hidden = net->n - net->n_in - net->n_out;
    if (connections) *connections = net->nc;
    if (kind_counts) {
        for (uint32_t i = 0; i < BSN_KIND_COUNT; i++) kind_counts[i] = 0;
        for (uint32_t i = 0; i < net->n; i++) kind_counts[net->kind[i]]++;
    }
    if (primers) {
        *primers = 0;
        for (uint32_t i = 0; i < net->n; i++) *primers += net->primer[i];
    }
    return BSN_OK;
}

uint32_t bsn_agent_neurons(const bsn_agent *a) {
    uint32_t s = 0;
    for (uint32_t k = 0; k < a->n_nets; k++) s += a->nets[k]->n;
    return s;
}

uint64_t bsn_spectrum_of(const bsn_agent *a) {
    uint32_t counts[7] = {0, 0, 0, 0, 0, 0, 0};
    for (uint32_t k = 0; k < a->n_nets; k++) bsn_net_spectrum_counts(a->nets[k], counts);
    uint64_t s = 0;
    for (int f = 0; f < 6; f++) {
        uint64_t v = counts[f] > 1023u ? 1023u : counts[f];
        s |= v << (10 * f);
    }
    uint64_t v = counts[6] > 15u ? 15u : counts[6];
    return s | (v << 60);
}

uint64_t bsn_agent_spectrum(const bsn_agent *a) { return a == NULL ? 0 : bsn_spectrum_of(a); }

/* ---- DOT --------------------------------------------------------------------------------- */

typedef struct { char *buf; size_t cap, len; } sink;

static void put(sink *s, const char *fmt, unsigned a, unsigned b, unsigned c, unsigned d) {
    char tmp[128];
    int n = snprintf(tmp, sizeof tmp, fmt, a, b, c, d);
    if (n < 0) return;
    if (s->len + (size_t)n < s->cap) memcpy(s->buf + s->len, tmp, (size_t)n);
    s->len += (size_t)n;
}

static const char *const KIND_NAME[BSN_KIND_COUNT] = {"in", "out", "identity", "activation",
                                                       "threshold", "random", "control", "roll"};
static const unsigned RATE[3] = {1, 7, 49};

int bsn_agent_dot(const bsn_agent *a, char *buf, size_t cap, size_t *needed) {
    if (a == NULL || needed == NULL || (buf == NULL && cap != 0)) return BSN_E_ARG;
    sink s = {buf, cap, 0};
    put(&s, "digraph agent {\n  rankdir=LR;\n", 0, 0, 0, 0);
    for (uint32_t k = 0; k < a->n_nets; k++) {
        const bsn_net *net = a->nets[k];
        put(&s, "  subgraph cluster_%u {\n    label=\"network %u\";\n", k, k, 0, 0);
        for (uint32_t i = 0; i < net->n; i++) {
            unsigned kind = net->kind[i];
            const char *shape = kind == BSN_KIND_INPUT ? "invtriangle"
                                : kind == BSN_KIND_OUTPUT ? "triangle"
                                : kind == BSN_KIND_CONTROL ? "diamond" : "ellipse";
            put(&s, "    n%u_%u [label=\"%u ", k, i, i, 0);
            const char *name = (kind == BSN_KIND_CONTROL && net->primer[i]) ? "primer" : KIND_NAME[kind];
            size_t nl = strlen(name);
            if (s.len + nl < s.cap) memcpy(s.buf + s.len, name, nl);
            s.len += nl;
            put(&s, "/%u\" shape=", RATE[net->rate[i]], 0, 0, 0);
            size_t sl = strlen(shape);
            if (s.len + sl < s.cap) memcpy(s.buf + s.len, shape, sl);
            s.len += sl;
            put(&s, "];\n", 0, 0, 0, 0);
        }
        for (uint32_t i = 0; i < net->nc; i++) {
            const bsn_conn *c = &net->c[i];
            if (c->mod == BSN_NONE)
                put(&s, "    n%u_%u -> n%u_%u", k, c->from, k, c->to);
            else
                put(&s, "    n%u_%u -> n%u_%u [style=dashed", k, c->from, k, c->to);
            if (c->mod == BSN_NONE) put(&s, " [label=\"%04x\"];\n", c->weight, 0, 0, 0);
            else put(&s, " label=\"mod %u\"];\n", c->mod, 0, 0, 0);
        }
        put(&s, "  }\n", 0, 0, 0, 0);
    }
    put(&s, "}\n", 0, 0, 0, 0);
    *needed = s.len + 1;
    if (s.len + 1 > cap) return BSN_E_SPACE;
    buf[s.len] = '\0';
    return BSN_OK;
}

/* ---- running, random agents, children ---------------------------------------------------- */

int bsn_agent_run(bsn_agent *a, uint32_t k, const uint16_t *inputs, uint32_t steps,
                  uint16_t *outputs, uint64_t seed) {
    if (a == NULL || k >= a->n_nets || (steps && (inputs == NULL || outputs == NULL)))
        return BSN_E_ARG;
    bsn_net *net = a->nets[k];
    bsn_net_reset(net, seed);
    for (uint32_t t = 0; t < steps; t++)
        bsn_net_step(net, inputs + (size_t)t * net->n_in, outputs + (size_t)t * net->n_out);
    return BSN_OK;
}

/* Reproduction: `structural` structural mutations, weight mutation, orphan removal, on every
 * network of the bundle in order. */
void bsn_agent_reproduce(bsn_agent *a, bsn_rng *r, uint32_t structural) {
    for (uint32_t k = 0; k < a->n_nets; k++) {
        bsn_net *net = a->nets[k];
        for (uint32_t i = 0; i < structural; i++) bsn_net_structural(net, r);
        bsn_net_weights(net, r);
        bsn_net_remove_orphans(net);
        bsn_net_prepare(net);
    }
}

int bsn_agent_random(const bsn_params *p, uint64_t seed, uint32_t structural,
                     const bsn_allocator *alloc, bsn_agent **out) {
    if (p == NULL || out == NULL) return BSN_E_ARG;
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    int rc = bsn_env_shape(p, &nn, in, on);
    if (rc != BSN_OK) return rc;
    uint32_t cap_n[BSN_MAX_NETWORKS], cap_c[BSN_MAX_NETWORKS];
    for (uint32_t k = 0; k < nn; k++) {
        cap_n[k] = p->limits.max_neurons;
        cap_c[k] = p->limits.max_connections;
    }
    bsn_agent *a = bsn_agent_alloc(alloc, nn, cap_n, cap_c);
    if (a == NULL) return BSN_E_NOMEM;
    bsn_rng r;
    bsn_rng_seed(&r, seed);
    for (uint32_t k = 0; k < nn; k++) {
        bsn_net_init_io(a->nets[k], in[k], on[k]);
        for (uint32_t i = 0; i < structural; i++) bsn_net_structural(a->nets[k], &r);
        bsn_net_remove_orphans(a->nets[k]);
        bsn_net_prepare(a->nets[k]);
    }
    *out = a;
    return BSN_OK;
}

int bsn_agent_mutate(const bsn_agent *parent, const bsn_limits *limits, uint64_t seed,
                     uint32_t structural, const bsn_allocator *alloc, bsn_agent **out) {
    if (parent == NULL || limits == NULL || out == NULL) return BSN_E_ARG;
    uint32_t cap_n[BSN_MAX_NETWORKS], cap_c[BSN_MAX_NETWORKS];
    for (uint32_t k = 0; k < parent->n_nets; k++) {
        if (parent->nets[k]->n > limits->max_neurons || parent->nets[k]->nc > limits->max_connections)
            return BSN_E_LIMIT;
        cap_n[k] = limits->max_neurons;
        cap_c[k] = limits->max_connections;
    }
    bsn_agent *a = bsn_agent_alloc(alloc, parent->n_nets, cap_n, cap_c);
    if (a == NULL) return BSN_E_NOMEM;
    for (uint32_t k = 0; k < parent->n_nets; k++) bsn_net_copy(a->nets[k], parent->nets[k]);
    bsn_rng r;
    bsn_rng_seed(&r, seed);
    bsn_agent_reproduce(a, &r, structural);
    *out = a;
    return BSN_OK;
}

int bsn_agent_fits(const bsn_agent *a, const bsn_params *p) {
    uint32_t nn, in[BSN_MAX_NETWORKS], on[BSN_MAX_NETWORKS];
    int rc = bsn_env_shape(p, &nn, in, on);
    if (rc != BSN_OK) return rc;
    if (a->n_nets != nn) return BSN_E_SHAPE;
    for (uint32_t k = 0; k < nn; k++)
        if (a->nets[k]->n_in != in[k] || a->nets[k]->n_out != on[k]) return BSN_E_SHAPE;
    return BSN_OK;
}
