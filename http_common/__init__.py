"""What Playhead's HTTP services (the gateway and the read API) share at their edge.

It imports no other Playhead package, so both services may use it.
"""
