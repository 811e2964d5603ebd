"""The validation rules of POST /api/v1/generate (API.md)."""

import json
from typing import Any

import pytest
from pydantic import ValidationError

from api.schemas import JobCreate


def make_request(**fields):
    return JobCreate.model_validate({"prompt": "a fox", **fields})


def test_defaults_and_trimming():
    request = make_request(prompt="  a fox  ")
    assert request.prompt == "a fox"
    assert request.model_name == "black-forest-labs/flux-schnell"
    assert request.parameters == {}


def test_parameters_as_a_json_string_are_accepted():
    request = make_request(parameters=json.dumps({"width": 512, "scheduler": "K_EULER"}))
    assert request.parameters == {"width": 512, "scheduler": "K_EULER"}


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"model_name": "no-slash"}, "model_name"),
        ({"model_name": "Owner/Name"}, "model_name"),
        ({"parameters": [1, 2]}, "parameters"),
        ({"parameters": "not json"}, "not JSON"),
        ({"parameters": "[1]"}, "must be an object"),
        ({"parameters": {"width": 63}}, "parameters.width"),
        ({"parameters": {"height": 4096}}, "parameters.height"),
        ({"parameters": {"width": True}}, "parameters.width"),
        ({"parameters": {"num_outputs": 5}}, "parameters.num_outputs"),
        ({"parameters": {"num_inference_steps": 0}}, "parameters.num_inference_steps"),
        ({"parameters": {"guidance_scale": 21}}, "parameters.guidance_scale"),
        ({"parameters": {"seed": -1}}, "parameters.seed"),
        ({"parameters": {"seed": 1.5}}, "parameters.seed"),
        ({"parameters": {"output_format": "gif"}}, "parameters.output_format"),
        ({"parameters": {"aspect_ratio": "wide"}}, "parameters.aspect_ratio"),
        ({"webhook_url": "ftp://example.com"}, "webhook_url"),
    ],
)
def test_invalid_requests_name_the_field(fields, needle):
    with pytest.raises(ValidationError) as caught:
        make_request(**fields)
    assert needle in str(caught.value)


def test_deep_nesting_is_refused():
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(20):
        cursor["a"] = {}
        cursor = cursor["a"]
    with pytest.raises(ValidationError, match="nest deeper"):
        make_request(parameters=nested)


def test_unknown_parameters_pass_through():
    request = make_request(parameters={"scheduler": "K_EULER", "negative_prompt": "blur"})
    assert request.parameters["scheduler"] == "K_EULER"


def test_fingerprint_tells_bodies_apart():
    assert make_request().fingerprint() == make_request(prompt=" a fox ").fingerprint()
    assert make_request().fingerprint() != make_request(parameters={"seed": 1}).fingerprint()
