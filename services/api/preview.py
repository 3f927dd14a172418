"""Cipher previews: a picture drawn in code, encrypted and decrypted by an agent, side by side as PNG."""

from __future__ import annotations

import io
from functools import lru_cache
from xml.sax.saxutils import escape

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

import bisuna
from bisuna.agent import Network

SAMPLE_SIZE = (64, 48)  # pixels (width, height) of the sample picture, RGB
SCALE = 3
CAPTION_HEIGHT = 18
BACKGROUND = (250, 250, 247)
INK = (40, 40, 48)


@lru_cache(maxsize=1)
def sample_image() -> Image.Image:
    """The sample picture: a small drawn emblem with clear shapes, so structure leaks show."""
    width, height = SAMPLE_SIZE
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = (40 + 180 * xs / (width - 1)).astype(np.uint8)
    pixels[..., 1] = (60 + 120 * ys / (height - 1)).astype(np.uint8)
    pixels[..., 2] = 170
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    cx, cy = width // 2, height // 2
    for radius, colour in ((20, (250, 245, 230)), (15, (30, 40, 90)), (10, (250, 200, 60))):
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    # A binary neuron's 16 bits, as a bar code across the bottom.
    for bit in range(16):
        if (0xB5A3 >> bit) & 1:
            x = 2 + bit * 4
            draw.rectangle((x, height - 7, x + 2, height - 2), fill=(20, 20, 20))
    draw.polygon([(4, 4), (16, 4), (4, 16)], fill=(255, 255, 255))
    return image


def image_words(image: Image.Image) -> NDArray[np.uint16]:
    """The image's RGB bytes read as big-endian 16-bit words (padded with one zero byte if odd)."""
    raw = image.convert("RGB").tobytes()
    if len(raw) % 2:
        raw += b"\x00"
    return np.frombuffer(raw, dtype=">u2").astype(np.uint16)


def words_image(words: NDArray[np.uint16], size: tuple[int, int]) -> Image.Image:
    """Inverse of `image_words` for an RGB image of `size`."""
    raw = np.asarray(words, dtype=np.uint16).astype(">u2").tobytes()
    needed = size[0] * size[1] * 3
    return Image.frombytes("RGB", size, raw[:needed].ljust(needed, b"\x00"))


def cipher_triptych(
    agent: bisuna.Agent, *, seed: int
) -> tuple[NDArray[np.uint16], NDArray[np.uint16], NDArray[np.uint16]]:
    """Run the sample picture through the agent: (original, ciphertext, decryption) words.

    The core splits the words into the agent's payloads (zero-padding the last one) and draws
    one key per payload from `seed`."""
    orig, enc, dec = bisuna.cipher_preview(agent, image_words(sample_image()), seed)
    return (np.asarray(orig, np.uint16), np.asarray(enc, np.uint16), np.asarray(dec, np.uint16))


def bit_agreement(a: NDArray[np.uint16], b: NDArray[np.uint16]) -> float:
    """Fraction of bits equal between two word arrays (1.0 = identical, about 0.5 = unrelated)."""
    diff = np.bitwise_xor(a, b)
    flipped = int(np.unpackbits(diff.astype(">u2").view(np.uint8)).sum())
    return 1.0 - flipped / (16 * len(a)) if len(a) else 1.0


def render_png(agent: bisuna.Agent, *, seed: int, score: int | None = None) -> bytes:
    """The preview PNG: original | Alice's own output (the ciphertext) | Bob's decryption."""
    orig, enc, dec = cipher_triptych(agent, seed=seed)
    size = SAMPLE_SIZE
    panels = [
        ("original", words_image(orig, size)),
        ("Alice's ciphertext", words_image(enc, size)),
        (f"Bob decrypts {100 * bit_agreement(orig, dec):.0f}%", words_image(dec, size)),
    ]
    pw, ph = size[0] * SCALE, size[1] * SCALE
    gap = 8
    footer = CAPTION_HEIGHT if score is not None else 0
    canvas = Image.new(
        "RGB", (3 * pw + 4 * gap, ph + CAPTION_HEIGHT + footer + 2 * gap), BACKGROUND
    )
    draw = ImageDraw.Draw(canvas)
    for i, (caption, panel) in enumerate(panels):
        x = gap + i * (pw + gap)
        canvas.paste(panel.resize((pw, ph), Image.Resampling.NEAREST), (x, gap))
        draw.text((x, gap + ph + 3), caption, fill=INK)
    if score is not None:
        draw.text(
            (gap, gap + ph + CAPTION_HEIGHT + 2), f"verified score {score / 1e6:.6f}", fill=INK
        )
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


