"""Bad answers fail with the validator's own sentence, before anything is written."""

import re

import pytest

from .conftest import render


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"package_name": "torch"}, "'torch' would shadow the module of that name"),
        ({"package_name": "json"}, "'json' would shadow the module of that name"),
        ({"package_name": "sys"}, "'sys' would shadow the module of that name; choose another package_name"),
        ({"package_name": "class"}, "'class' is a Python keyword"),
        ({"package_name": "import"}, "'import' is a Python keyword; choose another package_name, e.g. my_import"),
        ({"package_name": "1abc"}, "package_name must be a Python identifier"),
        ({"package_name": ""}, "package_name must be a Python identifier"),
        ({"project_name": "-bad name"}, "project_name must start and end with a letter or digit"),
        ({"project_name": "bad-"}, "project_name must start and end with a letter or digit"),
        ({"description": ""}, "description must not be empty"),
        ({"description": "   "}, "description must not be empty"),
        ({"author_name": ""}, "author_name must not be empty"),
        ({"author_email": "nobody"}, "author_email must look like name@example.com"),
        ({"github_user": "-x"}, "github_user must be a GitHub user name: letters, digits and single hyphens"),
        ({"max_epochs": 0}, "max_epochs must be a whole number between 1 and 1000"),
        ({"max_epochs": 1001}, "max_epochs must be a whole number between 1 and 1000"),
        ({"max_epochs": "abc"}, "max_epochs must be a whole number between 1 and 1000"),
        ({"max_epochs": "2.5"}, "max_epochs must be a whole number between 1 and 1000"),
        ({"batch_size": 0}, "batch_size must be a whole number between 1 and 65536"),
        ({"batch_size": 100000}, "batch_size must be a whole number between 1 and 65536"),
        ({"batch_size": "-8"}, "batch_size must be a whole number between 1 and 65536"),
        ({"capstone": "cifar"}, "Invalid choice for 'capstone'"),
        ({"license": "GPL"}, "Invalid choice for 'license'"),
        ({"python_version": "3.9"}, "Invalid choice for 'python_version': '3.9' is not in ['3.10', "),
        ({"engine": "jax"}, "Invalid choice for 'engine': 'jax' is not in ['pytorch', 'lightning']"),
        ({"model": "resnet"}, "Invalid choice for 'model': 'resnet' is not in ['cnn', 'mlp']"),
        ({"capstone": "rl", "env": "mujoco"}, "Invalid choice for 'env': 'mujoco' is not in ['cartpole', "),
        ({"capstone": "rl", "algo": "a2c"}, "Invalid choice for 'algo': 'a2c' is not in ['ppo', 'dqn']"),
    ],
)
def test_bad_answers_are_refused_with_a_clear_message(tmp_path, answers, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render(tmp_path / "out", **answers)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
