"""layerlab.images: pictures read with Pillow in every format the issue names, prepared as MNIST
was made, and refused with one line each when they cannot be; and on real data, MNIST test
digits drawn back as photo-like pictures are classified as the originals are."""
import re

import numpy as np
import pytest
from conftest import matches
from PIL import Image

import layerlab
from layerlab import images
from layerlab.images import ImageError, load_digit, load_digits, preprocess


def _digit(size=(160, 120)):
    """A '7'-like dark stroke on light paper, greyscale uint8 (height, width)."""
    h, w = size
    a = np.full((h, w), 235, np.uint8)
    a[30:42, 30:95] = 20                                   # the bar
    for r in range(42, 140):                               # the diagonal
        c = 95 - (r - 42) * 45 // 98
        a[r, max(c - 6, 0):c + 6] = 20
    return a


REFERENCE = preprocess(_digit() / 255.0)


def _close(path, tolerance=0.03):
    got = load_digit(path)
    assert got.shape == (28, 28) and got.dtype == np.float32
    assert np.abs(got - REFERENCE).mean() < tolerance, np.abs(got - REFERENCE).mean()


@pytest.mark.parametrize("fmt, suffix, tolerance", [
    ("PNG", "png", 0.01), ("BMP", "bmp", 0.01), ("TIFF", "tif", 0.01), ("JPEG", "jpg", 0.03)])
def test_common_formats_give_the_same_digit(tmp_path, fmt, suffix, tolerance):
    path = tmp_path / f"seven.{suffix}"
    Image.fromarray(_digit()).convert("RGB").save(path, fmt)
    _close(path, tolerance)


def test_gif_first_frame_palette_and_16_bit(tmp_path):
    frames = [Image.fromarray(_digit()).convert("P"), Image.fromarray(255 - _digit()).convert("P")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "anim.gif").n_frames == 2
    _close(tmp_path / "anim.gif")
    Image.fromarray(_digit()).convert("RGB").quantize(8).save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    _close(tmp_path / "palette.png")
    Image.fromarray(_digit().astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    _close(tmp_path / "deep.png")


def test_transparency_is_composited_on_white(tmp_path):
    ink = _digit() < 128
    rgba = np.zeros(ink.shape + (4,), np.uint8)            # transparent black everywhere...
    rgba[ink] = (20, 20, 20, 255)                          # ...but the opaque ink
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    _close(tmp_path / "cutout.png")
    la = np.stack([np.where(ink, 20, 0), np.where(ink, 255, 0)], -1).astype(np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    _close(tmp_path / "la.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_is_applied(tmp_path, fmt):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the stored pixels are the upright ones turned CCW
    Image.fromarray(np.rot90(_digit())).save(tmp_path / f"phone.{fmt}", fmt, exif=exif, quality=95)
    _close(tmp_path / f"phone.{fmt}", 0.03)


def test_light_ink_on_black_is_not_inverted():
    assert np.abs(preprocess(1 - _digit() / 255.0) - REFERENCE).max() < 1e-6


def test_the_mnist_recipe_box_20_aspect_kept_centre_of_mass_at_14():
    bar = np.ones((300, 200))
    bar[50:250, 90:130] = 0.0                              # a 200x40 upright bar
    out = preprocess(bar)
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 == 4
    grid = np.arange(28)
    assert abs((out.sum(1) * grid).sum() / out.sum() - 14.0) <= 0.5 + 1e-6  # whole-pixel shifts
    assert abs((out.sum(0) * grid).sum() / out.sum() - 14.0) <= 0.5 + 1e-6  # whole-pixel shifts
    assert out.max() == 1.0 and out.min() == 0.0


def test_load_digits_stacks_float32(tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(_digit()).save(tmp_path / name)
    x = load_digits([tmp_path / "a.png", str(tmp_path / "b.png")])
    assert x.shape == (2, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() == 1
    assert load_digits([]).shape == (0, 28, 28)
    assert load_digits(tmp_path / "a.png").shape == (1, 28, 28)


def _bad_files(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("these are not pixels\n")
    Image.fromarray(_digit()).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    Image.new("L", (200, 200), 240).save(tmp_path / "blank.png")
    speck = np.full((200, 200), 240, np.uint8)
    speck[100, 100] = 0                                    # one pixel: the denoising takes it
    Image.fromarray(speck).save(tmp_path / "speck.png")
    Image.new("L", (1, 1), 0).save(tmp_path / "dot.png")
    return {"missing.png": images.NO_FILE, "folder": images.NOT_A_FILE, "empty.png": images.EMPTY,
            "notes.png": images.NOT_AN_IMAGE, "cut.png": images.DAMAGED, "blank.png": images.BLANK,
            "speck.png": images.NO_INK, "dot.png": images.BLANK}


def test_bad_images_are_one_line_each_naming_the_file(tmp_path):
    for name, template in _bad_files(tmp_path).items():
        with pytest.raises(ImageError) as info:
            load_digit(tmp_path / name)
        message = str(info.value)
        assert isinstance(info.value, layerlab.LayerlabError) and "\n" not in message
        assert re.match(matches(template), message), (name, message)
        assert str(tmp_path / name) in message


def test_decompression_bomb_is_refused_at_pillows_limit(tmp_path, monkeypatch):
    Image.fromarray(_digit()).save(tmp_path / "big.png")  # 160 x 120 = 19,200 pixels
    for limit in (12_000, 5_000):                          # Pillow warns over the limit, refuses over twice it
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(ImageError) as info:
            load_digit(tmp_path / "big.png")
        assert re.match(matches(images.BOMB), str(info.value)), str(info.value)
        assert f"{limit:,}" in str(info.value) and "19200" in str(info.value)


# -- real data ---------------------------------------------------------------------------------------
def _photo(digit, rng):
    """An MNIST digit as a photo of dark ink on light paper: 8x larger, off-centre, noisy."""
    big = np.asarray(Image.fromarray(digit).resize((224, 224), Image.Resampling.BICUBIC), np.float64) / 255
    h, w = 300 + rng.integers(0, 60), 320 + rng.integers(0, 80)
    paper = rng.uniform(0.8, 0.95)
    page = np.full((h, w), paper)
    page += np.linspace(-0.04, 0.04, w)[None, :]           # uneven light across the page
    top, left = rng.integers(0, h - 224), rng.integers(0, w - 224)
    ink = rng.uniform(0.05, 0.25)
    page[top:top + 224, left:left + 224] -= np.clip(big, 0, 1) * (paper - ink)
    page += rng.normal(0, 0.03, page.shape)
    return (np.clip(page, 0, 1) * 255).astype(np.uint8)


def test_mnist_test_digits_drawn_as_photos_are_classified_like_the_originals(real_mnist, tmp_path):
    from layerlab import layers
    (x, y), (xt, _) = layerlab.datasets.mnist.load_data()
    model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(128, activation="relu"),
                                 layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:12000] / 255.0, y[:12000], epochs=2, verbose=0, seed=1)  # about 95% accurate
    # (a model much weaker than that flips on the smallest change: the test would measure it, not us)
    rng = np.random.default_rng(0)
    n = 300
    paths = []
    for i in range(n):
        path = tmp_path / f"{i}.{('png', 'jpg')[i % 2]}"
        Image.fromarray(_photo(xt[i], rng)).save(path, quality=90)
        paths.append(path)
    photos = load_digits(paths)
    original = model.predict(xt[:n] / 255.0).argmax(1)
    seen = model.predict(photos).argmax(1)
    agree = float(np.mean(original == seen))
    assert agree >= 0.97, agree
