"""Validation errors that name the file, the layer and the broken rule."""

from common.errors import TailorError, one_line


class NetdescError(TailorError):
    """A netdesc (or a tensor fed to one) breaks a rule of docs/NETDESC.md.

    ``str()`` is one line: ``<file>: layer '<name>': <rule>``, the layer part left out for
    file-level rules.
    """

    def __init__(self, source, rule, layer=None):
        self.source = str(source)
        self.layer = layer
        self.rule = rule
        where = f"{self.source}: layer '{layer}': " if layer is not None else f"{self.source}: "
        super().__init__(one_line(where + rule))

