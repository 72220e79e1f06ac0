"""The providers' own API surfaces, one module per surface; `tc3` is the API 3.0 front VOD 3.0 and MPS share."""
