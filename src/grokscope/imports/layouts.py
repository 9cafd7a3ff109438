"""Grokking-family models trained elsewhere, in grokscope's one state format, computing the same function.

grokscope keeps every model as a state dict in TransformerLens 3.x ``HookedTransformer`` names and
layouts (``models/state.py``). Two source layouts are known (:func:`detect_layout`):

- ``"hooked"``: a TransformerLens ``HookedTransformer``'s own ``state_dict()`` (the TransformerLens
  grokking demo, ARENA, grokscope itself). Its buffers (``blocks.{i}.attn.IGNORE``, ``attn.mask``,
  ``hook_*``) are dropped; absent biases become zeros.
- ``"progress_measures"``: the ``Transformer`` of Nanda et al. 2023, "Progress measures for grokking
  via mechanistic interpretability" (mechanistic-interpretability-grokking/progress-measures-paper,
  ``transformers.py``), whose code "The Clock and the Pizza" (Zhong et al. 2023) adapted
  (fjzzq2002/pizza, ``code/train-main.py``). Shapes: ``embed.W_E`` (d_model, d_vocab),
  ``pos_embed.W_pos`` (n_ctx, d_model), ``blocks.{i}.attn.W_Q/W_K/W_V`` (n_heads, d_head, d_model),
  ``attn.W_O`` (d_model, n_heads*d_head), buffer ``attn.mask`` (n_ctx, n_ctx) = tril(ones),
  ``mlp.W_in`` (d_mlp, d_model), ``mlp.b_in`` (d_mlp,), ``mlp.W_out`` (d_model, d_mlp),
  ``mlp.b_out`` (d_model,), ``unembed.W_U`` (d_model, d_vocab_out). No LayerNorm (its class is
  defined but commented out of the blocks), no attention biases, no unembedding bias.

The forward of that source, as read in both repositories::

    x = W_E[:, tokens] (-> batch pos d_model) + W_pos[:pos]
    per block:  x = x + attn(x);  x = x + mlp(x)
    attn:  k, q, v = einsum("ihd,bpd->biph", W_K | W_Q | W_V, x)
           scores[b, i, q, p] = k[b, i, p] . q[b, i, q]
           progress-measures: scores = tril(scores) - 1e10 * (1 - mask)   (mask applied before the softmax)
           Clock/Pizza:       scores unmasked (the ``mask`` buffer is registered but never used)
           A = softmax(scores / sqrt(d_head), dim=key)
           Clock/Pizza:       A = A * attn_coeff + (1 - attn_coeff)       (after the softmax, on every key)
           z = sum_p A[q, p] v[p];  out = einsum("df,bqf->bqd", W_O, z concatenated head-major "(i h)")
    mlp:   act(W_in x + b_in) -> W_out . + b_out   ("ReLU" = F.relu, "GeLU" = exact F.gelu)
    logits = x @ W_U

So the progress-measures model is causal (``attention_dir="causal"``, its ``-1e10`` becomes
exactly 0 after the softmax, like TransformerLens's ``-inf``) and has no blend, while the
Clock/Pizza model attends bidirectionally, the constant ``1 - attn_coeff`` weighting every
position: import it with ``attention_dir="bidirectional"``. The state dicts of the two cannot be
told apart, so the caller says which it is.

``attn_coeff < 1`` (:func:`to_grokscope_state`) is represented with twice the heads: heads
``0..h-1`` are the source heads with ``W_V`` scaled by ``attn_coeff`` (the softmax part); heads
``h..2h-1`` have ``W_Q = W_K = 0`` (so TransformerLens's softmax is uniform over the positions a
query sees) and ``W_V`` scaled by ``(1 - attn_coeff) * n_ctx``, which turns that mean into the
source's unnormalised sum over all ``n_ctx`` positions. With ``attn_coeff == 0`` the softmax part
is dropped and only the uniform heads remain, numbered ``0..h-1`` like the source heads they come
from. The output equals the source's for inputs of exactly ``n_ctx`` tokens:

- ``attention_dir="bidirectional"`` (the Clock/Pizza code): at every position and every layer.
- ``attention_dir="causal"`` (a masked model with a blend): only at the final position, which sees
  every position. At an earlier position ``q`` the source's constant also weights the positions
  after ``q`` (the blend comes after the masked softmax), which a causal model cannot see, so a
  multi-layer causal model with ``attn_coeff < 1`` is refused; one layer is exact where the logits
  are read.
"""

