"""Figures shared by the notebooks; each returns a matplotlib Figure for ``Run.save_figure``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from .cluster import count_clusters
from .config import TrainParams

# What every vote panel says its numbers are: GZ2's weighted fractions are conditional, each the
# share of the volunteers who reached that question (edge-on is asked only of discs).
VOTE_FRACTION = "weighted vote fraction\n(of volunteers who reached the question)"


def image_grid(images: np.ndarray, groups: pd.Series, per_group: int = 6, seed: int = 0, title: str = "") -> plt.Figure:
    """A row of random examples for each group (class, cluster, ...)."""
    rng = np.random.default_rng(seed)
    names = sorted(groups.dropna().unique(), key=str)
    figure, axes = plt.subplots(len(names), per_group, figsize=(1.4 * per_group, 1.4 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        members = np.flatnonzero((groups == name).to_numpy())
        chosen = rng.choice(members, min(per_group, len(members)), replace=False)
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([]), ax.set_yticks([])
            if col < len(chosen):
                ax.imshow(images[chosen[col]])
        axes[row, 0].set_ylabel(f"{name}\n(n={len(members)})", fontsize=8)
    figure.suptitle(title)
    return figure


def training_curve(log: pd.DataFrame, train: TrainParams | None = None, local_views: int = 0) -> plt.Figure:
    """Loss and collapse monitor per epoch; the loss named as ``train`` chose it, and the views
    it paired when ``local_views`` (``augment.local_views``) added multi-crop ones."""
    figure, (loss_ax, std_ax) = plt.subplots(1, 2, figsize=(9, 3))
    loss_ax.plot(log.epoch, log.loss, marker="o")
    if train is not None and train.nn_support:
        loss_name = f"nearest-neighbour loss (support {train.nn_support})"
    elif train is not None and train.tau_plus:
        loss_name = f"debiased NT-Xent loss (tau+ = {train.tau_plus:g})"
    else:
        loss_name = "NT-Xent loss"
    title = f"training loss, 2 full + {local_views} local views" if local_views else "training loss"
    loss_ax.set(xlabel="epoch", ylabel=loss_name, title=title)
    std_ax.plot(log.epoch, log.embedding_std, marker="o", color="C1")
    std_ax.set(xlabel="epoch", ylabel="std of normalised projections", title="collapse monitor (0 = collapsed)")
    figure.tight_layout()
    return figure


def explained_variance(ratio: np.ndarray, n_components: int, threshold: float) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.arange(1, len(ratio) + 1), np.cumsum(ratio), marker=".")
    ax.axhline(threshold, color="grey", ls="--", lw=1)
    ax.axvline(n_components, color="C3", lw=1, label=f"{n_components} components kept")
    ax.set(xlabel="principal components", ylabel="cumulative explained variance", ylim=(0, 1.02))
    ax.legend()
    return figure


NOISE_COLOUR = "#c8c8c8"


def jpeg_preview(figure: plt.Figure) -> bytes:
    """A compact JPEG of ``figure`` for a saved notebook (the PNG in the run folder is the one to use)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="jpeg", dpi=60, bbox_inches="tight", pil_kwargs={"quality": 70})
    return buffer.getvalue()


def cluster_name(cluster: int) -> str:
    """How every figure and table names a cluster id: HDBSCAN's -1 is "noise"."""
    return "noise" if cluster == -1 else f"cluster {cluster}"


def cluster_colours(n_clusters: int) -> list[str]:
    """One colour per cluster id, the same in every figure and in the explorer: tab10's ten
    distinct hues first (tab20's light/dark pairs are hard to tell apart), then evenly spaced
    hues; noise is always ``NOISE_COLOUR``."""
    base = sns.color_palette("tab10", 10).as_hex()
    extra = sns.color_palette("husl", max(0, n_clusters - 10)).as_hex()
    return (base + extra)[:max(0, n_clusters)]


def scatter_clusters(xy: np.ndarray, labels: np.ndarray, title: str = "UMAP, coloured by HDBSCAN cluster") -> plt.Figure:
    figure, ax = plt.subplots(figsize=(6, 5))
    noise = labels == -1
    ax.scatter(*xy[noise].T, s=4, c=NOISE_COLOUR, label=f"noise ({noise.sum()})")
    palette = cluster_colours(count_clusters(labels))
    for cluster in range(count_clusters(labels)):
        members = labels == cluster
        ax.scatter(*xy[members].T, s=5, color=palette[cluster], label=f"{cluster} ({members.sum()})")
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return figure


