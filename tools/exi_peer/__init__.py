"""The reference EXI codec (EXICodec.jar of the `iso15118` package) as a batch peer."""
