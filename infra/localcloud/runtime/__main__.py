"""Entry point kept import-light: worker processes re-import the main module when spawned."""

if __name__ == "__main__":
    from localcloud.runtime.server import main

    main()
