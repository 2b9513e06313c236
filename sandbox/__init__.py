"""Stand-ins for the world Warroom acts on, served on loopback: what `warroom demo` and the tests play
against."""
