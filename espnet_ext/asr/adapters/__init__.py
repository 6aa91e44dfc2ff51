"""Language adapters of A2 (eq. 4): the adapter, Dual-Adapters, and saving/loading adapter weights."""
