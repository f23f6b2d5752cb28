"""Your own digits as MNIST images: read a picture with Pillow and prepare it as MNIST was made.

MNIST's recipe (LeCun et al.): the digit's bounding box scaled so its longer side is 20 px,
keeping the aspect ratio (anti-aliased, hence grey levels), then placed in a 28x28 field so
that its centre of mass is at the centre; light ink on black. Measured on MNIST's training
images: the centre of mass sits at (14.0, 14.0) in pixel indices (sd 0.3), so that is where
`preprocess` puts it. A photo of dark ink on light paper is inverted first.

>>> from layerlab.images import load_digits
>>> x = load_digits(["seven.png", "three.jpg"])     # doctest: +SKIP
>>> x.shape, float(x.max())                         # doctest: +SKIP
((2, 28, 28), 1.0)

Pillow reads PNG, JPEG, BMP, GIF (first frame), TIFF and what else it knows; transparency is
composited on white, 16-bit and palette images are read at their full range, and the EXIF
orientation is applied. A picture over Pillow's decompression-bomb limit is refused.
"""
import os
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from layerlab.errors import LayerlabError

SIZE = 28      # MNIST's field
BOX = 20       # the longer side of the digit's bounding box in it
CENTRE = 14.0  # where MNIST's centres of mass are (pixel indices; measured, see above)
MIN_CONTRAST = 0.15   # ink that differs from the paper by less than this (of the full range) is none
INK_THRESHOLD = 0.3   # of the ink's range: below it is paper (noise, texture, shadows)
DENOISE_FROM = 64     # images at least this large on their shorter side get a 3x3 median filter
MAX_SIDE = 1024       # larger pictures are reduced to this first (a digit needs far fewer pixels)

NO_FILE = "load_digits: {path}: expected an existing image file; received a path that does not exist. Check the path."
NOT_A_FILE = "load_digits: {path}: expected an image file; received a folder. Pass the image files in it."
EMPTY = "load_digits: {path}: expected an image; received an empty file (0 bytes). Save the picture again."
NOT_AN_IMAGE = ("load_digits: {path}: expected an image (PNG, JPEG, BMP, GIF, TIFF); received a file Pillow "
                "cannot identify as one. Convert it to PNG.")
DAMAGED = ("load_digits: {path}: expected a complete image; received a damaged or truncated one ({reason}). "
           "Save or copy the picture again.")
BOMB = ("load_digits: {path}: expected an image under Pillow's decompression-bomb limit of {limit:,} pixels; "
        "received {reason}. Scale the picture down before classifying it.")
UNREADABLE = "load_digits: {path}: expected a readable file; received {reason}. Check its permissions."
BLANK = ("load_digits: {path}: expected a digit, ink that differs from the paper; received a blank image "
         "(contrast {contrast:.3f}, under {minimum}). Pass a picture of one written digit.")
NO_INK = ("load_digits: {path}: expected a digit large enough to survive denoising and thresholding; received "
          "a {width}x{height} image with no ink pixel left. Pass a larger picture of the digit.")
NOT_2D = ("preprocess: image: expected a 2-D greyscale array (height, width) with at least one pixel; "
          "received shape {shape}. Convert colour images to grey first.")


class ImageError(LayerlabError, ValueError):
    """An image that cannot be read, or holds no digit to classify."""


def load_digits(paths) -> np.ndarray:
    """The images at `paths` prepared as MNIST digits: float32 (n, 28, 28) in [0, 1].

    Raises ImageError (one line naming the file) for the first path that is missing, not an
    image, damaged, over Pillow's size limit or blank; use load_digit per path to go on past it.
    """
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    return np.stack([load_digit(p) for p in paths]) if len(paths) else np.zeros((0, SIZE, SIZE), np.float32)


def load_digit(path) -> np.ndarray:
    """One image at `path` prepared as an MNIST digit: float32 (28, 28) in [0, 1]."""
    gray = read_gray(path)
    return preprocess(gray, path=path)


