/// conceptd's version, reported by `/v1/status`, `--version` and the `Server` header.
public let conceptdVersion = "0.3.0"
