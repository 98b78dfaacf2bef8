"""flatten/unflatten: every state_dict dtype round-trips; integer buffers follow the policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import ConfigError
from secagg.integrations.torch.flatten import (
    IntegerPolicy,
    apply_delta,
    flatten,
    state_delta,
    unflatten,
    unflatten_parameters,
)

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
COMPLEX = [torch.complex64, torch.complex128]
INTEGERS = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool]
ALL = FLOATS + COMPLEX + INTEGERS


def tensor_of(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) < 0.5
    if dtype.is_complex:
        real = torch.float32 if dtype == torch.complex64 else torch.float64
        return torch.complex(
            torch.randn(shape, generator=g, dtype=real), torch.randn(shape, generator=g, dtype=real)
        )
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g, dtype=torch.float64) * 100).to(dtype)
    info = torch.iinfo(dtype)
    low, high = max(info.min, -(2**40)), min(info.max, 2**40)
    return torch.randint(low, high + 1, shape, generator=g, dtype=torch.int64).to(dtype)


def state_of_every_dtype(seed: int, shapes: list[tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {
        f"t{i}_{str(dtype).split('.')[1]}": tensor_of(dtype, shapes[i % len(shapes)], seed + i)
        for i, dtype in enumerate(ALL)
    }


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), name


shapes = st.lists(
    st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4
)


@given(st.integers(0, 2**16), shapes)
def test_average_policy_round_trips_every_dtype(seed: int, dims: list[tuple[int, ...]]) -> None:
    state = state_of_every_dtype(seed, dims)
    vector, layout = flatten(state, IntegerPolicy.AVERAGE)
    assert vector.dtype == np.float64
    assert layout.dim == vector.shape[0]
    assert_same(unflatten(vector, layout), state)


@given(st.integers(0, 2**16), shapes)
def test_keep_local_round_trips_and_sends_no_integers(
    seed: int, dims: list[tuple[int, ...]]
) -> None:
    state = state_of_every_dtype(seed, dims)
    vector, layout = flatten(state)  # keep-local is the default
    assert layout.policy is IntegerPolicy.KEEP_LOCAL
    sent = sum(
        t.numel() * (2 if t.dtype.is_complex else 1)
        for t in state.values()
        if t.dtype in FLOATS + COMPLEX
    )
    assert vector.shape == (sent,)
    assert_same(unflatten(vector, layout, reference=state), state)


def test_skip_policy_leaves_integers_out() -> None:
    state = state_of_every_dtype(1, [(3, 2)])
    vector, layout = flatten(state, "skip")
    out = unflatten(vector, layout)
    assert set(out) == {n for n, t in state.items() if t.dtype in FLOATS + COMPLEX}
    assert_same(out, {n: state[n] for n in out})


def test_keep_local_takes_the_receivers_buffers() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    model.train()
    model(torch.randn(8, 4))  # num_batches_tracked -> 1, running stats move
    client = model.state_dict()
    server = {k: v.clone() for k, v in client.items()}
    server["1.num_batches_tracked"] = torch.tensor(41)
    vector, layout = flatten(client)
    assert layout.dim == 12 + 3 + 3 + 3 + 3 + 3  # weights, bias, BN weight/bias, running mean/var
    out = unflatten(vector, layout, reference=server)
    assert int(out["1.num_batches_tracked"]) == 41
    assert torch.equal(out["1.running_mean"], client["1.running_mean"])
    with pytest.raises(ConfigError, match="reference="):
        unflatten(vector, layout)


def test_average_policy_rounds_an_averaged_counter() -> None:
    states = [
        {"w": torch.ones(2), "n": torch.tensor(c), "b": torch.tensor(f)}
        for c, f in ((3, True), (4, False), (4, True))
    ]
    vectors = [flatten(s, IntegerPolicy.AVERAGE) for s in states]
    layout = vectors[0][1]
    mean = sum(v for v, _ in vectors) / 3
    out = unflatten(mean, layout)
    assert out["n"].dtype == torch.int64 and int(out["n"]) == 4  # 11 / 3 rounds to 4
    assert out["b"].dtype == torch.bool and bool(out["b"])  # 2 of 3: above 1/2


def test_integers_beyond_float64_are_refused_when_averaged() -> None:
    with pytest.raises(ConfigError, match="2\\^53"):
        flatten({"big": torch.tensor([2**60])}, IntegerPolicy.AVERAGE)
    vector, _ = flatten({"big": torch.tensor([2**60])})  # kept local: fine
    assert vector.shape == (0,)


def test_parameter_list_round_trip() -> None:
    params = [tensor_of(torch.float32, (3, 2), 1), tensor_of(torch.float16, (4,), 2)]
    vector, layout = flatten(params)
    assert layout.sequence
    out = unflatten_parameters(vector, layout)
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(out, params, strict=True))
    with pytest.raises(ConfigError, match="state_dict"):
        unflatten_parameters(*flatten({"a": params[0]}))


def test_bad_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="policy"):
        flatten({"a": torch.ones(1)}, "drop")
    with pytest.raises(ConfigError, match="not a tensor"):
        flatten({"a": np.ones(2)})  # type: ignore[dict-item]
    _, layout = flatten({"a": torch.ones(3)})
    with pytest.raises(ConfigError, match="shape"):
        unflatten(np.zeros(2), layout)


def test_delta_and_apply_are_inverse() -> None:
    old = state_of_every_dtype(5, [(2, 3)])
    new = state_of_every_dtype(6, [(2, 3)])
    back = apply_delta(old, state_delta(new, old))
    for name, t in new.items():
        assert back[name].dtype == t.dtype, name
        if t.dtype.is_floating_point or t.dtype.is_complex:
            # (new - old) + old rounds twice in the dtype: within 2 ulps of the operands' size.
            eps = torch.finfo(t.real.dtype if t.dtype.is_complex else t.dtype).eps
            size = old[name].abs().double() + t.abs().double()
            assert bool(((back[name] - t).abs().double() <= 2 * eps * size).all()), name
        else:
            assert torch.equal(back[name], t), name  # integers and bools: exact