import re
from collections.abc import Mapping
from dataclasses import replace

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from grokscope.models.shape import LN_BLOCK as _LN_BLOCK
from grokscope.models.shape import ModelShape

LAYOUTS: tuple[str, ...] = ("hooked", "progress_measures")
_KNOWN = (
    "known layouts: hooked (TransformerLens HookedTransformer names and shapes) and progress_measures "
    "(the Transformer of Nanda et al.'s progress-measures code and of the Clock/Pizza code)"
)

# Each tensor's axes as dimension names; "n_heads*d_head" is progress_measures' merged head axis.
_HOOKED_TOP: dict[str, tuple[str, ...]] = {
    "embed.W_E": ("d_vocab", "d_model"),
    "pos_embed.W_pos": ("n_ctx", "d_model"),
    "ln_final.w": ("d_model",),
    "ln_final.b": ("d_model",),
    "unembed.W_U": ("d_model", "d_vocab_out"),
    "unembed.b_U": ("d_vocab_out",),
}
_HOOKED_BLOCK: dict[str, tuple[str, ...]] = {
    "ln1.w": ("d_model",),
    "ln1.b": ("d_model",),
    "ln2.w": ("d_model",),
    "ln2.b": ("d_model",),
    "attn.W_Q": ("n_heads", "d_model", "d_head"),
    "attn.W_K": ("n_heads", "d_model", "d_head"),
    "attn.W_V": ("n_heads", "d_model", "d_head"),
    "attn.W_O": ("n_heads", "d_head", "d_model"),
    "attn.b_Q": ("n_heads", "d_head"),
    "attn.b_K": ("n_heads", "d_head"),
    "attn.b_V": ("n_heads", "d_head"),
    "attn.b_O": ("d_model",),
    "mlp.W_in": ("d_model", "d_mlp"),
    "mlp.b_in": ("d_mlp",),
    "mlp.W_out": ("d_mlp", "d_model"),
    "mlp.b_out": ("d_model",),
}
_PM_TOP: dict[str, tuple[str, ...]] = {
    "embed.W_E": ("d_model", "d_vocab"),
    "pos_embed.W_pos": ("n_ctx", "d_model"),
    "unembed.W_U": ("d_model", "d_vocab_out"),
}
_PM_BLOCK: dict[str, tuple[str, ...]] = {
    "attn.W_Q": ("n_heads", "d_head", "d_model"),
    "attn.W_K": ("n_heads", "d_head", "d_model"),
    "attn.W_V": ("n_heads", "d_head", "d_model"),
    "attn.W_O": ("d_model", "n_heads*d_head"),
    "attn.mask": ("n_ctx", "n_ctx"),
    "mlp.W_in": ("d_mlp", "d_model"),
    "mlp.b_in": ("d_mlp",),
    "mlp.W_out": ("d_model", "d_mlp"),
    "mlp.b_out": ("d_model",),
}
_SPECS = {"hooked": (_HOOKED_TOP, _HOOKED_BLOCK), "progress_measures": (_PM_TOP, _PM_BLOCK)}
_REQUIRED_TOP = ("embed.W_E", "pos_embed.W_pos", "unembed.W_U")
_REQUIRED_BLOCK = ("attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O", "mlp.W_in", "mlp.W_out")
_LN_TOP = ("ln_final.w", "ln_final.b")

_BLOCK_RE = re.compile(r"blocks\.(\d+)\.(.+)")


