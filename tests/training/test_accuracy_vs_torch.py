"""One epoch of the note's CNN (Adam 0.9/0.999, batch 100) against a PyTorch twin (slow, torch).

Both start from the same weights and see the same batches in the same order; the test
accuracies after one epoch must agree within 0.03 (float32 rounding makes the trajectories
drift apart, so exact agreement is not expected).
"""
import os

import numpy as np
import pytest

from numpy_adam.training.config import TrainConfig
from numpy_adam.training.build import make_task
from numpy_adam.training.loop import train
from numpy_adam.training.tasks import CifarData

pytestmark = [pytest.mark.slow, pytest.mark.torch]
CONFIG = TrainConfig(model="cnn", optimizer="adam", lr=1e-3, beta1=0.9, beta2=0.999,
                     batch_size=100, epochs=1, seed=0)


def _torch_accuracy(torch, data) -> float:
    from numpy_adam.models.torch_twin import torch_cifar_cnn

    task = make_task(CONFIG, data)  # the same initial weights and batch order as train(CONFIG)
    twin = torch_cifar_cnn(torch)
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in task.model.state_dict().items()})
    opt = torch.optim.Adam(twin.parameters(), lr=CONFIG.lr, betas=(CONFIG.beta1, CONFIG.beta2),
                           eps=CONFIG.eps)
    twin.train()
    for _ in range(task.steps_per_epoch):
        x, y = task.batches.next_batch()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    twin.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data.test_labels), 500):
            x = task.batches.normalize(data.test_images[start:start + 500])
            logits = twin(torch.from_numpy(x)).numpy()
            correct += int(np.sum(logits.argmax(axis=1) == data.test_labels[start:start + 500]))
    return correct / len(data.test_labels)


def test_one_epoch_accuracy_matches_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    root = os.environ.get("NUMPY_ADAM_DATA")
    if not root or not os.path.isdir(os.path.join(root, "cifar-10-batches-py")):
        pytest.skip("real CIFAR-10 needed: set NUMPY_ADAM_DATA")
    data = CifarData.load(root)
    theirs = _torch_accuracy(torch, data)
    ours = train(CONFIG, tmp_path / "ours", data=data, quiet=True).summary["test_accuracy"]
    assert abs(ours - theirs) < 0.03, f"test accuracy after one epoch: ours {ours:.4f}, torch {theirs:.4f}"
    assert ours > 0.45, f"one epoch should reach well above chance, got {ours:.4f}"
