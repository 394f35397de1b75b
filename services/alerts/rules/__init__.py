"""Rules: plain functions over (event facts, state) → findings. No I/O."""
