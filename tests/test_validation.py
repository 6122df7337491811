"""Bad input is refused up front with one of minidgl's errors, naming the problem: each finding of issue 9 that
used to give silent garbage or an internal error, then property tests (Hypothesis) over datasets, splits,
training options and the command line."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import minidgl
from minidgl.errors import InvalidType, InvalidValue, MinidglError, NotFinite, UnknownKey

PROPERTY = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def dataset(labels, class_names=None, **inputs):
    inputs = inputs or {"a": torch.zeros(len(labels), 2)}
    return minidgl.MultimodalDataset(inputs, labels, class_names)


@pytest.mark.parametrize("labels,class_names,error,message", [
    ([0.2, 0.8, 0.2], None, InvalidType, "labels must be integer class indices, got torch.float32"),
    ([True, False], None, InvalidType, "got torch.bool"),
    (["cat", "dog"], None, InvalidType, "labels must be integer class indices"),
    ([0, 0, 0], None, InvalidValue, "at least 2 classes, got 1"),
    ([0, 1, 1], ["only"], InvalidValue, "at least 2 classes, got 1"),
    ([-1, 0, 1], None, InvalidValue, "from 0 to 1 .* got values from -1 to 1"),
    ([0, 1, 2], ["x", "y"], InvalidValue, "from 0 to 1 .one per class name., got values from 0 to 2"),
    ([], ["x", "y"], InvalidValue, "at least one sample, got 0 labels"),
    ([[0, 1]], None, InvalidValue, r"shape \(n,\), got \(1, 2\)"),
])
def test_labels_must_be_integer_class_indices(labels, class_names, error, message):
    inputs = {"a": torch.zeros(max(len(labels), 1), 2)}
    with pytest.raises(error, match=message):
        minidgl.MultimodalDataset(inputs, labels, class_names)


@pytest.mark.parametrize("name", ["a.b", "", 3, None, "training", "keys"])
def test_modality_names_are_checked_where_the_dataset_is_built(name):
    with pytest.raises(InvalidValue, match="modality names must be non-empty strings without '.'"):
        minidgl.MultimodalDataset({name: torch.zeros(2, 1)}, [0, 1])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_integer_and_bool_inputs_become_float32_with_their_values(dtype):
    x = torch.tensor([[0, 1], [1, 0], [1, 1]]).to(dtype)
    data = minidgl.MultimodalDataset({"a": x}, [0, 1, 0])
    assert data.inputs["a"].dtype == torch.float32
    assert data.inputs["a"].tolist() == [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_floating_inputs_keep_their_dtype_and_fit_names_a_mismatch_with_the_model(toy, dtype):
    x = toy.train.inputs["a"].to(dtype)
    data = minidgl.MultimodalDataset({"a": x, "b": toy.train.inputs["b"]}, toy.train.labels)
    assert data.inputs["a"].dtype == dtype
    with pytest.raises(InvalidType, match=rf"the train split's inputs \{{'a': {dtype}\}} are not of the model's "
                                          r"dtype torch.float32; convert one of them"):
        minidgl.fit(minidgl.build_model(toy), minidgl.Splits(data, toy.val, toy.test), progress=False)


def test_nan_or_inf_inputs_are_named_by_modality_and_sample():
    x = torch.zeros(4, 3)
    x[2, 1] = math.inf
    with pytest.raises(NotFinite, match="modality 'visual' has NaN or infinite values in 1 of its 4 samples "
                                        r"\(the first is sample 2\)"):
        minidgl.MultimodalDataset({"audio": torch.zeros(4, 3), "visual": x}, [0, 1, 0, 1])


@pytest.mark.parametrize("x,message", [
    ([[0.0]], "must be a torch.Tensor, got list"),
    (torch.zeros(2), r"shape \(n, \*per-sample shape\)"),
    (torch.zeros(3, 2), "has 3 samples but there are 2 labels"),
    (torch.zeros(2, 2, dtype=torch.complex64), "is complex"),
])
def test_inputs_of_the_wrong_kind(x, message):
    with pytest.raises(MinidglError, match=message):
        minidgl.MultimodalDataset({"a": x}, [0, 1])


def test_a_stratified_split_of_too_few_samples_names_the_class_counts():
    small = dataset([0, 0, 0, 1, 1, 1, 2, 2], ["a", "b", "c"])
    with pytest.raises(InvalidValue, match=r"the samples per class are \{0: 3, 1: 3, 2: 2\}, too few in classes \[2\]"):
        minidgl.stratified_split(small)
    with pytest.raises(InvalidValue, match="at least 2 classes"):
        minidgl.stratified_split(dataset([1, 1, 1, 1], ["a", "b"]))


def test_every_class_gets_a_sample_in_every_split_when_it_has_three():
    splits = minidgl.stratified_split(dataset([0, 0, 0, 1, 1, 1]))  # 6 samples: empty val/test before
    assert [s.labels.tolist() for s in (splits.train, splits.val, splits.test)] == [[0, 1], [0, 1], [0, 1]]


def test_large_classes_split_as_before():
    """round(fraction * count) per class, as the course's data was always split (the floor of 1 never binds)."""
    labels = torch.arange(100) % 2
    train, val, test = minidgl.data.dataset.stratified_indices(labels, 0.2, 0.1, seed=0)
    assert (len(train), len(val), len(test)) == (70, 20, 10)


