"""The optimizer over a model's flat buffer: shared memory, zero_grad, lr changes, dtypes."""
import numpy as np

from numpy_adam.nn import Module, Parameter, Sequential
from numpy_adam.optim import SGD, Adam


class Affine(Module):
    def __init__(self, n_in, n_out, dtype=np.float32):
        super().__init__()
        self.weight = Parameter(np.full((n_out, n_in), 0.5, dtype=dtype))
        self.bias = Parameter(np.zeros(n_out, dtype=dtype), kind="bias")


def test_optimizer_steps_the_models_own_parameters():
    model = Sequential(Affine(3, 2), Affine(2, 1))
    opt = Adam(model.named_parameters(), lr=0.1)
    weight = model[0].weight
    weight.grad[...] = 1.0                         # a layer's backward writes in place
    assert opt.flat.grad[:6].sum() == 6.0, "parameter gradients must be views of flat.grad"
    opt.step()
    np.testing.assert_allclose(weight.data, 0.5 - 0.1, rtol=1e-6,
                               err_msg="the model's weight must move with the flat buffer")
    assert opt.m.dtype == np.float32 and opt.v.dtype == np.float32, "state in θ's dtype"


def test_already_flat_model_shares_its_buffer():
    model = Sequential(Affine(3, 2), Affine(2, 1))
    flat = model.flatten()
    opt = SGD(model.named_parameters(), lr=0.1)
    assert opt.flat.data is flat.data and opt.flat.grad is flat.grad, "no copy when already flat"
    assert SGD(flat, lr=0.1).flat is flat, "a FlatParameters is accepted as is"


def test_zero_grad_clears_the_flat_gradient():
    model = Sequential(Affine(3, 2))
    opt = Adam(model.parameters())
    for p in model.parameters():
        p.grad[...] = 3.0
    opt.zero_grad()
    assert not opt.flat.grad.any(), "zero_grad must set every gradient to 0"


def test_lr_change_applies_from_the_next_step():
    p = Parameter(np.array([1.0, -1.0]))
    opt = SGD([("x", p)], lr=0.1)
    p.grad[...] = [1.0, 2.0]
    opt.step()
    opt.lr = 0.01
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 - 0.01, -1.0 - 0.2 - 0.02], rtol=1e-15,
                               err_msg="θ_2 = θ_0 − 0.1 g − 0.01 g")
    assert opt.t == 2, opt.t
