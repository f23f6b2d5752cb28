"""Shared test setup: strict rank promotion (as equinox's conftest) and a fresh naming session.

Strict rank promotion turns every implicit broadcast between arrays of different ranks into an
error, so a layer that adds a (units,) bias to a (batch, units) array without saying so fails
here rather than silently misbehaving once the engine adds variant axes with vmap.
"""
import re
import string

import jax
import pytest

import layerlab

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True)
def _fresh_session():
    """Automatic names start again at 'dense', 'sequential', ... in every test."""
    layerlab.backend.clear_session()
    yield
    layerlab.backend.clear_session()


@pytest.fixture(scope="module")
def data():
    """((x, y), (x_val, y_val)): four Gaussian blobs in 6x6 'images' (tests/synthetic.py)."""
    from synthetic import blobs
    return blobs()


@pytest.fixture
def hide_datasets(tmp_path, monkeypatch):
    """hide_datasets(): from then on no dataset is anywhere layerlab looks (home, caches,
    $LAYERLAB_DATA, Debian's folder) and nothing downloads, as on a machine without them."""
    from layerlab.datasets import _download, _locate

    def hide():
        for var in ("XDG_CACHE_HOME", "KERAS_HOME"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "no-data"))
        monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
        monkeypatch.setattr(_locate, "DEBIAN_ROOT", tmp_path / "debian")
        monkeypatch.setattr(_download, "download", lambda *a, **k: pytest.fail("no network in tests"))
        layerlab.datasets.clear_cache()
    return hide


def matches(template: str) -> str:
    """A regex for any message built from `template` (each {field} becomes .*)."""
    parts = string.Formatter().parse(template)
    return "^" + "".join(re.escape(text) + ("" if field is None else ".*")
                         for text, field, *_ in parts) + "$"


@pytest.fixture
def config_error():
    """config_error(template, fn, *args, mentions=(...)) -> the ConfigError fn(*args) raises.

    Asserts the error is a layerlab.ConfigError (so a ValueError), that its message is one
    line built from `template`, and that it mentions every string in `mentions` (the argument's
    name and the received value's repr).
    """
    def check(template, fn, *args, mentions=(), **kwargs):
        with pytest.raises(layerlab.ConfigError) as info:
            fn(*args, **kwargs)
        message = str(info.value)
        assert isinstance(info.value, ValueError)
        assert "\n" not in message, message
        if template is not None:
            assert re.match(matches(template), message, re.DOTALL), message
        for part in mentions:
            assert part in message, f"{part!r} not in {message!r}"
        return message
    return check
