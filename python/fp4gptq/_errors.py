"""The exceptions of fp4gptq. Each C++ error arrives as the class of its kind, with the C++ message, which
names the file, tensor or field and what was expected."""


class Error(Exception):
    """Every fp4gptq error."""


class InvalidInputError(Error, ValueError):
    """A file, tensor, field, option or example holds something other than what was expected."""


class MissingFileError(Error, FileNotFoundError):
    """A file or directory that should exist does not."""


class InternalError(Error, RuntimeError):
    """Not the input's fault: a write or system call failed (disk full, permissions of the output)."""


class Cancelled(Error, RuntimeError):
    """A run was asked to stop; nothing it was writing is left. (Ctrl-C raises KeyboardInterrupt instead.)"""
