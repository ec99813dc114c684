"""Arguments a user may type wrong at the notebook entry points get one clear line, not a deep traceback."""
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
