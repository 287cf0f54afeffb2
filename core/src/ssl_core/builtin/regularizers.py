"""Built-in regularizers."""

from ssl_core.hookspecs import hookimpl
from ssl_core.regularizers.uniformity import UniformityConfig, UniformityRegularizer


@hookimpl
def register_regularizers(register):
    register("uniformity", UniformityRegularizer, config=UniformityConfig)
