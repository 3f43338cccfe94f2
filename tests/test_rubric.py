import json

import jsonschema
import pytest
import yaml
from conftest import ROOT

from chainjudge.core.rubric import RubricError, load_rubric, parse_rubric, rubric_hash, rubric_json_schema
from chainjudge.core.schema import LabelScale, LikertScale

# rubric files are the YAML files with criteria (policy.yaml, space.yaml and gate.yaml are other kinds): the generic
# ones in rubrics/, and each pack's in its own rubrics/ folder
CANDIDATES = [*(ROOT / "rubrics").rglob("*.yaml"), *(ROOT / "chainjudge" / "packs").glob("*/rubrics/*.yaml")]
SHIPPED = sorted(p for p in CANDIDATES if "criteria" in (yaml.safe_load(p.read_text()) or {}))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_rubrics_load_and_match_the_published_schema(path):
    load_rubric(path)
    schema = json.loads((ROOT / "rubrics" / "rubric.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_the_rubric_packs_are_found():
    assert {p.name for p in SHIPPED} == {"step-quality.yaml", "cep.yaml", "journey.yaml"}


def test_published_schema_file_is_current():
    assert json.loads((ROOT / "rubrics" / "rubric.schema.json").read_text()) == rubric_json_schema()


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_error_names_file_field_and_reason(tmp_path):
    path = write(
        tmp_path,
        "id: r\ncriteria:\n  - id: c1\n    question: q\n    applies_to: [decision]\n"
        "    scale: {type: labels, labels: [ok, bad], failing: [worse]}\n",
    )
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    message = str(info.value)
    assert str(path) in message
    assert "criteria[0].scale" in message
    assert "worse" in message


def test_unknown_step_kind_and_missing_question_are_named(tmp_path):
    path = write(tmp_path, "id: r\ncriteria:\n  - id: c1\n    applies_to: [thinking]\n")
    message = str(pytest.raises(RubricError, load_rubric, path).value)
    assert "criteria[0].question" in message and "Field required" in message
    assert "criteria[0].applies_to[0]" in message


def test_yaml_syntax_error_gives_line(tmp_path):
    path = write(tmp_path, "id: r\ncriteria: [\n  - oops: : :\n")
    message = str(pytest.raises(RubricError, load_rubric, path).value)
    assert str(path) in message and "line" in message


def test_missing_file_is_a_rubric_error(tmp_path):
    message = str(pytest.raises(RubricError, load_rubric, tmp_path / "nope.yaml").value)
    assert "nope.yaml" in message


def test_duplicate_criterion_ids_rejected():
    data = {"id": "r", "criteria": [{"id": "a", "question": "q", "applies_to": ["decision"]}] * 2}
    assert "repeated" in str(pytest.raises(RubricError, parse_rubric, data).value)


def test_examples_must_be_on_scale():
    data = {
        "id": "r",
        "criteria": [
            {"id": "a", "question": "q", "applies_to": ["decision"], "examples": [{"step": "s", "label": "maybe", "rationale": "r"}]}
        ],
    }
    assert "examples[0].label" in str(pytest.raises(RubricError, parse_rubric, data).value)


def test_likert_threshold_within_range():
    with pytest.raises(ValueError):
        LikertScale(min=1, max=5, pass_threshold=7)
    scale = LikertScale(min=1, max=5, pass_threshold=4)
    assert scale.passes("4") and not scale.passes("3")


def test_label_scale_failing_labels():
    scale = LabelScale(labels=["correct", "neutral", "error"], failing=["error"])
    assert scale.passes("neutral") and not scale.passes("error")


def test_hash_is_content_version(rubric):
    same = parse_rubric(rubric.model_dump(mode="json"))
    assert rubric_hash(same) == rubric_hash(rubric)
    edited = rubric.model_copy(deep=True)
    edited.criteria[0].question += " Be strict."
    assert rubric_hash(edited) != rubric_hash(rubric)
