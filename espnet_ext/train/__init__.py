"""Trainers and iterators for multi-task training (meta-transfer learning, joint training)."""
