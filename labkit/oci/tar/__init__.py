"""Layer tars <-> layer directories, the way Docker's overlay2 driver unpacks them.

``reader.iter_entries`` streams the entries of a (possibly compressed) layer tar without
holding the layer in memory; ``unpack.read_layer`` applies Docker's unpack rules to build a
``LayerDir``; ``writer.write_layer`` is the inverse (deterministic bytes). Every refusal is a
``LayerError`` (``UnsafeEntry`` when one entry is to blame, naming it); malformed input never
raises anything else.

The rules below were checked against Docker 20.10 (``docker load`` of hand-made layers,
then ``docker create`` + ``docker export``; see tests/test_flatten_docker.py):

* Names: ``./x``, ``/x`` and ``x`` are the same path and ``..`` never climbs above the
  root. Docker unpacks each layer inside a chroot of the layer directory, so ``../x`` and
  ``/../x`` both land at ``x``: there is no breakout to refuse, and labkit does the same.
* Two entries whose names are equal after Go's ``filepath.Clean`` (``a``, ``./a``, ``a/``)
  are refused ("duplicates of file paths not supported", from Docker's tar-split).
  Names that differ only after that (``/a`` and ``a``) are applied in order: the later
  entry replaces the earlier one, except dir over dir which keeps the children.
* ``DIR/.wh.NAME`` deletes NAME of the lower layers (a ``whiteout`` Node); only the
  basename is special. ``.wh.``, ``.wh..`` and ``.wh...`` are refused, and so is a
  whiteout for a name already present in the same layer (``X`` then ``.wh.X``: Docker's
  ``mknod`` fails with "file exists"). ``.wh.X`` then ``X`` keeps the new X.
  ``DIR/.wh..wh..opq`` makes DIR opaque wherever it sits; at the root it does nothing (the
  kernel ignores the xattr on a layer's root); under a non-directory it does nothing.
  A plain char device 0/0 entry is a whiteout too (that is what overlayfs sees).
* Missing parents are created as ``Node.dir(0o755)``. A parent that is a whiteout or a
  file is refused ("not a directory"). A parent that is a symlink created earlier in the
  SAME layer is followed, within the layer (absolute targets start at the layer root);
  symlinks of lower layers are never seen, since every layer is unpacked on its own.
* Hard links must name an entry that exists earlier in the same layer (not a directory).
  The link's header sets owner, mode and mtime of the shared inode (unless it is a symlink).
* Char/block devices and fifos are kept as Nodes (Docker creates them when it runs as
  root). labkit never creates device nodes on the host from a tar.
* Types Docker does not handle (e.g. ``7`` contiguous, GNU volume headers) are refused;
  so are sparse files (which Go's reader would expand: a known labkit gap).
* A declared size beyond the end of the stream, a bad header checksum, a truncated
  header or a bad number field is a ``LayerError`` with the byte offset.
* Budgets (``oci.limits.Limits``): entries per layer (the directories they imply count too),
  the bytes and components of a name or link target, bytes of tar, and the decompressed to
  compressed ratio past a floor. Over one is ``LimitExceeded`` naming the layer and entry.
* A compressed layer (gzip, bzip2, xz; zstd in an image, with the optional codec) has the
  diffID of the tar it decompresses to, as Docker computes it.
"""
