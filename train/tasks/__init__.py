"""The built-in tasks, one module each; ``train.task.get_task`` imports them on first use."""