KIND_COLOURS = {
    "input": "#2a4d9b",
    "output": "#1f7a3f",
    "identity": "#8a8a96",
    "activation": "#c2410c",
    "threshold": "#9a6a00",
    "random": "#7c3aed",
    "control": "#a33",
    "roll": "#0e7490",
}
ROW, COLUMN, RADIUS, PER_COLUMN = 22, 70, 7, 16


def _network_layout(net: Network, top: int) -> tuple[dict[int, tuple[int, int]], int]:
    """Neuron id → (x, y): inputs left, hidden in columns of 16, outputs right."""
    hidden_columns = max(1, -(-len(net.hidden) // PER_COLUMN))
    positions: dict[int, tuple[int, int]] = {}
    for i in range(net.inputs):
        positions[i] = (40, top + 30 + i * ROW)
    for j in range(len(net.hidden)):
        positions[net.inputs + net.outputs + j] = (
            40 + COLUMN * (1 + j // PER_COLUMN),
            top + 30 + (j % PER_COLUMN) * ROW,
        )
    for o in range(net.outputs):
        positions[net.inputs + o] = (40 + COLUMN * (1 + hidden_columns), top + 30 + o * ROW)
    rows = max(net.inputs, net.outputs, min(len(net.hidden), PER_COLUMN), 1)
    return positions, top + 30 + rows * ROW + 10


def render_svg(agent: bisuna.Agent) -> str:
    """The agent's networks drawn as SVG: one circle per neuron (coloured by kind), one line
    per connection (dashed when neuromodulated). Drawn here, so no Graphviz is needed."""
    nets = [agent.network(i) for i in range(agent.networks)]
    names = ["Alice", "Bob"] if len(nets) == 2 else [f"network {i}" for i in range(len(nets))]
    parts: list[str] = []
    top, width = 10, 300
    for name, net in zip(names, nets, strict=True):
        positions, bottom = _network_layout(net, top)
        width = max(width, max(x for x, _ in positions.values()) + 60)
        parts.append(f'<text x="10" y="{top + 14}" class="title">{escape(name)}</text>')
        for c in net.connections:
            (x1, y1), (x2, y2) = positions[c.source], positions[c.target]
            dash = ' stroke-dasharray="4 3"' if c.modulator is not None else ""
            if c.source == c.target:  # a self-loop
                parts.append(
                    f'<path d="M{x1} {y1 - RADIUS} c 14 -18 22 0 {RADIUS} {RADIUS}" class="edge"{dash}/>'
                )
            elif x1 == x2:  # same column: bow out so the edge does not hide behind the neurons
                bow = x1 - 12 - abs(y2 - y1) // 3
                parts.append(
                    f'<path d="M{x1} {y1} Q{bow} {(y1 + y2) // 2} {x2} {y2}" class="edge"{dash}/>'
                )
            else:
                parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" class="edge"{dash}/>')
        kinds = ["input"] * net.inputs + ["output"] * net.outputs + [k for k, _ in net.hidden]
        rates = [1] * (net.inputs + net.outputs) + [r for _, r in net.hidden]
        for nid, (kind, rate) in enumerate(zip(kinds, rates, strict=True)):
            x, y = positions[nid]
            parts.append(
                f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="{KIND_COLOURS[kind]}">'
                f"<title>neuron {nid}: {kind}, fires every {rate}</title></circle>"
            )
        top = bottom + 10
    legend_y = top + 4
    for i, (kind, colour) in enumerate(KIND_COLOURS.items()):
        x = 10 + (i % 4) * 90
        y = legend_y + (i // 4) * 16
        parts.append(f'<circle cx="{x + 5}" cy="{y}" r="5" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{y + 4}">{kind}</text>')
    height = legend_y + 30
    width = max(width, 370)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="15" refY="4" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0 0L8 4L0 8z" fill="#9a9aa6"/></marker></defs>'
        "<style>.edge{stroke:#9a9aa6;stroke-width:1.2;fill:none;marker-end:url(#arrow)}"
        ".title{font-weight:bold;font-size:13px}</style>"
        f'<rect width="{width}" height="{height}" fill="#fff"/>' + "".join(parts) + "</svg>"
    )
