# Helpers for building programs that pick their SIMD instruction set at start-up.
# (Filled in by the fast-CPU work; kept as a stable include for consumers.)
