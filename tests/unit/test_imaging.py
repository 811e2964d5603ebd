"""activities/imaging.py, what each source becomes: upright, sRGB, first frame, stripped WebP.

Every source is made here, in tmp_path (with Pillow, or pyvips where Pillow cannot write
it); each output is decoded again with pyvips and its pixels checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips
from PIL import Image, ImageCms, ImageOps

from activities.imaging import Rendered, render_variant
from core.image_probe import InvalidImage
from core.variant_presets import DEFAULT_PRESETS, preset_named

PREVIEW = preset_named(list(DEFAULT_PRESETS), "preview")
RED, BLUE = (255, 0, 0), (0, 0, 255)
# How the stored pixels are made from the upright picture, per EXIF orientation: the
# inverse of what a viewer applies (Pillow's ImageOps.exif_transpose) to show it upright.
STORED_FROM_UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def render(path: Path, preset=PREVIEW) -> Rendered:
    return render_variant(str(path), preset, source_size=path.stat().st_size)


def decoded(rendered: Rendered) -> pyvips.Image:
    """The output as a viewer reads it; also checks it is WebP and its declared size."""
    assert rendered.data[:4] == b"RIFF"
    assert rendered.data[8:12] == b"WEBP"
    assert rendered.content_type == "image/webp"
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (rendered.width, rendered.height)
    return image


def near(pixel: list[float], colour: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(got - want) <= tolerance for got, want in zip(pixel, colour, strict=False))


def upright_picture() -> Image.Image:
    """120 x 80, red top-left quadrant, blue elsewhere: every flip or turn shows."""
    picture = Image.new("RGB", (120, 80), BLUE)
    picture.paste(RED, (0, 0, 60, 40))
    return picture


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(tmp_path: Path, orientation: int) -> None:
    stored = upright_picture()
    if (transpose := STORED_FROM_UPRIGHT[orientation]) is not None:
        stored = stored.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif)
    with Image.open(path) as reference:  # the fixture is right: Pillow shows it upright
        assert ImageOps.exif_transpose(reference).getpixel((5, 5)) == pytest.approx(RED, abs=40)

    image = decoded(render(path))

    assert (image.width, image.height) == (120, 80)
    assert near(image.getpoint(10, 10), RED)
    for x, y in ((110, 10), (10, 70), (110, 70)):
        assert near(image.getpoint(x, y), BLUE), (orientation, x, y)


def test_cmyk_jpeg_becomes_three_band_srgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save(path, "JPEG", quality=95)
    assert pyvips.Image.new_from_file(str(path)).interpretation == "cmyk"

    image = decoded(render(path))

    assert image.bands == 3
    assert image.interpretation == "srgb"
    assert near(image.getpoint(30, 20), (235, 30, 40))  # magenta + yellow ink: red


def test_an_embedded_profile_is_applied(tmp_path: Path) -> None:
    """Pure sRGB red stored as Display P3 numbers (234, 51, 34) is red again after."""
    srgb_red = pyvips.Image.black(64, 48).new_from_image(list(RED)).cast("uchar")
    p3 = srgb_red.copy(interpretation="srgb").icc_transform("p3", input_profile="srgb")
    path = tmp_path / "p3.png"
    p3.pngsave(str(path))
    assert near(pyvips.Image.new_from_file(str(path)).getpoint(5, 5), (234, 51, 34), 3)

    image = decoded(render(path))

    assert near(image.getpoint(30, 20), RED, 12)


def test_png_alpha_survives_into_webp(tmp_path: Path) -> None:
    picture = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    picture.paste((0, 200, 0, 255), (20, 0, 40, 40))
    path = tmp_path / "alpha.png"
    picture.save(path)

    image = decoded(render(path))

    assert image.bands == 4
    assert image.getpoint(5, 20)[3] == 0
    assert near(image.getpoint(35, 20), (0, 200, 0, 255))


@pytest.mark.parametrize("suffix", ["gif", "webp"])
def test_an_animation_gives_its_first_frame(tmp_path: Path, suffix: str) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, (0, 255, 0), BLUE)]
    path = tmp_path / f"animated.{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert pyvips.Image.new_from_file(str(path)).get("n-pages") == 3

    rendered = render(path)
    image = decoded(rendered)

    assert (image.width, image.height) == (40, 30)
    pages = image.get("n-pages") if "n-pages" in image.get_fields() else 1
    assert pages == 1
    everything = pyvips.Image.new_from_buffer(rendered.data, "", n=-1)
    assert everything.height == 30  # one frame, not three stacked
    assert near(image.getpoint(20, 15), RED)


def test_sixteen_bit_png_becomes_eight_bit(tmp_path: Path) -> None:
    deep = pyvips.Image.black(50, 40, bands=3).linear(1, [65535, 32768, 0]).cast("ushort")
    path = tmp_path / "deep.png"
    deep.copy(interpretation="rgb16").pngsave(str(path))
    assert pyvips.Image.new_from_file(str(path)).format == "ushort"

    image = decoded(render(path))

    assert image.format == "uchar"
    assert image.bands == 3
    assert near(image.getpoint(25, 20), (255, 128, 0), 10)


def test_greyscale_stays_grey_in_rgb_webp(tmp_path: Path) -> None:
    """Greyscale is left 1-band by the pipeline; WebP stores it as RGB."""
    path = tmp_path / "grey.png"
    Image.new("L", (50, 40), 128).save(path)

    image = decoded(render(path))

    assert image.bands == 3
    assert near(image.getpoint(25, 20), (128, 128, 128), 4)


def test_the_output_has_no_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "Camera maker"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    path = tmp_path / "tagged.jpg"
    upright_picture().save(path, "JPEG", exif=exif, icc_profile=profile, xmp=xmp)
    fields = set(pyvips.Image.new_from_file(str(path)).get_fields())
    assert {"exif-data", "icc-profile-data", "xmp-data"} <= fields

    for preset in DEFAULT_PRESETS:
        out = set(decoded(render(path, preset)).get_fields())
        assert not out & {"exif-data", "icc-profile-data", "xmp-data"}, preset.name


def test_a_truncated_jpeg_is_invalid_and_the_message_has_no_path(tmp_path: Path) -> None:
    noise = pyvips.Image.gaussnoise(400, 300, sigma=50).cast("uchar").bandjoin([0, 0])
    whole = tmp_path / "whole.jpg"
    noise.copy(interpretation="srgb").jpegsave(str(whole), Q=90)
    path = tmp_path / "truncated.jpg"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    with pytest.raises(InvalidImage) as caught:
        render(path)

    assert "premature end" in str(caught.value).lower()
    assert str(tmp_path) not in str(caught.value)
    assert "truncated.jpg" not in str(caught.value)


def test_bytes_that_are_no_image_are_invalid(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(b"just some text, not a picture\n" * 10)

    with pytest.raises(InvalidImage) as caught:
        render(path)

    assert str(tmp_path) not in str(caught.value)
