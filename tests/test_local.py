"""The local backend trains several programs at once, each group cut into slices (of streams, or
of one stream's variants): a variant's numbers are those of one program, whatever the slicing;
the same run twice is bitwise the same; a run recorded with one number of workers resumes with
another."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layerlab
from layerlab import engine, layers
from layerlab.backends import Local
from layerlab.backends.local import BAD_WORKERS
from test_training import MemoryRecorder, compiled, mlp

RATES = [0.0, 0.2, 0.4, 0.6, 0.8]


def fit(data, workers, rates=RATES, store=None, **kwargs):
    (x, y), (xv, yv) = data
    layerlab.backend.clear_session()
    model = compiled(mlp(layerlab.sweep(rates) if len(rates) > 1 else rates[0]))
    return model.fit(x, y, validation_data=(xv, yv), epochs=3, seed=4, verbose=0, store=store,
                     backend=Local(workers=workers), **kwargs)


@pytest.mark.parametrize("workers", [2, 3])
def test_slices_of_one_stream_give_the_numbers_of_one_program(data, workers, monkeypatch):
    cuts = []
    original = layerlab.backends.local._Running.__init__

    def spy(self, job, k):
        original(self, job, k)
        cuts.append([len(jax.tree.leaves(s.hp)[0][0]) if self.axis == 1 else len(jax.tree.leaves(s.hp)[0])
                     for s in self.slices])

    whole = fit(data, 1)
    monkeypatch.setattr(layerlab.backends.local._Running, "__init__", spy)
    sliced = fit(data, workers)
    assert cuts == [[2, 3]]  # 5 variants of one seed: at least 2 a slice, so 2 slices on 2 or 3 workers
    for k in whole.metrics:
        np.testing.assert_allclose(sliced.metrics[k], whole.metrics[k], rtol=1e-5, atol=1e-6, err_msg=k)
    for i in range(len(RATES)):
        for a, b in zip(sliced.model(i).get_weights(), whole.model(i).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rates, repeats, workers", [([0.5], 3, 2), (RATES, 2, 2), ([0.1, 0.3], 3, 4)])
def test_slices_of_streams_give_the_numbers_of_one_program(data, rates, repeats, workers):
    whole = fit(data, 1, rates=rates, repeats=repeats)
    sliced = fit(data, workers, rates=rates, repeats=repeats)
    assert whole.variants == sliced.variants
    for k in whole.metrics:
        np.testing.assert_allclose(sliced.metrics[k], whole.metrics[k], rtol=1e-5, atol=1e-6, err_msg=k)
    for i in range(len(whole)):
        for a, b in zip(sliced.model(i).get_weights(), whole.model(i).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("workers, cuts", [(2, [[2], [2], [2]]), (4, [[2, 3], [2, 3]])])
def test_several_groups_train_side_by_side(data, workers, cuts, monkeypatch):
    """Three groups of 2 variants on 2 workers: one slice each, two at a time. Two groups of 5
    on 4 workers: each cut in two along its stream. `cuts`: the variants of each slice."""
    (x, y), _ = data
    seen = []
    original = layerlab.backends.local._Running.__init__

    def spy(self, job, k):
        original(self, job, k)
        seen.append([len(jax.tree.leaves(s.hp)[0][0]) for s in self.slices])

    units = [8, 16, 24] if workers == 2 else [8, 16]
    rates = [0.0, 0.5] if workers == 2 else RATES
    runs = []
    for w in (1, workers):
        layerlab.backend.clear_session()
        model = compiled(mlp(layerlab.sweep(rates), units=layerlab.sweep(units)))
        if w == workers:
            monkeypatch.setattr(layerlab.backends.local._Running, "__init__", spy)
        runs.append(model.fit(x, y, epochs=2, seed=1, verbose=0, backend=Local(workers=w)))
    assert seen == cuts
    np.testing.assert_allclose(runs[1].metrics["loss"], runs[0].metrics["loss"], rtol=1e-5)


def test_the_same_run_twice_is_bitwise_the_same(data):
    a, b = fit(data, 2), fit(data, 2)
    for k in a.metrics:
        assert np.array_equal(a.metrics[k], b.metrics[k]), k


def test_a_run_recorded_with_two_workers_resumes_with_one(data):
    full = MemoryRecorder()
    whole = fit(data, 2, store=full)
    assert sorted(full.states) == [(0, 0), (0, 1), (0, 2)]  # the store sees whole groups
    assert full.rows[(0, 0)]["loss"].shape == (5,)
    resumed = fit(data, 1, store=MemoryRecorder(resume_from=full, resume_after=2))
    for k in whole.metrics:
        np.testing.assert_allclose(resumed.metrics[k], whole.metrics[k], rtol=1e-5, atol=1e-6, err_msg=k)
        assert np.array_equal(resumed.metrics[k][:, :2], whole.metrics[k][:, :2]), k  # recorded epochs kept


def test_a_run_resumed_after_its_last_epoch_is_done_at_once(data):
    full = MemoryRecorder()
    whole = fit(data, 2, store=full)
    again = fit(data, 2, store=MemoryRecorder(resume_from=full, resume_after=3))
    for k in whole.metrics:
        assert np.array_equal(again.metrics[k], whole.metrics[k]), k


def test_an_error_in_a_worker_reaches_the_caller(data, monkeypatch):
    from layerlab.backends import local
    real = local.run_epoch

    def fails_in_epoch_2(program, state, hp, keys, epoch, *args):
        if epoch == 1:
            raise FloatingPointError("epoch 2 went wrong")
        return real(program, state, hp, keys, epoch, *args)

    monkeypatch.setattr(local, "run_epoch", fails_in_epoch_2)
    recorder = MemoryRecorder()
    with pytest.raises(FloatingPointError, match="epoch 2 went wrong"):
        fit(data, 2, store=recorder)
    assert recorder.status == "interrupted" and sorted(recorder.rows) in ([], [(0, 0)])  # epoch 2 never


def test_an_interrupted_sliced_fit_tells_the_recorder(data):
    class Stop(MemoryRecorder):
        def epoch_end(self, group, epoch, row, state):
            raise KeyboardInterrupt

    recorder = Stop()
    with pytest.raises(KeyboardInterrupt):
        fit(data, 2, store=recorder)
    assert recorder.status == "interrupted"


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_workers_get_one_line(workers):
    with pytest.raises(layerlab.errors.ConfigError) as e:
        Local(workers=workers)
    assert str(e.value) == BAD_WORKERS.format(received=workers)
    assert "\n" not in str(e.value)


POOL_SIZES = []  # the workers each PoolSpy was asked for


class PoolSpy:
    """Stands in for ThreadPoolExecutor and remembers how many workers it was asked for."""

    def __init__(self, max_workers, **kwargs):
        POOL_SIZES.append(max_workers)

    def submit(self, *args, **kwargs):
        raise AssertionError("nothing to train")

    def shutdown(self, **kwargs):
        pass


def test_local_by_name_and_by_default(monkeypatch):
    """backend=None and 'local' are Local() with one worker a core (at most 8, and 1 on an
    accelerator); an instance is used as it is."""
    from layerlab.backends import local
    by_name, by_default = layerlab.backends.get("local"), layerlab.backends.get(None)
    assert type(by_name) is Local and type(by_default) is Local
    assert by_name.workers is None and by_default.workers is None
    mine = Local(workers=2)
    assert layerlab.backends.get(mine) is mine
    assert repr(mine) == "Local(workers=2)"
    monkeypatch.setattr(local.futures, "ThreadPoolExecutor", PoolSpy)
    POOL_SIZES.clear()
    on_cpu = jax.default_backend() == "cpu"
    for cores, expected in [(3, 3), (1, 1), (16, local.MAX_DEFAULT_WORKERS)]:
        monkeypatch.setattr(local, "cores", lambda cores=cores: cores)
        assert local.default_workers() == (expected if on_cpu else 1)
        by_default.train([], None, None)  # nothing to train: only the pool is made
    mine.train([], None, None)
    assert POOL_SIZES == ([3, 1, 8] if on_cpu else [1, 1, 1]) + [2]


@pytest.mark.parametrize("cpu_max, expected", [
    ("150000 100000\n", 1),   # 1.5 CPUs of quota: one whole core
    ("250000 100000\n", 2),
    ("50000 100000\n", 1),    # half a CPU: still one
    ("800000 100000\n", 4),   # more quota than the 4 cores of the affinity: the affinity
    ("max 100000\n", 4),      # no quota
    ("garbage\n", 4), ("many 100000\n", 4), ("", 4),
    (None, 4),                # no cgroup v2 file
], ids=["1.5-cpus", "2.5-cpus", "half-a-cpu", "8-cpus", "no-quota", "garbage", "bad-quota", "empty", "no-file"])
def test_cores_respect_the_containers_cpu_quota(tmp_path, monkeypatch, cpu_max, expected):
    from layerlab.backends import local
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    monkeypatch.setattr(local, "CPU_MAX", str(path))
    assert local.cores() == expected
    if jax.default_backend() == "cpu":
        assert local.default_workers() == expected  # the default worker count follows it


def test_dropout_draws_are_the_models_noise_draws_chunk_by_chunk():
    """The reference: a plain loop that takes step t's dropout draws from chunk t // NOISE_STEPS,
    drawn as the model's noise_draws; 40 steps make a full chunk of 32 and a partial one of 8."""
    x = np.random.default_rng(0).normal(size=(320, 6, 6)).astype(np.float32)
    y = (np.abs(x).sum(axis=(1, 2)) > 21).astype(np.int32)
    assert engine.NOISE_STEPS == 32
    model = compiled(mlp(0.5, classes=2))
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, seed=5, verbose=0, backend=Local(workers=1))

    ref = mlp(0.5, classes=2)
    keys = engine.stream_keys(jnp.stack([jax.random.PRNGKey(5)]))
    params = ref.init(keys.init[0], (6, 6))
    import optax
    tx = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-7)
    opt_state = tx.init(params)

    def loss_fn(p, xb, yb, noise):
        logits = ref.apply(p, xb, train=True, logits=True, noise=noise)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    losses = []
    for epoch in range(2):
        epoch_key = jax.random.fold_in(keys.dropout[0], epoch)
        total = 0.0
        for t in range(40):
            chunk, k = divmod(t, 32)
            draws = ref.noise_draws(jax.random.fold_in(epoch_key, chunk), (32 if chunk == 0 else 8, 8), (6, 6))
            noise = [None if u is None else u[k] for u in draws]
            assert [u is None for u in noise] == [True, True, False, True]
            xb, yb = jnp.asarray(x[8 * t:8 * t + 8]), jnp.asarray(y[8 * t:8 * t + 8])
            loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb, noise)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            total += float(loss) * 8
        losses.append(total / 320)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)


def test_dropout_without_an_engine_draws_from_its_key():
    layer = layers.Dropout(0.5)
    x = jnp.ones((4, 10))
    key = jax.random.PRNGKey(0)
    out = layer.apply({}, x, key=key, train=True)
    np.testing.assert_array_equal(out, layer.apply({}, x, train=True, noise=layer.draw_noise(key, x.shape)))
    assert set(np.unique(np.asarray(out))) <= {0.0, 2.0}
