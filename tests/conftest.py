"""Shared test setup: strict rank promotion (as equinox's conftest), a fresh naming session,
and where the real MNIST is.

Strict rank promotion turns every implicit broadcast between arrays of different ranks into an
error, so a layer that adds a (units,) bias to a (batch, units) array without saying so fails
here rather than silently misbehaving once the engine adds variant axes with vmap.

The real MNIST: README's `python3 -m pytest` must pass as written in a fresh clone. At start,
LAYERLAB_DATA is made absolute (a relative one is relative to the folder pytest was started in;
tests change folder), or, when unset, set to ../shared/datasets beside the clone if that exists
(the dev machines' and CI's layout); layerlab's and Keras' caches are searched as layerlab does.
Tests never download (LAYERLAB_OFFLINE=1 for the whole session). A test that needs the real
MNIST takes the `real_mnist` fixture: without a copy it skips with NO_MNIST, and fails under
CI=true, where a skip would hide that the data was not provided.
"""
import os
import re
import string
from pathlib import Path

import jax
import pytest

import layerlab
from layerlab.datasets import _locate, _registry
from layerlab.errors import DatasetError

jax.config.update("jax_numpy_rank_promotion", "raise")

BESIDE_THE_CLONE = Path(__file__).absolute().parents[2] / "shared" / "datasets"
NO_MNIST = (
    "real MNIST not found: set LAYERLAB_DATA to a folder holding mnist/ (see README), or put "
    "../shared/datasets beside the clone, or download it once with "
    "`python3 -c 'import layerlab; layerlab.datasets.mnist.load_data()'`{detail}"
)
_ENV = ("LAYERLAB_DATA", "LAYERLAB_OFFLINE")
_saved_env: dict[str, str | None] = {}
_skipped_for_mnist: list[str] = []  # the one NO_MNIST line, once a test skipped for it


def pytest_configure(config):
    """Before any test is collected: LAYERLAB_DATA absolute or beside the clone; no downloads."""
    _saved_env.update({name: os.environ.get(name) for name in _ENV})
    data = os.environ.get("LAYERLAB_DATA", "")
    if data:
        os.environ["LAYERLAB_DATA"] = str(
            (config.invocation_params.dir / Path(data).expanduser()).resolve()
        )
    elif BESIDE_THE_CLONE.is_dir():
        os.environ["LAYERLAB_DATA"] = str(BESIDE_THE_CLONE)
    os.environ["LAYERLAB_OFFLINE"] = "1"


def pytest_unconfigure(config):
    """The environment as pytest found it (pytest may run again in this process)."""
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_terminal_summary(terminalreporter):
    if _skipped_for_mnist:  # -q hides skip reasons: say once how to run those tests
        terminalreporter.write_line(_skipped_for_mnist[0], yellow=True)


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def real_mnist():
    """Where the real MNIST is (layerlab.datasets' Found: source, kind, paths), found once.

    Without a copy the test skips with NO_MNIST (one line), or fails under CI=true.
    """
    data = os.environ.get("LAYERLAB_DATA")
    detail = f"; LAYERLAB_DATA={data} holds no mnist/" if data else ""
    try:
        found, _ = _locate.search(_registry.MNIST)
    except DatasetError as e:  # an incomplete copy where LAYERLAB_DATA points
        found, detail = None, f"; {e}"
    if found is None:
        message = NO_MNIST.format(detail=detail)
        if _on_ci():
            pytest.fail(f"CI={os.environ['CI']}: {message}", pytrace=False)
        _skipped_for_mnist.append(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def seed_folder():
    """../shared/seed beside the clone (the article and its digest), or a skip (a failure under CI=true)."""
    folder = Path(__file__).resolve().parents[2] / "shared" / "seed"
    if not folder.is_dir():
        message = f"the project's shared seed folder is not beside the clone ({folder})"
        if _on_ci():
            pytest.fail(f"CI={os.environ['CI']}: {message}", pytrace=False)
        pytest.skip(message)
    return folder


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
