"""Llama 3.2 Vision (``model_type`` "mllama"; transformers 5.24 ``models/mllama/``).

The text model (``MllamaTextModel``) is a Llama decoder in which the layers listed in
``cross_attention_layers`` are replaced by gated cross-attention layers (layer kind "cross"):
they attend to the vision tokens instead of the text, have no self-attention, and are skipped
entirely when the input has no image. ``embed_tokens`` has ``vocab_size + 8`` rows (the image
token and spares); the LM head has ``vocab_size``. Both attentions use head_dim = d / a
(``MllamaTextSelfAttention`` ignores any ``head_dim`` key).

The vision model (``MllamaVisionModel``) is read into ``arch.MllamaVision``; the projector is
``MllamaModel.multi_modal_projector``. ``MllamaForCausalLM`` builds the text model and head only.
"""

from __future__ import annotations

from ...arch import MllamaVision
from ...errors import ConfigError
from .keys import D_FF, D_MODEL, N_LAYERS

TYPE_CHECKING = False  # typing costs ~13 ms at start-up; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .keys import Reader

EXTRA_EMBEDDING_ROWS = 8  # MllamaTextModel: nn.Embedding(config.vocab_size + 8, hidden_size)
# MllamaTextConfig's defaults (configuration_mllama.py, transformers 5.24)
TEXT_DEFAULTS = {"vocab_size": 128256, "hidden_size": 4096, "num_hidden_layers": 40,
                 "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14_336,
                 "max_position_embeddings": 131_072, "tie_word_embeddings": False,
                 "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38]}
_DEFAULT_RATIOS = [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]]
# MllamaVisionConfig's defaults; ``attention_heads`` is its spelling of num_attention_heads
VISION_DEFAULTS = {"hidden_size": 1280, "num_hidden_layers": 32, "num_global_layers": 8,
                   "attention_heads": 16, "num_channels": 3, "intermediate_size": 5120,
                   "vision_output_dim": 7680, "image_size": 448, "patch_size": 14, "max_num_tiles": 4}


def mllama_text(r: Reader, out: dict[str, Any]) -> None:
    """Cross-attention layers at ``cross_attention_layers`` (indices past the last layer build
    nothing, as in ``MllamaTextModel``), head_dim = d / a, V + 8 embedding rows, an untied head
    whatever ``tie_word_embeddings`` says."""
    r.get("head_dim")
    cross = set(r.get("cross_attention_layers") or [])
    out.update(head_dim=None, vocab_extra_rows=EXTRA_EMBEDDING_ROWS, tie_embeddings=False,
               layer_types=tuple("cross" if i in cross else "full" for i in range(out["n_layers"])))


def mllama_vision(r: Reader) -> MllamaVision:
    """The vision model's sizes; ``supported_aspect_ratios`` counts only by its length (one row
    of each tile table per ratio, plus the padding row 0)."""
    ratios = r.get("supported_aspect_ratios")
    tiles = r.need("max_num_tiles")
    if ratios is None:
        if tiles != 4:  # MllamaVisionConfig.validate_architecture
            raise ConfigError(f"{r.label}: max_num_tiles must be 4 with the default supported_aspect_ratios")
        ratios = _DEFAULT_RATIOS
    if not isinstance(ratios, list) or not ratios or not all(_is_ratio(x) for x in ratios):
        raise ConfigError(f"{r.label}: supported_aspect_ratios must be a list of [width, height] tile counts")
    return MllamaVision(
        n_layers=r.need(*N_LAYERS), d_model=r.need(*D_MODEL),
        n_heads=r.need("attention_heads", "num_attention_heads"),
        d_ff=r.need(*D_FF), patch_size=r.need("patch_size"), image_size=r.need("image_size"),
        channels=r.need("num_channels"), n_global_layers=r.get("num_global_layers"),
        max_num_tiles=tiles, n_aspect_ratios=len(ratios), output_dim=r.need("vision_output_dim"))


def _is_ratio(x: object) -> bool:
    """One supported aspect ratio: [tiles across, tiles down], two positive integers."""
    return isinstance(x, list) and len(x) == 2 and all(isinstance(v, int) and v > 0 for v in x)
