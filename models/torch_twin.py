"""The note's CNN written in PyTorch, layer for layer and key for key like ``CifarCNN``.

Used only by optional cross-checks and benchmarks (torch is never a runtime dependency):
``twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})``
makes the two networks identical.
"""
from __future__ import annotations


def torch_cifar_cnn(torch, channels=(16, 32), kernel_size=5, hidden=128, num_classes=10,
                    image_size=32):
    """An ``nn.Module`` twin of ``CifarCNN(channels, kernel_size, hidden, num_classes)``.

    ``torch`` is the imported module (so this file imports without torch installed).
    Returns the twin in float32 (torch's default); call ``.double()`` for cross-checks.
    """
    nn, F = torch.nn, torch.nn.functional
    (c1, c2), pad, side = channels, kernel_size // 2, image_size // 4

    class TorchCifarCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, c1, kernel_size, padding=pad)
            self.bn1 = nn.BatchNorm2d(c1)
            self.conv2 = nn.Conv2d(c1, c2, kernel_size, padding=pad)
            self.bn2 = nn.BatchNorm2d(c2)
            self.fc1 = nn.Linear(c2 * side * side, hidden)
            self.bn3 = nn.BatchNorm1d(hidden)
            self.fc2 = nn.Linear(hidden, num_classes)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (N, c1, H/2, W/2)
            x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (N, c2, H/4, W/4)
            x = F.relu(self.bn3(self.fc1(torch.flatten(x, 1))))    # (N, hidden)
            return self.fc2(x)                                     # (N, num_classes)

    return TorchCifarCNN()
