"""Synthetic-but-realistic run records for the figure tests (no training engine involved).

``simulate_noisy_quadratic`` runs Adam (or SGD with a passive probe) on a separable noisy
quadratic: each tracked "tensor" is a block of parameters θ_i with curvature h_i and the
mini-batch gradient g = h θ + ξ/√B, ξ ~ N(0, s²). The statistics are computed from the
bias-corrected EMAs as numpy_adam.optim.stats defines them (per-tensor means, and a sample of
SAMPLE_K elements per tensor), then written with the records API.
"""
import numpy as np
import pytest

from numpy_adam.records import MetricsLog, load_run, save_config, save_run_metrics, save_summary


SAMPLE_K = 16


class Stats:
    def __init__(self, **arrays):
        self.__dict__.update(arrays)


def _tensor_stats(m_hat, v_hat, delta, lr):
    sigma2 = v_hat - m_hat * m_hat
    sigma = np.sqrt(np.maximum(sigma2, 0.0))
    nonzero = m_hat != 0
    gamma = sigma[nonzero] / np.abs(m_hat[nonzero])
    return (np.abs(m_hat).mean(), sigma.mean(), gamma.mean() if gamma.size else np.nan,
            np.abs(delta).mean() / lr, np.mean(sigma2 < 0))


def simulate_noisy_quadratic(run_dir, optimizer="adam", batch_size=16, steps=600, lr=1e-2,
                             beta1=0.99, beta2=0.99, momentum=0.99, eps=1e-8, seed=0,
                             sizes=(60, 150, 400)):
    rng = np.random.default_rng(seed)
    names = [f"layer{i}.weight" for i in range(len(sizes))]
    h = [rng.lognormal(0.0, 1.0, n) for n in sizes]
    theta = [rng.normal(0.0, 1.0, n) for n in sizes]
    m = [np.zeros(n) for n in sizes]
    v = [np.zeros(n) for n in sizes]
    buf = [None for _ in sizes]
    noise = 2.0 / np.sqrt(batch_size)
    chosen = [np.sort(rng.choice(n, SAMPLE_K, replace=False)) for n in sizes]
    log = MetricsLog(names, np.repeat(np.arange(len(sizes)), SAMPLE_K), np.concatenate(chosen),
                     np.float64)
    for t in range(1, steps + 1):
        rows, sample = [], {"m_hat": [], "v_hat": [], "update": [], "param": []}
        loss = 0.0
        for i in range(len(sizes)):
            g = h[i] * theta[i] + noise * rng.normal(size=sizes[i])
            loss += float(np.mean(0.5 * h[i] * theta[i] ** 2)) + 0.05 * noise * rng.normal() ** 2
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat, v_hat = m[i] / (1 - beta1 ** t), v[i] / (1 - beta2 ** t)
            if optimizer == "adam":
                delta = -lr * m_hat / (np.sqrt(v_hat) + eps)
            else:  # PyTorch heavy-ball, b_1 = g_1
                buf[i] = g.copy() if buf[i] is None else momentum * buf[i] + g
                delta = -lr * buf[i]
            theta[i] = theta[i] + delta
            rows.append(_tensor_stats(m_hat, v_hat, delta, lr))
            k = chosen[i]
            for key, values in (("m_hat", m_hat), ("v_hat", v_hat), ("update", -delta / lr),
                                ("param", theta[i])):
                sample[key].append(values[k])
        cols = np.array(rows).T  # (5, L)
        stats = Stats(names=tuple(names), mean_abs_m=cols[0], sigma=cols[1], gamma=cols[2],
                      update=cols[3], neg_var_frac=cols[4])
        log.append(t, loss, lr, stats, Stats(**{k: np.concatenate(v) for k, v in sample.items()}))
    label = (f"Adam β1={beta1}, β2={beta2}, batch {batch_size}" if optimizer == "adam"
             else f"SGD momentum {momentum}, batch {batch_size}")
    _write(run_dir, log, dict(model="cnn", optimizer=optimizer, lr=lr, beta1=beta1, beta2=beta2,
                              eps=eps, momentum=momentum if optimizer == "sgd" else 0.0,
                              dampening=0.0, weight_decay=0.0, batch_size=batch_size, steps=steps,
                              seed=seed, label=label, tracked_tensors=names, versions={}),
           test_accuracy=0.5)
    return load_run(run_dir)


def simulate_x_squared(run_dir, optimizer="adam", steps=800, lr=1e-2, beta=0.99, eps=1e-12,
                       x0=1.0):
    """Adam (β1 = β2 = beta) or plain GD on f(x) = x², with x and grad recorded."""
    x, m, v = x0, 0.0, 0.0
    log = MetricsLog(["x"])
    for t in range(1, steps + 1):
        g = 2.0 * x
        m = beta * m + (1 - beta) * g
        v = beta * v + (1 - beta) * g * g
        m_hat, v_hat = m / (1 - beta ** t), v / (1 - beta ** t)
        delta = -lr * m_hat / (np.sqrt(v_hat) + eps) if optimizer == "adam" else -lr * g
        x += delta
        s = _tensor_stats(np.array([m_hat]), np.array([v_hat]), np.array([delta]), lr)
        log.append(t, x * x, lr, Stats(mean_abs_m=np.array([s[0]]), sigma=np.array([s[1]]),
                                       gamma=np.array([s[2]]), update=np.array([s[3]]),
                                       neg_var_frac=np.array([s[4]])), x=x, grad=g)
    label = f"Adam β1=β2={beta}" if optimizer == "adam" else "GD"
    _write(run_dir, log, dict(model="quadratic", optimizer=optimizer, lr=lr, beta1=beta,
                              beta2=beta, eps=eps, momentum=0.0, dampening=0.0, weight_decay=0.0,
                              batch_size=1, steps=steps, seed=0, label=label,
                              tracked_tensors=["x"], versions={}), test_accuracy=None)
    return load_run(run_dir)


def _write(run_dir, log, config, test_accuracy):
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(run_dir, config)
    save_run_metrics(run_dir, log)
    loss = log.as_arrays()["loss"]
    save_summary(run_dir, dict(final_loss=loss[-1], test_loss=loss[-1] * 1.1,
                               test_accuracy=test_accuracy, wall_seconds=0.1, steps=len(log)))


@pytest.fixture(scope="session")
def cnn_like_runs(tmp_path_factory):
    """{(optimizer, batch): Run} for Adam and SGD at batch 16 and 100 (β = μ = 0.99)."""
    root = tmp_path_factory.mktemp("cnn_like")
    return {(opt, b): simulate_noisy_quadratic(root / f"{opt}_b{b}", opt, b,
                                               lr=1e-2 if opt == "adam" else 1e-3, seed=b)
            for opt in ("adam", "sgd") for b in (16, 100)}


@pytest.fixture(scope="session")
def quadratic_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("quadratic")
    return {"adam": simulate_x_squared(root / "adam", "adam"),
            "gd": simulate_x_squared(root / "gd", "sgd", lr=0.05)}
