"""adit's workstation half: data sets and checks, the model zoo, and the fine-tuning engine."""