def scatter_values(xy: np.ndarray, values: pd.DataFrame) -> plt.Figure:
    """One panel per column (e.g. vote fractions), points coloured by its value."""
    n = len(values.columns)
    figure, axes = plt.subplots(1, n, figsize=(3 * n, 3), squeeze=False)
    for ax, name in zip(axes[0], values.columns):
        points = ax.scatter(*xy.T, s=3, c=values[name], cmap="viridis", vmin=0, vmax=1)
        ax.set(title=name, xticks=[], yticks=[])
    figure.colorbar(points, ax=axes[0].tolist(), shrink=0.8, label=VOTE_FRACTION)
    return figure


def cluster_heatmap(table: pd.DataFrame) -> plt.Figure:
    """Mean vote fraction per cluster x answer, with member counts in the row labels."""
    values = table.drop(columns="count")
    figure, ax = plt.subplots(figsize=(1.1 * len(values.columns) + 2, 0.45 * len(values) + 1.5))
    sns.heatmap(values, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="magma", ax=ax,
                yticklabels=[f"{cluster_name(c)} (n={n})" for c, n in table["count"].items()],
                cbar_kws={"label": "mean " + VOTE_FRACTION})
    ax.set(xlabel="answer", ylabel="")
    return figure


def confusion(labels: np.ndarray, truth: pd.Series) -> plt.Figure:
    """For each cluster, the fraction of its galaxies in each true class (rows sum to 1), with
    the cluster's size in its label."""
    table = pd.crosstab(pd.Series(labels, name="cluster"), truth.reset_index(drop=True).rename("class"))
    shares = table.div(table.sum(axis=1), axis=0)
    figure, ax = plt.subplots(figsize=(1.2 * len(table.columns) + 2.5, 0.45 * len(table) + 1.5))
    sns.heatmap(shares, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", ax=ax,
                yticklabels=[f"{cluster_name(c)} (n={n})" for c, n in table.sum(axis=1).items()],
                cbar_kws={"label": "fraction of the cluster's galaxies"})
    ax.set(xlabel="true class", ylabel="")
    return figure


def augmented_views(original: np.ndarray, views: np.ndarray, title: str) -> plt.Figure:
    """One galaxy and several random views of it (uint8 images)."""
    figure, axes = plt.subplots(1, len(views) + 1, figsize=(1.5 * (len(views) + 1), 1.7))
    for ax, image, label in zip(axes, [original, *views], ["original"] + [f"view {i + 1}" for i in range(len(views))]):
        ax.imshow(image)
        ax.set(xticks=[], yticks=[])
        ax.set_title(label, fontsize=8)
    figure.suptitle(title)
    return figure


def vote_histograms(votes: pd.DataFrame) -> plt.Figure:
    """Distribution of each key vote fraction (NaN left out)."""
    n = len(votes.columns)
    figure, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.4), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], votes.columns):
        ax.hist(votes[name].dropna(), bins=20, range=(0, 1), color="C0")
        ax.set(title=name, xlabel=VOTE_FRACTION)
    axes[0, 0].set_ylabel("galaxies")
    figure.tight_layout()
    return figure


