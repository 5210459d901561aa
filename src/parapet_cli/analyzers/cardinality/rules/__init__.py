"""Every cardinality rule, one module each (``parNNN_name.py``); ``RULES`` lists them in id order."""

from __future__ import annotations

from parapet_cli.analyzers.cardinality.rule import Rule
from parapet_cli.analyzers.cardinality.rules.par401_too_many_labels import TooManyLabels
from parapet_cli.analyzers.cardinality.rules.par402_unbounded_label_name import UnboundedLabelName
from parapet_cli.analyzers.cardinality.rules.par403_unbounded_label_value import UnboundedLabelValue
from parapet_cli.analyzers.cardinality.rules.par404_request_label_value import RequestLabelValue
from parapet_cli.analyzers.cardinality.rules.par405_exception_label_value import ExceptionLabelValue
from parapet_cli.analyzers.cardinality.rules.par406_label_mismatch import LabelMismatch
from parapet_cli.analyzers.cardinality.rules.par407_dynamic_metric_name import DynamicMetricName
from parapet_cli.analyzers.cardinality.rules.par408_reserved_label_name import ReservedLabelName
from parapet_cli.analyzers.cardinality.rules.par409_histogram_budget import HistogramBudget
from parapet_cli.analyzers.cardinality.rules.par410_slo_query_label import SloQueryLabel
from parapet_cli.analyzers.cardinality.rules.par411_multiprocess_gauge_pid import MultiprocessGaugePid

RULES: tuple[type[Rule], ...] = (
    TooManyLabels,
    UnboundedLabelName,
    UnboundedLabelValue,
    RequestLabelValue,
    ExceptionLabelValue,
    LabelMismatch,
    DynamicMetricName,
    ReservedLabelName,
    HistogramBudget,
    SloQueryLabel,
    MultiprocessGaugePid,
)
