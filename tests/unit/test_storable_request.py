"""JobCreate refuses what the jobs table cannot hold, before anything reaches the database."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.schemas import MODEL_NAME_MAX, JobCreate


@pytest.mark.parametrize(
    "parameters",
    [
        {"foo": float("nan")},
        {"foo": float("inf")},
        {"a": [1, {"b": [float("-inf")]}]},
        '{"foo": NaN}',
        '{"deep": {"er": 1e400}}',
    ],
)
def test_non_finite_numbers_anywhere_in_the_parameters_are_refused(parameters):
    with pytest.raises(ValidationError) as caught:
        JobCreate.model_validate({"prompt": "x", "parameters": parameters})

    [error] = caught.value.errors()
    assert error["loc"] == ("parameters",)
    assert "NaN or Infinity" in error["msg"]


def test_finite_floats_pass():
    parameters = {"guidance_scale": 3.5, "extra": [1e300, -0.0]}
    assert JobCreate(prompt="x", parameters=parameters).parameters == parameters


def test_model_name_is_capped_at_the_column_length():
    at_limit = "o" * 100 + "/" + "n" * (MODEL_NAME_MAX - 101)
    JobCreate(prompt="x", model_name=at_limit)
    with pytest.raises(ValidationError, match="model_name"):
        JobCreate(prompt="x", model_name=at_limit + "n")
