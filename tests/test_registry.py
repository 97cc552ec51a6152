import pytest

from harness.core.errors import UserError
from harness.spec.plugins import ALGORITHMS, ENGINES, TASKS, make_algorithm, make_task


def test_builtins_are_found_lazily():
    assert "grpo" in ALGORITHMS.names()
    assert "arith" in TASKS.names()
    assert "hf" in ENGINES.names()


def test_unknown_name_lists_valid_ones_and_suggests():
    with pytest.raises(UserError) as e:
        ALGORITHMS.get("grpp")
    assert "Did you mean 'grpo'" in str(e.value) and "Valid:" in str(e.value)


def test_duplicate_registration_is_refused():
    import algorithms

    class Impostor:
        pass

    with pytest.raises(ValueError, match="duplicate algorithm name 'grpo'"):
        algorithms.register("grpo")(Impostor)
    assert ALGORITHMS.get("grpo") is not Impostor


def test_bad_parameters_name_the_field():
    with pytest.raises(UserError, match="no parameter 'clip_eps'.*valid: .*clip_low"):
        make_algorithm("grpo", {"clip_eps": 0.1})
    with pytest.raises(UserError, match="clip range"):
        make_algorithm("grpo", {"clip_low": 2.0})
    with pytest.raises(UserError, match="steps"):
        make_task("arith", {"steps": 0})
