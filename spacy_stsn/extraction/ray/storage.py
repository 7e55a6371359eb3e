"""Inputs and outputs of ``extract --ray`` on any filesystem pyarrow knows: local paths,
``s3://``, ``gs://``, ``hdfs://`` ... (credentials and endpoints as pyarrow reads them,
e.g. ``AWS_ENDPOINT_URL``).

Paths are kept as the user wrote them (``uri``), for error messages and for the records'
``_origin``, next to the filesystem and its own path, which Ray Data's readers and
writers take. Only imported when used: pyarrow comes with Ray, not with spaCy.
"""

import os
import posixpath
from dataclasses import dataclass
from typing import List, Optional

import pyarrow.fs as pafs

from ...files import temporary_name


@dataclass(frozen=True)
class Location:
    """A file or folder: ``uri`` as given, ``fs`` and ``path`` as pyarrow opens it."""

    uri: str
    fs: pafs.FileSystem
    path: str

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def key(self) -> str:
        """The identity of the location, links resolved where the filesystem has them,
        for comparisons."""
        if self.local:
            return os.path.realpath(self.path)
        return f"{self.fs.type_name}://{self.path.rstrip('/')}"

    def child(self, relative: str) -> "Location":
        """``relative`` (a '/'-separated path) inside this folder."""
        uri = (
            os.path.join(self.uri, *relative.split("/"))
            if self.local
            else f"{self.uri.rstrip('/')}/{relative}"
        )
        return Location(uri, self.fs, posixpath.join(self.path, relative))

    def info(self) -> pafs.FileInfo:
        return self.fs.get_file_info(self.path)

    def exists(self) -> bool:
        return self.info().type != pafs.FileType.NotFound

    def is_folder(self) -> bool:
        return self.info().type == pafs.FileType.Directory


@dataclass(frozen=True)
class InputFile:
    """A file of the input: where it is, its path relative to the input folder (its name
    for a single file), and its size and modification time, the fingerprint a resumed
    job compares."""

    location: Location
    relative: str
    size: int
    mtime_ns: int


def locate(uri: str) -> Location:
    """``uri``: a local path, or a URI with a scheme pyarrow knows
    (``s3://bucket/key``)."""
    if "://" not in uri:
        return Location(uri, pafs.LocalFileSystem(), os.path.abspath(uri))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (
        Exception
    ) as err:  # pyarrow: ArrowInvalid for an unknown scheme, OSError for a bad bucket
        raise ValueError(f"{uri}: not a path pyarrow can open ({err})") from None
    return Location(uri, fs, path)


def list_inputs(location: Location) -> List[InputFile]:
    """``location`` itself, or the files of the folder ``location`` (recursively,
    sorted, hidden ones left out: names starting with '.' or '_')."""
    info = location.info()
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{location.uri}: no such file or folder")
    if info.type == pafs.FileType.File:
        name = posixpath.basename(location.path)
        return [InputFile(location, name, info.size, info.mtime_ns or 0)]
    found = location.fs.get_file_info(pafs.FileSelector(location.path, recursive=True))
    files = []
    for entry in found:
        relative = posixpath.relpath(entry.path, location.path)
        if entry.type == pafs.FileType.File and not any(
            part[0] in "._" for part in relative.split("/")
        ):
            files.append(
                InputFile(
                    location.child(relative), relative, entry.size, entry.mtime_ns or 0
                )
            )
    if not files:
        raise ValueError(f"{location.uri}: the folder holds no input files")
    return sorted(files, key=lambda f: f.relative)


def is_folder_output(uri: str) -> bool:
    """A folder OUTPUT (sharded): it ends with '/', is an existing folder, or is a URI
    whose last part has no suffix (object stores have no empty folders to test for)."""
    if uri.endswith("/") or uri.endswith(os.sep):
        return True
    location = locate(uri)
    if location.is_folder():
        return True
    return not location.local and "." not in posixpath.basename(location.path)


def inside(location: Location, folder: Location) -> bool:
    """``location`` is ``folder`` or lies inside it."""
    if type(location.fs) is not type(folder.fs):
        return False
    path, root = location.key, folder.key
    sep = os.sep if location.local else "/"
    return path == root or path.startswith(root.rstrip(sep) + sep)


def write_atomic(location: Location, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file beside ``location``, then move it
    there: a reader (or a resumed job) sees the whole file or none of it, whatever kills
    the writer."""
    folder, name = posixpath.split(location.path)
    temporary = posixpath.join(folder, temporary_name(name))
    make_parent(location)
    with location.fs.open_output_stream(temporary) as out:
        out.write(data)
    location.fs.move(temporary, location.path)


def make_parent(location: Location) -> None:
    """The folder that will hold ``location``, on a local filesystem (object stores have
    no folders: a key needs none, and an empty marker object would only show up in
    listings)."""
    if location.local:
        location.fs.create_dir(posixpath.dirname(location.path), recursive=True)


def delete_files(location: Location, relatives: List[str]) -> None:
    for relative in relatives:
        location.fs.delete_file(posixpath.join(location.path, relative))


def list_relative(location: Location) -> Optional[List[str]]:
    """Every file under the folder ``location``, relative to it, hidden ones included;
    None if it does not exist."""
    info = location.info()
    if info.type == pafs.FileType.NotFound:
        return None
    if info.type != pafs.FileType.Directory:
        raise ValueError(f"{location.uri}: a file, not a folder")
    found = location.fs.get_file_info(pafs.FileSelector(location.path, recursive=True))
    return sorted(
        posixpath.relpath(e.path, location.path)
        for e in found
        if e.type == pafs.FileType.File
    )
