"""One bottleneck adapter of A2 (Adapt-and-Adjust, ICLR 2021 submission), eq. 4.

    Adapter(h) = W_u ReLU(W_d LayerNorm(h)) + h                                            (eq. 4)

The up-projection W_u starts at zero, so a fresh adapter is the identity: adding adapters to a trained
model (or a new language's adapter to a trained multilingual model) leaves its outputs unchanged until the
adapter is trained.  ESPnet's ``--init`` re-initialises every parameter; it then calls
``espnet_initialization_fn`` on every module, which restores that zero start.
"""

import torch


class Adapter(torch.nn.Module):
    """Residual bottleneck adapter (eq. 4).

    Args:
        size: model dimension d of the hidden states it adapts.
        bottleneck: inner dimension r of the down-projection W_d (d -> r) and up-projection W_u (r -> d).
    """

    def __init__(self, size: int, bottleneck: int = 64):
        super().__init__()
        if size <= 0:
            raise ValueError(f"Adapter size must be positive, got {size}")
        if bottleneck <= 0:
            raise ValueError(f"Adapter bottleneck must be positive, got {bottleneck}")
        self.size = size
        self.bottleneck = bottleneck
        self.norm = torch.nn.LayerNorm(size)
        self.down = torch.nn.Linear(size, bottleneck)  # W_d
        self.up = torch.nn.Linear(bottleneck, size)  # W_u
        self.espnet_initialization_fn()

    def espnet_initialization_fn(self) -> None:
        """Zero W_u (and its bias): the adapter starts as the identity (called by ESPnet's ``initialize``)."""
        torch.nn.init.zeros_(self.up.weight)
        torch.nn.init.zeros_(self.up.bias)

    def delta(self, h: torch.Tensor) -> torch.Tensor:
        """The residual branch W_u ReLU(W_d LayerNorm(h)), same shape as ``h`` (..., d)."""
        return self.up(torch.relu(self.down(self.norm(h))))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Eq. 4: ``delta(h) + h``."""
        return h + self.delta(h)

    def extra_repr(self) -> str:
        return f"size={self.size}, bottleneck={self.bottleneck}"
