"""The one check every uploaded image passes (product images, decorated pages and theme settings,
theme assets), before anything is stored.

An upload is accepted only if, judged by its bytes (never its name or declared type):

* it is at most the caller's byte limit, read no further than one byte past it;
* Pillow identifies it as JPEG, PNG, WebP or GIF from its header, and its structure verifies;
* it is at most 25 megapixels, and an animation at most 300 frames and 100 megapixels over all of
  its frames: decompression bombs (a small file declaring a huge canvas, or thousands of frames)
  are refused from the header, before any pixel is decoded;
* it carries nothing else: no markup anywhere in it (HTML, script, SVG, PHP in a comment, a text
  chunk or appended: polyglots a browser or another parser could take for a page), and for PNG, GIF
  and WebP no bytes after the image's own end.

``ImageRejected.message`` is the field-level message to show (zh-hans through gettext).
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
MAX_IMAGE_PIXELS = 25_000_000
MAX_FRAMES = 300
MAX_TOTAL_PIXELS = 100_000_000
# Markup that has no business inside an image, searched in the lowercased bytes (each pattern
# starts with a literal, which keeps the search fast: ~30 ms for 5 MB). XMP metadata
# (<x:xmpmeta>, <rdf:RDF>, <?xpacket …>) does not match.
_MARKUP_TAG = re.compile(rb"<(?:script|html|body|iframe|object|embed|svg[\s>/]|\?php|!doctype|!entity)")
_MARKUP_HANDLER = re.compile(rb"on(?:load|error)\s*=")


def _has_markup(data: bytes) -> bool:
    low = data.lower()
    return bool(_MARKUP_TAG.search(low) or b"javascript:" in low or _MARKUP_HANDLER.search(low))


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class ImageRejected(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    format: str  # Pillow's name: JPEG, PNG, WEBP, GIF
    ext: str  # jpg, png, webp, gif
    width: int
    height: int
    frames: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.ext]


def read_bounded(upload: Any, max_bytes: int) -> bytes | None:
    """The upload's bytes, or None if it is larger than ``max_bytes`` (read at most one byte
    more: a huge upload is never read whole)."""
    if upload is None:
        return b""
    declared = getattr(upload, "size", None)
    if declared is not None and declared > max_bytes:
        return None
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(max_bytes + 1)
    return None if len(data) > max_bytes else bytes(data)


def _not_an_image() -> ImageRejected:
    return ImageRejected(_("This file is not a JPEG, PNG, WebP or GIF image."))


def _ends_where_the_image_ends(data: bytes, fmt: str) -> bool:
    if fmt == "PNG":
        return data.endswith(_PNG_END)
    if fmt == "GIF":
        return data.endswith(b";")
    if fmt == "WEBP":
        if len(data) < 12:
            return False
        (riff_size,) = struct.unpack("<I", data[4:8])
        return riff_size + 8 == len(data)
    return True  # JPEG: cameras append data after the end marker (motion photos); markup is checked anyway


def check_image(data: bytes) -> CheckedImage:
    """Check ``data`` as described above; raise ImageRejected with the reason."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageRejected(_("The file is empty."))
    try:
        with warnings.catch_warnings():
            # Pillow warns (and from twice its limit refuses) on huge canvases; ours is lower
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                if fmt not in IMAGE_FORMATS:
                    raise _not_an_image()
                width, height = probe.size
                if width <= 0 or height <= 0:
                    raise _not_an_image()
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageRejected(_("The image has too many pixels (at most 25 megapixels)."))
                frames = int(getattr(probe, "n_frames", 1) or 1)
                if frames > MAX_FRAMES or frames * width * height > MAX_TOTAL_PIXELS:
                    raise ImageRejected(
                        _("The animation is too large (at most %(frames)s frames and 100 megapixels in all).")
                        % {"frames": MAX_FRAMES}
                    )
            with Image.open(io.BytesIO(data)) as again:  # verify() needs a fresh image
                again.verify()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(_("The image has too many pixels (at most 25 megapixels).")) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise _not_an_image() from exc
    if _has_markup(data):
        raise ImageRejected(_("This file holds markup or script besides the image; upload a plain image."))
    if not _ends_where_the_image_ends(data, fmt):
        raise ImageRejected(_("This file holds more than an image (data after its end); upload a plain image."))
    return CheckedImage(data=data, format=fmt, ext=IMAGE_FORMATS[fmt], width=width, height=height, frames=frames)


def checked_upload(upload: Any, max_bytes: int, field: str, too_large: str) -> CheckedImage:
    """An uploaded image through the check, or a ValidationError on ``field`` (``too_large``
    when it is over ``max_bytes``)."""
    from django.core.exceptions import ValidationError

    data = read_bounded(upload, max_bytes)
    if data is None:
        raise ValidationError({field: [too_large]})
    try:
        return check_image(data)
    except ImageRejected as exc:
        raise ValidationError({field: [exc.message]}) from exc
