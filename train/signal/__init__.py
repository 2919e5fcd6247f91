"""Equipment fault prediction from vibration: readers, splits, synthetic signals, training."""
