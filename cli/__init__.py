"""The `warroom` command line: the top floor, composing the domain, the flows and the serving."""