@pytest.mark.parametrize("options,message", [
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"epochs": -3}, "epochs must be an integer >= 1, got -3"),
    ({"epochs": 2.5}, "epochs must be an integer >= 1, got 2.5"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"batch_size": -5}, "batch_size must be an integer >= 1, got -5"),
    ({"lr": 0}, "lr must be a number > 0 and <= 1e6, got 0"),
    ({"lr": math.nan}, "lr must be a number > 0 and <= 1e6, got nan"),
    ({"lr": 1e39}, "lr must be a number > 0 and <= 1e6, got 1e"),
    ({"clip_grad_norm": -1}, "clip_grad_norm must be None .no clipping. or a finite number > 0, got -1"),
    ({"clip_grad_norm": 0}, "clip_grad_norm must be None .no clipping. or a finite number > 0, got 0"),
    ({"micro_batches": 0}, "micro_batches must be an integer >= 1, got 0"),
    ({"amp": "fp8"}, "amp must be False, True, 'bfloat16' or 'float16', got 'fp8'"),
    ({"seed": -1}, "seed must be an integer from 0 to 4294967295, got -1"),
    ({"seed": 2**40}, "seed must be an integer from 0 to 4294967295"),
    ({"device": "gpu"}, "unknown device 'gpu'"),
    ({"device": "cuda:99"}, "device 'cuda:99' is not available on this machine"),
])
def test_fit_refuses_unusable_settings_before_training(toy, options, message):
    model = minidgl.build_model(toy)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InvalidValue, match=message):
        minidgl.fit(model, toy, progress=False, **options)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_train_step_refuses_a_clipping_that_would_train_the_wrong_way(toy):
    model = minidgl.build_model(toy)
    inputs, labels = next(toy.train.batches(8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidValue, match="clip_grad_norm must be None"):
        minidgl.train_step(model, minidgl.get_method("joint"), optimizer, inputs, labels, clip_grad_norm=-1)


def test_fit_refuses_a_one_class_training_split_and_labels_beyond_the_model(toy):
    one_class = minidgl.Splits(dataset([0, 0], ["x", "y"], a=torch.zeros(2, 8), b=torch.zeros(2, 8)), toy.val,
                               toy.test)
    with pytest.raises(InvalidValue, match=r"the training split holds one class only \(0\)"):
        minidgl.fit(minidgl.build_model(toy), one_class, progress=False)
    small = minidgl.build_model(minidgl.ModelConfig(toy.input_shapes, 3))
    with pytest.raises(InvalidValue, match="the train split has label 3 but the model has 3 classes"):
        minidgl.fit(small, toy, progress=False)


@pytest.mark.parametrize("builder,options,message", [
    (minidgl.make_av_digits, {"image_noise": math.nan}, "image_noise .a standard deviation. must be a finite number"),
    (minidgl.make_av_digits, {"snr_db": math.nan}, "snr_db must be a finite number >= -200 and <= 200, got nan"),
    (minidgl.make_av_digits, {"snr_db": -4000}, "snr_db must be a finite number >= -200"),
    (minidgl.make_av_digits, {"copies": 2.0}, "copies .noisy versions of each image. must be an integer >= 1"),
    (minidgl.make_gaussian_toy, {"signal": {"a": math.inf}}, "the signal strength of 'a' must be a finite number"),
    (minidgl.make_gaussian_toy, {"num_classes": 1}, "num_classes must be an integer >= 2, got 1"),
    (minidgl.make_gaussian_toy, {"n": 10}, "n must be an integer >= 18, got 10"),
])
def test_data_knobs_must_be_finite_and_in_range(builder, options, message):
    with pytest.raises(InvalidValue, match=message):
        builder(**options)


def test_dgl_alpha_must_be_finite_and_not_negative():
    for alpha in (-1, math.inf, math.nan, "0.5"):
        with pytest.raises(InvalidValue, match="alpha weighs the unimodal losses and must be a finite number >= 0"):
            minidgl.DGL(alpha=alpha)


@PROPERTY
@given(labels=st.lists(st.one_of(st.integers(-2, 4), st.floats(allow_nan=True), st.booleans(), st.text(max_size=2)),
                       max_size=8),
       class_count=st.one_of(st.none(), st.integers(0, 5)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-3, 300)),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.uint8, torch.int32, torch.bool]),
       name=st.one_of(st.text(max_size=4), st.integers(), st.none()))
