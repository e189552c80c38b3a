"""Live reliability monitor: calibrate on a finished run, then judge live answers (issue 11)."""

from vrprobe.monitor.calibration import Calibration, CalibrationError
from vrprobe.monitor.decide import UnknownTaskType, Veto
from vrprobe.monitor.files import CalibrationNotFound
from vrprobe.monitor.monitor import CheckInputError, Monitor
from vrprobe.monitor.result import CheckResult

__all__ = [
    "Calibration",
    "CalibrationError",
    "CalibrationNotFound",
    "CheckInputError",
    "CheckResult",
    "Monitor",
    "UnknownTaskType",
    "Veto",
]
