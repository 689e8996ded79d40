"""Draw the bundle icon: three stacked disk images (snapshots) on a rounded blue tile.

    python -m scripts.icon [OUT.png]

The manifest names `icon.png` at the repository root, so the root is a valid bundle
directory as checked out (`mcpb validate manifest.json`). That PNG is committed, drawn
by this file: after changing the drawing, run `python -m scripts.icon` to redraw it (a
test fails until the committed pixels are what this file draws). It is drawn at four
times its size and scaled down, which smooths the edges Pillow draws hard.
"""

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

ICON = Path(__file__).resolve().parent.parent / "icon.png"
"""The committed icon the manifest names (the bundle packs this file)."""
SIZE = 512
"""Width and height in pixels: what Claude Desktop's extension directory recommends."""
_SCALE = 4
Colour = tuple[int, int, int]
_TILE_TOP: Colour = (23, 92, 211)
_TILE_BOTTOM: Colour = (9, 45, 120)
_DISK: Colour = (255, 255, 255)


def _mix(start: Colour, end: Colour, t: float) -> Colour:
    """The colour a fraction `t` of the way from `start` to `end`."""
    r, g, b = (round(a + (z - a) * t) for a, z in zip(start, end, strict=True))
    return r, g, b


def _tile(canvas: Image.Image) -> None:
    """The rounded tile, shaded from top to bottom."""
    side = canvas.width
    shade = Image.new("RGBA", canvas.size)
    draw = ImageDraw.Draw(shade)
    for y in range(side):
        draw.line([(0, y), (side, y)], fill=(*_mix(_TILE_TOP, _TILE_BOTTOM, y / (side - 1)), 255))
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, side - 1, side - 1], radius=side // 5, fill=255)
    canvas.paste(shade, (0, 0), mask)


def _disk(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], face: Colour) -> None:
    """One disk image in `box` (left, top, right, bottom): a flat cylinder seen slightly from above."""
    left, top, right, bottom = box
    rim = (bottom - top) * 2 // 5
    side = _mix(face, (0, 0, 0), 0.18)
    draw.rectangle([left, top + rim // 2, right, bottom - rim // 2], fill=(*side, 255))
    draw.ellipse([left, bottom - rim, right, bottom], fill=(*side, 255))
    draw.ellipse([left, top, right, top + rim], fill=(*face, 255))


def draw_icon(size: int = SIZE) -> Image.Image:
    """The icon as an RGBA image of `size` × `size` pixels: older snapshots fade into the tile."""
    big = size * _SCALE
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    _tile(canvas)
    draw = ImageDraw.Draw(canvas)
    width, height, gap = big * 58 // 100, big * 17 // 100, big * 5 // 100
    left, top = (big - width) // 2, (big - 3 * height - 2 * gap) // 2
    for index, strength in enumerate((0.55, 0.78, 1.0)):
        y = top + index * (height + gap)
        _disk(draw, (left, y, left + width, y + height), _mix(_TILE_TOP, _DISK, strength))
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def write_icon(path: Path, size: int = SIZE) -> Path:
    """Draw the icon and save it as a PNG at `path`."""
    draw_icon(size).save(path, format="PNG", optimize=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.icon", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=ICON)
    print(write_icon(parser.parse_args().out))


if __name__ == "__main__":
    main()
