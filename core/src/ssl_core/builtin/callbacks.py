"""Built-in per-epoch callbacks."""

from ssl_core.callbacks.knn_monitor import KNNMonitor, KNNMonitorConfig
from ssl_core.hookspecs import hookimpl


@hookimpl
def register_callbacks(register):
    register("knn-monitor", KNNMonitor, config=KNNMonitorConfig, default=True)