def test_any_dataset_is_built_sound_or_refused_clearly(labels, class_count, value, dtype, name):
    class_names = None if class_count is None else [f"c{k}" for k in range(class_count)]
    try:
        x = torch.full((len(labels), 2), value).to(dtype)
    except (RuntimeError, OverflowError):  # torch itself cannot hold the value in that dtype: not minidgl's input
        return
    try:
        data = minidgl.MultimodalDataset({name: x}, labels, class_names)
    except MinidglError:
        return
    assert data.inputs[name].is_floating_point() and torch.isfinite(data.inputs[name]).all()
    assert data.labels.dtype == torch.int64 and len(data) == len(labels) >= 1 and data.num_classes >= 2
    assert 0 <= int(data.labels.min()) and int(data.labels.max()) < data.num_classes
    minidgl.build_model(data)  # a name the dataset accepts, a model accepts too


@PROPERTY
@given(counts=st.lists(st.integers(0, 12), min_size=1, max_size=4),
       val_fraction=st.floats(-0.2, 1.2), test_fraction=st.floats(-0.2, 1.2), seed=st.integers(-1, 2**33))
def test_any_stratified_split_covers_every_class_in_every_split_or_is_refused(counts, val_fraction, test_fraction,
                                                                              seed):
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)] + [torch.tensor([0, 1])])
    data = dataset(labels.tolist(), [str(k) for k in range(max(len(counts), 2))])
    try:
        splits = minidgl.stratified_split(data, val_fraction, test_fraction, seed)
    except MinidglError:
        return
    present = set(labels.tolist())
    for split in (splits.train, splits.val, splits.test):
        assert set(split.labels.tolist()) == present
    assert len(splits.train) + len(splits.val) + len(splits.test) == len(labels)


@pytest.fixture(scope="module")
def tiny():
    return minidgl.make_gaussian_toy(num_classes=2, dim=4, n=30)


@settings(max_examples=12, deadline=None, database=None)
@given(epochs=st.one_of(st.integers(-1, 2), st.floats(0, 3)), batch_size=st.integers(-2, 40),
       lr=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.05)),
       clip=st.one_of(st.none(), st.floats(-1, 5), st.just(math.nan)), micro_batches=st.integers(0, 3),
       method=st.sampled_from(["joint", "dgl", "mmpareto", "unimodal:a", "unimodal:z"]))
def test_fit_either_trains_or_raises_a_clear_error(tiny, epochs, batch_size, lr, clip, micro_batches, method):
    model = minidgl.build_model(tiny, seed=0)
    try:
        history = minidgl.fit(model, tiny, method, epochs=epochs, batch_size=batch_size, lr=lr, clip_grad_norm=clip,
                              micro_batches=micro_batches, progress=False)
    except (InvalidValue, InvalidType, UnknownKey, NotFinite):
        return
    assert len(history.train_loss) == epochs >= 1 and 0 <= history.best_epoch < epochs
    assert 0 <= history.test_acc <= 1
