import Testing

/// Every suite that starts real `conceptd` processes, run one test at a time: daemons training side by side on two
/// cores would measure each other instead of themselves (the demo's one-minute check, timeouts).
@Suite(.serialized) struct ProcessSuites {}
