"""The local executor: a pool of worker processes on this machine, each with warm kernels."""
