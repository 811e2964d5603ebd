"""What an uploaded or generated image is, from its bytes: sniffed type, then its header.

`read_header` asks libvips for the header only: no pixel is decoded, so a decompression bomb
(a small file claiming gigapixels) is measured before anything is allocated for it. It
blocks on file I/O: call it in a thread.
"""

from __future__ import annotations

import pyvips

from core.image_jobs import PROCESSABLE_TYPES, ImageProbe
from core.sniff import sniff


class InvalidImage(Exception):
    """The bytes are not an image libvips can read (its message says why)."""


def supported_type(head: bytes) -> str | None:
    """The image type the first bytes show, if it is one we process."""
    content_type = sniff(head)
    return content_type if content_type in PROCESSABLE_TYPES else None


def read_header(path: str, content_type: str) -> ImageProbe:
    """The image's header: size, orientation, colour profile, frames. Raises InvalidImage."""
    try:
        image = pyvips.Image.new_from_file(path, access="sequential")
        fields = set(image.get_fields())
        orientation = image.get("orientation") if "orientation" in fields else 1
        frames = image.get("n-pages") if "n-pages" in fields else 1
        return ImageProbe(
            content_type=content_type,
            width=image.width,
            height=image.height,
            orientation=orientation if 1 <= orientation <= 8 else 1,
            has_icc_profile="icc-profile-data" in fields,
            frames=max(frames, 1),
            bands=image.bands,
            interpretation=str(image.interpretation),
        )
    except pyvips.Error as exc:
        raise InvalidImage(str(exc.message).strip() or "unreadable image") from exc
