"""The emulator's state on disk, so that nothing it acknowledged is lost to a restart, a
reboot or a SIGKILL (see ``store`` for the layout, ``wsgi`` for when writes happen)."""
