"""The noisy quadratic f(x; ξ) = Σ a (x − ξ)²: its gradient, its draws, and s = 0 being x² bit
for bit."""
import numpy as np
import pytest

from numpy_adam.models.quadratic import Quadratic


def _x_squared(x, a):
    """The noise-free model's formulas as they were before the noise: f = Σ a x x, g = 2 a x."""
    return float(np.sum(a * x * x)), 2.0 * a * x


def test_gradient_is_two_a_times_x_minus_xi_and_matches_finite_differences():
    rng = np.random.default_rng(3)
    model = Quadratic(x0=[0.7, -1.3, 0.2], curvature=[1.0, 0.5, 3.0], noise_std=0.4, batch_size=3,
                      rng=rng)
    xi = model.resample()
    model.forward()
    model.backward()
    x, a = model.x.data.copy(), model.curvature
    np.testing.assert_array_equal(model.x.grad, 2.0 * a * (x - xi))
    h = 1e-6
    numeric = []
    for i in range(x.size):  # centred differences of f at the same ξ
        values = []
        for sign in (1.0, -1.0):
            model.x.data = x + sign * h * np.eye(x.size)[i]
            values.append(model.forward())
        numeric.append((values[0] - values[1]) / (2 * h))
    np.testing.assert_allclose(numeric, 2.0 * a * (x - xi), rtol=1e-8, atol=1e-9)


def test_loss_is_f_at_the_draw_and_the_noise_free_loss_is_x_squared():
    model = Quadratic(x0=[0.5, -2.0], curvature=[2.0, 1.0], noise_std=1.0,
                      rng=np.random.default_rng(0))
    xi = model.resample()
    expected = 2.0 * (0.5 - xi[0]) ** 2 + (-2.0 - xi[1]) ** 2
    assert model.forward() == pytest.approx(expected, rel=1e-15)
    assert model.noise_free_loss() == pytest.approx(2.0 * 0.25 + 4.0, rel=1e-15)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_xi_is_the_mean_of_batch_size_normal_draws(batch_size):
    model = Quadratic(x0=np.zeros(4), noise_std=0.3, batch_size=batch_size,
                      rng=np.random.default_rng(11))
    reference = np.random.default_rng(11)
    for _ in range(5):
        expected = reference.normal(0.0, 0.3, size=(batch_size, 4)).mean(axis=0)
        np.testing.assert_array_equal(model.resample(), expected)
        np.testing.assert_array_equal(model.xi, expected)


def test_xi_has_variance_s_squared_over_b():
    s, B, n = 2.0, 4, 20000
    model = Quadratic(x0=np.zeros(5), noise_std=s, batch_size=B, rng=np.random.default_rng(7))
    assert model.noise_var == s * s / B
    xi = np.array([model.resample().copy() for _ in range(n // 5)]).ravel()  # n draws, iid
    var = float(np.mean(xi * xi))  # the mean 0 is known
    # a mean of n iid squares of N(0, σ²): standard error σ² √(2/n); allow 5 of them
    assert abs(var - s * s / B) < 5 * (s * s / B) * np.sqrt(2.0 / xi.size), var
    assert abs(float(np.mean(xi))) < 5 * np.sqrt(s * s / B / xi.size)


def test_noise_free_is_x_squared_bit_for_bit_and_draws_nothing():
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    x = np.array([1.0, -0.0, 0.0, 1e-300, -3.7e150, 0.1, -2.5])
    a = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0])
    for model in (Quadratic(x0=x, curvature=a),
                  Quadratic(x0=x, curvature=a, noise_std=0.0, rng=rng)):
        np.testing.assert_array_equal(model.resample(), np.zeros(x.size))
        f = model.forward()
        model.backward()
        f_ref, g_ref = _x_squared(x, a)
        assert f == f_ref
        assert model.x.grad.tobytes() == g_ref.tobytes(), "g = 2 a x bit for bit (signs of 0 too)"
        assert model.noise_free_loss() == f_ref
    assert rng.bit_generator.state == before, "s = 0 draws no random number"


def test_resample_without_noise_keeps_xi_zero_and_repr_names_the_noise():
    quiet = Quadratic()
    assert quiet.noise_var == 0.0 and quiet.rng is None
    assert "noise_std" not in repr(quiet) and "dim=1" in repr(quiet)
    noisy = Quadratic(noise_std=0.5, batch_size=2, rng=np.random.default_rng(0))
    assert "noise_std=0.5, batch_size=2" in noisy.extra_repr()


@pytest.mark.parametrize("kwargs, match", [
    (dict(noise_std=-0.1), "noise_std must be a finite number >= 0"),
    (dict(noise_std=float("nan")), "noise_std must be a finite number >= 0"),
    (dict(noise_std=True), "noise_std"),
    (dict(noise_std="0.1"), "noise_std"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=2.0), "batch_size must be a positive integer"),
    (dict(noise_std=0.1), "rng must be an np.random.Generator when noise_std > 0"),
    (dict(noise_std=0.1, rng=np.random.RandomState(0)), "rng must be an np.random.Generator"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Quadratic(**kwargs)


def test_backward_needs_a_forward():
    model = Quadratic(noise_std=1.0, rng=np.random.default_rng(0))
    model.resample()
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        model.backward()
    model.forward()
    model.backward()
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        model.backward()
