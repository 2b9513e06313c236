"""Hang guards, not speed checks (bench/ measures speed): how long a command run to completion may take, and
how long a server may take to start or a run to reach a point, before a test calls it hung. With a second
suite on the same two cores a 6 s command took over 60 s, and `warroom up` over 120 s to serve; with a whole
second suite of three workers beside it, a `warroom deploy` of 4 s quiet (most of it imports) went past
180 s, its work done and printed, still short of its exit."""

COMMAND_TIMEOUT = 300
HANG = 300
