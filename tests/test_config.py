import pytest

from galaxyutils import config


def test_smoke_profile_resolves_with_its_values():
    params = config.resolve("smoke")
    assert params.profile == "smoke"
    assert params.data.source == "synthetic"
    assert params.train.epochs == 4


def test_dotted_overrides_are_typed_and_applied():
    params = config.resolve("smoke", ["train.epochs=5", "seed=7", "data.image_size=48", "data.root=/tmp/x"])
    assert (params.train.epochs, params.seed, params.data.image_size, params.data.root) == (5, 7, 48, "/tmp/x")


@pytest.mark.parametrize("override", ["no.such=1", "train.no_such=1", "nosuch=1"])
def test_unknown_override_names_the_key(override):
    with pytest.raises(config.ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        config.resolve("smoke", [override])


def test_out_of_range_value_names_the_key():
    with pytest.raises(config.ConfigError, match=r"train\.epochs: Input should be greater than or equal to 1"):
        config.resolve("smoke", ["train.epochs=-1"])


def test_unknown_key_in_profile_is_an_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("train:\n  epoch: 3\n")
    with pytest.raises(config.ConfigError, match=r"'train\.epoch'.*bad\.yaml"):
        config.resolve("bad", config_dir=tmp_path)


def test_profile_extends_its_parent(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  epochs: 4\n  batch_size: 16\n")
    (tmp_path / "child.yaml").write_text("extends: base\ntrain:\n  epochs: 9\n")
    params = config.resolve("child", config_dir=tmp_path)
    assert (params.train.epochs, params.train.batch_size) == (9, 16)


def test_missing_profile_lists_the_available_ones():
    with pytest.raises(config.ConfigError, match="available: .*smoke"):
        config.resolve("no-such-profile")


def test_real_source_needs_a_root():
    with pytest.raises(config.ConfigError, match="data.root is required"):
        config.resolve("smoke", ["data.source=gz2"])


def test_digest_follows_parameters_and_params_yaml_round_trips(tmp_path):
    a, b = config.resolve("smoke"), config.resolve("smoke", ["hdbscan.min_cluster_size=9"])
    assert a.digest() == config.resolve("smoke").digest() != b.digest()
    (tmp_path / "params.yaml").write_text(b.to_yaml())
    assert config.load_params(tmp_path / "params.yaml") == b


@pytest.mark.parametrize("text, message", [
    ("extends: loop\n", "extends itself: loop -> loop"),
    ("- a\n- b\n", "must hold a mapping.*not a list"),
    ("just a string\n", "must hold a mapping.*not a str"),
    ("train: [epochs: 3\n", "is not valid YAML"),
])
def test_a_broken_profile_is_one_clear_error_naming_the_file(tmp_path, text, message):
    (tmp_path / "loop.yaml").write_text(text)
    with pytest.raises(config.ConfigError, match=message) as error:
        config.resolve("loop", config_dir=tmp_path)
    assert "loop.yaml" in str(error.value)


@pytest.mark.parametrize("override, key", [
    ("augment.crop_scale=[0.9,0.1]", "augment.crop_scale"),
    ("augment.crop_scale=[0.5,1.5]", "augment.crop_scale"),
    ("augment.blur_sigma=[2.0,0.5]", "augment.blur_sigma"),
    ("train.lr=.inf", "train.lr"),
    ("train.lr=.nan", "train.lr"),
    ("train.epochs=true", "train.epochs"),
    ("train.nn_support=4", "train.nn_support"),  # smaller than the smoke profile's batch
    ("augment.local_crop_scale=[0.5,0.2]", "augment.local_crop_scale"),
])
def test_nonsense_values_are_refused_naming_the_key(override, key):
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.resolve("smoke", [override])


def test_the_profile_is_not_a_parameter_to_set():
    with pytest.raises(config.ConfigError, match="--profile"):
        config.resolve("smoke", ["profile=demo"])


def test_nearest_neighbour_and_debiased_losses_are_not_combined():
    with pytest.raises(config.ConfigError, match=r"train\.nn_support and train\.tau_plus"):
        config.resolve("smoke", ["train.nn_support=64", "train.tau_plus=0.1"])


def test_local_views_are_not_combined_with_nearest_neighbour_positives():
    with pytest.raises(config.ConfigError, match=r"augment\.local_views and train\.nn_support"):
        config.resolve("smoke", ["augment.local_views=2", "train.nn_support=64"])
