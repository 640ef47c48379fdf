"""Data sets: the registry of scikit-learn loaders and generators and OpenML
(datasets, openml), data files (files, csv_files, delimiters; inputs: pipes and standard input;
paths: where relative paths point), checks of loaded data
(checks), targets and the split (targets), input scaling (scaling).

scikit-learn is imported inside the functions that need it, so importing this
package (as the config schema does, for the registry's names) stays cheap.
"""
from .checks import check_range, check_xy
from .csv_files import csv_header
from .datasets import DATASETS, FILE_SUFFIXES, GENERATORS, LOADERS, check_generator_size, check_options, load_dataset
from .files import read_features, read_xy
from .inputs import source_name
from .openml import OPENML_PREFIX, is_openml
from .paths import IN_MEMORY_DATASET, check_data_paths, refuse_in_memory
from .scaling import check_scaler, fit_scaler
from .targets import (
    encode_classes, explain_task, infer_task, multilabel_targets, refuse_identifier, regression_targets, split, task_note,
)

__all__ = [
    "DATASETS", "FILE_SUFFIXES", "GENERATORS", "IN_MEMORY_DATASET", "LOADERS", "OPENML_PREFIX",
    "check_data_paths", "refuse_in_memory", "source_name",
    "check_generator_size", "check_options", "check_range", "check_scaler", "check_xy", "csv_header",
    "encode_classes", "explain_task", "fit_scaler", "infer_task", "refuse_identifier", "task_note", "is_openml", "load_dataset", "multilabel_targets",
    "read_features", "read_xy", "regression_targets", "split",
]
