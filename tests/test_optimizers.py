"""Each optimizer's update against a numpy reference written from Keras 3's source, a few steps
on fixed gradients, within 1e-6.

The references follow keras-team/keras, keras/src/optimizers/: sgd.py, rmsprop.py, adagrad.py,
adam.py (`update_step` of each) and, for AdamW (adamw.py is Adam with a weight decay),
base_optimizer.py's `_apply_weight_decay` (`w -= w * weight_decay * learning_rate`, before the
update). Where layerlab follows optax on purpose (docs/keras-differences.md: Adam's epsilon added
after the bias correction, not Keras' "epsilon hat"; AMSGrad's maximum taken of the
bias-corrected second moment) the reference encodes layerlab's documented form, and the last
tests measure how far that is from Keras' own formula.

The numbers are chosen so that every term shows: a large epsilon (inside or outside a root, before
or after a correction differ by far more than 1e-6), a weight decay and momentum well away from
zero, and gradients that shrink after the first step (so AMSGrad's maximum is the old one).
"""
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from layerlab import optimizers

SHAPES = {"kernel": (3, 4), "bias": (4,)}
# Per-step gradient scales: large, then small (the second moment falls), then mixed.
SCALES = (1.0, 0.05, 0.05, 0.5, 0.02, 1.5)


def start():
    rng = np.random.default_rng(0)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}


def gradients(scales=SCALES, seed=1):
    rng = np.random.default_rng(seed)
    return [{k: (scale * rng.normal(size=s)).astype(np.float32) for k, s in SHAPES.items()} for scale in scales]


def trained(optimizer, params, grads):
    """layerlab: the parameters after each step of optimizer.transform() (optax), as float64."""
    tx = optimizer.transform()
    params = {k: jnp.asarray(v) for k, v in params.items()}
    state = tx.init(params)
    out = []
    for g in grads:
        updates, state = tx.update({k: jnp.asarray(v) for k, v in g.items()}, state, params)
        params = optax.apply_updates(params, updates)
        out.append({k: np.asarray(v, np.float64) for k, v in params.items()})
    return out


def reference(step, params, grads, **hp):
    """Runs `step(w, g, slots, t, **hp) -> w` leaf by leaf in float64; slots is the leaf's own
    dict of optimizer variables (Keras' momentums, velocities, ...), empty at the start."""
    w = {k: np.asarray(v, np.float64) for k, v in params.items()}
    slots = {k: {} for k in w}
    out = []
    for t, g in enumerate(grads, start=1):
        w = {k: step(w[k], np.asarray(g[k], np.float64), slots[k], t, **hp) for k in w}
        out.append(dict(w))
    return out


# -- Keras 3's update steps, one variable -------------------------------------------------------
def sgd(w, g, s, t, learning_rate, momentum, nesterov):
    """keras/src/optimizers/sgd.py: m = m * momentum - g * lr; w += m, or for Nesterov
    w += m * momentum - g * lr; without momentum w -= g * lr."""
    if momentum == 0:
        return w - g * learning_rate
    s["m"] = s.get("m", 0.0) * momentum - g * learning_rate
    return w + (s["m"] * momentum - g * learning_rate if nesterov else s["m"])


def rmsprop(w, g, s, t, learning_rate, rho, momentum, epsilon, centered):
    """keras/src/optimizers/rmsprop.py: epsilon inside the square root; the centered form
    subtracts the squared mean gradient; momentum accumulates the increment."""
    s["velocity"] = rho * s.get("velocity", 0.0) + (1 - rho) * g * g
    if centered:
        s["average"] = rho * s.get("average", 0.0) + (1 - rho) * g
        denominator = s["velocity"] - s["average"] ** 2 + epsilon
    else:
        denominator = s["velocity"] + epsilon
    increment = learning_rate * g / np.sqrt(denominator)
    if momentum > 0:
        s["momentum"] = momentum * s.get("momentum", 0.0) + increment
        return w - s["momentum"]
    return w - increment


def adagrad(w, g, s, t, learning_rate, initial_accumulator_value, epsilon):
    """keras/src/optimizers/adagrad.py: the accumulator starts at initial_accumulator_value."""
    s["accumulator"] = s.get("accumulator", initial_accumulator_value) + g * g
    return w - learning_rate * g / np.sqrt(s["accumulator"] + epsilon)


def adam(w, g, s, t, learning_rate, beta_1, beta_2, epsilon, amsgrad=False, weight_decay=None, keras=False):
    """keras/src/optimizers/adam.py, and base_optimizer.py's decoupled weight decay for AdamW.

    keras=True is Keras' formula: w -= m * alpha / (sqrt(v) + epsilon) with alpha =
    lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) (epsilon added before v's bias correction), and
    AMSGrad's maximum of the raw v. keras=False is layerlab's, as docs/keras-differences.md
    says: epsilon added after the bias correction, the maximum of the bias-corrected v.
    """
    if weight_decay is not None:
        w = w - w * weight_decay * learning_rate
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - beta_2)
    if keras:
        v = s["v"]
        if amsgrad:
            v = s["v_hat"] = np.maximum(s.get("v_hat", 0.0), s["v"])
        alpha = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        return w - s["m"] * alpha / (np.sqrt(v) + epsilon)
    m_hat, v_hat = s["m"] / (1 - beta_1 ** t), s["v"] / (1 - beta_2 ** t)
    if amsgrad:
        v_hat = s["v_hat"] = np.maximum(s.get("v_hat", 0.0), v_hat)
    return w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)


def _adamw(w, g, s, t, weight_decay, **hp):
    return adam(w, g, s, t, weight_decay=weight_decay, **hp)


