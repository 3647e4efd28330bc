"""Mixed precision: trainer.precision (32, bf16, 16 or auto) as the dtype autocast computes in."""

import contextlib

import torch

from .errors import UserError

AUTOCAST_DTYPES = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}
PRECISIONS = (*AUTOCAST_DTYPES, "auto")  # what trainer.precision takes: 32 | bf16 | 16 | auto


def check_precision(precision) -> None:
    """trainer.precision=fp8 or =bf16-mixed (another library's name): one sentence listing the values there are."""
    if str(precision) not in PRECISIONS:
        raise UserError(f"trainer.precision={precision} is not one of {', '.join(PRECISIONS[:-1])} or auto.")


def autocast_dtype(precision, device: torch.device) -> torch.dtype | None:
    """Map `trainer.precision` (32, bf16, 16 or auto) to the dtype autocast computes in.

    `auto` is bf16 where the hardware computes it natively (CUDA GPUs from Ampere on; CPUs with
    AVX-512 BF16 or AMX, where it runs convolutions several times faster), else full precision:
    emulated bf16 would be slower than float32.
    """
    check_precision(precision)
    if str(precision) == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    return AUTOCAST_DTYPES[str(precision)]


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed precision for the forward pass, or nothing at full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
