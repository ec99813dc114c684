"""Fetch the course's optional, larger data while online: ``./get_dataset.sh`` runs this module.

Nothing in the course needs these files: every notebook and test works offline with the bundled
photos and the EfficientNet-Lite0 port. They add more images for the comparison notebooks (08)
and the Keras ImageNet weights that ``utils.models.load_model("mobilenet_v2"/"resnet50")`` reads.
docs/datasets.md describes what each subcommand fetches, its size, licence and how it is verified.

Subcommands (``python -m utils.data.download --help``):

* ``imagenette``  N photos per class from the validation split of Imagenette (160 px);
* ``coco-sample`` N photos of COCO val2017 with their instance annotations (boxes, masks);
* ``models``      the Keras ImageNet weights of MobileNetV2 and ResNet50, into the Keras cache;
* ``list``        what is available and what is already on this machine.

Downloads go through ``pooch`` (download to a temporary file in the target folder, check the
hash, then rename; retries). Archives are checked member by member before anything is extracted,
extracted into a temporary folder and renamed into place, so a folder that exists is complete.
A second run finds the result and does nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit

import pooch

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEST = REPO_ROOT / "data" / "downloads"
DEST_ENV = "COURSE_DATA_DIR"
OFFLINE_NOTE = "the course itself works offline without it"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OFFLINE = 0, 1, 2, 3


@dataclass(frozen=True)
class Remote:
    """One file on the web: where it is, the checksum we trust, and where that checksum comes from."""

    filename: str
    url: str
    known_hash: str | None  # pooch format "md5:<hex>" / "sha256:<hex>"; None where nobody publishes one
    size: str  # approximate, for messages only (the hash is the check)
    hash_source: str


# Checksums are copied from the places named in ``hash_source``; none is computed by us.
REMOTES: dict[str, Remote] = {
    "imagenette2-160": Remote(
        "imagenette2-160.tgz",
        "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz",
        "md5:e793b78cc4c9e9a4ccc0c1155377a412",
        "~95 MiB",
        "md5 from torchvision.datasets.Imagenette (_ARCHIVES['160px']); fastai's checks.txt lists an "
        "older upload (md5 c475f8f7..., 99003388 bytes)",
    ),
    "coco-annotations-2017": Remote(
        "annotations_trainval2017.zip",
        "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        "md5:f4bbac642086de4f52a3fdda2de5fa2c",
        "241 MiB",
        "md5 used by PaddleDetection and MLCommons CK (COCO's site publishes none)",
    ),
    "coco-val2017": Remote(
        "val2017.zip",
        "http://images.cocodataset.org/zips/val2017.zip",
        "md5:442b8da7639aecaf257c1dceb8ba8c80",
        "778 MiB",
        "md5 used by PaddleDetection and MLCommons CK (COCO's site publishes none)",
    ),
}

# keras.applications weights; the URLs and file names live in utils.models.KERAS_WEIGHTS.
MODEL_HASHES: dict[str, tuple[str | None, str]] = {
    "mobilenet_v2": (
        None,
        "none published: keras.applications.MobileNetV2 downloads it without a file_hash; checked "
        "by loading it into the MobileNetV2 architecture instead",
    ),
    "resnet50": (
        "md5:2cb95161c43110f7111970584f804107",
        "md5 from keras.applications.resnet WEIGHTS_HASHES['resnet50'][0] (Keras' own file_hash)",
    ),
}

MODEL_SIZES = {"mobilenet_v2": "~14 MiB", "resnet50": "~98 MiB"}

IMAGENETTE_CLASSES = {  # wnid -> class name, as in torchvision's Imagenette
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}
IMAGENETTE_DIR = "imagenette"
COCO_DIR = "coco-val2017-sample"
COCO_ANNOTATIONS_MEMBER = "annotations/instances_val2017.json"
COCO_SAMPLE_JSON = "instances_val2017_sample.json"
ARCHIVE_DIR = "_archives"
MANIFEST = "MANIFEST.json"


class DownloadError(Exception):
    """A failure the user can act on; the CLI prints its message as one line, no traceback."""

    exit_code = EXIT_FAILED


class OfflineError(DownloadError):
    """The server could not be reached (no network, DNS failure, refused connection, timeout)."""

    exit_code = EXIT_OFFLINE


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the target folder (``../``, absolute path, link out)."""


