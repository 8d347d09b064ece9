"""Engines: one interface (``base.Engine``), two implementations, and what surrounds them.

Contract: ``base.Engine`` is what a lesson can do with images and containers on either engine;
``Engine.open_image(image)`` is the one bridge from an engine's image to a readable
``oci.image.Image``, and ``ref``/``open_image`` accept an ``ImageRef``, a tag or id, or a
``BuildRecord``. ``sim.SimEngine`` (no daemon) and ``docker.DockerEngine`` (the only module
that imports ``docker``) implement it; ``connect()`` picks one (``LABKIT_ENGINE``);
``session`` labels and names everything labkit creates; ``baseimage`` builds the offline
base image; ``doctor`` checks the machine and names the fix for each problem.
"""
