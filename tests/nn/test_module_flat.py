"""Module registration, state_dict, flat buffers."""
import numpy as np
import pytest

from numpy_adam.nn import Module, Parameter, Sequential, flatten_parameters


class Affine(Module):
    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(np.arange(n * 2, dtype=np.float32).reshape(n, 2))
        self.bias = Parameter(np.ones(n, dtype=np.float32), kind="bias")
        self.register_buffer("running", np.zeros(n, dtype=np.float32))


def test_named_parameters_use_pytorch_keys():
    model = Sequential(Affine(3), Affine(2))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias"], names
    assert list(model.state_dict()) == ["0.weight", "0.bias", "0.running",
                                        "1.weight", "1.bias", "1.running"]


def test_flat_buffer_is_shared_with_parameters():
    model = Sequential(Affine(3), Affine(2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    flat = model.flatten()
    assert flat.data.shape == (6 + 3 + 4 + 2,)
    for seg, (name, p) in zip(flat.segments, model.named_parameters()):
        assert seg.name == name and seg.shape == p.shape
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)
    flat.data[:] = 7.0
    assert all((p.data == 7.0).all() for p in model.parameters()), "parameters must be views"
    next(model.parameters()).grad[...] = 3.0
    assert (flat.grad[:6] == 3.0).all(), "gradients must be views of the flat grad buffer"
    assert [s.kind for s in flat.segments] == ["weight", "bias", "weight", "bias"]


def test_flatten_twice_reuses_the_buffer():
    model = Sequential(Affine(3), Affine(2))
    first = model.flatten()
    second = flatten_parameters(model.named_parameters())
    assert second.data is first.data and second.grad is first.grad


def test_state_dict_round_trip_and_key_errors():
    a, b = Affine(3), Affine(3)
    b.weight.data[...] = -1
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.weight.data, a.weight.data)
    state = a.state_dict()
    state.pop("bias")
    with pytest.raises(KeyError, match="bias"):
        b.load_state_dict(state)
    state = a.state_dict()
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match="extra"):
        b.load_state_dict(state)
    state = a.state_dict()
    state["weight"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="weight"):
        b.load_state_dict(state)


def test_buffer_reassignment_keeps_it_in_state_dict():
    a = Affine(2)
    a.running = np.full(2, 5.0, dtype=np.float32)
    assert "running" in a.state_dict()


def test_train_eval_propagate():
    model = Sequential(Affine(1), Sequential(Affine(1)))
    model.eval()
    assert not any(m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_to_double_casts_parameters_and_buffers():
    a = Affine(2).double()
    assert a.weight.data.dtype == np.float64 and a.weight.grad.dtype == np.float64
    assert a.running.dtype == np.float64


def test_assigning_data_or_grad_copies_into_the_buffer_the_optimizer_updates():
    """``p.grad = a`` used to re-point the parameter at a new array, so the optimizer's flat
    buffer never saw it and ``step()`` silently left the parameter unchanged."""
    from numpy_adam.optim import SGD

    p = Parameter(np.zeros(3, dtype=np.float32))
    opt = SGD([("w", p)], lr=1.0)
    p.grad = np.full(3, 5.0)  # float64 values, cast into the float32 gradient buffer
    opt.step()
    np.testing.assert_array_equal(p.data, [-5.0, -5.0, -5.0])
    np.testing.assert_array_equal(opt.flat.data, [-5.0, -5.0, -5.0])
    p.data = np.arange(3)
    np.testing.assert_array_equal(opt.flat.data, [0.0, 1.0, 2.0])
    assert p.data.dtype == np.float32 and np.shares_memory(p.data, opt.flat.data)
    with pytest.raises(ValueError, match=r"shape \(3,\); cannot assign an array of shape \(4,\)"):
        p.grad = np.zeros(4)
    with pytest.raises(TypeError, match="cannot assign <U1 values"):
        p.data = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(opt.flat.data, [0.0, 1.0, 2.0],
                                  err_msg="a refused assignment changes nothing")