def read_gray(path) -> np.ndarray:
    """The picture at `path` as greyscale float64 (height, width) in [0, 1], 1 = white:
    first frame, EXIF orientation applied, transparency on white, 16-bit at its full range."""
    with warnings.catch_warnings():
        # Pillow warns between its limit and twice it and refuses beyond: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                return _reduce(_gray(ImageOps.exif_transpose(image)))
        except FileNotFoundError:
            raise ImageError(NO_FILE.format(path=path)) from None
        except IsADirectoryError:
            raise ImageError(NOT_A_FILE.format(path=path)) from None
        except PermissionError as e:
            raise ImageError(UNREADABLE.format(path=path, reason=e.strerror or "no permission")) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(BOMB.format(path=path, limit=Image.MAX_IMAGE_PIXELS, reason=_bomb(e))) from None
        except UnidentifiedImageError:
            raise ImageError((EMPTY if _size(path) == 0 else NOT_AN_IMAGE).format(path=path)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(DAMAGED.format(path=path, reason=" ".join(str(e).split()) or type(e).__name__)) from None


def _gray(image) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I;16"):
        return np.asarray(image, np.float64) / 65535.0
    if mode == "I":  # 32-bit integers: 16-bit data in practice, else 8-bit
        a = np.asarray(image, np.float64)
        return np.clip(a / (65535.0 if a.max() > 255 else 255.0), 0, 1)
    if mode == "F":
        a = np.asarray(image, np.float64)
        return np.clip(a if a.max() <= 1 else a / 255.0, 0, 1)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("L"), np.float64) / 255.0


def preprocess(gray, path="image") -> np.ndarray:
    """A greyscale picture (height, width) in [0, 1] as an MNIST digit: float32 (28, 28).

    Light paper is inverted to MNIST's light ink on black; the ink is cropped to its bounding
    box, scaled so the longer side is 20 px (aspect kept), and placed with its centre of mass
    at the field's centre; the brightest pixel is 1.
    """
    gray = np.asarray(gray, np.float64)
    if gray.ndim != 2 or gray.size == 0:
        raise ImageError(NOT_2D.format(shape=gray.shape))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    ink = 1.0 - gray if paper > 0.5 else gray.copy()
    paper = min(paper, 1.0 - paper)
    contrast = float(ink.max()) - paper
    if contrast < MIN_CONTRAST:
        raise ImageError(BLANK.format(path=path, contrast=max(contrast, 0.0), minimum=MIN_CONTRAST))
    if min(ink.shape) >= DENOISE_FROM:
        ink = _median3(ink)
    top = float(ink.max())
    if top - paper < MIN_CONTRAST:  # only specks: the median filter took them all
        raise ImageError(NO_INK.format(path=path, width=gray.shape[1], height=gray.shape[0]))
    ink = np.clip((ink - paper) / (top - paper), 0.0, 1.0)
    ink[ink < INK_THRESHOLD] = 0.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    digit = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return _place(_scale(digit))


def _median3(a):
    """3x3 median filter: removes speckle noise, keeps strokes wider than 1 px (8-bit, in Pillow)."""
    image = Image.fromarray((np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.MedianFilter(3)), np.float64) / 255.0


def _scale(digit):
    """The longer side to BOX px, aspect kept, anti-aliased (Lanczos; its overshoot clipped)."""
    h, w = digit.shape
    factor = BOX / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    image = Image.fromarray(digit.astype(np.float32))
    return np.clip(np.asarray(image.resize(size, Image.Resampling.LANCZOS), np.float64), 0.0, 1.0)


def _place(digit):
    """digit in the 28x28 field with its centre of mass at CENTRE (whole pixels, kept inside)."""
    h, w = digit.shape
    mass = digit.sum()
    if mass <= 0:  # Lanczos of a faint sliver: centre the box instead
        cy, cx = (h - 1) / 2, (w - 1) / 2
    else:
        cy = float((digit.sum(axis=1) * np.arange(h)).sum() / mass)
        cx = float((digit.sum(axis=0) * np.arange(w)).sum() / mass)
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - h))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), np.float64)
    out[top:top + h, left:left + w] = digit
    peak = out.max()
    return (out / peak if peak > 0 else out).astype(np.float32)


def _reduce(gray):
    """A picture over MAX_SIDE on its longer side reduced to it by area averaging."""
    h, w = gray.shape
    if max(h, w) <= MAX_SIDE:
        return gray
    factor = MAX_SIDE / max(h, w)
    image = Image.fromarray(gray.astype(np.float32))
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(image.resize(size, Image.Resampling.BOX), np.float64)


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _bomb(error):
    text = str(error)
    start = text.find("Image size (")
    return text[start:].split(")")[0] + ")" if start >= 0 else "an image larger than that"


__all__ = ["ImageError", "load_digit", "load_digits", "preprocess", "read_gray"]
