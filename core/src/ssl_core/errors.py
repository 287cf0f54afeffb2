"""The errors a user can cause: each message names the bad value and the valid choices.

The command line prints them as one line (``Error: ...``) and exits with status 2.
"""


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names it and the valid ones."""


class UnknownComponentError(KeyError):
    """A name that no installed plugin registered; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateComponentError(RuntimeError):
    """Two plugins registered the same name for one kind."""


class ComponentOptionError(ValueError):
    """Options that a component's config class rejects; the message names them."""


class IncompatibleComponentsError(ValueError):
    """Two selected components cannot work together; the message says why."""


class LossMismatchError(IncompatibleComponentsError):
    """A branch given a loss whose ``input_kind`` it does not produce.

    The registry completes the message with the installed losses that fit.
    """

    def __init__(self, message: str, input_kind: str, completed: bool = False) -> None:
        super().__init__(message)
        self.input_kind = input_kind
        self.completed = completed


class EvalError(ValueError):
    """A run folder that cannot be evaluated; the message names the missing file or data."""


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (written by an incompatible version, say)."""


class CorruptCheckpointError(RunFolderError):
    """A checkpoint whose files are unreadable or whose tensors fail their checksum; names the file."""


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss or gradient; the message names the step, the term and the lr."""


class DatasetError(ValueError):
    """A dataset that cannot be read as asked; the message names the path, file or column and the valid ones."""


class HubError(RuntimeError):
    """The Hugging Face Hub refused or could not be reached (offline, not logged in, no such repo or
    revision, a malformed repo id); the message names the value and what to do."""


USER_ERRORS = (ConfigError, UnknownComponentError, DuplicateComponentError, ComponentOptionError,
               IncompatibleComponentsError, EvalError, RunFolderError, FileNotFoundError, NonFiniteError, DatasetError,
               HubError)
