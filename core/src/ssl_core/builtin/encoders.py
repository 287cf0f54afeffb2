"""Built-in encoders, registered through the same hook as external plugins."""

from ssl_core.encoders.resnet import ResNetConfig, SmallResNetConfig, resnet_factory, small_resnet
from ssl_core.hookspecs import hookimpl


@hookimpl
def register_encoders(register):
    for arch in ("resnet18", "resnet34", "resnet50"):
        register(arch, resnet_factory(arch), config=ResNetConfig)
    register("small-resnet", small_resnet, config=SmallResNetConfig)
