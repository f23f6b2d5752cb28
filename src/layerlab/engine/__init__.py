"""The compiled engine: one jit-compiled program per compile group trains all its variants.

program.Program is the maths (the only jax.lax user); programs shares programs by structure and
runs them epoch by epoch for every backend.
"""
from .program import NOISE_STEPS, VAL_CHUNK, Keys, Metrics, Program, State, stream_keys
from .programs import (
    MAX_PROGRAMS, clear_programs, device_data, epochs_of, params_from_leaves, program, run_epoch, state_treedef,
    structure, to_device_data,
)

__all__ = ["MAX_PROGRAMS", "NOISE_STEPS", "VAL_CHUNK", "Keys", "Metrics", "Program", "State", "clear_programs",
           "device_data", "epochs_of", "params_from_leaves", "program", "run_epoch", "state_treedef",
           "stream_keys", "structure", "to_device_data"]
