"""The hand-out: copying one path to many projects (:func:`copy_to_many`, :func:`wait_all`),
its journal (resuming an unfinished hand-out), and the tables that show copies."""

from .fanout import CopyResult, CopyResults, copy_to_many, wait_all

__all__ = ["CopyResult", "CopyResults", "copy_to_many", "wait_all"]
