"""Bad answers fail with the validator's own sentence, before anything is written."""

import pytest

from .conftest import render


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"package_name": "torch"}, "'torch' would shadow the module of that name"),
        ({"package_name": "json"}, "'json' would shadow the module of that name"),
        ({"package_name": "class"}, "'class' is a Python keyword"),
        ({"package_name": "1abc"}, "package_name must be a Python identifier"),
        ({"package_name": ""}, "package_name must be a Python identifier"),
        ({"project_name": "-bad name"}, "project_name must start and end with a letter or digit"),
        ({"author_email": "nobody"}, "author_email must look like name@example.com"),
        ({"max_epochs": 0}, "max_epochs must be between 1 and 1000"),
        ({"batch_size": 100000}, "batch_size must be between 1 and 65536"),
        ({"capstone": "cifar"}, "Invalid choice for 'capstone'"),
        ({"license": "GPL"}, "Invalid choice for 'license'"),
    ],
)
def test_bad_answers_are_refused_with_a_clear_message(tmp_path, answers, message):
    with pytest.raises(ValueError, match=message):
        render(tmp_path / "out", **answers)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
