"""Legend images: one swatch and name per class of a palette."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from palettes import Palette


def legend_image(palette: Palette, columns: int | None = None, swatch: int = 18) -> Image.Image:
    """Render a legend (swatch, id and name per brush) as an RGB PIL image."""
    items = palette.swatches
    columns = columns or max(1, min(6, (len(items) + 24) // 25))
    rows = -(-len(items) // columns)
    font = ImageFont.load_default()
    col_w = swatch + 8 + max(int(font.getlength(f"{s.id:>3} {s.name}")) for s in items) + 16
    row_h = swatch + 4
    img = Image.new("RGB", (columns * col_w + 8, rows * row_h + 8), "white")
    draw = ImageDraw.Draw(img)
    for k, s in enumerate(items):
        x = 4 + (k // rows) * col_w
        y = 4 + (k % rows) * row_h
        draw.rectangle([x, y, x + swatch, y + swatch], fill=s.rgb, outline=(60, 60, 60))
        draw.text((x + swatch + 6, y + (swatch - 11) // 2), f"{s.id:>3} {s.name}", fill="black", font=font)
    return img
