"""Input image decoding: whitelist by content, pixel limit, RGB, requested size."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.support.hypothesis_profiles import examples
from worker.errors import InvalidInputImage
from worker.images import decode_input_image, sniff_format

LIMIT = 256 * 256


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def halves(width: int, height: int) -> Image.Image:
    """Red left half, blue right half."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring a size, with one tiny IDAT (a bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_allowed_formats_decode_to_rgb_of_the_requested_size(image_format: str) -> None:
    data = encode(halves(120, 80), image_format)
    image = decode_input_image(data, max_pixels=LIMIT, width=64, height=96)
    assert image.mode == "RGB"
    assert image.size == (64, 96)


def test_resize_keeps_aspect_by_cropping_the_centre() -> None:
    # 200x100 into a square: the centre crop keeps both halves, undistorted, side by side.
    image = decode_input_image(
        encode(halves(200, 100), "PNG"), max_pixels=LIMIT, width=64, height=64
    )
    red, blue = image.getpixel((8, 32)), image.getpixel((56, 32))
    assert isinstance(red, tuple) and isinstance(blue, tuple)
    assert red[0] > 200 and red[2] < 50
    assert blue[2] > 200 and blue[0] < 50


def test_exact_size_is_returned_untouched() -> None:
    source = halves(64, 64)
    image = decode_input_image(encode(source, "PNG"), max_pixels=LIMIT, width=64, height=64)
    assert list(image.getdata()) == list(source.getdata())


def test_transparency_becomes_white_not_black() -> None:
    clear = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image = decode_input_image(encode(clear, "PNG"), max_pixels=LIMIT, width=64, height=64)
    assert image.getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16"])
def test_other_modes_become_rgb(mode: str) -> None:
    source = halves(64, 64).convert(mode) if mode != "I;16" else Image.new("I;16", (64, 64), 300)
    image_format = "JPEG" if mode == "CMYK" else "PNG"
    image = decode_input_image(encode(source, image_format), max_pixels=LIMIT, width=64, height=64)
    assert image.mode == "RGB"


def test_exif_orientation_is_applied() -> None:
    # Stored 80 wide x 40 high with "rotate 90" in EXIF: it is shown 40 wide x 80 high.
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(halves(80, 40), "JPEG", exif=exif.tobytes())
    image = decode_input_image(data, max_pixels=LIMIT, width=40, height=80)
    top, bottom = image.getpixel((20, 5)), image.getpixel((20, 75))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    # Rotated clockwise: the left (red) half ends up on top.
    assert top[0] > 200 and bottom[2] > 200


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (encode(halves(8, 8), "GIF"), "'gif'"),
        (encode(halves(8, 8), "BMP"), "'bmp'"),
        (encode(halves(8, 8), "TIFF"), "'tiff'"),
        (b"%PDF-1.7 not an image", "'pdf'"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "'not a recognised image format'"),
    ],
)
def test_other_formats_are_refused_by_content(data: bytes, found: str) -> None:
    with pytest.raises(InvalidInputImage, match=f"format {found} is not allowed") as caught:
        decode_input_image(data, max_pixels=LIMIT, width=64, height=64)
    assert "png, jpeg, webp" in str(caught.value)
    assert caught.value.code == "invalid_input"


def test_the_format_comes_from_the_bytes_not_a_name() -> None:
    # A GIF named .png by its uploader is still a GIF; a PNG is a PNG whatever its key.
    assert sniff_format(encode(halves(8, 8), "GIF")) == "GIF"
    assert sniff_format(encode(halves(8, 8), "WEBP")) == "WEBP"


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    # Only a header: no pixel data to decode, so any attempt to decode would fail otherwise
    # than with the pixel limit (the refusal names the limit, so it came from the header).
    bomb = png_header_only(50_000, 50_000)
    with pytest.raises(InvalidInputImage, match="over the pixel limit of 65536") as caught:
        decode_input_image(bomb, max_pixels=LIMIT, width=64, height=64)
    assert "max_input_pixels" in str(caught.value)


def test_just_over_the_limit_is_refused_and_the_limit_itself_passes() -> None:
    # Pillow only warns between the limit and twice it: the warning is an error here.
    with pytest.raises(InvalidInputImage, match=r"over the pixel limit of 65536 .*65792 pixels"):
        decode_input_image(encode(halves(257, 256), "PNG"), max_pixels=LIMIT, width=64, height=64)
    image = decode_input_image(
        encode(halves(256, 256), "PNG"), max_pixels=LIMIT, width=64, height=64
    )
    assert image.size == (64, 64)


def test_pillows_global_limit_is_restored() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InvalidInputImage):
        decode_input_image(png_header_only(5000, 5000), max_pixels=LIMIT, width=64, height=64)
    decode_input_image(encode(halves(16, 16), "PNG"), max_pixels=LIMIT, width=64, height=64)
    assert before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_reported_unreadable(image_format: str) -> None:
    data = encode(halves(128, 128), image_format)
    with pytest.raises(InvalidInputImage, match=f"not a readable {image_format.lower()} file"):
        decode_input_image(data[: len(data) // 2], max_pixels=LIMIT, width=64, height=64)


def test_empty_input_is_refused() -> None:
    with pytest.raises(InvalidInputImage, match="is empty"):
        decode_input_image(b"", max_pixels=LIMIT, width=64, height=64)


@settings(max_examples=examples(150), deadline=None)
@given(
    prefix=st.sampled_from(
        [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP"]
    ),
    body=st.binary(max_size=300),
)
def test_arbitrary_bytes_only_ever_raise_invalid_input_image(prefix: bytes, body: bytes) -> None:
    try:
        image = decode_input_image(prefix + body, max_pixels=LIMIT, width=64, height=64)
    except InvalidInputImage as exc:
        assert str(exc).startswith("input image: ")
    else:
        assert image.size == (64, 64)


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_still_exact() -> None:
    data = encode(halves(2048, 1024), "JPEG", quality=90)
    image = decode_input_image(data, max_pixels=4096 * 4096, width=128, height=128)
    assert image.size == (128, 128)
    left, right = image.getpixel((10, 64)), image.getpixel((118, 64))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[0] > 200 and right[2] > 200
