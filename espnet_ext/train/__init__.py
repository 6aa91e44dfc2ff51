"""Trainers and iterators for multi-task training (meta-transfer learning, joint training), and the optimizer
a task builds (task_optimizer)."""