CASES = [
    (optimizers.SGD(learning_rate=0.1), sgd),
    (optimizers.SGD(learning_rate=0.1, momentum=0.9), sgd),
    (optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True), sgd),
    (optimizers.RMSprop(learning_rate=0.1, epsilon=0.1), rmsprop),
    (optimizers.RMSprop(learning_rate=0.05, rho=0.8, momentum=0.5, epsilon=0.1), rmsprop),
    (optimizers.RMSprop(learning_rate=0.05, rho=0.8, epsilon=0.5, centered=True), rmsprop),
    (optimizers.Adagrad(learning_rate=0.1), adagrad),
    (optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=0.1), adagrad),
    (optimizers.Adam(learning_rate=0.1, beta_1=0.8, beta_2=0.9, epsilon=0.1), adam),
    (optimizers.Adam(learning_rate=0.1, beta_1=0.8, beta_2=0.9, epsilon=0.1, amsgrad=True), adam),
    (optimizers.AdamW(learning_rate=0.1, weight_decay=0.3, beta_1=0.8, beta_2=0.9, epsilon=0.1), _adamw),
]


@pytest.mark.parametrize("optimizer, step", CASES, ids=[repr(o) for o, _ in CASES])
def test_each_step_equals_the_reference_from_keras_source(optimizer, step):
    params, grads = start(), gradients()
    got = trained(optimizer, params, grads)
    want = reference(step, params, grads, **optimizer.get_config())
    for t, (a, b) in enumerate(zip(got, want), start=1):
        for k in SHAPES:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-6, err_msg=f"step {t}, {k}")


@pytest.mark.parametrize("name", sorted(optimizers.OPTIMIZERS))
def test_keras_defaults_by_name_follow_the_reference(name):
    """optimizer='rmsprop' and friends, with Keras' defaults (and one update big enough to see)."""
    step = {"sgd": sgd, "rmsprop": rmsprop, "adagrad": adagrad, "adam": adam, "adamw": _adamw}[name]
    optimizer = optimizers.get(name)
    params, grads = start(), gradients()
    got = trained(optimizer, params, grads)
    want = reference(step, params, grads, **optimizer.get_config())
    assert not np.allclose(got[-1]["kernel"], params["kernel"], rtol=0, atol=1e-4)  # it moved
    for a, b in zip(got, want):
        for k in SHAPES:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-6)


def test_adams_epsilon_differs_from_keras_by_far_less_than_training_noise():
    """docs/keras-differences.md: with the default epsilon 1e-7 the difference between Keras'
    epsilon-hat and optax's placement is far below the noise of training. On gradients of size
    0.01 to 1, the two move each parameter by the same amount to within 1e-3 of that movement
    after the first step (measured: 4e-4, where Keras' epsilon is 1 / sqrt(1 - beta_2) = 32 times
    larger), and within 1e-4 after 100 steps (measured: 7e-6). It is a real difference, not a
    float rounding: it vanishes with epsilon 0 only."""
    rng = np.random.default_rng(2)
    params = start()
    grads = [{k: (rng.choice([0.01, 0.1, 1.0]) * rng.normal(1.0, 0.3, size=s)).astype(np.float32)
              for k, s in SHAPES.items()} for _ in range(100)]
    hp = optimizers.Adam().get_config()
    ours = reference(adam, params, grads, **hp)
    keras = reference(adam, params, grads, **hp, keras=True)
    for step, bound in ((1, 1e-3), (100, 1e-4)):
        for k in SHAPES:
            moved = np.abs(ours[step - 1][k] - params[k])
            gap = np.abs(ours[step - 1][k] - keras[step - 1][k])
            assert (gap > 0).all()
            assert (gap < bound * moved).all(), (step, k, float((gap / moved).max()))
    no_eps = {**hp, "epsilon": 0.0}
    for k in SHAPES:
        np.testing.assert_allclose(reference(adam, params, grads, **no_eps)[-1][k],
                                   reference(adam, params, grads, **no_eps, keras=True)[-1][k], rtol=1e-12)


def test_amsgrad_takes_the_maximum_of_the_bias_corrected_second_moment():
    """docs/keras-differences.md: layerlab's AMSGrad keeps the running maximum of v / (1 - beta_2^t)
    where Keras keeps that of v and corrects afterwards. While the second moment grows the two
    agree (the maximum is the newest v either way; epsilon 0 leaves out Adam's own difference);
    once the gradients shrink they part, and layerlab follows its documented form, not Keras'."""
    hp = {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-7, "amsgrad": True}
    params = start()
    base = gradients(scales=(1.0,))[0]
    growing = [{k: scale * g for k, g in base.items()} for scale in (0.1, 0.3, 1.0)]  # one direction
    no_eps = {**hp, "epsilon": 0.0}  # leaves out Adam's own difference, the epsilon placement
    ours, keras = reference(adam, params, growing, **no_eps), reference(adam, params, growing, **no_eps, keras=True)
    for k in SHAPES:
        np.testing.assert_allclose(ours[-1][k], keras[-1][k], rtol=1e-12)
    shrinking = gradients(scales=(1.0, 0.05, 0.05, 0.05))
    ours, keras = reference(adam, params, shrinking, **hp), reference(adam, params, shrinking, **hp, keras=True)
    got = trained(optimizers.Adam(**hp), params, shrinking)
    gap = max(np.abs(ours[-1][k] - keras[-1][k]).max() for k in SHAPES)
    assert gap > 1e-3  # a different algorithm once the maximum is an old v, not a rounding
    for k in SHAPES:
        np.testing.assert_allclose(got[-1][k], ours[-1][k], rtol=1e-6, atol=1e-6)