def synthetic_vs_real(synthetic_images: dict[str, list[np.ndarray]], real_images: dict[str, list[np.ndarray]], real_label: dict[str, str]) -> plt.Figure:
    """Per family, synthetic examples (left) beside real GZ2 galaxies of the same kind (right)."""
    families = list(synthetic_images)
    n_synthetic = max(len(v) for v in synthetic_images.values())
    n_real = max([len(v) for v in real_images.values()] + [0])
    columns = n_synthetic + n_real
    figure, axes = plt.subplots(len(families), columns, figsize=(1.3 * columns, 1.35 * len(families)), squeeze=False)
    for row, family in enumerate(families):
        images = list(synthetic_images[family]) + [None] * (n_synthetic - len(synthetic_images[family])) + list(real_images.get(family, []))
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([]), ax.set_yticks([])
            if col < len(images) and images[col] is not None:
                ax.imshow(images[col])
                if col >= n_synthetic:
                    for spine in ax.spines.values():
                        spine.set_color("C3")
            elif col > 0:
                ax.axis("off")  # no real galaxy of this kind in the sample: no empty frame
        axes[row, 0].set_ylabel(family.replace("_", " "), fontsize=8)
        if n_real and real_images.get(family):
            axes[row, n_synthetic].set_title(f"{real_label[family]}", fontsize=7, color="C3", loc="left")
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    header = dict(fontsize=10, fontweight="bold", ha="center")
    left, right = axes[0, 0].get_position().x0, axes[0, n_synthetic - 1].get_position().x1
    figure.text((left + right) / 2, 0.97, "synthetic (drawn by galaxyutils.synthetic)", **header)
    if n_real:
        left, right = axes[0, n_synthetic].get_position().x0, axes[0, -1].get_position().x1
        figure.text((left + right) / 2, 0.97, "real GZ2 galaxies of the same kind", color="C3", **header)
    return figure


