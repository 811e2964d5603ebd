"""What JSON Schema generators never send: NaN and Infinity tokens, and values about the
size of the columns that hold them. Each is a 4xx naming the field, or a 202; never a 5xx."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.api_keys import bearer
from core.config import get_settings

NAME_PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=95, max_size=100)
NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers()
PARAMETERS = st.recursive(
    st.dictionaries(st.text(min_size=1, max_size=8), NUMBERS, max_size=3),
    lambda inner: st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=2),
    max_leaves=6,
)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    parameters=PARAMETERS,
    owner=NAME_PART,
    name=NAME_PART,
    prompt=st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=50).filter(str.strip),
)
def test_edge_values_are_refused_by_name_never_with_a_5xx(stack, parameters, owner, name, prompt):
    model_name = f"a{owner}/b{name}"  # 192 to 203 characters: around the column's 200
    body = json.dumps({"prompt": prompt, "model_name": model_name, "parameters": parameters})
    response = httpx.post(
        f"{get_settings().public_base_url}/api/v1/generate",
        content=body,  # json.dumps writes NaN and Infinity as the bare tokens
        headers={"Content-Type": "application/json", **bearer(stack.api_key)},
        timeout=30,
    )

    assert response.status_code < 500, response.text[:300]
    if _has_non_finite(parameters):
        assert response.status_code == 422, response.text[:300]
        assert "parameters" in response.text
    elif len(model_name) > 200:
        assert response.status_code == 422, response.text[:300]
        assert "model_name" in response.text
