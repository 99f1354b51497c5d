"""Decoding a user's input image safely: format whitelist, pixel limit, RGB, requested size.

The format is read from the file's first bytes, never from its key or content type, and Pillow
is only asked to parse that one format. Pillow's decompression-bomb guard is set to the
configured pixel limit and its warning is an error, so a small file that declares a huge image
is refused before any pixel is decoded.
"""

from __future__ import annotations

import io
import threading
import warnings
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

from sdfleet.records import ErrorCode
from worker.errors import InvalidInputImage

#: Pillow format name -> the name users know it by.
ALLOWED_FORMATS: Final = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
#: Leading bytes of formats users commonly try, so the error names what was sent.
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
)
#: Transparent areas become white, as a viewer shows them, not the black under the alpha.
BACKGROUND: Final = (255, 255, 255)

# MAX_IMAGE_PIXELS is process-global in Pillow: set and restore it under a lock.
_pillow_limit_lock = threading.Lock()


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name the bytes start with, or None if unrecognised."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:12] in (b"ftypavif", b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIF/AVIF"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def _invalid(message: str) -> InvalidInputImage:
    return InvalidInputImage(ErrorCode.INVALID_INPUT.value, f"input image: {message}")


def _open_limited(data: bytes, image_format: str, max_pixels: int, draft_side: int) -> Image.Image:
    with _pillow_limit_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            # Pillow checks the declared size here, before decoding: an error above twice the
            # limit, a warning (made an error above) between the limit and twice it.
            image = Image.open(io.BytesIO(data), formats=[image_format])
            if image_format == "JPEG":
                # JPEG can decode at 1/2, 1/4 or 1/8 scale: a 16-megapixel photo shrunk to a
                # 512 px input needs a fraction of the time and memory. Square, so an EXIF
                # rotation afterwards still leaves both sides large enough.
                image.draft("RGB", (draft_side, draft_side))
            image.load()
            return image
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _invalid(
                f"is over the pixel limit of {max_pixels} (max_input_pixels): {exc}"
            ) from exc
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, BACKGROUND)
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        return flattened
    return image.convert("RGB")


def decode_input_image(data: bytes, *, max_pixels: int, width: int, height: int) -> Image.Image:
    """An RGB image of exactly ``width`` x ``height`` from a png/jpeg/webp file's bytes.

    The image is scaled to cover the requested size and centre-cropped, so its aspect ratio is
    kept. Raises :class:`InvalidInputImage` for anything else.
    """
    if not data:
        raise _invalid("is empty (0 bytes)")
    image_format = sniff_format(data)
    if image_format not in ALLOWED_FORMATS:
        found = image_format.lower() if image_format else "not a recognised image format"
        allowed = ", ".join(ALLOWED_FORMATS.values())
        raise _invalid(f"format {found!r} is not allowed; use one of {allowed}")
    try:
        image = _open_limited(data, image_format, max_pixels, max(width, height))
        # Phone photos store their rotation in EXIF; apply it so the input is upright.
        image = ImageOps.exif_transpose(image)
        rgb = _to_rgb(image)
        if rgb.size == (width, height):
            return rgb
        return ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS)
    except InvalidInputImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        # Truncated or corrupt files surface as any of these from Pillow's decoders.
        name = ALLOWED_FORMATS[image_format]
        raise _invalid(f"is not a readable {name} file: {exc}") from exc
