"""Deep models of the papers, in PyTorch: DLNN (paper 003), stacked sparse autoencoder (paper 001), patch CNN (000).

Registered here so that ``compare``, cross-validation and mapping use them
like any classic model. PyTorch is the optional extra ``susmap[deep]``
(``torch==2.13.0``): the models are listed without it and refused, with the
install command, when a study names them.
"""

from __future__ import annotations

from susmap.models.dlnn import PAPER003_PRESET, DLNNClassifier
from susmap.models.patch_cnn import PatchCNNClassifier
from susmap.models.registry import ModelSpec, register_model
from susmap.models.sae import PAPER001_PRESET, StackedSparseAutoencoderClassifier

__all__: list[str] = []

_TORCH = ("torch", "deep")

register_model(
    ModelSpec(
        name="dlnn",
        factory=DLNNClassifier,
        description="deep ReLU network, softmax, cross-entropy, Adam (paper 003); preset paper003: 3-3 leaky ReLU",
        presets={"paper003": PAPER003_PRESET},
        requires=_TORCH,
    )
)
register_model(
    ModelSpec(
        name="sae",
        factory=StackedSparseAutoencoderClassifier,
        description="stacked sparse autoencoder, layer-wise pretraining + softmax fine-tuning (paper 001); "
        "preset paper001: 3 x 110 units",
        scale=False,  # min-max scaled inside, for the sigmoid decoders
        presets={"paper001": PAPER001_PRESET},
        requires=_TORCH,
    )
)
register_model(
    ModelSpec(
        name="patch_cnn",
        factory=PatchCNNClassifier,
        description="CNN on the 15 x 15 factor window of each cell, 17 layers (paper 000); preset paper000: 200 epochs",
        scale=False,  # standardised inside, per factor band
        presets={"paper000": {"window_size": 15, "epochs": 200}},
        inputs="windows",
        requires=_TORCH,
    )
)
