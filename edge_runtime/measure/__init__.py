"""What a box with no torch measures about a bundle: verification, latency, throughput, memory, accuracy
on a labelled folder, and the artifact to run; the workstation benchmarks reuse it."""