# --------------------------------------------------------------------------- downloading

def sha256_of(path: Path) -> str:
    """Hex sha256 of a file (recorded in the manifests so later changes can be detected)."""
    return pooch.file_hash(str(path), alg="sha256")


def with_mirror(url: str, mirror: str | None) -> str:
    """The same path on a mirror host (e.g. a classroom server), or ``url`` if no mirror is set."""
    if not mirror:
        return url
    return mirror.rstrip("/") + urlsplit(url).path


def fetch(remote: Remote, folder: Path, *, retries: int = 2, timeout: float = 30.0,
          progress: bool | None = None) -> Path:
    """Download ``remote`` into ``folder`` (verified, atomic) unless a verified copy is there.

    pooch streams into a temporary file inside ``folder``, checks the hash and only then renames
    it to its final name; on a mismatch or a broken connection the temporary file is deleted.
    Raises :class:`OfflineError` when the host cannot be reached and :class:`DownloadError` for
    HTTP errors, truncated transfers and checksum mismatches.
    """
    import requests  # pooch depends on it; imported late to keep ``--help`` fast

    target = Path(folder) / remote.filename
    if target.is_file():
        if remote.known_hash is None or pooch.hashes.hash_matches(str(target), remote.known_hash):
            print(f"{remote.filename}: already there ({_rel(target)})")
            return target
        print(f"{remote.filename}: the copy at {_rel(target)} does not match its checksum; "
              "downloading it again")
    print(f"{remote.filename}: downloading {remote.url} ({remote.size})")
    fetcher = pooch.create(path=Path(folder), base_url="", registry={remote.filename: remote.known_hash},
                           urls={remote.filename: remote.url}, retry_if_failed=retries)
    show = sys.stderr.isatty() if progress is None else progress
    downloader = pooch.HTTPDownloader(progressbar=show, timeout=timeout)
    try:
        return Path(fetcher.fetch(remote.filename, downloader=downloader))
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
        raise OfflineError(
            f"offline or server unreachable: could not download {remote.filename} from {remote.url} "
            f"({type(err).__name__}); {OFFLINE_NOTE}; run this again when online"
        ) from None
    except requests.exceptions.HTTPError as err:
        status = err.response.status_code if err.response is not None else "an error"
        raise DownloadError(f"{remote.url} answered HTTP {status}; nothing was kept") from None
    except requests.exceptions.RequestException as err:
        raise DownloadError(_cut_short(remote, err)) from None
    except ValueError as err:  # pooch: hash mismatch (the temporary file is already deleted)
        raise DownloadError(
            f"checksum mismatch for {remote.filename} from {remote.url}: {_one_line(err)} "
            "The download was deleted; try again, and if it persists the file on the server changed."
        ) from None


