"""Deep models of the papers, in PyTorch: DLNN (paper 003), stacked sparse autoencoder (paper 001), patch CNN (000).

Registered here so that ``compare``, cross-validation and mapping use them
like any classic model. PyTorch is the optional extra ``susmap[deep]``
(``torch==2.13.0``): the models are listed without it and refused, with the
install command, when a study names them.
"""

from __future__ import annotations

from susmap.models.dlnn import PAPER003, DLNNClassifier
from susmap.models.patch_cnn import PatchCNNClassifier
from susmap.models.registry import ModelSpec, register_model
from susmap.models.sae import PAPER001, StackedSparseAutoencoderClassifier
from susmap.presets import Preset, deviations

__all__ = ["PATCH_CNN_PAPER000"]

_TORCH = ("torch", "deep")

#: Paper 000: the CNN on each cell's neighbourhood; the paper fixes little beyond the epochs.
PATCH_CNN_PAPER000 = Preset(
    {"window_size": 15, "epochs": 200},
    source="paper 000 section 3.2 (CNN on the landslide cells and their neighbouring pixels, 80/20 split), "
    "section 5 (200 epochs), abstract (15-layered CNN)",
    deviations=deviations(
        (
            "a window of 15 x 15 cells around each cell",
            "the paper uses each cell's neighbourhood but gives no window size; 15 is susmap's choice (it is not "
            "the paper's '15 layers')",
        ),
        (
            "susmap's 17-layer network (3 valid 3 x 3 convolutions with batch normalisation and ReLU, 2 max "
            "poolings, dropout, 2 dense layers, softmax) for the paper's 15 layers",
            "the paper gives the number of layers but not the layers (its Fig. 6 is a generic CNN)",
        ),
        (
            "200 epochs",
            "section 5 gives 200 epochs, section 4.1 1,750; the conclusions' figure is taken",
        ),
        (
            "Adam, learning rate 1e-3, batches of 64, dropout 0.25, weight decay 1e-4; flips and rotations of the "
            "window when no factor depends on orientation; 10 % of the training cells held out for the curves",
            "the paper gives no optimizer, learning rate, batch size or regularisation; these are the class defaults",
        ),
        (
            "continuous factors standardised and categorical factors one-hot encoded per window band",
            "the paper classifies its factors (Table 1) but does not say how they enter the network",
        ),
    ),
)

register_model(
    ModelSpec(
        name="dlnn",
        references=("band2020", "rumelhart1986", "kingma2015", "paszke2019"),
        factory=DLNNClassifier,
        description="deep ReLU network, softmax, cross-entropy, Adam (paper 003); preset paper003: 3-3 leaky ReLU, "
        "Adam eta 0.8, 200 epochs",
        presets={"paper003": PAPER003},
        requires=_TORCH,
    )
)
register_model(
    ModelSpec(
        name="sae",
        references=("li2021", "ng2011", "hinton2006", "paszke2019"),
        factory=StackedSparseAutoencoderClassifier,
        description="stacked sparse autoencoder, layer-wise pretraining + softmax fine-tuning (paper 001); "
        "preset paper001: 3 x 110 units",
        scale=False,  # min-max scaled inside, for the sigmoid decoders
        presets={"paper001": PAPER001},
        requires=_TORCH,
    )
)
register_model(
    ModelSpec(
        name="patch_cnn",
        references=("nikoobakht2022", "lecun1998", "kingma2015", "paszke2019"),
        factory=PatchCNNClassifier,
        description="CNN on the 15 x 15 factor window of each cell, 17 layers (paper 000); preset paper000: 200 epochs",
        scale=False,  # standardised inside, per factor band
        presets={"paper000": PATCH_CNN_PAPER000},
        inputs="windows",
        requires=_TORCH,
    )
)
