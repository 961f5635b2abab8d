"""One module per input dialect: its pydantic request model and its mapping
onto canonical events. Pure: no I/O, the receive time is passed in."""
