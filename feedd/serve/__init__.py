"""`feedd serve`: the daemon, its HTTP app and socket, documents built on demand, systemd."""
