"""The one schema: every model that crosses a boundary (file, LLM, database, UI) is defined here, in this
package, and imported from `chainjudge.core.schema`.

Keeping them in one place means a change to what a trace, a rubric or a judgment *is* happens once, and
every adapter, judge, store and report agrees on it.  The judge model fills only `Verdict` (rationale
first, so it reasons before it labels); code adds all provenance in `Judgment`.  The package is split by
subject (traces, rubrics, judging, results) only to keep each file readable.
"""

from chainjudge.core.schema.judging import (
                                          AlignedExample,
                                          AlignedJudge,
                                          JudgeSettings,
                                          Judgment,
                                          Label,
                                          Run,
                                          Threshold,
                                          Usage,
                                          Verdict,
                                          WorkItem,
)
from chainjudge.core.schema.results import (
                                          SCORE_TERMS,
                                          AgentRow,
                                          AgreementReport,
                                          AnnotatorAgreement,
                                          Baseline,
                                          Catalogue,
                                          CorrectedRate,
                                          Coverage,
                                          CriterionRow,
                                          CriticalEvidence,
                                          DecisionReport,
                                          Estimate,
                                          Evidence,
                                          Exemplar,
                                          FailureMode,
                                          GatePolicy,
                                          GoLiveScore,
                                          Guardrail,
                                          ItemContext,
                                          Mismatch,
                                          OpenMode,
                                          ProbeResult,
                                          QueueItem,
                                          Rate,
                                          RegressionCase,
                                          SampledCell,
                                          SamplingNote,
                                          ScenarioSpace,
                                          ScoreTerm,
                                          SpaceDimension,
                                          TrustPolicy,
                                          TrustStatus,
                                          validate_weights,
)
from chainjudge.core.schema.review import (
    REVIEW_PREFIX,
    ErrorKind,
    JudgeKind,
    JudgmentSignal,
    LabelDisagreement,
    LabelSource,
    Provenance,
    QueueEntry,
    QueueKind,
    SplitVerdict,
)
from chainjudge.core.schema.rubrics import BinaryScale, ContextBudget, Criterion, Example, LabelScale, LikertScale, Rubric, Scale
from chainjudge.core.schema.traces import RecordError, Step, StepKind, ToolCall, Trace, utc_now
from chainjudge.core.schema.verifiers import SelectiveCut, Verifier

__all__ = [
    "REVIEW_PREFIX", "ErrorKind", "JudgeKind", "JudgmentSignal", "LabelDisagreement", "LabelSource", "Provenance", "QueueEntry",
    "QueueKind", "SplitVerdict",
    "SampledCell", "SamplingNote", "Guardrail", "AlignedExample", "AlignedJudge", "Threshold", "AgentRow", "AgreementReport", "AnnotatorAgreement", "Baseline", "BinaryScale", "Catalogue", "ContextBudget", "CorrectedRate", "Coverage", "Criterion", "CriterionRow",
    "CriticalEvidence", "Evidence", "ItemContext", "OpenMode",
    "DecisionReport", "Estimate", "Example", "Exemplar", "FailureMode", "GatePolicy", "GoLiveScore", "JudgeSettings",
    "Judgment", "Label", "LabelScale", "LikertScale", "Mismatch", "ProbeResult", "QueueItem", "Rate", "RecordError", "RegressionCase",
    "Rubric", "Run", "SCORE_TERMS", "Scale", "ScenarioSpace", "ScoreTerm", "SpaceDimension", "Step", "StepKind",
    "ToolCall", "Trace", "TrustPolicy", "TrustStatus", "Usage", "Verdict", "Verifier", "SelectiveCut", "WorkItem", "utc_now", "validate_weights",
]