def detect_layout(state: Mapping[str, Tensor]) -> str:
    """``"hooked"`` or ``"progress_measures"``: the layout whose names ``state`` uses (module docstring).

    The two share names; the attention output tells them apart (``W_O`` is 3-D in TransformerLens,
    ``(d_model, n_heads*d_head)`` in the progress-measures code).
    """
    names = [k for k in state if not _is_dropped(k)]
    if not names:
        raise ValueError(f"the state holds no parameters (keys: {_listing(list(state))}); {_KNOWN}")
    unmatched = [k for k in names if _spec(k, "hooked") is None]
    if unmatched:
        raise ValueError(f"{len(unmatched)} of the state's keys match no known layout: {_listing(unmatched)}; {_KNOWN}")
    w_o = state.get("blocks.0.attn.W_O")
    if w_o is None:
        raise ValueError(f"the state has no blocks.0.attn.W_O, so no attention layer to read; {_KNOWN}")
    if w_o.ndim == 3:
        return "hooked"
    if w_o.ndim == 2:
        foreign = [k for k in names if _spec(k, "progress_measures") is None]
        if foreign:
            raise ValueError(
                f"blocks.0.attn.W_O is 2-D as in the progress_measures layout, but these keys are not "
                f"of that layout: {_listing(foreign)}; {_KNOWN}"
            )
        return "progress_measures"
    raise ValueError(
        f"blocks.0.attn.W_O has shape {tuple(w_o.shape)}: 3-D in the hooked layout, 2-D in progress_measures; {_KNOWN}"
    )


def infer_shape(state: Mapping[str, Tensor], layout: str) -> ModelShape:
    """The source model's shape, read from its tensors' shapes. ``act_fn`` and ``attention_dir`` are not
    in a state (they keep their defaults), nor is a weightless ``"LNPre"`` normalization (read as none).
    Shapes that disagree are a ``ValueError`` naming both tensors."""
    _check_layout(layout)
    params = {k: v for k, v in state.items() if not _is_dropped(k, layout)}
    unknown = [k for k in params if _spec(k, layout) is None]
    if unknown:
        raise ValueError(f"{len(unknown)} keys are not of the {layout} layout: {_listing(unknown)}; {_KNOWN}")
    layers = _layer_count(params)
    _check_present(params, layout, layers)
    dims = _bind_dims(params, layout)
    ln = _has_layer_norm(params, layers)
    value = {name: found[0] for name, found in dims.items()}
    return ModelShape(
        n_layers=layers,
        n_heads=value["n_heads"],
        d_model=value["d_model"],
        d_head=value["d_head"],
        d_mlp=value["d_mlp"],
        n_ctx=value["n_ctx"],
        d_vocab=value["d_vocab"],
        d_vocab_out=value["d_vocab_out"],
        normalization="LN" if ln else None,
    )


