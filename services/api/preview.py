"""Cipher previews: a picture drawn in code, encrypted and decrypted by an agent, side by side as PNG."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

import bisuna

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
    """The preview PNG: original | encrypted | decrypted, with captions."""
    orig, enc, dec = cipher_triptych(agent, seed=seed)
    size = SAMPLE_SIZE
    panels = [
        ("original", words_image(orig, size)),
        ("encrypted", words_image(enc, size)),
        (f"decrypted {100 * bit_agreement(orig, dec):.0f}%", words_image(dec, size)),
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
