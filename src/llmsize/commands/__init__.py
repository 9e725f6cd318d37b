"""The subcommands that assemble several modules: parse → compute → render, one module each."""
