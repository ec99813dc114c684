"""Tests of utils/data/download.py and get_dataset.sh, all without the internet.

A small HTTP server on 127.0.0.1 (a thread, random port) serves good, corrupted and truncated
files and crafted archives; "offline" is a closed port on 127.0.0.1. The tests also run inside
``unshare -rn`` (a network namespace whose loopback starts down): the server fixture brings the
namespace's own loopback up when it has to.
"""
from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from utils.data import download
from utils.data.download import DownloadError, OfflineError, Remote, UnsafeArchiveError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "get_dataset.sh"


# --------------------------------------------------------------------------- local server

class _Files(BaseHTTPRequestHandler):
    """Serves ``server.files[path]``; ``server.truncated[path]`` announces more bytes than it sends."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        if self.path in self.server.truncated:
            body = self.server.truncated[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 10))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


def _bring_loopback_up() -> None:
    """Set IFF_UP on ``lo`` (needed inside ``unshare -rn``, where we own the namespace)."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


def _loopback_reachable(address) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    httpd.files, httpd.truncated, httpd.requests = {}, {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    if not _loopback_reachable(httpd.server_address):
        try:
            _bring_loopback_up()
        except OSError as err:
            pytest.skip(f"127.0.0.1 unreachable and loopback cannot be brought up ({err})")
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port(server) -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).rglob("*")) if Path(folder).exists() else []