def to_grokscope_state(
    state: Mapping[str, Tensor],
    layout: str,
    *,
    attn_coeff: float | int = 1.0,
    n_ctx: int | None = None,
    attention_dir: str = "causal",
    act_fn: str = "relu",
    dtype: torch.dtype = torch.float32,
) -> tuple[dict[str, Tensor], ModelShape]:
    """``state`` (in ``layout``) as grokscope's state: every name of :meth:`ModelShape.param_shapes`, in
    that order, new contiguous ``dtype`` tensors, with the shape to build its ``HookedTransformer`` from.

    ``attn_coeff``: the Clock/Pizza blend ``A * attn_coeff + (1 - attn_coeff)``, in [0, 1]
    (progress_measures only; representation in the module docstring). ``n_ctx``: the number of
    input positions (default: the rows of ``W_pos``; fewer keeps the first rows) -- with
    ``attn_coeff < 1`` the result is exact for inputs of exactly that length. ``attention_dir``:
    ``"bidirectional"`` for the Clock/Pizza code, which never applies its mask. ``act_fn``: the MLP
    activation, a TransformerLens name (the sources' "ReLU" and "GeLU" are read as "relu" and "gelu").
    """
    _check_layout(layout)
    coeff = _check_coeff(attn_coeff, layout)
    source = infer_shape(state, layout)
    positions = _check_n_ctx(n_ctx, source.n_ctx)
    if attention_dir == "causal" and coeff != 1 and source.n_layers > 1:
        raise ValueError(
            f"attn_coeff {coeff} with causal attention is exact only for one layer, this model has "
            f"{source.n_layers}: a masked source's constant also weights later positions "
            f"(the Clock/Pizza code is unmasked: use attention_dir='bidirectional')"
        )
    if layout == "progress_measures" and attention_dir == "causal":
        _check_causal_masks(state, source.n_layers)
    params = _hooked_params(state, source) if layout == "hooked" else _pm_params(state, source)
    heads = source.n_heads * (1 if coeff in (0.0, 1.0) else 2)
    shape = replace(source, n_heads=heads, n_ctx=positions, act_fn=act_fn.lower(), attention_dir=attention_dir)
    for i in range(source.n_layers):
        params |= _blend_heads(params, f"blocks.{i}.attn.", coeff, positions)
    params["pos_embed.W_pos"] = params["pos_embed.W_pos"][:positions]
    # Copies, so training on the imported state never writes into the source's tensors.
    out = {
        name: params[name].to(dtype=dtype, memory_format=torch.contiguous_format, copy=True)
        for name in shape.param_shapes()
    }
    return out, shape


def _pm_params(state: Mapping[str, Tensor], shape: ModelShape) -> dict[str, Tensor]:
    """A progress_measures state in TransformerLens names and layouts (source heads; no blend yet)."""
    out = {
        "embed.W_E": _embed(state["embed.W_E"]),
        "pos_embed.W_pos": state["pos_embed.W_pos"],
        "unembed.W_U": state["unembed.W_U"],
        "unembed.b_U": _zeros(state, shape.d_vocab_out),
    }
    for i in range(shape.n_layers):
        b = f"blocks.{i}."
        out |= {b + f"attn.W_{x}": _heads_in(state[b + f"attn.W_{x}"]) for x in "QKV"}
        out |= {b + f"attn.b_{x}": _zeros(state, shape.n_heads, shape.d_head) for x in "QKV"}
        out |= {
            b + "attn.W_O": _heads_out(state[b + "attn.W_O"], shape.n_heads),
            b + "attn.b_O": _zeros(state, shape.d_model),
            b + "mlp.W_in": _mlp_in(state[b + "mlp.W_in"]),
            b + "mlp.b_in": state.get(b + "mlp.b_in", _zeros(state, shape.d_mlp)),
            b + "mlp.W_out": _mlp_out(state[b + "mlp.W_out"]),
            b + "mlp.b_out": state.get(b + "mlp.b_out", _zeros(state, shape.d_model)),
        }
    return out


def _hooked_params(state: Mapping[str, Tensor], shape: ModelShape) -> dict[str, Tensor]:
    """A hooked state's parameters, absent biases as zeros (buffers dropped)."""
    return {name: state[name] if name in state else _zeros(state, *dims) for name, dims in shape.param_shapes().items()}


def _embed(W_E: Float[Tensor, "d_model d_vocab"]) -> Float[Tensor, "d_vocab d_model"]:
    return einops.rearrange(W_E, "d_model d_vocab -> d_vocab d_model")


def _heads_in(W: Float[Tensor, "n_heads d_head d_model"]) -> Float[Tensor, "n_heads d_model d_head"]:
    # The source computes einsum("ihd,bpd->biph", W, x): each head's W is (d_head, d_model), used transposed.
    return einops.rearrange(W, "n_heads d_head d_model -> n_heads d_model d_head")


