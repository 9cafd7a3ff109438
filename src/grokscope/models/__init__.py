"""Model presets (data) and construction (the only TransformerLens import, in ``build``)."""

from grokscope.models.presets import PRESET_NAMES, PRESET_NOTES, PRESETS, check_preset

__all__ = ["PRESETS", "PRESET_NAMES", "PRESET_NOTES", "check_preset"]