def hdbscan_sweep(table: pd.DataFrame, chosen: dict, max_noise: float | None = None) -> plt.Figure:
    """DBCV against noise fraction for every setting tried, one panel per clustering space; the
    chosen one circled, the noise limit dashed."""
    spaces = list(dict.fromkeys(table.get("space", pd.Series(["pca"] * len(table)))))
    sizes = sorted(table.min_cluster_size.unique())
    colours = dict(zip(sizes, sns.color_palette("colorblind", len(sizes))))
    samples = list(dict.fromkeys(None if pd.isna(v) else int(v) for v in table.min_samples))
    markers = dict(zip(samples, "o^sDv"))
    figure, axes = plt.subplots(1, len(spaces), figsize=(4.5 * len(spaces) + 2, 4), squeeze=False, sharey=True)
    for ax, space in zip(axes[0], spaces):
        in_space = table[table.get("space", "pca") == space]
        for row in in_space.itertuples():
            sample = None if pd.isna(row.min_samples) else int(row.min_samples)
            colour = colours[row.min_cluster_size]
            ax.scatter(row.noise_fraction, row.dbcv, s=45, marker=markers[sample], edgecolors=colour, lw=1.5,
                       facecolors=colour if row.cluster_selection_method == "eom" else "none")
        if chosen.get("space", "pca") == space:
            pick = in_space[(in_space.min_cluster_size == chosen["min_cluster_size"]) & (in_space.cluster_selection_method == chosen["cluster_selection_method"])
                            & (in_space.min_samples.fillna(-1) == (chosen["min_samples"] if chosen["min_samples"] is not None else -1))]
            ax.scatter(pick.noise_fraction, pick.dbcv, s=250, facecolors="none", edgecolors="C3", lw=2)
        if max_noise is not None:
            ax.axvline(max_noise, color="0.5", ls="--", lw=1)
        ax.set(xlabel="noise fraction", title=f"HDBSCAN in the {space.upper()} space")
    axes[0][0].set_ylabel("DBCV (relative validity)")
    handles = [Line2D([], [], ls="", marker="o", color=colours[size], label=f"min_cluster_size {size}") for size in sizes]
    handles += [Line2D([], [], ls="", marker=markers[sample], color="0.3", label=f"min_samples {'= min_cluster_size' if sample is None else sample}")
                for sample in samples]
    handles += [Line2D([], [], ls="", marker="o", color="0.3", label="eom (filled)"),
                Line2D([], [], ls="", marker="o", markerfacecolor="none", color="0.3", label="leaf (hollow)"),
                Line2D([], [], ls="", marker="o", markersize=14, markerfacecolor="none", markeredgecolor="C3", label="chosen")]
    if max_noise is not None:
        handles.append(Line2D([], [], ls="--", color="0.5", label=f"noise limit ({max_noise:.0%})"))
    figure.legend(handles=handles, loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def condensed_tree(clusterer) -> plt.Figure:
    """HDBSCAN's condensed tree with the selected clusters outlined.

    hdbscan's own ``select_clusters=True`` draws ellipses that fail on matplotlib >= 3.10, so
    the selected clusters are outlined here from the tree's plot data (``_select_clusters`` is
    the library's own, private, selection).
    """
    figure, ax = plt.subplots(figsize=(8, 4.5))
    tree = clusterer.condensed_tree_
    tree.plot(axis=ax, colorbar=True)
    bounds = tree.get_plot_data()["cluster_bounds"]
    # hdbscan numbers the selected nodes in increasing node order: cluster k is the k-th smallest.
    selected = sorted(tree._select_clusters())
    palette = cluster_colours(len(selected))
    for k, node in enumerate(selected):
        left, right, bottom, top = bounds[node]
        ax.add_patch(plt.Rectangle((left, bottom), right - left, top - bottom, fill=False, lw=2, edgecolor=palette[k]))
        ax.annotate(str(k), ((left + right) / 2, bottom), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    fontsize=9, fontweight="bold", color=palette[k], bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    ax.set_title("HDBSCAN condensed tree: selected clusters outlined, labelled with their cluster id")
    return figure


def gallery(images: np.ndarray, rows_by_group: dict, captions: dict | None = None, title: str = "") -> plt.Figure:
    """One row of images per group (e.g. per cluster: exemplars then random members)."""
    groups = list(rows_by_group)
    columns = max([len(v) for v in rows_by_group.values()] + [1])
    figure, axes = plt.subplots(len(groups), columns, figsize=(1.3 * columns, 1.4 * len(groups)), squeeze=False)
    for r, group in enumerate(groups):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(rows_by_group[group]):
                ax.imshow(images[rows_by_group[group][c]])
                if captions and group in captions and c < len(captions[group]):
                    ax.set_title(captions[group][c], fontsize=6)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(str(group), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def cluster_galleries(images: np.ndarray, rows_by_cluster: dict[int, list[int]]) -> plt.Figure:
    """One row per cluster (noise last, named as everywhere): its exemplars, then random members."""
    order = sorted(rows_by_cluster, key=lambda c: (c == -1, c))
    named = {f"{cluster_name(c)}": rows_by_cluster[c] for c in order}
    return gallery(images, named, title="cluster galleries: exemplars, then random members")


def outlier_gallery(images: np.ndarray, clusters: pd.DataFrame, n: int = 12, columns: int = 6) -> plt.Figure:
    """The ``n`` galaxies with the highest GLOSH outlier score in a grid, each with its whole id,
    its score and its cluster."""
    outliers = clusters.sort_values("outlier_score", ascending=False).head(n)
    rows = -(-len(outliers) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 2.0 * rows + 0.4), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (row, galaxy) in zip(axes.flat, outliers.iterrows()):
        ax.imshow(images[row])
        ax.set_title(f"{galaxy.id_str}\nscore {galaxy.outlier_score:.2f}, {cluster_name(int(galaxy.cluster))}", fontsize=6)
    figure.suptitle("top outliers (GLOSH score)")
    return figure


def thumbnail_map(xy: np.ndarray, images: np.ndarray, cells: int = 20, seed: int = 0) -> plt.Figure:
    """How astronomers read a UMAP: the plane cut into cells x cells, each occupied cell showing
    the galaxy nearest its centre (ssl-legacysurvey style)."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    cell = np.minimum(((xy - lo) / span * cells).astype(int), cells - 1)
    size = images.shape[1]
    canvas = np.zeros((cells * size, cells * size, 3), np.uint8)
    centres = lo + (cell + 0.5) / cells * span
    distance = np.linalg.norm(xy - centres, axis=1)
    order = np.lexsort((distance, cell[:, 1], cell[:, 0]))
    seen = set()
    for row in order:
        key = (cell[row, 0], cell[row, 1])
        if key in seen:
            continue
        seen.add(key)
        x, y = key[0], cells - 1 - key[1]  # y up, as in the scatter plots
        canvas[y * size : (y + 1) * size, x * size : (x + 1) * size] = images[row]
    figure, ax = plt.subplots(figsize=(9, 9))
    ax.imshow(canvas)
    ax.set(xticks=[], yticks=[], title=f"UMAP thumbnail map: the galaxy nearest the centre of each of {len(seen)} occupied cells")
    return figure
