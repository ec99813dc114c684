"""Arguments a user may type wrong at the notebook entry points get one clear line, not a deep traceback."""
from pathlib import Path

import pytest

from utils.notebook import set_seed, setup


@pytest.mark.parametrize("seed", ["abc", 2.5, True, -1, 2**40, None])
def test_setup_and_set_seed_refuse_a_seed_that_is_not_a_whole_number(seed):
    with pytest.raises(ValueError, match="whole number") as info:
        setup(seed)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="set_seed takes a whole number"):
        set_seed(seed)


@pytest.mark.parametrize("packages", ["shap", ("shap", 3)])
def test_setup_refuses_packages_that_are_not_a_tuple_of_names(packages):
    with pytest.raises(ValueError, match="tuple of import names"):
        setup(0, packages=packages)


def test_an_unreadable_image_is_a_value_error_naming_it(tmp_path):
    """Run without root's capabilities (root reads any file), in a subprocess."""
    import subprocess
    import sys

    from helpers_sandbox import DROP_CAPS, why_not

    from utils.data import sample_image_path

    path = tmp_path / "secret.png"
    path.write_bytes(sample_image_path("coffee").read_bytes())
    path.chmod(0o000)
    why = why_not(DROP_CAPS + ["sh", "-c", f'! cat "{path}" >/dev/null 2>&1'])
    if why:
        pytest.skip(f"cannot drop the capability to read unreadable files here ({why})")
    code = ("from utils.data import load_image\ntry:\n    load_image(%r)\nexcept ValueError as err:\n    print(err)"
            % str(path))
    result = subprocess.run(DROP_CAPS + [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == f"{path} cannot be read (permission denied): check the file's permissions.", (
        result.stdout, result.stderr)
