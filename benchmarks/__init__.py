"""adit's benchmarks: latency, throughput, size and accuracy of every format, on the target box."""
