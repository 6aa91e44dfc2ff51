"""Beam-search scorers of espnet_ext (ESPnet ScorerInterface implementations)."""