def _tar(entries: dict[str, bytes], links: dict[str, tuple[str, bytes]] | None = None) -> bytes:
    """A .tar.gz in memory; ``links`` maps a name to (target, tarfile.SYMTYPE or LNKTYPE)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (target, kind) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buffer.getvalue()


def _jpeg(width: int, height: int, shade: int = 120) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- fetch

def test_good_file_is_verified_lands_atomically_and_second_run_is_a_no_op(server, tmp_path, capsys):
    data = b"course data " * 1000
    server.files["/good.bin"] = data
    remote = Remote("good.bin", server.base + "/good.bin", _sha256(data), "12 KiB", "test")
    path = download.fetch(remote, tmp_path, retries=0, progress=False)
    assert path == tmp_path / "good.bin" and path.read_bytes() == data
    assert _leftovers(tmp_path) == ["good.bin"], "the temporary file must have been renamed, not copied"
    before = len(server.requests)
    capsys.readouterr()
    assert download.fetch(remote, tmp_path, retries=0, progress=False) == path
    assert "already there" in capsys.readouterr().out
    assert len(server.requests) == before, "a second run must not download again"


def test_corrupted_file_fails_the_checksum_and_leaves_nothing(server, tmp_path):
    server.files["/corrupt.bin"] = b"this is not what was published"
    remote = Remote("corrupt.bin", server.base + "/corrupt.bin", _sha256(b"the published bytes"), "1 KiB", "test")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download.fetch(remote, tmp_path, retries=0, progress=False)
    assert _leftovers(tmp_path) == []


def test_md5_checksums_are_understood(server, tmp_path):
    data = b"md5 is what Keras, fastai and COCO publish"
    server.files["/md5.bin"] = data
    remote = Remote("md5.bin", server.base + "/md5.bin", "md5:" + hashlib.md5(data).hexdigest(), "1 KiB", "test")
    assert download.fetch(remote, tmp_path, retries=0, progress=False).read_bytes() == data
    wrong = Remote("md5b.bin", server.base + "/md5.bin", "md5:" + "0" * 32, "1 KiB", "test")
    with pytest.raises(DownloadError, match="MD5"):
        download.fetch(wrong, tmp_path, retries=0, progress=False)


@pytest.mark.parametrize("known_hash", [None, _sha256(b"x" * 5000)], ids=["no-checksum", "with-checksum"])
def test_truncated_download_is_an_error_and_leaves_nothing(server, tmp_path, known_hash):
    server.truncated["/short.bin"] = b"x" * 500  # announces 5000 bytes
    remote = Remote("short.bin", server.base + "/short.bin", known_hash, "5 KiB", "test")
    with pytest.raises(DownloadError, match="closed before the announced size"):
        download.fetch(remote, tmp_path, retries=0, progress=False)
    assert _leftovers(tmp_path) == []


def test_http_error_is_reported(server, tmp_path):
    remote = Remote("missing.bin", server.base + "/missing.bin", None, "?", "test")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download.fetch(remote, tmp_path, retries=0, progress=False)
    assert _leftovers(tmp_path) == []


def test_unreachable_host_raises_offline_error(closed_port, tmp_path):
    remote = Remote("x.bin", f"http://127.0.0.1:{closed_port}/x.bin", None, "?", "test")
    with pytest.raises(OfflineError, match="offline") as info:
        download.fetch(remote, tmp_path, retries=0, progress=False)
    assert "\n" not in str(info.value) and "works offline without it" in str(info.value)


# --------------------------------------------------------------------------- safe extraction

@pytest.mark.parametrize("archive", [
    _tar({"data/ok.txt": b"ok", "../evil.txt": b"escaped"}),
    _tar({"data/ok.txt": b"ok", "data/../../evil.txt": b"escaped"}),
    _tar({"data/ok.txt": b"ok", "/tmp/evil.txt": b"absolute"}),
    _tar({"data/ok.txt": b"ok"}, links={"data/link": ("../../evil.txt", tarfile.SYMTYPE)}),
    _tar({"data/ok.txt": b"ok"}, links={"data/link": ("/etc/passwd", tarfile.SYMTYPE)}),
    _tar({"data/ok.txt": b"ok"}, links={"data/hard": ("../evil.txt", tarfile.LNKTYPE)}),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out"])
def test_unsafe_tar_is_refused_and_nothing_is_written(tmp_path, archive):
    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / "evil.tgz"
    source.write_bytes(archive)
    dest = tmp_path / "work" / "out"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        download.safe_extract(source, dest)
    assert not dest.exists()
    assert _leftovers(tmp_path / "work") == [], "no temporary folder may be left behind"
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work" / "evil.txt").exists()


def test_unsafe_zip_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("data/ok.txt", "ok")
        zf.writestr("../evil.txt", "escaped")
    source = tmp_path / "evil.zip"
    source.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeArchiveError, match="'../evil.txt'"):
        download.safe_extract(source, tmp_path / "work" / "out")
    assert _leftovers(tmp_path / "work") == [] and not (tmp_path / "evil.txt").exists()


def test_safe_archive_is_extracted_atomically_with_an_inner_link(tmp_path):
    source = tmp_path / "good.tgz"
    source.write_bytes(_tar({"data/a.txt": b"a", "data/b/c.txt": b"c"},
                            links={"data/b/link": ("../a.txt", tarfile.SYMTYPE)}))
    dest = download.safe_extract(source, tmp_path / "work" / "out")
    assert (dest / "data" / "a.txt").read_bytes() == b"a"
    assert (dest / "data" / "b" / "c.txt").read_bytes() == b"c"
    assert (dest / "data" / "b" / "link").read_bytes() == b"a"  # a link inside the folder is fine
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["out"], "no temporary folder left"
    with pytest.raises(DownloadError, match="already exists"):
        download.safe_extract(source, dest)


@pytest.mark.parametrize("name, link, kind, reason", [
    ("a/b.txt", None, tarfile.REGTYPE, None),
    ("a/../../x", None, tarfile.REGTYPE, "'..'"),
    ("a/../b.txt", None, tarfile.REGTYPE, "'..'"),  # stays inside, but an archive with '..' is not trusted
    ("/etc/passwd", None, tarfile.REGTYPE, "absolute"),
    ("C:/x", None, tarfile.REGTYPE, "absolute"),
    ("a/link", "../b.txt", tarfile.SYMTYPE, None),
    ("a/link", "../../b.txt", tarfile.SYMTYPE, "outside the destination"),
    ("a/link", "/etc/passwd", tarfile.SYMTYPE, "absolute path"),
    ("a/hard", "../x", tarfile.LNKTYPE, "outside the destination"),
    ("a/dev", None, tarfile.CHRTYPE, "special file"),
])
def test_member_refusal(tmp_path, name, link, kind, reason):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link or ""
    found = download.member_refusal(member, tmp_path)
    assert (found is None) if reason is None else (reason in found), found


# --------------------------------------------------------------------------- subcommands, end to end

def _imagenette_archive(per_split: int = 4) -> bytes:
    entries = {}
    for wnid in ("n01440764", "n02102040", "n03445777"):
        for split in ("train", "val"):
            for k in range(per_split):
                entries[f"imagenette2-160/{split}/{wnid}/{split}_{wnid}_{k}.JPEG"] = _jpeg(16, 12, 20 * k)
    entries["imagenette2-160/noisy_imagenette.csv"] = b"path,label\n"
    return _tar(entries)


def test_imagenette_subcommand_end_to_end(server, tmp_path, monkeypatch, capsys):
    archive = _imagenette_archive()
    server.files["/fast-ai-imageclas/imagenette2-160.tgz"] = archive
    remote = download.REMOTES["imagenette2-160"]
    monkeypatch.setitem(download.REMOTES, "imagenette2-160",
                        Remote(remote.filename, server.base + "/fast-ai-imageclas/imagenette2-160.tgz",
                               _sha256(archive), "tiny", "test"))
    args = ["imagenette", "--per-class", "2", "--dest", str(tmp_path), "--retries", "0"]
    assert download.main(args) == 0
    out = tmp_path / "imagenette"
    images = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.JPEG"))
    assert len(images) == 6 and all("/val_" in p for p in images), images
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["per_class"] == 2 and len(manifest["files"]) == 6
    assert manifest["classes"]["n01440764"] == {"name": "tench", "imagenet_index": 0}
    assert not (tmp_path / "_archives" / "imagenette2-160.tgz").exists(), "archive removed by default"
    before = len(server.requests)
    capsys.readouterr()
    assert download.main(args) == 0  # second run
    assert "already there" in capsys.readouterr().out and len(server.requests) == before
    assert download.main(args[:2] + ["3"] + args[3:]) == 1  # a different subset needs --force
    assert "--force" in capsys.readouterr().err
    assert download.main(args[:2] + ["3"] + args[3:] + ["--force"]) == 0
    assert len(list(out.rglob("*.JPEG"))) == 9
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".partial", ".old"))]


def test_imagenette_with_an_escaping_archive_writes_nothing(server, tmp_path, monkeypatch, capsys):
    archive = _tar({"imagenette2-160/val/n01440764/a.JPEG": _jpeg(8, 8), "../../escaped.txt": b"x"})
    server.files["/evil/imagenette2-160.tgz"] = archive
    monkeypatch.setitem(download.REMOTES, "imagenette2-160",
                        Remote("imagenette2-160.tgz", server.base + "/evil/imagenette2-160.tgz",
                               _sha256(archive), "tiny", "test"))
    dest = tmp_path / "d" / "e"
    assert download.main(["imagenette", "--per-class", "1", "--dest", str(dest), "--retries", "0"]) == 1
    assert "refusing to extract member '../../escaped.txt'" in capsys.readouterr().err
    assert not (dest / "imagenette").exists() and not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "d" / "escaped.txt").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".partial")]


def _coco_annotations(base: str, sizes: dict[int, tuple[int, int]]) -> dict:
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h, "license": 4,
               "coco_url": f"http://images.cocodataset.org/val2017/{i:012d}.jpg"} for i, (w, h) in sizes.items()]
    annotations = [{"id": 100 + i, "image_id": i, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25,
                    "iscrowd": int(i == 3), "segmentation": [[1, 1, 6, 1, 6, 6]]} for i in sizes]
    return {"info": {"description": "test"}, "licenses": [{"id": 4, "name": "Attribution License"}],
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
            "images": images, "annotations": annotations}


def _serve_coco(server, tmp_path, monkeypatch, sizes, served_sizes=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("annotations/instances_val2017.json", json.dumps(_coco_annotations(server.base, sizes)))
        zf.writestr("annotations/captions_val2017.json", "{}")
    archive = buffer.getvalue()
    server.files["/annotations/annotations_trainval2017.zip"] = archive
    for i, (w, h) in (served_sizes or sizes).items():
        server.files[f"/val2017/{i:012d}.jpg"] = _jpeg(w, h)
    monkeypatch.setitem(download.REMOTES, "coco-annotations-2017",
                        Remote("annotations_trainval2017.zip",
                               "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                               _sha256(archive), "tiny", "test"))


def test_coco_sample_end_to_end(server, tmp_path, monkeypatch, capsys):
    sizes = {1: (20, 10), 2: (12, 18), 3: (10, 10), 4: (16, 16)}  # image 3 has only a crowd region
    _serve_coco(server, tmp_path, monkeypatch, sizes)
    args = ["coco-sample", "--n", "3", "--dest", str(tmp_path), "--retries", "0", "--mirror", server.base]
    assert download.main(args) == 0, capsys.readouterr().err
    out = tmp_path / "coco-val2017-sample"
    sample = json.loads((out / "instances_val2017_sample.json").read_text())
    assert [im["id"] for im in sample["images"]] == [1, 2, 4]
    assert {a["image_id"] for a in sample["annotations"]} == {1, 2, 4}
    for im in sample["images"]:
        with Image.open(out / im["file_name"]) as image:
            assert image.size == (im["width"], im["height"])
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert "no per-image checksum" in manifest["verification"] and len(manifest["files"]) == 4
    capsys.readouterr()
    assert download.main(args) == 0 and "already there" in capsys.readouterr().out
    assert download.main(["coco-sample", "--n", "4", "--dest", str(tmp_path), "--retries", "0",
                          "--mirror", server.base, "--force"]) == 1  # only 3 images have objects
    assert "between 1 and 3" in capsys.readouterr().err


def test_coco_sample_from_the_verified_zip(server, tmp_path, monkeypatch):
    sizes = {1: (20, 10), 2: (12, 18)}
    _serve_coco(server, tmp_path, monkeypatch, sizes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i, (w, h) in sizes.items():
            zf.writestr(f"val2017/{i:012d}.jpg", _jpeg(w, h, 200))
        zf.writestr("val2017/000000000099.jpg", _jpeg(5, 5))  # not chosen: not extracted
    archive = buffer.getvalue()
    server.files["/zips/val2017.zip"] = archive
    monkeypatch.setitem(download.REMOTES, "coco-val2017",
                        Remote("val2017.zip", "http://images.cocodataset.org/zips/val2017.zip",
                               _sha256(archive), "tiny", "test"))
    before = len(server.requests)
    assert download.main(["coco-sample", "--n", "2", "--from-zip", "--dest", str(tmp_path), "--retries", "0",
                          "--mirror", server.base]) == 0
    assert not any(r.startswith("/val2017/") for r in server.requests[before:]), "images come from the zip"
    out = tmp_path / "coco-val2017-sample"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000000001.jpg", "000000000002.jpg"]
    assert "val2017.zip" in json.loads((out / "MANIFEST.json").read_text())["verification"]
    assert not list((tmp_path / "_archives").iterdir()), "archives removed by default"


def test_coco_image_that_does_not_match_its_annotation_is_refused(server, tmp_path, monkeypatch, capsys):
    sizes = {1: (20, 10), 2: (12, 18)}
    _serve_coco(server, tmp_path, monkeypatch, sizes, served_sizes={1: (20, 10), 2: (18, 12)})
    assert download.main(["coco-sample", "--n", "2", "--dest", str(tmp_path), "--retries", "0",
                          "--mirror", server.base]) == 1
    assert "annotation says 12x18" in capsys.readouterr().err
    assert not (tmp_path / "coco-val2017-sample").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial")]


def test_models_subcommand_puts_weights_where_models_looks(server, tmp_path, monkeypatch, capsys):
    from utils.models import KERAS_WEIGHTS, keras_weights_path

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    weights = b"\x89HDF\r\n\x1a\n" + b"\0" * 1000  # HDF5 signature; content checked by the hash only
    path = "/tensorflow/keras-applications/resnet/" + KERAS_WEIGHTS["resnet50"][0]
    server.files[path] = weights
    monkeypatch.setitem(download.MODEL_HASHES, "resnet50", (_sha256(weights), "test"))
    assert download.get_models(["resnet50"], retries=0, mirror=server.base) == [keras_weights_path("resnet50")]
    assert keras_weights_path("resnet50").read_bytes() == weights
    assert _leftovers(keras_weights_path("resnet50").parent) == [KERAS_WEIGHTS["resnet50"][0]]
    capsys.readouterr()
    download.get_models(["resnet50"], retries=0, mirror=server.base)
    assert "already there" in capsys.readouterr().out
    # a file that is not HDF5 never reaches the cache
    keras_weights_path("resnet50").unlink()
    server.files[path] = b"<html>not weights</html>"
    monkeypatch.setitem(download.MODEL_HASHES, "resnet50", (_sha256(server.files[path]), "test"))
    with pytest.raises(DownloadError, match="not an HDF5"):
        download.get_models(["resnet50"], retries=0, mirror=server.base)
    assert _leftovers(keras_weights_path("resnet50").parent) == []


def test_mobilenet_without_a_published_checksum_must_load_into_the_architecture(server, tmp_path, monkeypatch,
                                                                               capsys):
    import keras
    from helpers_models import save_legacy_h5_weights  # imports TensorFlow: only in this test

    from utils.models import KERAS_WEIGHTS, keras_weights_path

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert download.MODEL_HASHES["mobilenet_v2"][0] is None  # nobody publishes one: the load is the check
    path = "/tensorflow/keras-applications/mobilenet_v2/" + KERAS_WEIGHTS["mobilenet_v2"][0]
    tiny = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="predictions")])
    server.files[path] = save_legacy_h5_weights(tiny, tmp_path / "tiny.h5")  # valid HDF5, wrong model
    with pytest.raises(DownloadError, match="does not load into mobilenet_v2"):
        download.get_models(["mobilenet_v2"], retries=0, mirror=server.base)
    assert not keras_weights_path("mobilenet_v2").exists()
    assert _leftovers(keras_weights_path("mobilenet_v2").parent) == []
    server.files[path] = save_legacy_h5_weights(keras.applications.MobileNetV2(weights=None), tmp_path / "m.h5")
    download.get_models(["mobilenet_v2"], retries=0, mirror=server.base)
    assert keras_weights_path("mobilenet_v2").read_bytes() == server.files[path]
    assert "loads; sha256" in capsys.readouterr().out


def test_list_reports_what_is_present(tmp_path, capsys):
    assert download.main(["list", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "imagenette" in out and "coco-sample" in out and "resnet50" in out and "absent" in out


# --------------------------------------------------------------------------- the shell wrapper

def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_wrapper_help_is_executable_and_documents_the_subcommands():
    assert SCRIPT.stat().st_mode & 0o111, "get_dataset.sh must be executable"
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    for word in ("imagenette", "coco-sample", "models", "list", "--dest", "COURSE_DATA_DIR", "md5"):
        assert word in result.stdout


def test_wrapper_unknown_dataset_lists_the_known_ones():
    result = _run("imagenet")
    assert result.returncode == 2
    assert "unknown dataset 'imagenet'" in result.stderr and "coco-sample" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrapper_offline_prints_one_line_and_exits_non_zero(closed_port, tmp_path):
    result = _run("imagenette", "--dest", str(tmp_path), "--retries", "0",
                  "--mirror", f"http://127.0.0.1:{closed_port}")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "offline" in lines[0] and "imagenette2-160.tgz" in lines[0] and "works offline without it" in lines[0]
    assert not list(tmp_path.rglob("*.tgz")) and not list(tmp_path.rglob("tmp*"))


# --------------------------------------------------------------------------- argument order, file-system errors

def test_options_may_come_before_the_dataset(tmp_path, capsys):
    assert download.main(["--dest", str(tmp_path), "list"]) == 0
    assert "absent" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        download.main(["--dest", str(tmp_path), "foo"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown dataset 'foo'" in err and "coco-sample" in err, err
    args = download.build_parser().parse_args(["--dest", "A", "--retries", "5", "imagenette", "--per-class", "3"])
    assert (args.dest, args.retries, args.per_class) == (Path("A"), 5, 3)
    args = download.build_parser().parse_args(["--dest", "A", "imagenette", "--dest", "B"])
    assert args.dest == Path("B"), "the option after the dataset name wins"


def test_dest_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "data.txt").write_text("mine")
    for dest in (tmp_path / "data.txt", tmp_path / "data.txt" / "sub"):
        result = _run("imagenette", "--dest", str(dest), "--retries", "0")
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "is a file" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "data.txt").read_text() == "mine"


def test_unwritable_dest_and_keras_home_are_one_line(tmp_path):
    import os

    from helpers_sandbox import DROP_CAPS, read_only_dir

    read_only = read_only_dir(tmp_path)
    try:
        cases = [(["imagenette", "--dest", str(read_only / "sub")], None, "pass --dest with a folder"),
                 (["coco-sample", "--dest", str(read_only)], None, "pass --dest with a folder"),
                 (["models"], str(read_only), "set KERAS_HOME to a folder")]
        for args, keras_home, hint in cases:
            env = dict(os.environ, **({"KERAS_HOME": keras_home} if keras_home else {}))
            result = subprocess.run(DROP_CAPS + [str(SCRIPT), *args, "--retries", "0"], capture_output=True,
                                    text=True, timeout=300, cwd=REPO, env=env)
            assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
            assert "permission denied or read-only" in result.stderr and hint in result.stderr, result.stderr
        assert list(read_only.iterdir()) == []
    finally:
        read_only.chmod(0o755)


def test_a_full_disk_during_a_download_is_one_line_and_leaves_nothing(server, tmp_path):
    from helpers_sandbox import full_disk

    server.files["/fast-ai-imageclas/imagenette2-160.tgz"] = b"x" * 300_000  # bigger than the disk
    disk = tmp_path / "disk"
    command = full_disk(disk, "64k", after=f'find "{disk}" -type f') + [
        str(SCRIPT), "imagenette", "--dest", str(disk), "--retries", "0", "--mirror", server.base]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on the device" in lines[0] and "Nothing partial" in lines[0], lines
    assert [line for line in result.stdout.splitlines() if line.startswith(str(disk))] == [], result.stdout


def test_extraction_without_the_tarfile_data_filter_is_a_clear_error(tmp_path, monkeypatch):
    source = tmp_path / "good.tgz"
    source.write_bytes(_tar({"data/a.txt": b"a"}))
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(DownloadError, match="no tarfile data filter.*3.11.4"):
        download.safe_extract(source, tmp_path / "out")