def _cut_short(remote: Remote, err: Exception) -> str:
    import requests

    if isinstance(err, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        why = "the connection closed before the announced size"
    else:
        why = _one_line(err)[:200]
    return (f"the download of {remote.filename} from {remote.url} failed ({type(err).__name__}: {why}); "
            "nothing was kept, try again")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _rel(path: Path) -> str:
    """A path relative to the repository when it is inside it (no absolute paths in output)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- safe extraction

def member_refusal(member: tarfile.TarInfo, into: Path) -> str | None:
    """Why an archive member may not be extracted into ``into`` (None if it is safe).

    Refused: absolute paths (also ``C:/``), any ``..`` component, and whatever Python's ``tarfile``
    "data" filter refuses (links whose target leaves the folder, devices, ...). Checked on the
    names, before anything is written; a zip member is checked as the tar member it would be.
    """
    name = member.name.replace("\\", "/")
    if PurePosixPath(name).is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "path with '..'"
    try:
        tarfile.data_filter(member, str(into))
    except tarfile.FilterError as err:
        return _one_line(err)
    return None


def _require_data_filter() -> None:
    if not hasattr(tarfile, "data_filter"):  # added in Python 3.11.4 / 3.12
        raise DownloadError(f"Python {sys.version.split()[0]} has no tarfile data filter, which safe extraction "
                            "needs; use Python 3.11.4 or newer (make install sets up the course's Python)")


def _zip_member(info: zipfile.ZipInfo) -> tarfile.TarInfo:
    member = tarfile.TarInfo(info.filename)
    member.type = tarfile.DIRTYPE if info.is_dir() else tarfile.REGTYPE
    return member


def extract_members(archive: Path, into: Path,
                    choose: Callable[[list[str]], set[str]] | None = None) -> list[str]:
    """Check every member of a tar or zip archive, then extract the chosen ones into ``into``.

    The whole archive is refused (:class:`UnsafeArchiveError`, nothing written) if any member is
    unsafe (:func:`member_refusal`), chosen or not: an archive that carries a ``../`` entry is not
    one to trust; symbolic links in zip files are refused too. tar members are extracted through
    the "data" filter. ``choose`` receives all member names and returns those to extract (default: all).
    """
    _require_data_filter()
    archive, into = Path(archive), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            _refuse_any(archive, [(m.name, member_refusal(m, into)) for m in members])
            names = [m.name for m in members if not m.isdir()]
            wanted = set(names) if choose is None else choose(names)
            tar.extractall(into, members=[m for m in members if m.name in wanted], filter="data")
            return sorted(wanted)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _refuse_any(archive, [(i.filename, "symbolic link (not extracted from zip files)"
                                   if (i.external_attr >> 16) & 0o170000 == 0o120000
                                   else member_refusal(_zip_member(i), into)) for i in infos])
            names = [i.filename for i in infos if not i.is_dir()]
            wanted = set(names) if choose is None else choose(names)
            for info in infos:
                if info.filename in wanted:
                    zf.extract(info, into)
            return sorted(wanted)
    raise DownloadError(f"{archive.name} is neither a tar nor a zip archive")


def _refuse_any(archive: Path, refusals: list[tuple[str, str | None]]) -> None:
    for name, reason in refusals:
        if reason:
            raise UnsafeArchiveError(f"{archive.name}: refusing to extract member {name!r} ({reason}); "
                                     "nothing was extracted")


@contextlib.contextmanager
def staging_dir(parent: Path, label: str) -> Iterator[Path]:
    """A fresh temporary folder next to the final one (same file system, so renames are atomic).

    Always removed afterwards: whatever was not published by :func:`publish` is thrown away.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".partial-{label}-", dir=parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(ready: Path, final: Path, *, replace_existing: bool = False) -> None:
    """Rename a completed folder into place in one step, so ``final`` is never half-written."""
    final = Path(final)
    if final.exists():
        if not replace_existing:
            raise DownloadError(f"{_rel(final)} already exists")
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.rename(final, old)
        os.rename(ready, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(ready, final)


def safe_extract(archive: Path, dest: Path, choose: Callable[[list[str]], set[str]] | None = None) -> Path:
    """Extract ``archive`` into the new folder ``dest`` atomically (temporary folder, then rename)."""
    dest = Path(dest)
    if dest.exists():
        raise DownloadError(f"{_rel(dest)} already exists; remove it to extract again")
    with staging_dir(dest.parent, dest.name) as stage:
        extract_members(archive, stage / "out", choose)
        publish(stage / "out", dest)
    return dest


def write_manifest(folder: Path, info: dict, files: Sequence[Path]) -> None:
    """Record what the folder holds, where it came from and each file's sha256."""
    info = dict(info, files={p.relative_to(folder).as_posix(): sha256_of(p) for p in sorted(files)})
    (Path(folder) / MANIFEST).write_text(json.dumps(info, indent=1) + "\n")


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a published folder, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _already_there(final: Path, wanted: dict, force: bool) -> bool:
    """True (and say so) if ``final`` holds exactly what is asked for; error if it holds something else."""
    manifest = read_manifest(final)
    if manifest is None:
        if final.exists() and not force:
            raise DownloadError(f"{_rel(final)} exists but has no {MANIFEST}; delete it or pass --force")
        return False
    if all(manifest.get(k) == v for k, v in wanted.items()):
        print(f"{final.name}: already there ({_rel(final)}, {len(manifest.get('files', {}))} files); nothing to do")
        return True
    if not force:
        have = {k: manifest.get(k) for k in wanted}
        raise DownloadError(f"{_rel(final)} holds {have}, not {wanted}; pass --force to replace it")
    return False


# --------------------------------------------------------------------------- datasets

def choose_imagenette(names: list[str], per_class: int, split: str = "val") -> set[str]:
    """The first ``per_class`` images (by file name) of each class in one split of the archive."""
    pattern = re.compile(rf"^[^/]+/{split}/(n\d{{8}})/[^/]+\.jpe?g$", re.IGNORECASE)
    by_class: dict[str, list[str]] = {}
    for name in names:
        match = pattern.match(name)
        if match:
            by_class.setdefault(match.group(1), []).append(name)
    if not by_class:
        raise DownloadError(f"the archive has no '{split}' images in the expected layout")
    short = {wnid: len(v) for wnid, v in by_class.items() if len(v) < per_class}
    if short:
        raise DownloadError(f"--per-class {per_class} is more than some classes have: {short}")
    return {name for files in by_class.values() for name in sorted(files)[:per_class]}


def get_imagenette(dest: Path, per_class: int = 10, *, force: bool = False, keep_archive: bool = False,
                   retries: int = 2, mirror: str | None = None) -> Path:
    """Fetch Imagenette (160 px) and keep ``per_class`` validation images of each of its 10 classes.

    Result: ``dest/imagenette/<wnid>/*.JPEG`` and a MANIFEST.json with class names, ImageNet
    class indices and each file's sha256. The validation split is used because ImageNet-trained
    classifiers saw the training split's images.
    """
    remote = REMOTES["imagenette2-160"]
    final = Path(dest) / IMAGENETTE_DIR
    wanted = {"dataset": "imagenette2-160", "split": "val", "per_class": per_class}
    if _already_there(final, wanted, force):
        return final
    archive_dir = Path(dest) / ARCHIVE_DIR
    archive = fetch(replace(remote, url=with_mirror(remote.url, mirror)), archive_dir, retries=retries)
    with staging_dir(Path(dest), IMAGENETTE_DIR) as stage:
        print(f"{remote.filename}: checking every member, extracting {per_class} images per class")
        chosen = extract_members(archive, stage / "raw", lambda names: choose_imagenette(names, per_class))
        out = stage / "out"
        out.mkdir()
        files = []
        for name in chosen:
            wnid = PurePosixPath(name).parent.name
            target = out / wnid / PurePosixPath(name).name
            target.parent.mkdir(exist_ok=True)
            os.replace(stage / "raw" / name, target)
            files.append(target)
        indices = _imagenet_indices()
        write_manifest(out, dict(wanted, source=remote.url, archive_hash=remote.known_hash,
                                 hash_source=remote.hash_source,
                                 classes={w: {"name": n, "imagenet_index": indices.get(w)}
                                          for w, n in IMAGENETTE_CLASSES.items()}), files)
        publish(out, final, replace_existing=force)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    print(f"imagenette: {len(files)} images in {_rel(final)}")
    return final


def _imagenet_indices() -> dict[str, int]:
    """wnid -> ImageNet-1k class index, from the class-index file bundled in data/."""
    path = REPO_ROOT / "data" / "imagenet_class_index.json"
    try:
        return {wnid: int(i) for i, (wnid, _) in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def coco_subset(annotations: dict, n: int, seed: int) -> dict:
    """``n`` val2017 images with at least one non-crowd object, chosen with ``seed``, and their annotations."""
    with_objects = sorted({a["image_id"] for a in annotations["annotations"] if not a.get("iscrowd")})
    if not 1 <= n <= len(with_objects):
        raise DownloadError(f"--n must be between 1 and {len(with_objects)}, got {n}")
    chosen = set(random.Random(seed).sample(with_objects, n))
    return {
        "info": annotations.get("info", {}),
        "licenses": annotations.get("licenses", []),
        "categories": annotations["categories"],
        "images": sorted((im for im in annotations["images"] if im["id"] in chosen), key=lambda im: im["id"]),
        "annotations": [a for a in annotations["annotations"] if a["image_id"] in chosen],
    }


def check_image(path: Path, width: int, height: int) -> None:
    """Decode an image completely and check its size against the annotation (no checksum exists)."""
    from PIL import Image  # Pillow ships with the course's stack

    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
    except Exception as err:  # Pillow raises many types for broken files
        raise DownloadError(f"{path.name} is not a complete image ({type(err).__name__}: {_one_line(err)})") from None
    if size != (width, height):
        raise DownloadError(f"{path.name} is {size[0]}x{size[1]} but its annotation says {width}x{height}")


def get_coco_sample(dest: Path, n: int = 20, *, seed: int = 0, from_zip: bool = False, force: bool = False,
                    keep_archive: bool = False, retries: int = 2, mirror: str | None = None) -> Path:
    """Fetch ``n`` COCO val2017 images with their instance annotations (for localisation metrics).

    The annotations come from the md5-verified annotations archive. The images come one by one
    from images.cocodataset.org (default; COCO publishes no per-image checksum, so each is only
    checked to decode completely at the size its annotation gives, and its sha256 is recorded),
    or, with ``from_zip``, out of the md5-verified val2017.zip (778 MiB).
    """
    final = Path(dest) / COCO_DIR
    wanted = {"dataset": "coco-val2017", "n": n, "seed": seed, "from_zip": from_zip}
    if _already_there(final, wanted, force):
        return final
    archive_dir = Path(dest) / ARCHIVE_DIR
    ann_remote = REMOTES["coco-annotations-2017"]
    ann_zip = fetch(replace(ann_remote, url=with_mirror(ann_remote.url, mirror)), archive_dir, retries=retries)
    try:
        with zipfile.ZipFile(ann_zip) as zf, zf.open(COCO_ANNOTATIONS_MEMBER) as handle:
            subset = coco_subset(json.load(handle), n, seed)
    except (KeyError, zipfile.BadZipFile, ValueError) as err:
        raise DownloadError(f"{ann_zip.name}: cannot read {COCO_ANNOTATIONS_MEMBER} ({_one_line(err)})") from None
    archives = [ann_zip]
    with staging_dir(Path(dest), COCO_DIR) as stage:
        out = stage / "out"
        (out / "images").mkdir(parents=True)
        if from_zip:
            val_remote = REMOTES["coco-val2017"]
            val_zip = fetch(replace(val_remote, url=with_mirror(val_remote.url, mirror)), archive_dir, retries=retries)
            archives.append(val_zip)
            names = {f"val2017/{im['file_name']}" for im in subset["images"]}
            extract_members(val_zip, stage / "raw", lambda all_names: names & set(all_names))
            for im in subset["images"]:
                os.replace(stage / "raw" / "val2017" / im["file_name"], out / "images" / im["file_name"])
            verification = f"images extracted from val2017.zip ({val_remote.known_hash})"
        else:
            for k, im in enumerate(subset["images"], 1):
                url = with_mirror(im["coco_url"], mirror)
                print(f"[{k}/{n}]", end=" ")
                path = fetch(Remote(im["file_name"], url, None, "~160 KiB", "none published"), out / "images",
                             retries=retries, progress=False)
                check_image(path, im["width"], im["height"])
            verification = ("images fetched one by one: COCO publishes no per-image checksum; each was "
                            "decoded completely and its size matched the annotation; sha256 recorded here")
        for im in subset["images"]:
            im["file_name"] = f"images/{im['file_name']}"
        (out / COCO_SAMPLE_JSON).write_text(json.dumps(subset) + "\n")
        files = sorted((out / "images").iterdir()) + [out / COCO_SAMPLE_JSON]
        write_manifest(out, dict(wanted, annotations_source=ann_remote.url,
                                 annotations_hash=ann_remote.known_hash, verification=verification), files)
        publish(out, final, replace_existing=force)
    if not keep_archive:
        for archive in archives:
            archive.unlink(missing_ok=True)
    print(f"coco-sample: {n} images and {len(subset['annotations'])} annotations in {_rel(final)}")
    return final


def check_hdf5(path: Path) -> None:
    """Refuse a file that is not HDF5 (Keras .h5 weights start with the HDF5 signature)."""
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
            raise DownloadError(f"{Path(path).name} is not an HDF5 weights file")


def check_keras_loads(name: str, path: Path) -> None:
    """Load the weights into the keras.applications architecture (the check where no checksum exists)."""
    import keras

    builders = {"mobilenet_v2": keras.applications.MobileNetV2, "resnet50": keras.applications.ResNet50}
    try:
        builders[name](weights=None).load_weights(str(path))
    except Exception as err:  # Keras raises several types for a mismatched file
        raise DownloadError(f"{Path(path).name} does not load into {name} ({type(err).__name__}: "
                            f"{_one_line(err)[:200]})") from None


def get_models(names: Sequence[str] = ("mobilenet_v2", "resnet50"), *, retries: int = 2,
               mirror: str | None = None) -> list[Path]:
    """Put the Keras ImageNet weights where ``utils.models.keras_weights_path(name)`` looks for them."""
    from utils.models import KERAS_WEIGHTS, keras_weights_path  # imports TensorFlow: only here

    done = []
    for name in names:
        filename, url = KERAS_WEIGHTS[name]
        known_hash, source = MODEL_HASHES[name]
        final = keras_weights_path(name)
        remote = Remote(filename, with_mirror(url, mirror), known_hash, MODEL_SIZES[name], source)
        if final.is_file() and (known_hash is None or pooch.hashes.hash_matches(str(final), known_hash)):
            note = "" if known_hash else " (no published checksum; its sha256 is " + sha256_of(final)[:16] + "...)"
            print(f"{name}: already there ({final}){note}")
            done.append(final)
            continue
        with staging_dir(final.parent, name) as stage:
            staged = fetch(remote, stage, retries=retries)
            check_hdf5(staged)
            if known_hash is None:
                print(f"{name}: no published checksum; checking that the file loads into {name}")
                check_keras_loads(name, staged)
                print(f"{name}: loads; sha256 {sha256_of(staged)}")
            os.replace(staged, final)
        print(f"{name}: weights in {final}")
        done.append(final)
    return done


def list_datasets(dest: Path) -> list[tuple[str, str, str]]:
    """(subcommand, what it fetches, whether it is present) for each dataset."""
    rows = []
    for sub, folder, what in (("imagenette", IMAGENETTE_DIR, "Imagenette 160 px, N val images per class"),
                              ("coco-sample", COCO_DIR, "COCO val2017 images + instance annotations")):
        manifest = read_manifest(Path(dest) / folder)
        files = len(manifest.get("files", {})) if manifest is not None else 0
        state = "absent" if manifest is None else f"present: {files} files in {_rel(Path(dest) / folder)}"
        rows.append((sub, what, state))
    try:
        from utils.models import KERAS_WEIGHTS, keras_weights_path

        for name in KERAS_WEIGHTS:
            path = keras_weights_path(name)
            rows.append(("models", f"Keras ImageNet weights: {name}",
                         f"present: {path}" if path.is_file() else "absent"))
    except Exception as err:  # the list must still print if TensorFlow is broken
        rows.append(("models", "Keras ImageNet weights", f"unknown ({type(err).__name__})"))
    return rows


# --------------------------------------------------------------------------- command line

DATASETS = ("imagenette", "coco-sample", "models", "list")

DESCRIPTION = """\
Fetch optional data for the course while online. Nothing here is needed to run the
notebooks or tests: the course works offline without it.

  imagenette    N images per class (default 10) of Imagenette's validation split, 160 px
                (archive ~99 MB, md5-verified, then only the chosen images are kept)
  coco-sample   N images of COCO val2017 (default 20) and their instance annotations
                (annotations archive 241 MiB, md5-verified; the images themselves have no
                published checksum: each is decoded and its size checked against the
                annotation, and its sha256 recorded. --from-zip takes them out of the
                md5-verified val2017.zip instead (778 MiB))
  models        Keras ImageNet weights for MobileNetV2 (~14 MB) and ResNet50 (~98 MB) into
                the Keras cache ($KERAS_HOME/models, default ~/.keras/models); ResNet50 is
                md5-verified (Keras' own hash), MobileNetV2 has no published checksum and is
                checked by loading it into the architecture
  list          what is available and what is already here

Data go to data/downloads/ (or --dest, or $COURSE_DATA_DIR). Archives are checked member by
member (no '../', absolute paths or links out), extracted to a temporary folder and renamed
into place. A second run does nothing. Exit status: 0 done, 1 failed (checksum, broken
download, unsafe archive), 2 usage error, 3 offline. Details: docs/datasets.md."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, with the known names, exit 2
        choice = re.search(r"invalid choice: '([^']*)'", message)
        if choice:
            message = f"unknown dataset {choice.group(1)!r}; known datasets: {', '.join(DATASETS)}"
        self.exit(EXIT_USAGE, f"get_dataset: {message} (see ./get_dataset.sh --help)\n")


def _add_common(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--dest/--retries/--mirror, accepted before and after the dataset name. Only the top-level
    parser has defaults, so an option given before the name is not reset by the subcommand."""
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--dest", type=Path, default=default(None),
                        help=f"target folder (default: ${DEST_ENV} or data/downloads/)")
    parser.add_argument("--retries", type=int, default=default(2), help="extra download attempts (default 2)")
    parser.add_argument("--mirror", default=default(None),
                        help="fetch the same paths from this host instead (checksums still apply)")


def build_parser() -> argparse.ArgumentParser:
    """The CLI: a subcommand per dataset, with shared --dest/--retries/--mirror options."""
    parser = _Parser(prog="get_dataset.sh", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    sub = parser.add_subparsers(dest="dataset", metavar="{" + ",".join(DATASETS) + "}", parser_class=_Parser)
    p = sub.add_parser("imagenette", parents=[common], help="Imagenette subset (val split, 160 px)")
    p.add_argument("--per-class", type=_positive, default=10, help="images per class (default 10)")
    p.add_argument("--force", action="store_true", help="replace an existing, different subset")
    p.add_argument("--keep-archive", action="store_true", help="keep the downloaded .tgz")
    p = sub.add_parser("coco-sample", parents=[common], help="COCO val2017 images + instance annotations")
    p.add_argument("--n", type=_positive, default=20, help="number of images (default 20)")
    p.add_argument("--seed", type=int, default=0, help="which images (default 0)")
    p.add_argument("--from-zip", action="store_true",
                   help="take the images from the md5-verified val2017.zip (778 MiB) instead of one by one")
    p.add_argument("--force", action="store_true", help="replace an existing, different sample")
    p.add_argument("--keep-archive", action="store_true", help="keep the downloaded .zip files")
    sub.add_parser("models", parents=[common], help="Keras ImageNet weights (MobileNetV2, ResNet50)")
    sub.add_parser("list", parents=[common], help="what is available and what is present")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def resolve_dest(dest: Path | None) -> Path:
    """--dest, else $COURSE_DATA_DIR, else data/downloads/ in the repository."""
    if dest is not None:
        return Path(dest)
    return Path(os.environ[DEST_ENV]) if os.environ.get(DEST_ENV) else DEFAULT_DEST


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and make sure a file can be written there, before any download."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DownloadError(f"{what} {folder} is a file, not a folder; choose a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise DownloadError(_os_error(err, folder, what)) from None


def _os_error(err: OSError, where: Path | str | None, what: str = "--dest") -> str:
    from utils.pipeline import os_error_message  # one wording for file-system errors in the course

    hint = ("set KERAS_HOME to a folder you can write to" if "KERAS_HOME" in what
            else "pass --dest with a folder you can write to")
    return os_error_message(err, where, hint=hint) + " Nothing partial was kept."


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; user-facing failures become one line on stderr and an exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.dataset is None:
        parser.print_help()
        return EXIT_USAGE
    pooch.get_logger().setLevel(logging.WARNING)  # we print our own one-line messages
    dest = resolve_dest(args.dest)
    what = "the Keras cache ($KERAS_HOME/models)" if args.dataset == "models" else "--dest"
    try:
        if args.dataset == "imagenette":
            check_writable(dest, what)
            get_imagenette(dest, args.per_class, force=args.force, keep_archive=args.keep_archive,
                           retries=args.retries, mirror=args.mirror)
        elif args.dataset == "coco-sample":
            check_writable(dest, what)
            get_coco_sample(dest, args.n, seed=args.seed, from_zip=args.from_zip, force=args.force,
                            keep_archive=args.keep_archive, retries=args.retries, mirror=args.mirror)
        elif args.dataset == "models":
            from utils.models import keras_cache_dir

            check_writable(keras_cache_dir(), what)
            get_models(retries=args.retries, mirror=args.mirror)
        else:
            for sub, fetched, state in list_datasets(dest):
                print(f"{sub:<12} {fetched:<48} {state}")
    except DownloadError as err:
        print(f"get_dataset: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a full disk or a folder that became unwritable half way
        print(f"get_dataset: {_os_error(err, err.filename or dest, what)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("get_dataset: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
