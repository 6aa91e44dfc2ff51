"""Language identification on the shared encoder and LID-driven adapter routing (docs/lid_routing.md)."""
