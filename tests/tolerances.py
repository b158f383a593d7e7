"""The oracle tolerances (float32): outputs and states, and gradients."""

OUTPUT_TOL = 1e-5
GRAD_TOL = 1e-4