def _heads_out(W_O: Float[Tensor, "d_model merged"], n_heads: int) -> Float[Tensor, "n_heads d_head d_model"]:
    # z is flattened head-major ("b i q h -> b q (i h)") before W_O: split the same way.
    return einops.rearrange(W_O, "d_model (n_heads d_head) -> n_heads d_head d_model", n_heads=n_heads)


def _mlp_in(W_in: Float[Tensor, "d_mlp d_model"]) -> Float[Tensor, "d_model d_mlp"]:
    return einops.rearrange(W_in, "d_mlp d_model -> d_model d_mlp")


def _mlp_out(W_out: Float[Tensor, "d_model d_mlp"]) -> Float[Tensor, "d_mlp d_model"]:
    return einops.rearrange(W_out, "d_model d_mlp -> d_mlp d_model")


def _blend_heads(params: Mapping[str, Tensor], prefix: str, coeff: float, positions: int) -> dict[str, Tensor]:
    """One block's attention with ``A * coeff + (1 - coeff)`` as softmax heads plus uniform heads (module docstring)."""
    if coeff == 1:
        return {}
    p = {name: params[prefix + name] for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")}
    # Zero queries and keys make every score 0: the softmax is then the mean over the visible
    # positions, and scaling the values by n_ctx turns that mean into the source's plain sum.
    uniform = p | {
        "W_Q": torch.zeros_like(p["W_Q"]),
        "W_K": torch.zeros_like(p["W_K"]),
        "b_Q": torch.zeros_like(p["b_Q"]),
        "b_K": torch.zeros_like(p["b_K"]),
        "W_V": p["W_V"] * ((1 - coeff) * positions),
        "b_V": p["b_V"] * ((1 - coeff) * positions),
    }
    if coeff == 0:
        merged = uniform
    else:
        soft = p | {"W_V": p["W_V"] * coeff, "b_V": p["b_V"] * coeff}
        merged = {name: torch.cat([soft[name], uniform[name]]) for name in p}
    return {prefix + name: t for name, t in merged.items()}


def _bind_dims(params: Mapping[str, Tensor], layout: str) -> dict[str, tuple[int, str, tuple[int, ...]]]:
    """Each dimension name's size, with the first tensor that set it; a disagreement names both tensors."""
    dims: dict[str, tuple[int, str, tuple[int, ...]]] = {}
    merged: list[tuple[str, int]] = []
    for name in sorted(params, key=_reading_order):
        t, spec = params[name], _spec(name, layout) or ()
        shape = tuple(t.shape)
        if len(shape) != len(spec):
            raise ValueError(
                f"{name} has shape {shape}, but the {layout} layout gives it {len(spec)} axes ({', '.join(spec)})"
            )
        for axis, dim in zip(shape, spec):
            if dim == "n_heads*d_head":
                merged.append((name, axis))
                continue
            if dim in dims and dims[dim][0] != axis:
                first = dims[dim]
                raise ValueError(
                    f"{name} has shape {shape} but {first[1]} has shape {first[2]}: they disagree on "
                    f"{dim} ({axis} vs {first[0]})"
                )
            dims.setdefault(dim, (axis, name, shape))
    for name, axis in merged:
        heads, head = dims["n_heads"], dims["d_head"]
        if axis != heads[0] * head[0]:
            raise ValueError(
                f"{name} has shape {tuple(params[name].shape)} but {head[1]} has shape {head[2]}: "
                f"n_heads*d_head should be {heads[0]}*{head[0]} = {heads[0] * head[0]}, not {axis}"
            )
    return dims


def _reading_order(name: str) -> tuple[int, int, str]:
    # Embeddings first, then blocks in order, so errors name the tensor a reader checks first.
    m = _BLOCK_RE.fullmatch(name)
    if m is None:
        return (0 if name.startswith(("embed.", "pos_embed.")) else 2, 0, name)
    return (1, int(m.group(1)), m.group(2))


def _check_present(params: Mapping[str, Tensor], layout: str, layers: int) -> None:
    required = [*_REQUIRED_TOP, *(f"blocks.{i}.{s}" for i in range(layers) for s in _REQUIRED_BLOCK)]
    missing = [k for k in required if k not in params]
    if missing:
        raise ValueError(f"the {layout} state lacks {_listing(missing)}: save the model's whole state_dict()")


def _has_layer_norm(params: Mapping[str, Tensor], layers: int) -> bool:
    wanted = [*_LN_TOP, *(f"blocks.{i}.{s}" for i in range(layers) for s in _LN_BLOCK)]
    present = [k for k in wanted if k in params]
    if present and len(present) != len(wanted):
        missing = [k for k in wanted if k not in params]
        raise ValueError(
            f"the state has some LayerNorm weights but lacks {_listing(missing)}: "
            f"a LayerNorm model needs ln1, ln2 (w and b) in every block and ln_final"
        )
    return bool(present)


def _layer_count(params: Mapping[str, Tensor]) -> int:
    found = sorted({int(m.group(1)) for k in params if (m := _BLOCK_RE.fullmatch(k))})
    if not found:
        raise ValueError("the state has no blocks.{i}. weights: a model without layers cannot be imported")
    if found != list(range(len(found))):
        raise ValueError(f"the state's blocks are numbered {found}, not 0, 1, ...: every layer's weights are needed")
    return len(found)


def _check_causal_masks(state: Mapping[str, Tensor], layers: int) -> None:
    # The progress-measures code masks with this buffer; a changed one would be a different model.
    for i in range(layers):
        mask = state.get(f"blocks.{i}.attn.mask")
        if mask is not None and not torch.equal(mask.bool(), torch.ones_like(mask, dtype=torch.bool).tril()):
            raise ValueError(
                f"blocks.{i}.attn.mask is not the causal (lower-triangular) mask, so the model is not "
                f"the progress-measures one: import it with attention_dir='bidirectional' only if "
                f"its code never applies the mask"
            )


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: {_KNOWN}")


def _check_coeff(attn_coeff: float | int, layout: str) -> float:
    coeff = float(attn_coeff)
    if not 0 <= coeff <= 1:  # NaN fails too
        raise ValueError(f"attn_coeff must be in [0, 1], got {attn_coeff!r}")
    if coeff != 1 and layout != "progress_measures":
        raise ValueError(
            f"attn_coeff {coeff} applies to the progress_measures (Clock/Pizza) layout only; "
            f"a {layout} model has no attention blend"
        )
    return coeff


def _check_n_ctx(n_ctx: int | None, rows: int) -> int:
    if n_ctx is None:
        return rows
    if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or not 1 <= n_ctx <= rows:
        raise ValueError(f"n_ctx must be an integer from 1 to {rows} (the rows of pos_embed.W_pos), got {n_ctx!r}")
    return n_ctx


def _is_dropped(name: str, layout: str = "hooked") -> bool:
    # TransformerLens buffers and hook entries: constants, not parameters of the model. Its causal
    # mask is built on demand (3.9 saves it empty); the progress-measures one is kept, to be checked.
    if layout == "hooked" and name.endswith(".attn.mask"):
        return True
    return name.endswith(".IGNORE") or any(part.startswith("hook_") for part in name.split("."))


def _spec(name: str, layout: str) -> tuple[str, ...] | None:
    top, block = _SPECS[layout]
    m = _BLOCK_RE.fullmatch(name)
    return top.get(name) if m is None else block.get(m.group(2))


def _zeros(state: Mapping[str, Tensor], *shape: int) -> Tensor:
    return torch.zeros(shape, dtype=state["embed.W_E"].dtype)


def _listing(keys: list[str], most: int = 8) -> str:
    shown = ", ".join(keys[:most])
    return shown + (f" ... and {len(keys) - most} more" if len(keys) > most else "")


__all__ = ["LAYOUTS", "ModelShape", "detect_layout", "infer_shape", "to_grokscope_state"]
