"""benchmarks.library_quality (library maps next to ours), its benchmark part and the --data path."""
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks import config as configs
from benchmarks import datasets
from benchmarks import library_quality as lq
from benchmarks import statistics as st
from benchmarks.quality import photo_masks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cnn():
    """A small softmax CNN (input 32 x 32, two convolutions) and four random images."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(4, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    return model, images


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _matched(key, **changes):
    return {**lq.settings(lq.ADAPTERS[key], "matched", configs.tiny()), **changes}


def test_every_adapter_gives_a_finite_map_at_both_settings_and_its_evaluations_are_counted(cnn):
    model, images = cnn
    counted, read = lq.counting_copy(model)
    expected_evaluations = {("eli5_gradcam", "matched"): 2, ("tf_keras_vis_gradcam", "matched"): 1,
                            ("tf_keras_vis_scorecam", "matched"): 4 + 1, ("shap_gradient", "matched"): 1 + 4,
                            ("tf_keras_vis_smoothgrad", "matched"): 2, ("tf_keras_vis_saliency", "default"): 1}
    for key, adapter in lq.ADAPTERS.items():
        for variant in ("default", "matched"):
            options = lq.settings(adapter, variant, configs.tiny())
            if adapter.needs_background and options.get("background") != "black":
                options["background_images"] = images[1:]
            before = read()
            saliency = adapter.explain(counted, images[0], 1, seed=0, **options)
            assert saliency.shape == (32, 32) and saliency.dtype == np.float32 and np.isfinite(saliency).all(), key
            evaluations = read() - before
            assert evaluations >= 1, (key, variant)
            if (key, variant) in expected_evaluations:
                assert evaluations == expected_evaluations[key, variant], (key, variant, evaluations)


def test_counting_copy_is_the_same_model_and_counts_what_count_model_calls_counts(cnn):
    from utils.explain import METHODS, count_model_calls

    model, images = cnn
    counted, read = lq.counting_copy(model)
    np.testing.assert_array_equal(counted.predict(images, verbose=0), model.predict(images, verbose=0))
    for name, options in (("grad_cam", {}), ("lime", {"num_samples": 40, "progress": False}),
                          ("smoothgrad", {"num_samples": 6, "progress": False})):
        with count_model_calls() as n:
            before = read()
            METHODS[name](counted, images[0], 2, **options)
        assert read() - before == n[0] >= 1, name


def test_matched_settings_reproduce_our_maps(cnn):
    from utils.explain import METHODS, base

    model, images = cnn
    image, target = images[0], 1
    ours = METHODS["saliency"](model, image, target)
    np.testing.assert_allclose(lq.tf_keras_vis_saliency(model, image, target, **_matched("tf_keras_vis_saliency")),
                               ours, rtol=1e-5, atol=1e-12)
    # with no noise every SmoothGrad sample is the plain gradient: the reduction (mean, then max |.|) is ours
    np.testing.assert_allclose(
        lq.tf_keras_vis_saliency(model, image, target, **_matched("tf_keras_vis_smoothgrad", smooth_samples=5,
                                                                  smooth_noise=0.0)),
        METHODS["smoothgrad"](model, image, target, num_samples=5, noise_level=0.0), rtol=1e-5, atol=1e-12)
    ours_cam = METHODS["grad_cam"](model, image, target)
    cam = lq.ADAPTERS["tf_keras_vis_gradcam"].explain(model, image, target, **_matched("tf_keras_vis_gradcam"))
    np.testing.assert_allclose(cam, ours_cam, rtol=1e-4, atol=1e-9)
    coarse = METHODS["grad_cam"](model, image, target, upsample=False)
    eli5_map = lq.eli5_gradcam(model, image, target, **_matched("eli5_gradcam"))
    np.testing.assert_allclose(eli5_map, base.resize_map(coarse / coarse.max(), (32, 32)), atol=1e-3)
    plus = lq.ADAPTERS["tf_keras_vis_gradcam_pp"].explain(model, image, target, **_matched("tf_keras_vis_gradcam_pp"))
    assert _corr(plus, METHODS["grad_cam_pp"](model, image, target)) > 0.9999  # the same up to a positive scale
    score = lq.ADAPTERS["tf_keras_vis_scorecam"].explain(model, image, target, **_matched("tf_keras_vis_scorecam",
                                                                                           max_N=12))
    assert _corr(score, METHODS["score_cam"](model, image, target, num_samples=12)) > 0.999  # masks upsampled by zoom
    # a budget above the layer's 12 channels means all of them, as for ours (tf-keras-vis itself refuses it)
    every = lq.ADAPTERS["tf_keras_vis_scorecam"].explain(model, image, target, **_matched("tf_keras_vis_scorecam",
                                                                                           max_N=64))
    np.testing.assert_allclose(every, score, rtol=1e-5, atol=1e-9)
    expected = lq.shap_gradient(model, image, target, **_matched("shap_gradient", nsamples=400))
    assert _corr(expected, METHODS["integrated_gradients"](model, image, target, num_samples=64,
                                                           baseline="black")) > 0.99
    lime = lq.lime_map(model, image, target, **_matched("lime_image", num_samples=500))
    assert _corr(lime, METHODS["lime"](model, image, target, num_samples=500, progress=False)) > 0.99


def test_the_defaults_differ_from_ours_where_the_documentation_says(cnn):
    from utils.explain import METHODS

    model, images = cnn
    image, target = images[0], 1
    default = lq.settings(lq.ADAPTERS["tf_keras_vis_saliency"], "default", configs.FULL)
    softmax_map = lq.tf_keras_vis_saliency(model, image, target, **default)
    # min-max scaled with Keras' epsilon (1e-7) added to the range, which is not small next to a softmax gradient
    assert float(softmax_map.min()) == 0.0 and 0.5 < float(softmax_map.max()) <= 1.0
    assert _corr(softmax_map, METHODS["saliency"](model, image, target)) < 0.999  # the softmax's gradient


def test_settings_tables_are_complete_and_budgets_match(cnn):
    from utils.explain import METHODS

    full, tiny = configs.FULL, configs.tiny()
    for key, adapter in lq.ADAPTERS.items():
        assert adapter.ours in METHODS and len(adapter.why_matched) > 40, key
        ours = lq.ours_settings(adapter, full)
        assert set(ours) <= set(METHODS[adapter.ours].info.options), key
        matched, default = lq.settings(adapter, "matched", full), lq.settings(adapter, "default", full)
        if adapter.budget:
            budget = METHODS[adapter.ours].info.budget  # our option that takes the matched budget
            assert matched[adapter.budget] == ours[budget] == getattr(full, adapter.budget_field), key
            assert default[adapter.default_budget] == adapter.default[adapter.default_budget]  # never capped in full
            capped = lq.settings(adapter, "default", tiny)[adapter.default_budget]
            assert capped <= tiny.library_default_budget_cap
    json.dumps(lq.adapter_table(full))


def test_benchmark_set_scores_rows_with_intervals_rankings_and_sample_size(cnn):
    model, images = cnn
    masks = np.zeros((4, 32, 32), bool)
    masks[:, 8:16, 8:16] = True
    config = replace(configs.tiny(), library_adapters=("tf_keras_vis_saliency", "eli5_gradcam"),
                     library_extra_ours=("rise",), library_sanity_images=2,
                     library_rankings=(("deletion_auc", ("saliency", "grad_cam"), "lower", "test"),))
    block = lq.benchmark_set(model, images, np.array([0, 1, 2, 3]), masks, config, log=lambda *_: None)
    rows = {(r["method"], r["variant"]): r for r in block["rows"]}
    assert set(rows) == {("saliency", "ours"), ("saliency", "default"), ("saliency", "matched"), ("grad_cam", "ours"),
                         ("grad_cam", "default"), ("grad_cam", "matched"), ("rise", "ours")}
    for row in block["rows"]:
        assert len(row["per_image"]["deletion_auc"]) == 4 and row["summary"]["deletion_auc"]["n"] == 4
        s = row["summary"]["insertion_auc"]
        assert s["low"] <= s["mean"] <= s["high"]
        assert row["per_image"]["sanity_rank_correlation_abs"][2:] == [None, None] and len(row["sanity_verdicts"]) == 2
        assert all(v is not None for v in row["per_image"]["pointing_game"])  # every image has a mask
        assert row["summary"]["model_evaluations"]["mean"] >= 1
    assert rows["saliency", "matched"]["vs_ours"]["deletion_auc"]["verdict"] == st.NOT_RESOLVED  # identical maps
    for key in ("deletion_auc", "pointing_game", "relevance_mass"):  # the same map scores the same
        assert rows["saliency", "matched"]["per_image"][key] == rows["saliency", "ours"]["per_image"][key], key
    assert block["rankings"][0]["order"] == ["saliency", "grad_cam"] and block["rankings"][0]["verdict"] in st.VERDICTS
    assert block["mask_share"]["mean"] == pytest.approx(64 / 1024)
    size = lq.pointing_game_sample_sizes(block)
    assert size["bound"]["n"] == 393 and size["images"] == 4
    assert size["pilot"] is None or size["pilot"]["n_wilcoxon"] >= 1


def test_coco_mask_follows_the_resize_and_centre_crop():
    # a 640 x 480 image: short side 480 -> 256, width 640 -> 341, crop 224 from left 58, top 16
    mask = datasets.coco_mask([[0, 0, 320, 480]], 640, 480)  # the left half of the image
    columns = np.flatnonzero(mask.any(axis=0))
    assert columns[0] == 0 and abs(columns[-1] - (341 // 2 - 58)) <= 1 and mask[:, columns].all()
    assert not datasets.coco_mask([[600, 0, 40, 40]], 640, 480).any()  # cut off by the crop
    two = datasets.coco_mask([[150, 100, 100, 100], [400, 300, 100, 100]], 640, 480)
    one, other = (datasets.coco_mask([box], 640, 480) for box in ([150, 100, 100, 100], [400, 300, 100, 100]))
    assert (two == (one | other)).all() and one.any() and other.any()

def _make_imagenette(root: Path, photos=("coffee", "chelsea")) -> None:
    from utils.data import sample_images

    folder = root / "imagenette"
    classes = {"n07920052": {"name": "espresso", "imagenet_index": 967},
               "n02123159": {"name": "tiger cat", "imagenet_index": 282}}
    for (wnid, _), name in zip(classes.items(), photos):
        (folder / wnid).mkdir(parents=True)
        shutil.copy(sample_images()[name], folder / wnid / f"{name}.JPEG")
    (folder / "MANIFEST.json").write_text(json.dumps({"dataset": "imagenette2-160", "classes": classes}))


def _make_coco(root: Path) -> None:
    from PIL import Image

    from utils.data import sample_images

    folder = root / "coco-val2017-sample"
    (folder / "images").mkdir(parents=True)
    entries, annotations = [], []
    for k, name in enumerate(("dog_cat", "zebra_elephant"), 1):
        with Image.open(sample_images()[name]) as im:
            width, height = im.size
            im.convert("RGB").save(folder / "images" / f"{k:012d}.jpg")
        entries.append({"id": k, "file_name": f"images/{k:012d}.jpg", "width": width, "height": height})
        annotations.append({"image_id": k, "bbox": [0, 0, width / 2, height], "iscrowd": 0, "category_id": 1})
        annotations.append({"image_id": k, "bbox": [0, 0, width, height], "iscrowd": 1, "category_id": 1})
    (folder / "instances_val2017_sample.json").write_text(json.dumps(
        {"images": entries, "annotations": annotations, "categories": [{"id": 1, "name": "animal"}]}))
    (folder / "MANIFEST.json").write_text(json.dumps({"dataset": "coco-val2017"}))


def test_datasets_load_the_layouts_get_dataset_writes(tmp_path):
    _make_imagenette(tmp_path)
    _make_coco(tmp_path)
    nette = datasets.load("imagenette", dest=tmp_path)
    assert nette.images.shape == (2, 224, 224, 3) and sorted(nette.targets) == [282, 967] and nette.masks is None
    assert datasets.count("imagenette", dest=tmp_path) == 2 and datasets.count("imagenette", 1, dest=tmp_path) == 1
    coco = datasets.load("coco-sample", dest=tmp_path)
    assert coco.targets is None and coco.masks.shape == (2, 224, 224)
    assert 0.3 < coco.masks.mean() < 0.7  # the left half (the crowd box is ignored)
    with pytest.raises(datasets.MissingData, match=r"\./get_dataset\.sh imagenette"):
        datasets.load("imagenette", dest=tmp_path / "empty")


def _run(args, env_dest=None, timeout=600):
    import os

    env = dict(os.environ)
    if env_dest is not None:
        env["COURSE_DATA_DIR"] = str(env_dest)
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=env)


def test_missing_data_says_what_to_download_and_exits_2(tmp_path):
    result = _run(["--data", "coco-sample", "--tiny", "--out", str(tmp_path / "out")], env_dest=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "./get_dataset.sh coco-sample" in lines[0]
    assert not (tmp_path / "out").exists()
    wrong = _run(["--data", "imagenette", "--parts", "targets", "--tiny"], env_dest=tmp_path)
    assert wrong.returncode == 2 and "do not run on --data" in wrong.stderr


@pytest.fixture(scope="module")
def imagenette_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _make_imagenette(root)
    out = root / "out"
    result = _run(["--tiny", "--data", "imagenette", "--parts", "library_quality", "--out", str(out)], env_dest=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_data_run_prints_an_estimate_and_a_progress_bar_and_writes_the_table(imagenette_run):
    out, result = imagenette_run
    assert "imagenette: 2 images; parts library_quality; estimated" in result.stdout
    assert "scaled to this machine's speed" in result.stdout  # recorded times differ by processor
    assert "library_quality efficientnet_lite0" in result.stderr and "map" in result.stderr  # tqdm's bar
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["data"] == "imagenette" and set(data["parts"]) == {"library_quality"}
    assert data["speed"] > 0  # the machine speed the next estimate on this folder is scaled from
    block = data["parts"]["library_quality"]
    lite0 = block["models"]["efficientnet_lite0"]
    assert set(block["models"]) == {"efficientnet_lite0"} and lite0["images"] == 2
    assert sorted(lite0["targets"]) == [282, 967]  # explained for the true class
    assert {(r["method"], r["variant"]) for r in lite0["rows"]} == {
        (m, v) for m in ("grad_cam", "lime") for v in ("ours", "default", "matched")}
    markdown = (out / "results.md").read_text()
    assert "Libraries against our implementations" in markdown and "tf_keras_vis.gradcam.Gradcam" in markdown
    assert "[" in markdown.split("### `efficientnet_lite0`")[1]  # intervals


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_lq")
    result = _run(["--tiny", "--parts", "library_quality", "--out", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_tiny_part_on_photos_and_cue_images_records_sample_size_and_settings(bundled_run):
    out, result = bundled_run
    data = json.loads((out / "results.json").read_text())
    block = data["parts"]["library_quality"]
    assert set(block["models"]) == {"efficientnet_lite0", "cue_resnet", "cue_mobilenet"}
    assert block["adapters"]["lime_image"]["matched"]["segmentation"] == "slic"
    for name in ("cue_resnet", "cue_mobilenet"):
        cue = block["models"][name]
        assert cue["images"] == 2 and cue["sample_size"]["bound"]["n"] == 393
        ours = next(r for r in cue["rows"] if r["variant"] == "ours" and r["method"] == "grad_cam")
        assert all(v is not None for v in ours["per_image"]["pointing_game"])
        assert cue["random_twin"]["usable"]
    lite0 = block["models"]["efficientnet_lite0"]
    boxed = [m is not None for m in photo_masks(lite0["names"], lite0["targets"])]
    for row in lite0["rows"]:  # the pointing game exactly on the photos whose top-1 class has an object box
        explained = [i < row["images_explained"] for i in range(lite0["images"])]
        assert [v is not None for v in row["per_image"]["pointing_game"]] == [
            b and e for b, e in zip(boxed, explained)]
    assert any(boxed) and lite0["mask_share"]["n"] == sum(boxed)
    assert "estimated" in result.stdout and block["seconds"] > 0


def test_data_run_on_coco_scores_the_pointing_game_against_the_boxes(tmp_path):
    _make_coco(tmp_path)
    out = tmp_path / "out"
    result = _run(["--tiny", "--data", "coco-sample", "--parts", "photos,library_quality", "--out", str(out)],
                  env_dest=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    photos = data["parts"]["photos"]["models"]["efficientnet_lite0"]
    assert photos["images"] == 2 and photos["data"] == "coco-sample"
    assert all(r["pointing_game"] is not None for r in photos["methods"])
    lite0 = data["parts"]["library_quality"]["models"]["efficientnet_lite0"]
    assert 0.3 < lite0["mask_share"]["mean"] < 0.7
    assert all(v is not None for r in lite0["rows"] for v in r["per_image"]["pointing_game"])
    assert "photos on coco-sample" in result.stderr


def test_sanity_pass_gives_each_explainer_the_verdict_of_its_own_randomisation_check(cnn):
    import functools

    from utils.evaluation import metrics
    from utils.explain import METHODS

    model, images = cnn
    fns = {"saliency": METHODS["saliency"], "rise": functools.partial(METHODS["rise"], num_samples=32, progress=False),
           "tkv": functools.partial(lq.tf_keras_vis_saliency, **_matched("tf_keras_vis_saliency"))}
    together = lq.sanity_pass(fns, model, images[1], 2, stages=3)
    for name, fn in fns.items():
        alone = metrics.model_randomisation_check(fn, model, images[1], 2, stages=3)
        assert together[name]["rank_correlation_abs"] == pytest.approx(alone["spearman_abs"][-1], abs=1e-9), name
        assert together[name]["verdict"] == alone["verdict"], name


def test_the_lime_adapter_speaks_our_baseline_vocabulary(cnn):
    import dataclasses
    import inspect

    from utils.explain import METHODS

    model, images = cnn
    ours = inspect.signature(METHODS["lime"]).parameters["baseline"].default
    assert lq.ADAPTERS["lime_image"].matched["baseline"] == ours == "segment_mean"  # lime's hide_color=None
    grey = lq.lime_map(model, images[0], 1, **_matched("lime_image", num_samples=40, baseline=127.0))
    mean = lq.lime_map(model, images[0], 1, **_matched("lime_image", num_samples=40))
    assert grey.shape == (32, 32) and not np.allclose(grey, mean)
    with pytest.raises(ValueError, match="lime hides superpixels") as info:
        lq.lime_map(model, images[0], 1, **_matched("lime_image", num_samples=40, baseline="blur"))
    assert "\n" not in str(info.value)
    unbudgeted = dataclasses.replace(lq.ADAPTERS["tf_keras_vis_scorecam"], ours="grad_cam")
    with pytest.raises(ValueError, match="our method has none"):
        lq.ours_settings(unbudgeted, configs.FULL)


def test_photo_masks_give_the_object_box_of_the_explained_class_or_none():
    from utils.data import object_boxes, object_mask, sample_images

    box = object_boxes(sample_images()["zebra"])[0]
    masks = photo_masks(["zebra", "zebra"], [box.class_index, 0])
    assert np.array_equal(masks[0], object_mask(sample_images()["zebra"], 224, box.class_index))
    assert masks[0].any() and masks[1] is None  # no box of class 0 (tench) on the zebra photo


def test_library_defaults_can_be_capped_to_the_first_images_and_others_are_not():
    variants = {v.variant: v for v in lq.build_variants(configs.tiny())}
    assert lq.explained_images(variants["default"], 10, 4) == 4
    assert lq.explained_images(variants["default"], 3, 4) == 3
    assert lq.explained_images(variants["default"], 10, None) == 10
    assert lq.explained_images(variants["matched"], 10, 4) == 10 and lq.explained_images(variants["ours"], 10, 4) == 10
